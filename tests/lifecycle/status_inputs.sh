#!/usr/bin/env bash
# Paths that are not what they claim, and a status that tells the truth
# (issue 18, items 6 and 8). --netns takes a name under /run/netns only: a
# path ('..', '/') is refused and a FIFO there is an error within 1 s, not a
# hang; `edgefw log` does not hang when the loaded policy's path became a
# FIFO. status exits like `systemctl status`: 0 enforcing, 3 not loaded, 4 no
# such instance or unreadable -- "permission denied" as non-root, "cannot be
# read here" under `ip netns exec` (bpffs hidden), and "unknown", never "NOT
# ATTACHED", when the NIC's namespace was deleted while XDP stays attached.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lifecycle/lib.sh
require_root_python
one_host efsi
private_state
test_user
policy=policies/lync2010-edge-hlb.yaml
site=policies/site-test.yaml
load() { "$EDGEFW" load "$1" --site "$site" --node edge1 --iface internal=n0 --netns "$2" --instance "$inst"; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
status_rc() { local rc=0; "$@" >"$tmp/st.out" 2>&1 || rc=$?; echo "$rc"; }

# --netns: names only; a FIFO under /run/netns fails fast.
for bad in ../.. a/b ..; do
  out=$(load "$policy" "$bad" 2>&1) && fail "--netns '$bad' accepted"
  grep -q "is not a network namespace name" <<<"$out" || fail "--netns '$bad' message: $out"
done
fifo="efsi-fifo-$$"
mkfifo "/run/netns/$fifo"
cleanups+=("rm -f '/run/netns/$fifo'")
t0=$(date +%s%N)
rc=0
out=$(timeout 10 "$EDGEFW" load "$policy" --site "$site" --node edge1 --iface internal=n0 --netns "$fifo" --instance "$inst" 2>&1) || rc=$?
ms=$(ms_since "$t0")
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "--netns FIFO: exit $rc after $ms ms: $out"
[ "$ms" -lt 1000 ] || fail "--netns FIFO took $ms ms"
grep -q "is not a network namespace" <<<"$out" || fail "--netns FIFO message: $out"
[ ! -e "$pins" ] || fail "a refused --netns left pins"
echo "--netns FIFO: refused in $ms ms: $out"

# log: the loaded policy's path became a FIFO.
cp "$policy" "$tmp/p.yaml"
load "$tmp/p.yaml" "$ns" >/dev/null
[ "$(status_rc "$EDGEFW" status --instance "$inst")" -eq 0 ] || fail "status of an enforcing instance: $(cat "$tmp/st.out")"
rm "$tmp/p.yaml"
mkfifo "$tmp/p.yaml"
for kept in yes no; do
  [ "$kept" = no ] && rm -f "$EDGEFW_RUNDIR/$inst"/policy.*
  t0=$(date +%s%N)
  rc=0
  timeout 10 "$EDGEFW" log --instance "$inst" >/dev/null 2>&1 || rc=$?
  ms=$(ms_since "$t0")
  [ "$rc" -eq 0 ] && [ "$ms" -lt 1000 ] || fail "log with a FIFO policy path (kept copy: $kept): exit $rc after $ms ms"
  echo "log with a FIFO at the policy path (kept copy: $kept): exit 0 in $ms ms"
done

# status exit codes.
[ "$(status_rc "$EDGEFW" status --instance "nope-$$")" -eq 3 ] || fail "status of a named instance not loaded: $(cat "$tmp/st.out")"
grep -q "instance nope-$$ is not loaded" "$tmp/st.out" || fail "not-loaded message: $(cat "$tmp/st.out")"
[ "$(status_rc "$EDGEFW" status --instance 'a/b')" -eq 4 ] || fail "status of an invalid name: $(cat "$tmp/st.out")"
[ "$(status_rc as_user "$EDGEFW" status)" -eq 4 ] || fail "non-root status: $(cat "$tmp/st.out")"
grep -q "permission denied" "$tmp/st.out" || fail "non-root status message: $(cat "$tmp/st.out")"
grep -q "no edgefw instance is loaded" "$tmp/st.out" && fail "non-root status claims nothing is loaded"
[ "$(status_rc as_user "$EDGEFW" status --instance "$inst")" -eq 4 ] || fail "non-root named status: $(cat "$tmp/st.out")"
echo "status: enforcing 0, not loaded 3, invalid name 4, non-root 4 ($(head -1 "$tmp/st.out"))"

# Under ip netns exec, /sys (and bpffs at /sys/fs/bpf with it) is remounted.
[ "$(status_rc ip netns exec "$ns" env -u EDGEFW_BPFFS "$EDGEFW" status)" -eq 4 ] || fail "status under ip netns exec: $(cat "$tmp/st.out")"
grep -q "cannot be read here: 'ip netns exec $ns'" "$tmp/st.out" || fail "ip netns exec message: $(cat "$tmp/st.out")"
echo "under ip netns exec: exit 4: $(cat "$tmp/st.out")"

# The namespace is deleted while a process still holds it: XDP stays attached.
"$EDGEFW" unload --instance "$inst" >/dev/null
[ "$(status_rc "$EDGEFW" status)" -eq 3 ] || fail "status with nothing loaded: $(cat "$tmp/st.out")"
grep -q "no edgefw instance is loaded" "$tmp/st.out" || fail "nothing-loaded message: $(cat "$tmp/st.out")"
# held_netns TC: load with --tc TC in a namespace, delete the namespace while
# a process holds it, check status, unload.
held_netns() {
  local ns2="efsi-$1-$$" holder rc xdp
  ip netns add "$ns2"
  cleanups+=("ip netns del '$ns2' 2>/dev/null")
  ip -n "$ns2" link add n0 type veth peer name n1
  ip -n "$ns2" link set n0 up
  ip -n "$ns2" link set n1 up
  "$EDGEFW" load "$policy" --site "$site" --node edge1 --iface internal=n0 --netns "$ns2" --instance "$inst" --tc "$1" >/dev/null
  ip netns exec "$ns2" sleep 120 &
  holder=$!
  pids+=("$holder")
  sleep 0.2
  ip netns del "$ns2"
  rc=$(status_rc "$EDGEFW" status --instance "$inst")
  grep -q "NOT ATTACHED" "$tmp/st.out" && fail "--tc $1: status claims NOT ATTACHED with XDP still attached: $(cat "$tmp/st.out")"
  if [ "$1" = netlink ]; then
    # The TC filter can only be seen from inside the namespace: unknown.
    grep -q "attachment unknown" "$tmp/st.out" || fail "--tc netlink, status after ip netns del: $(cat "$tmp/st.out")"
    [ "$rc" -eq 4 ] || fail "--tc netlink: status after ip netns del exited $rc"
    j=$(status_get "$inst" '.[0] | "\(.state) \(.ifaces[0].attachment) \(.ifaces[0].xdp_attached) \(.ifaces[0].attached)"' || true)
    [ "$j" = "unknown unknown true false" ] || fail "--tc netlink: status --json after ip netns del: $j"
  else
    # Links answer from anywhere: both are known to be attached.
    grep -q " attached$" "$tmp/st.out" || fail "--tc tcx, status after ip netns del: $(cat "$tmp/st.out")"
    [ "$rc" -eq 0 ] || fail "--tc tcx: status after ip netns del exited $rc"
  fi
  xdp=$(nsenter --net=/proc/$holder/ns/net ip -d link show n0 | grep -o 'prog/xdp id [0-9]*' || true)
  [ -n "$xdp" ] || fail "XDP is not attached in the held namespace (the check means nothing)"
  "$EDGEFW" unload --instance "$inst" >/dev/null || fail "unload after ip netns del"
  nsenter --net=/proc/$holder/ns/net ip -d link show n0 | grep -q 'prog/xdp' && fail "XDP left in the held namespace after unload"
  kill "$holder"
  echo "--tc $1, namespace deleted but held: status exit $rc, $(grep -o 'attachment unknown\| attached$' "$tmp/st.out" | head -1) ($xdp still attached); unload detached it"
}
held_netns netlink
if { "$EDGEFW" status 2>/dev/null || true; } | grep -q "tcx) yes"; then held_netns tcx; fi
echo "PASS: status and inputs (--netns names only, FIFOs fail fast, exit codes 0/3/4)"
