#!/usr/bin/env bash
# `make bench`: installs the packages the comparison needs, makes two network
# namespaces joined by a veth pair (efbench-<pid>-tx / -rx, 198.18.155.0/24),
# runs the driver, and removes the namespaces on any exit. Everything the driver
# attaches lives on that veth pair, so it goes with them.
# Usage: [BENCH_RUNS=N] tools/bench/run.sh BENCH_BINARY [driver options...]
# BENCH_RUNS (default 1): whole runs (driver and reload) one after the other;
# results.json holds the first run's numbers and each number's min-max over all.
set -euo pipefail

bin=${1:?usage: [BENCH_RUNS=N] run.sh BENCH_BINARY [options]}
shift
runs=${BENCH_RUNS:-1}
if ! [[ $runs =~ ^[1-9][0-9]*$ ]]; then
  echo "bench: BENCH_RUNS must be a whole number >= 1, not '$runs'" >&2
  exit 2
fi

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
# The A/V Edge's own external address (131.107.155.30 under the test site): the
# multi-flow case's RTP goes there, and the stack takes it in once edgefw passes it.
ip -n "$rx" addr add 198.18.155.30/32 dev vrx
for ns in "$tx" "$rx"; do ip -n "$ns" link set lo up; done
ip -n "$tx" link set vtx up
ip -n "$rx" link set vrx up

mkdir -p build/bench
json=build/bench/results.json
"$edgefw" synth --rules 10000 --seed 1 >build/bench/synth-10000-a.yaml
"$edgefw" synth --rules 10000 --seed 2 >build/bench/synth-10000-b.yaml
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }

# Reload of a 10,000-rule policy on the veth: wall time of the whole `edgefw
# reload` (parse, compile, self-test, map writes, swap), two synthetic
# policies alternating, and `edgefw compile` alone for where the time goes.
# --force: the synthetic policy does not know the operator's SSH session.
# Adds reload_10000_ms and its target to the run's JSON ($1).
reload_bench() {
  local out=$1
  echo
  echo "bench: reload of 10,000 rules..." >&2
  "$edgefw" load build/bench/synth-10000-a.yaml --node syn1 --iface external=vrx --netns "$rx" \
    --instance "$inst" --force >/dev/null
  local reloads=() f t0 i
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
  local compile_ms
  compile_ms=$(ms "$t0")
  "$edgefw" unload --instance "$inst" >/dev/null
  local median phases apply met="NOT met"
  median=$(printf '%s\n' "${reloads[@]}" | sort -n | sed -n 3p)
  # Each phase's median over the five reloads, as the loader timed them.
  phases=$(jq -s -c '. as $r | ($r[0] | keys_unsorted) | map({key: ., value: ([$r[][.]] | sort | .[2])}) | from_entries' \
    build/bench/reload-phases.json)
  apply=$(jq -r '.programs_maps + .swap | floor' <<<"$phases")
  # The bench issue's target: the whole reload of 10,000 rules within a second.
  [ "$median" -le 1000 ] && met=met
  echo "reload, 10,000 rules: median ${median} ms of 5 (${reloads[*]}) for the whole command (target <= 1000 ms: $met)"
  echo "  phases (median ms): $(jq -r 'to_entries | map("\(.key) \(.value * 10 | floor / 10)") | join(", ")' <<<"$phases")"
  echo "  applying (programs+maps+swap): ${apply} ms; the swap itself: $(jq -r '.swap * 100 | floor / 100' <<<"$phases") ms; compile alone (CLI): ${compile_ms} ms"
  jq --argjson m "$median" --argjson c "$compile_ms" --argjson all "[$(IFS=,; echo "${reloads[*]}")]" \
    --argjson p "$phases" '.reload_10000_ms = {median: $m, runs: $all, compile_ms: $c, phases_median: $p}
      | .targets += [{what: "reload of 10,000 rules, whole command, ms", value: $m, cmp: "<=",
                      limit: 1000, met: ($m <= 1000)}]' \
    "$out" >"$out.tmp" && mv "$out.tmp" "$out"
}

rm -f build/bench/run-*.json
for i in $(seq 1 "$runs"); do
  [ "$runs" -gt 1 ] && echo && echo "bench: run $i of $runs" >&2
  "$bin" --wire "$tx" "$rx" vtx vrx --json "build/bench/run-$i.json" "$@"
  reload_bench "build/bench/run-$i.json"
done
tools/bench/merge.sh build/bench/run-*.json >"$json.tmp" && mv "$json.tmp" "$json"
if [ "$runs" -gt 1 ]; then
  echo
  echo "spread over $runs runs (min-max; the numbers above the last table are run $runs's,"
  echo "results.json and the plot take run 1's):"
  tools/bench/table.sh "$json"
fi
echo "results: $json (markdown for the README: make bench-table)"

# The plot: ns per packet against rule count.
jq -r '"100 \(.rules_100_ns) \(.deny_100_ns)\n1000 \(.rules_1000_ns) \(.deny_1000_ns)\n10000 \(.rules_10000_ns) \(.deny_10000_ns)"' \
  "$json" >build/bench/rules.dat
gnuplot -e "data='build/bench/rules.dat'; out='build/bench/bench.svg'; floor=$(jq .floor_ns "$json"); oracle=$(jq .oracle_ns "$json"); xf=$(jq .xdp_filter_ns "$json"); xfd=$(jq .xdp_filter_deny_ns "$json"); xfa=$(jq .xdp_filter_allow_ns "$json")" \
  tools/bench/plot.gp
echo "plot: build/bench/bench.svg (cp build/bench/bench.svg docs/bench.svg to publish it)"
