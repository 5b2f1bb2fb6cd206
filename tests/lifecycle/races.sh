#!/usr/bin/env bash
# One operation at a time (issue 18, item 2). ROUNDS (20) rounds of two loads,
# a reload and an unload started together on one instance, from a random
# starting state. After each round status must match the kernel: enforcing
# with its XDP program on the NIC and its pins, or not loaded with neither --
# never degraded, mixed or damaged; a load that printed success is still
# enforcing unless an unload succeeded; two loads never both succeed without
# an unload between them; every refusal says why. Then a caller that finds the
# lock held waits, and fails naming the operation and pid that hold it.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lifecycle/lib.sh
ROUNDS=${ROUNDS:-20}
require_root_python
one_host efrc
private_state
export EDGEFW_LOCK_WAIT=30
policy=policies/lync2010-edge-hlb.yaml
site_a=policies/site-test.yaml
site_b=$(site_without dns crl-download)
load() { "$EDGEFW" load "$policy" --site "$site_a" --node edge1 --iface internal=n0 --netns "$ns" --instance "$inst"; }
reload() { "$EDGEFW" reload "$policy" --site "$1" --instance "$inst"; }
unload() { "$EDGEFW" unload --instance "$inst"; }
field() { json_get 'if length == 0 then "absent" else .[0][$a1] // "" end' "$1" <"$tmp/status.json"; }
xdp_id() { ip -n "$ns" -d link show n0 | grep -o 'prog/xdp id [0-9]*' | grep -o '[0-9]*$' || true; }

load >/dev/null
hash_a=$(status_get "$inst" '.[0].policy_hash')
reload "$site_b" >/dev/null
hash_b=$(status_get "$inst" '.[0].policy_hash')
[ "$hash_a" != "$hash_b" ] || fail "the two sites compile to one policy"

start=$(date +%s)
clean=0
declare -A outcomes
for r in $(seq "$ROUNDS"); do
  initially=$((RANDOM % 2))
  if [ "$initially" -eq 1 ]; then
    [ "$("$EDGEFW" status --instance "$inst" >/dev/null 2>&1; echo $?)" -eq 0 ] || load >/dev/null
  else
    unload >/dev/null 2>&1 || true
  fi
  if [ $((r % 2)) -eq 0 ]; then site=$site_a; else site=$site_b; fi
  (rc=0; load >"$tmp/l1.out" 2>&1 || rc=$?; echo $rc >"$tmp/l1.rc") &
  (rc=0; load >"$tmp/l2.out" 2>&1 || rc=$?; echo $rc >"$tmp/l2.rc") &
  (rc=0; reload "$site" >"$tmp/r.out" 2>&1 || rc=$?; echo $rc >"$tmp/r.rc") &
  (rc=0; unload >"$tmp/u.out" 2>&1 || rc=$?; echo $rc >"$tmp/u.rc") &
  wait
  l1=$(cat "$tmp/l1.rc") l2=$(cat "$tmp/l2.rc") ul=$(cat "$tmp/u.rc")
  for op in l1 l2 r u; do
    if [ "$(cat "$tmp/$op.rc")" -ne 0 ] &&
      ! grep -qE "is already loaded|is not loaded|is busy" "$tmp/$op.out"; then
      fail "round $r: $op failed without a reason: $(cat "$tmp/$op.out")"
    fi
  done
  rc=0
  "$EDGEFW" status --instance "$inst" --json >"$tmp/status.json" 2>"$tmp/status.err" || rc=$?
  state=$(field state)
  id=$(xdp_id)
  outcomes["$state"]=$(( ${outcomes["$state"]:-0} + 1 ))
  case "$state" in
    enforcing)
      [ "$rc" -eq 0 ] || fail "round $r: enforcing but status exited $rc"
      [ -n "$id" ] || fail "round $r: status says enforcing, no XDP program on n0"
      [ "$id" = "$(field prog_xdp_id)" ] || fail "round $r: n0 runs XDP id $id, status pins $(field prog_xdp_id)"
      h=$(field policy_hash)
      [ "$h" = "$hash_a" ] || [ "$h" = "$hash_b" ] || fail "round $r: status describes policy $h"
      [ -d "$pins" ] || fail "round $r: enforcing without pins";;
    absent)
      [ "$rc" -eq 3 ] || fail "round $r: not loaded but status exited $rc"
      [ -z "$id" ] || fail "round $r: not loaded, yet XDP id $id is on n0"
      [ ! -e "$pins" ] || fail "round $r: not loaded, yet pins remain: $(ls "$pins")";;
    *) fail "round $r: state $state: $(cat "$tmp/status.json" "$tmp/status.err")";;
  esac
  if [ "$ul" -ne 0 ]; then
    { [ "$l1" -eq 0 ] || [ "$l2" -eq 0 ] || [ "$initially" -eq 1 ]; } && [ "$state" != enforcing ] &&
      fail "round $r: a load succeeded (or it was loaded) and nothing unloaded, yet: $state"
    [ "$l1" -eq 0 ] && [ "$l2" -eq 0 ] && fail "round $r: both loads succeeded without an unload"
    [ "$initially" -eq 1 ] && { [ "$l1" -eq 0 ] || [ "$l2" -eq 0 ]; } && fail "round $r: a load succeeded over a loaded instance"
  fi
  clean=$((clean + 1))
done
summary=""
for k in $(printf "%s\n" "${!outcomes[@]}" | sort); do summary+=" $k=${outcomes[$k]}"; done
echo "races: $clean/$ROUNDS rounds clean in $(( $(date +%s) - start )) s (final states:$summary)"

# A held lock: the second caller waits EDGEFW_LOCK_WAIT, then names the holder.
[ "$(field state)" = enforcing ] || load >/dev/null
(exec "$EDGEFW" reload "$policy" --site "$site_a" --instance "$inst" >/dev/null 2>&1) &
holder=$!
for _ in $(seq 500); do [ -s "$EDGEFW_RUNDIR/$inst/lock" ] && break; sleep 0.01; done
kill -STOP "$holder" 2>/dev/null || fail "the reload finished before it could be paused"
t0=$(date +%s%N)
out=$(EDGEFW_LOCK_WAIT=1 "$EDGEFW" unload --instance "$inst" 2>&1) && { kill -CONT "$holder"; fail "unload ran while reload held the lock"; }
t1=$(date +%s%N)
kill -CONT "$holder"
wait "$holder" || fail "the paused reload failed"
grep -q "instance '$inst' is busy: 'edgefw reload' (pid $holder, since" <<<"$out" || fail "busy message: $out"
ms=$(( (t1 - t0) / 1000000 ))
[ "$ms" -ge 900 ] && [ "$ms" -lt 3000 ] || fail "the waiting unload gave up after $ms ms, not ~1 s"
echo "held lock: unload waited $ms ms and said: $out"
echo "PASS: races ($clean/$ROUNDS rounds clean; the lock holder is named)"
