#!/usr/bin/env bash
# Faults an operator meets: running without root, bpffs not mounted, the NIC
# vanishing under a loaded policy. Each gets a clear message, nothing is left
# half-applied, and unload recovers.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lifecycle/lib.sh
require_root
require_cmd jq
one_host efft
load() { "$EDGEFW" load policies/lync2010-edge-hlb.yaml --site policies/site-test.yaml --node edge1 \
  --iface internal=n0 --netns "$ns" --instance "$inst"; }
attached() { ip -n "$ns" -d link show n0 2>/dev/null | grep -q 'prog/xdp' ||
  [ -n "$(ip netns exec "$ns" tc filter show dev n0 egress 2>/dev/null)" ]; }

# Not root: the message names the capabilities; nothing attached.
if command -v setpriv >/dev/null; then
  out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$EDGEFW" load policies/lync2010-edge-hlb.yaml \
    --site policies/site-test.yaml --node edge1 --iface internal=n0 --netns "$ns" --instance "$inst" 2>&1) &&
    fail "non-root load succeeded"
  grep -q "run as root (CAP_BPF, CAP_NET_ADMIN" <<<"$out" || fail "non-root message: $out"
  attached && fail "a refused non-root load attached something"
fi

# bpffs missing: a clear message, nothing attached.
mkdir -p "$tmp/plain"
out=$(EDGEFW_BPFFS="$tmp/plain/edgefw" load 2>&1) && fail "load without bpffs succeeded"
grep -q "is not a bpffs mount -- mount it: mount -t bpf bpf" <<<"$out" || fail "bpffs message: $out"
attached && fail "a load without bpffs attached something"

# The NIC vanishes under a loaded policy: status says so, unload cleans up.
load >/dev/null
ip -n "$ns" link del n0
# status exits 1 when an instance is not enforcing: that is the point here.
json=$("$EDGEFW" status --instance "$inst" --json || true)
state=$(json_get '.[0].state' <<<"$json")
[ "$state" = degraded ] || fail "status after the NIC vanished: $state"
"$EDGEFW" unload --instance "$inst" >/dev/null || fail "unload after the NIC vanished"
[ ! -e "/sys/fs/bpf/edgefw/$inst" ] || fail "pins left"
echo "PASS: faults (non-root, no bpffs, NIC vanished)"
