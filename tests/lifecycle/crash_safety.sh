#!/usr/bin/env bash
# Crash-safe lifecycle: the loader is killed with SIGKILL at a random moment
# during `load` and during `reload`, TRIALS times in all. After every kill,
# `status` must tell the truth (enforcing, mixed or degraded, never a crash),
# one more `load`/`reload` must recover with no manual cleanup, and during the
# reload trials no packet the policy denies may reach the node.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lifecycle/lib.sh
TRIALS=${TRIALS:-200}
require_root_python
two_hosts efcs 198.18.155.30

policy=policies/lync2010-edge-hlb.yaml
site_a=policies/site-test.yaml
site_b=$(site_without dns crl-download)

# A listener behind a port every policy denies (RTP range ends at 59999), and
# a sender that offers it (and an allowed STUN packet) every 5 ms throughout.
ip netns exec "$ns_n" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("198.18.155.30", 60000))
n = 0
while True:
    s.recv(64); n += 1
    open(sys.argv[1] + ".tmp", "w").write(str(n)); __import__("os").replace(sys.argv[1] + ".tmp", sys.argv[1])
' "$tmp/denied" &
pids+=($!)
ip netns exec "$ns_c" python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
while True:
    s.sendto(b"x", ("198.18.155.30", 3478)); s.sendto(b"x", ("198.18.155.30", 60000)); time.sleep(0.005)
' &
pids+=($!)
denied() { cat "$tmp/denied" 2>/dev/null || echo 0; }

# exec: the background job must be edgefw itself, so SIGKILL reaches it.
load() { exec "$EDGEFW" load "$policy" --site "$1" --node edge1 --iface external=n0 --netns "$ns_n" --instance "$inst"; }
reload() { exec "$EDGEFW" reload "$policy" --site "$1" --instance "$inst"; }
state() {
  local out
  out=$("$EDGEFW" status --instance "$inst" --json 2>/dev/null || true)
  [ -n "$out" ] || { echo absent; return; }
  json_get 'if type == "array" and length > 0 then .[0].state // "absent" else "absent" end' \
    <<<"$out" 2>/dev/null || echo absent
}
# Random delay in microseconds, up to the length of a full run of the command.
rnd() { echo $(( (RANDOM * 32768 + RANDOM) % $1 )); }

declare -A seen
recovered=0
leaks=0
start=$(date +%s)
half=$((TRIALS / 2))
for i in $(seq "$TRIALS"); do
  if [ "$i" -le "$half" ]; then
    # load trials: from nothing loaded to the policy.
    "$EDGEFW" unload --instance "$inst" >/dev/null 2>&1 || true
    (load "$site_a" >/dev/null 2>&1) & p=$!
    sleep "0.$(printf '%06d' "$(rnd 400000)")"
    kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true
    s=$(state); seen["load:$s"]=$(( ${seen["load:$s"]:-0} + 1 ))
    if [ "$s" != enforcing ]; then
      # Recovery is edgefw's own: unload removes whatever the dead load left, load starts over.
      "$EDGEFW" unload --instance "$inst" >/dev/null 2>&1 || true
      (load "$site_a" >/dev/null) || { echo "trial $i: state after kill was $s"; "$EDGEFW" status --instance "$inst"; exit 1; }
    fi
  else
    [ "$i" -eq $((half + 1)) ] && before=$(denied)
    if [ $((i % 2)) -eq 0 ]; then site=$site_b; else site=$site_a; fi
    (reload "$site" >/dev/null 2>&1) & p=$!
    sleep "0.$(printf '%06d' "$(rnd 400000)")"
    kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true
    s=$(state); seen["reload:$s"]=$(( ${seen["reload:$s"]:-0} + 1 ))
    (reload "$site" >/dev/null)
  fi
  s=$(state)
  if [ "$s" = enforcing ]; then recovered=$((recovered + 1)); else echo "FAIL: trial $i left state $s"; exit 1; fi
done
sleep 0.2
after=$(denied)
leaks=$((after - before))
summary=""
for k in $(printf "%s\n" "${!seen[@]}" | sort); do summary+=" $k=${seen[$k]:-0}"; done
echo "crash trials $TRIALS in $(( $(date +%s) - start )) s: states right after SIGKILL:$summary; recovered $recovered/$TRIALS; denied packets that reached the node during reload trials: $leaks"
[ "$recovered" -eq "$TRIALS" ] || exit 1
[ "$leaks" -eq 0 ] || { echo "FAIL: $leaks denied packets passed"; exit 1; }
echo "PASS: crash-safe lifecycle"
