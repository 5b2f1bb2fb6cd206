#!/usr/bin/env bash
# The attach paths and the run-time fallback between them. TC egress is a tcx
# link when the kernel has tcx (Linux 6.6), else a netlink cls_bpf filter;
# --tc netlink forces the filter and --tc tcx is refused where tcx is missing.
# XDP --mode auto falls back to generic on a NIC without native XDP (a bridge)
# and --mode native is refused there with nothing left. On each path: status
# names the path, reload swaps the programs in place, unload frees them.
# Also run inside the kernel-matrix guests (vm/init), so it needs only bash,
# iproute2, bpftool and jq.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lifecycle/lib.sh
require_root
require_cmd jq
one_host efhook
ip -n "$ns" link add br0 type bridge
ip -n "$ns" link set br0 up
policy=policies/lync2010-edge-hlb.yaml
site=policies/site-test.yaml

# load ARGS...: on failure, print the libbpf/verifier log of a verbose retry.
load() {
  "$EDGEFW" load "$policy" --site "$site" --node edge1 --netns "$ns" --instance "$inst" "$@" >"$tmp/load.out" 2>&1 && return 0
  cat "$tmp/load.out"
  "$EDGEFW" load "$policy" --site "$site" --node edge1 --netns "$ns" --instance "$inst" "$@" -v 2>&1 | tail -n 60
  return 1
}
st() { "$EDGEFW" status --instance "$inst" --json | jq -r ".[0]$1"; }
prog_ids() { st '.ifaces[] | "\(.xdp_prog_id) \(.tc_prog_id)"' | tr '\n' ' '; }
# gone IDS...: every program id is freed (the kernel frees after an RCU grace period).
gone() {
  local id i
  for id in "$@"; do
    for i in $(seq 100); do
      bpftool prog show id "$id" >/dev/null 2>&1 || continue 2
      sleep 0.05
    done
    fail "program $id still loaded after unload"
  done
}
netlink_filter() { ip netns exec "$ns" tc filter show dev "$1" egress 2>/dev/null | grep -c ef_tc_egress || true; }

check_path() {  # TC_ARG EXPECTED_HOOK
  local before after
  load --iface external=n0 --iface internal=n1 --tc "$1" || fail "load --tc $1"
  [ "$(st .state)" = enforcing ] || fail "--tc $1: state $(st .state)"
  [ "$(st '.ifaces | map(.tc_hook) | unique | join(",")')" = "$2" ] || fail "--tc $1: hook $(st '.ifaces[0].tc_hook'), want $2"
  [ "$(st '.ifaces | map(.xdp_mode) | unique | join(",")')" = native ] || fail "--tc $1: veth XDP not native"
  if [ "$2" = netlink ]; then
    [ "$(netlink_filter n0)" = 1 ] || fail "--tc netlink: no ef_tc_egress filter on n0"
  else
    [ "$(netlink_filter n0)" = 0 ] || fail "--tc $1: a netlink filter besides the tcx link"
  fi
  before=$(prog_ids)
  "$EDGEFW" reload "$policy" --site "$(site_without dns)" --instance "$inst" >/dev/null || fail "reload on $2"
  after=$(prog_ids)
  [ "$(st .state)" = enforcing ] || fail "after reload on $2: state $(st .state)"
  [ "$before" != "$after" ] || fail "reload on $2 did not swap the programs ($before)"
  [ "$(st '.ifaces | map(.current) | all')" = true ] || fail "after reload on $2: not current everywhere"
  "$EDGEFW" unload --instance "$inst" >/dev/null || fail "unload on $2"
  [ "$(netlink_filter n0)$(netlink_filter n1)" = 00 ] || fail "unload on $2 left a TC filter"
  ip -n "$ns" -d link show n0 | grep -q prog/xdp && fail "unload on $2 left XDP on n0"
  # shellcheck disable=SC2086
  gone $before $after
  echo "ok: TC egress via $2 (--tc $1): load, status, reload, unload"
}

load --iface external=n0 --tc auto || fail "load"
has_tcx=$(st .features.tc_link)
echo "kernel $(st .features.kernel), libbpf $(st .features.libbpf), tcx: $has_tcx"
"$EDGEFW" unload --instance "$inst" >/dev/null

# --ct-lru per-cpu: the new conntrack tables get per-CPU LRU lists
# (BPF_F_NO_COMMON_LRU, 0x2), the established ones none; a reload keeps them.
lru_flags() {
  for m in ef_ct ef_ct_dgram ef_ct_est ef_ct_dgram_est; do
    printf '%s=%s ' "$m" "$(bpftool -j map show pinned "/sys/fs/bpf/edgefw/$inst/$m" | jq '.flags // 0')"
  done
}
want_lru="ef_ct=2 ef_ct_dgram=2 ef_ct_est=0 ef_ct_dgram_est=0 "
load --iface external=n0 --ct-lru per-cpu || fail "load --ct-lru per-cpu"
[ "$(st .ct_lru)" = per-cpu ] || fail "--ct-lru per-cpu: status says $(st .ct_lru)"
[ "$(lru_flags)" = "$want_lru" ] || fail "--ct-lru per-cpu: map flags $(lru_flags)"
"$EDGEFW" reload "$policy" --site "$(site_without dns)" --instance "$inst" >/dev/null ||
  fail "reload with per-CPU LRU lists"
[ "$(lru_flags)" = "$want_lru" ] || fail "after reload: map flags $(lru_flags)"
"$EDGEFW" status --instance "$inst" | grep -q "new tables: per-CPU LRU" || fail "status text lacks the LRU lists"
"$EDGEFW" unload --instance "$inst" >/dev/null
echo "ok: --ct-lru per-cpu: ef_ct and ef_ct_dgram with per-CPU LRU lists, kept by reload"
if [ "$has_tcx" = true ]; then
  check_path auto tcx
  check_path tcx tcx
else
  check_path auto netlink
  out=$(load --iface external=n0 --tc tcx 2>&1) && fail "--tc tcx accepted without tcx"
  grep -q "has no TC bpf_link (tcx, Linux 6.6)" <<<"$out" || fail "--tc tcx message: $out"
  [ ! -e "/sys/fs/bpf/edgefw/$inst" ] || fail "a refused --tc tcx left pins"
  echo "ok: --tc tcx refused on a kernel without tcx"
fi
check_path netlink netlink

# A NIC without native XDP: auto falls back to generic, native is refused.
load --iface external=br0 || fail "load on a bridge (auto)"
[ "$(st '.ifaces[0].xdp_mode')" = generic ] || fail "bridge: xdp mode $(st '.ifaces[0].xdp_mode'), want generic"
ip -n "$ns" -d link show br0 | grep -q xdpgeneric || fail "bridge: ip link shows no generic XDP"
"$EDGEFW" unload --instance "$inst" >/dev/null
out=$(load --iface external=br0 --mode native 2>&1) && fail "--mode native accepted on a bridge"
grep -q "the driver may lack native XDP: try --mode generic" <<<"$out" || fail "--mode native message: $out"
[ ! -e "/sys/fs/bpf/edgefw/$inst" ] || fail "a refused --mode native left pins"
ip -n "$ns" -d link show br0 | grep -q prog/xdp && fail "a refused --mode native left XDP"
[ "$(netlink_filter br0)" = 0 ] || fail "a refused --mode native left a TC filter"
echo "ok: XDP auto falls back to generic on a bridge; native is refused there, nothing left"
echo "PASS: attach paths (tcx $has_tcx)"
