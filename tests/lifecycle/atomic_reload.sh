#!/usr/bin/env bash
# All or nothing (issue 18, item 3). A reload whose policy adds a port and
# holds an app label with byte 0xFF fails before anything changes: exit
# non-zero with a clear message, the old programs still attached (same ids),
# status still the old hash, and the new port still closed to real traffic. A
# swap the kernel refuses part-way (EDGEFW_FAULT_SWAP=N: fail after N NICs)
# goes back to the old programs on every NIC. The same policy without the bad
# byte opens the port (the check can see a change).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lifecycle/lib.sh
require_root_python
two_hosts efar 198.18.155.10
private_state
# A second protected NIC, so a swap can fail between two of them.
ip -n "$ns_n" link add n2 type veth peer name n3
ip -n "$ns_n" link set n2 up
ip -n "$ns_n" link set n3 up
policy=policies/lync2010-edge-hlb.yaml
site=policies/site-test.yaml

# The access edge's SIP/TLS rule (dport 443) also opens 2222; bad.yaml also
# puts byte 0xFF in its app label.
python3 - "$policy" "$tmp" <<'PY'
import sys
src, tmp = sys.argv[1], sys.argv[2]
text = open(src, "rb").read()
start = text.index(b"- id: ext-vip-access-sip-tls")
end = text.index(b"- id:", start + 5)
block = text[start:end]
good = block.replace(b"dport: 443", b"dport: [443, 2222]", 1)
bad = good.replace(b'app: "SIP (TLS)"', b'app: "SIP \xff"', 1)
assert good != block and bad != good
open(tmp + "/good.yaml", "wb").write(text[:start] + good + text[end:])
open(tmp + "/bad.yaml", "wb").write(text[:start] + bad + text[end:])
PY

ip netns exec "$ns_n" python3 -c '
import socket, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("198.18.155.10", port)); s.listen(64)
    while True:
        c, _ = s.accept(); c.close()
for p in (443, 2222): threading.Thread(target=serve, args=(p,), daemon=True).start()
threading.Event().wait()' &
pids+=($!)
sleep 0.3
probe() {
  ip netns exec "$ns_c" python3 -c '
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect(("198.18.155.10", int(sys.argv[1]))); print("open")
except OSError:
    print("closed")' "$1"
}
st() {
  status_get "$inst" '.[0] | [.state, .policy_hash, .generation, .confirm.pending,
    (.ifaces[] | "\(.dev):\(.xdp_prog_id):\(.tc_prog_id)")] | map(tostring) | join(" ")'
}
xdp_ids() { for d in n0 n2; do ip -n "$ns_n" -d link show "$d" | grep -o 'prog/xdp id [0-9]*' | grep -o '[0-9]*$'; done | tr '\n' ' '; }

"$EDGEFW" load "$policy" --site "$site" --node edge1 --iface external=n0 --iface internal=n2 \
  --netns "$ns_n" --instance "$inst" >/dev/null
[ "$(probe 443)" = open ] || fail "443 (allowed) is closed under the policy"
[ "$(probe 2222)" = closed ] || fail "2222 is open before any reload"
before=$(st)
ids=$(xdp_ids)

# 1. The failing reload.
rc=0
out=$("$EDGEFW" reload "$tmp/bad.yaml" --site "$site" --instance "$inst" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "a reload with a 0xFF label succeeded"
grep -q "ext-vip-access-sip-tls.*not valid UTF-8" <<<"$out" || fail "0xFF message: $out"
grep -q "Nothing changed" <<<"$out" || fail "0xFF message does not say nothing changed: $out"
[ "$(st)" = "$before" ] || fail "status changed after a failed reload: $(st) (was $before)"
[ "$(xdp_ids)" = "$ids" ] || fail "XDP programs changed after a failed reload: $(xdp_ids) (was $ids)"
[ "$(probe 2222)" = closed ] || fail "the failed reload opened port 2222"
[ "$(probe 443)" = open ] || fail "443 closed after a failed reload"
echo "failing reload (0xFF label + port 2222): exit $rc, programs $ids kept, 2222 closed, status unchanged"

# 2. The kernel refuses the swap after 0 and after 1 of 2 NICs: rolled back.
for n in 0 1; do
  rc=0
  out=$(EDGEFW_FAULT_SWAP=$n "$EDGEFW" reload "$tmp/good.yaml" --site "$site" --instance "$inst" 2>&1) || rc=$?
  [ "$rc" -ne 0 ] || fail "EDGEFW_FAULT_SWAP=$n: the reload succeeded"
  grep -q "swap refused" <<<"$out" || fail "EDGEFW_FAULT_SWAP=$n message: $out"
  [ "$(st)" = "$before" ] || fail "EDGEFW_FAULT_SWAP=$n: status $(st) (was $before)"
  [ "$(xdp_ids)" = "$ids" ] || fail "EDGEFW_FAULT_SWAP=$n: XDP programs $(xdp_ids) (was $ids)"
  [ "$(probe 2222)" = closed ] || fail "EDGEFW_FAULT_SWAP=$n: 2222 open after the rollback"
done
echo "swap refused after 0 and 1 of 2 NICs: rolled back to programs $ids, status unchanged"

# 3. Control: without the bad byte the same reload opens 2222.
"$EDGEFW" reload "$tmp/good.yaml" --site "$site" --instance "$inst" >/dev/null
[ "$(probe 2222)" = open ] || fail "the good reload did not open 2222"
[ "$(st)" != "$before" ] || fail "the good reload did not change status"
read -r state _ <<<"$(st)"
[ "$state" = enforcing ] || fail "after the good reload: $(st)"
echo "PASS: atomic reload (a failing reload and a refused swap leave the old policy enforcing)"
