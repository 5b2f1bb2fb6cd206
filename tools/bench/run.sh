#!/usr/bin/env bash
# `make bench`: installs the packages the comparison needs, makes two network
# namespaces joined by a veth pair (efbench-<pid>-tx / -rx, 198.18.155.0/24),
# runs the driver, and removes the namespaces on any exit. Everything the driver
# attaches lives on that veth pair, so it goes with them.
# Usage: tools/bench/run.sh BENCH_BINARY [driver options...]
set -euo pipefail

bin=${1:?usage: run.sh BENCH_BINARY [options]}
shift

if [ "$(id -u)" -ne 0 ]; then
  echo "bench: needs root (BPF_PROG_TEST_RUN, XDP, network namespaces)" >&2
  exit 1
fi

packages=(xdp-tools netsniff-ng nftables iptables jq gnuplot-nox)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_install() {
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  }
  apt_install || { apt-get -o DPkg::Lock::Timeout=300 update -qq && apt_install; }
fi

tx=efbench-$$-tx
rx=efbench-$$-rx
edgefw="$(dirname "$bin")/../edgefw"
inst=efbench-$$
cleanup() {
  "$edgefw" unload --instance "$inst" >/dev/null 2>&1 || true
  ip netns del "$tx" 2>/dev/null || true
  ip netns del "$rx" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$tx"
ip netns add "$rx"
ip link add vtx netns "$tx" type veth peer name vrx netns "$rx"
ip -n "$tx" addr add 198.18.155.200/24 dev vtx
ip -n "$rx" addr add 198.18.155.130/24 dev vrx
for ns in "$tx" "$rx"; do ip -n "$ns" link set lo up; done
ip -n "$tx" link set vtx up
ip -n "$rx" link set vrx up

mkdir -p build/bench
"$bin" --wire "$tx" "$rx" vtx vrx "$@"
json=build/bench/results.json

# Reload of a 10,000-rule policy on the veth: wall time of the whole `edgefw
# reload` (parse, compile, self-test, map writes, swap), two synthetic
# policies alternating, and `edgefw compile` alone for where the time goes.
# --force: the synthetic policy does not know the operator's SSH session.
echo
echo "bench: reload of 10,000 rules..." >&2
"$edgefw" synth --rules 10000 --seed 1 >build/bench/synth-10000-a.yaml
"$edgefw" synth --rules 10000 --seed 2 >build/bench/synth-10000-b.yaml
"$edgefw" load build/bench/synth-10000-a.yaml --node syn1 --iface external=vrx --netns "$rx" \
  --instance "$inst" --force >/dev/null
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
reloads=()
rm -f build/bench/reload-phases.json
for i in 1 2 3 4 5; do
  f=build/bench/synth-10000-b.yaml
  [ $((i % 2)) -eq 0 ] && f=build/bench/synth-10000-a.yaml
  t0=$(date +%s%N)
  "$edgefw" reload "$f" --instance "$inst" --force >/dev/null
  reloads+=("$(ms "$t0")")
  "$edgefw" status --instance "$inst" --json | jq -c '.[0].reload_ms' >>build/bench/reload-phases.json
done
t0=$(date +%s%N)
"$edgefw" compile build/bench/synth-10000-b.yaml --node syn1 --json >/dev/null
compile_ms=$(ms "$t0")
"$edgefw" unload --instance "$inst" >/dev/null
median=$(printf '%s\n' "${reloads[@]}" | sort -n | sed -n 3p)
# Each phase's median over the five reloads, as the loader timed them.
phases=$(jq -s -c '. as $r | ($r[0] | keys_unsorted) | map({key: ., value: ([$r[][.]] | sort | .[2])}) | from_entries' \
  build/bench/reload-phases.json)
apply=$(jq -r '.programs_maps + .swap | floor' <<<"$phases")
met="NOT met"
[ "$median" -le 100 ] && met=met
echo "reload, 10,000 rules: median ${median} ms of 5 (${reloads[*]}) for the whole command (target <= 100 ms: $met)"
echo "  phases (median ms): $(jq -r 'to_entries | map("\(.key) \(.value * 10 | floor / 10)") | join(", ")' <<<"$phases")"
echo "  applying (programs+maps+swap): ${apply} ms; the swap itself: $(jq -r '.swap * 100 | floor / 100' <<<"$phases") ms; compile alone (CLI): ${compile_ms} ms"
jq --argjson m "$median" --argjson c "$compile_ms" --argjson all "[$(IFS=,; echo "${reloads[*]}")]" \
  --argjson p "$phases" '.reload_10000_ms = {median: $m, runs: $all, compile_ms: $c, phases_median: $p}' \
  "$json" >"$json.tmp" && mv "$json.tmp" "$json"

# The plot: ns per packet against rule count.
jq -r '"100 \(.rules_100_ns) \(.deny_100_ns)\n1000 \(.rules_1000_ns) \(.deny_1000_ns)\n10000 \(.rules_10000_ns) \(.deny_10000_ns)"' \
  "$json" >build/bench/rules.dat
gnuplot -e "data='build/bench/rules.dat'; out='build/bench/bench.svg'; floor=$(jq .floor_ns "$json"); oracle=$(jq .oracle_ns "$json"); xf=$(jq .xdp_filter_ns "$json"); xfd=$(jq .xdp_filter_deny_ns "$json")" \
  tools/bench/plot.gp
echo "plot: build/bench/bench.svg (cp build/bench/bench.svg docs/bench.svg to publish it)"
