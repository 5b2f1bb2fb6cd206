#!/usr/bin/env bash
# Confirm rolls back to what was running (issue 18, item 4): to the policy's
# bytes as they were loaded, not to its path -- an edited file, or a relative
# path and a reload from another directory, do not change what comes back. A
# timer acts only on its own instance and generation: `load --confirm 4;
# unload; load --confirm 600` is still loaded after 6 s. confirm and unload
# end the timer process (gone, not a zombie); a rollback that fails says so in
# status.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lifecycle/lib.sh
require_root_python
one_host efcf
private_state
EDGEFW=$(realpath "$EDGEFW")
site=$(realpath policies/site-test.yaml)
site_b=$(realpath "$(site_without dns crl-download)")
cp policies/lync2010-edge-hlb.yaml "$tmp/p.yaml"
args=(--node edge1 --iface internal=n0 --netns "$ns" --instance "$inst")
# get FIELD[.FIELD...]: a field of the instance's status ("" when absent).
get() {
  status_get "$inst" 'if length == 0 then "absent"
    else .[0] | getpath($a1 | split(".")) | if . == null then "" else . end end' "$1"
}
# wait_for FIELD VALUE SECS
wait_for() {
  for _ in $(seq $(($3 * 10))); do [ "$(get "$1")" = "$2" ] && return 0; sleep 0.1; done
  return 1
}
timer_pid() { cut -d' ' -f1 "$EDGEFW_RUNDIR/$inst/timer" 2>/dev/null || true; }
gone() { # PID: exited within 1 s (a zombie only of init, which reaps in its own time)
  for _ in $(seq 10); do
    read -r s pp <<<"$(ps -o stat=,ppid= -p "$1" 2>/dev/null || true)"
    [ -z "$s" ] && return 0
    [ "${s:0:1}" = Z ] && [ "$pp" = 1 ] && return 0
    sleep 0.1
  done
  echo "process $1 is still there: state $s, parent $pp"; return 1
}

# 1. The file is edited after the load; reload --confirm of the edited file,
# unconfirmed: the original bytes come back.
"$EDGEFW" load "$tmp/p.yaml" --site "$site" "${args[@]}" >/dev/null
h1=$(get policy_hash)
sed -i '0,/dport: 443$/s//dport: [443, 2222]/' "$tmp/p.yaml"
"$EDGEFW" reload "$tmp/p.yaml" --site "$site" --instance "$inst" --confirm 2 >/dev/null
h2=$(get policy_hash)
[ "$h2" != "$h1" ] || fail "the edited policy compiles to the same hash"
wait_for policy_hash "$h1" 6 || fail "rollback gave $(get policy_hash), not the original $h1 (edited: $h2)"
[ "$(get confirm.pending)" = false ] || fail "still pending after the rollback"
[ -z "$(get confirm.error)" ] || fail "rollback error: $(get confirm.error)"
grep -q '\[443, 2222\]' "$tmp/p.yaml" || fail "the rollback touched the file"
echo "edited file: rollback restored $h1 (the file now compiles to $h2)"

# 2. A relative path, and the reload from another directory.
"$EDGEFW" unload --instance "$inst" >/dev/null
mkdir "$tmp/d1"
cp policies/lync2010-edge-hlb.yaml "$tmp/d1/p.yaml"
(cd "$tmp/d1" && "$EDGEFW" load p.yaml --site "$site" "${args[@]}" >/dev/null)
h1=$(get policy_hash)
[ "$(get policy)" = "$tmp/d1/p.yaml" ] || fail "status shows policy $(get policy), not the absolute path"
(cd / && "$EDGEFW" reload "$tmp/d1/p.yaml" --site "$site_b" --instance "$inst" --confirm 2 >/dev/null)
[ "$(get policy_hash)" != "$h1" ] || fail "reload with site_b did not change the policy"
wait_for policy_hash "$h1" 6 || fail "relative path: rollback gave $(get policy_hash), not $h1 (error: $(get confirm.error))"
echo "relative path, reload from /: rollback restored $h1"

# 3. A timer belongs to its instance: load --confirm 4; unload; load --confirm 600.
"$EDGEFW" unload --instance "$inst" >/dev/null
"$EDGEFW" load "$tmp/d1/p.yaml" --site "$site" "${args[@]}" --confirm 4 >/dev/null
t1=$(timer_pid)
[ -n "$t1" ] || fail "no timer recorded for load --confirm 4"
"$EDGEFW" unload --instance "$inst" >/dev/null
gone "$t1" || fail "unload left the timer of load --confirm 4"
"$EDGEFW" load "$tmp/d1/p.yaml" --site "$site" "${args[@]}" --confirm 600 >/dev/null
t2=$(timer_pid)
sleep 6
[ "$(get state)" = enforcing ] || fail "load --confirm 600 was undone after 6 s: $(get state)"
[ "$(get confirm.pending)" = true ] || fail "the confirm is no longer pending"
kill -0 "$t2" 2>/dev/null || fail "the timer of load --confirm 600 is gone before confirm"
"$EDGEFW" confirm --instance "$inst" >/dev/null
gone "$t2" || fail "confirm left the timer running"
[ "$(get state)" = enforcing ] && [ "$(get confirm.pending)" = false ] || fail "after confirm: $(get state)"
echo "load --confirm 4; unload; load --confirm 600: still loaded after 6 s; confirm ended timer $t2, unload ended $t1"

# 4. A rollback that cannot happen says so in status (here: its kept copy is gone).
gen=$(get generation)
"$EDGEFW" reload "$tmp/d1/p.yaml" --site "$site_b" --instance "$inst" --confirm 1 >/dev/null
rm "$EDGEFW_RUNDIR/$inst/policy.$gen"
for _ in $(seq 50); do [ -n "$(get confirm.error)" ] && break; sleep 0.1; done
grep -q "rollback failed.*kept copy of generation $gen" <<<"$(get confirm.error)" || fail "no rollback error in status: $(get confirm)"
"$EDGEFW" status --instance "$inst" | grep -q "confirm: rollback failed" || fail "text status does not show the rollback error"
echo "a failed rollback shows in status: $(get confirm.error)"
# 5. A reload --confirm over a pending one ends the earlier timer (once it has taken over).
"$EDGEFW" reload "$tmp/d1/p.yaml" --site "$site" --instance "$inst" --confirm 600 >/dev/null
t3=$(timer_pid)
"$EDGEFW" reload "$tmp/d1/p.yaml" --site "$site_b" --instance "$inst" --confirm 600 >/dev/null
t4=$(timer_pid)
[ "$t3" != "$t4" ] || fail "the second reload --confirm recorded no new timer"
gone "$t3" || fail "the superseded timer $t3 is still running"
"$EDGEFW" confirm --instance "$inst" >/dev/null
gone "$t4" || fail "confirm left timer $t4 running"
echo "reload --confirm over a pending one: timer $t3 ended, confirm ended $t4"
# 6. A reload that fails while a confirm is pending leaves that confirm armed:
# its timer, and the kept copy it rolls back to.
h0=$(get policy_hash)
"$EDGEFW" reload "$tmp/d1/p.yaml" --site "$site" --instance "$inst" --confirm 3 >/dev/null
[ "$(get policy_hash)" != "$h0" ] || fail "case 6: the reload did not change the policy"
t5=$(timer_pid)
EDGEFW_FAULT_SWAP=0 "$EDGEFW" reload "$tmp/d1/p.yaml" --site "$site_b" --instance "$inst" >/dev/null 2>&1 &&
  fail "case 6: the fault-injected reload succeeded"
[ "$(get confirm.pending)" = true ] && [ "$(timer_pid)" = "$t5" ] || fail "case 6: the failed reload disarmed the confirm"
wait_for policy_hash "$h0" 8 || fail "case 6: no rollback to $h0 after a failed reload: $(get policy_hash) $(get confirm.error)"
echo "a failed reload during a pending confirm: the confirm still rolled back to $h0"
# 7. A timer that cannot even look at its instance (here: the pin directory is
# not 0700 when it fires, so edgefw refuses to open it) says so in status, and
# confirm clears it.
"$EDGEFW" confirm --instance "$inst" >/dev/null 2>&1 || true
"$EDGEFW" reload "$tmp/d1/p.yaml" --site "$site" --instance "$inst" --confirm 1 >/dev/null
chmod 0755 "$pins"
for _ in $(seq 50); do [ -s "$EDGEFW_RUNDIR/$inst/timer.error" ] && break; sleep 0.1; done
chmod 0700 "$pins"
[ -s "$EDGEFW_RUNDIR/$inst/timer.error" ] || fail "case 7: the timer left no error record"
err=$(get confirm.error)
grep -q "^confirm timer: .*$pins" <<<"$err" || fail "case 7: status --json shows no timer error: '$err'"
"$EDGEFW" status --instance "$inst" | grep -q "confirm: confirm timer: " ||
  fail "case 7: text status does not show the timer error"
[ "$(get confirm.pending)" = true ] || fail "case 7: the failed timer changed the confirm state"
"$EDGEFW" confirm --instance "$inst" >/dev/null
[ -z "$(get confirm.error)" ] || fail "case 7: confirm left the timer error: $(get confirm.error)"
echo "a timer that cannot open its instance shows in status: $err"
echo "PASS: confirm (content, not path; timers bound to their instance and ended by confirm/unload)"
