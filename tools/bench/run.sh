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

packages=(xdp-tools netsniff-ng nftables iptables)
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
cleanup() {
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
