#!/usr/bin/env bash
# Shadow policies (issue 15) on live traffic between two namespaces. The
# reference policy is enforced on edge1; the candidate drops edge1's RTP-in
# rows and adds TCP 3479 on its A/V address (198.18.155.30). Then:
#   - bad input: promote or stats with no candidate, a candidate for another
#     node, one that fails check: refused, nothing changed;
#   - known traffic: 20 RTP datagrams (passed, the candidate would drop them),
#     5 TCP connection attempts to 3479 (dropped, the candidate would pass
#     them), 10 STUN datagrams (both pass): shadow stats exact to the packet,
#     in JSON, Prometheus and the shadow log;
#   - stop leaves the enforced policy and its counters untouched;
#   - promote under a 1 kpps stream loses nothing; the candidate is enforced.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lifecycle/lib.sh
require_root_python
two_hosts efsh 198.18.155.30 198.18.155.10
private_state
policy=policies/lync2010-edge-hlb.yaml
site=policies/site-test.yaml
cand="$tmp/candidate.yaml"
python3 tests/lifecycle/candidate.py "$policy" >"$cand"
"$EDGEFW" check "$cand" --site "$site" >/dev/null 2>&1 || fail "the candidate does not check"

"$EDGEFW" load "$policy" --site "$site" --node edge1 --iface external=n0 \
  --netns "$ns_n" --instance "$inst" >/dev/null

refused() { # WHAT EXPECTED-TEXT COMMAND...: must fail, say so, and change nothing
  local what=$1 want=$2 out rc=0
  shift 2
  out=$("$@" 2>&1) || rc=$?
  [ "$rc" != 0 ] || fail "$what: exit 0"
  grep -q -- "$want" <<<"$out" || fail "$what: said: $out"
  [ "$(status_get "$inst" '.[0].shadow // "none"')" = none ] || fail "$what: a candidate is loaded"
  [ ! -e "$pins/shadow_meta" ] || fail "$what: left shadow_meta"
}
refused "promote without a candidate" "has no candidate to promote" \
  "$EDGEFW" shadow promote --instance "$inst"
refused "stats without a candidate" "has no candidate" "$EDGEFW" shadow stats --instance "$inst"
refused "stop without a candidate" "has no candidate" "$EDGEFW" shadow stop --instance "$inst"
refused "another node" "enforces node edge1, not edge2" \
  "$EDGEFW" shadow start "$cand" --site "$site" --node edge2 --instance "$inst"
printf 'edgefw: 1\nname: broken\nrules: [\n' >"$tmp/broken.yaml"
refused "a candidate that fails check" "has errors, nothing changed" \
  "$EDGEFW" shadow start "$tmp/broken.yaml" --instance "$inst"
echo "bad input: refused, nothing loaded"

out=$("$EDGEFW" shadow start "$cand" --site "$site" --instance "$inst")
grep -q "judged beside the enforced policy" <<<"$out" || fail "start said: $out"
refused_twice=$("$EDGEFW" shadow start "$cand" --site "$site" --instance "$inst" 2>&1) &&
  fail "a second candidate was accepted"
grep -q "has a candidate already" <<<"$refused_twice" || fail "second start said: $refused_twice"
grep -q "shadow candidate" <<<"$("$EDGEFW" status --instance "$inst")" || fail "status shows no candidate"
for p in prog_xdp prog_tc ef_rule_counters ef_shadow_would ef_log; do
  [ -e "$pins/shadow_$p" ] || fail "no pin shadow_$p"
done

# The sinks count what arrives: one line per datagram or accepted connection.
ip netns exec "$ns_n" python3 -u -c '
import socket, sys, threading
def udp(port, out):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.155.30", port))
    with open(out, "a") as f:
        while True:
            s.recvfrom(2048); f.write("x\n"); f.flush()
def tcp(port, out):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("198.18.155.30", port)); s.listen(16)
    with open(out, "a") as f:
        while True:
            c, _ = s.accept(); c.close(); f.write("x\n"); f.flush()
for t in [(udp, 50001, sys.argv[1] + "/rtp"), (udp, 3478, sys.argv[1] + "/stun"), (tcp, 3479, sys.argv[1] + "/t3479")]:
    threading.Thread(target=t[0], args=t[1:], daemon=True).start()
open(sys.argv[1] + "/sinks.ready", "w").close()
threading.Event().wait()' "$tmp" &
sinks=$!
pids+=($sinks)
for _ in $(seq 50); do [ -e "$tmp/sinks.ready" ] && break; sleep 0.1; done

ip netns exec "$ns_c" python3 -c '
import socket, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("198.18.100.7", 41000))
for i in range(20):
    u.sendto(b"rtp %d" % i, ("198.18.155.30", 50001)); time.sleep(0.005)
v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
v.bind(("198.18.100.7", 41001))
for i in range(10):
    v.sendto(b"stun %d" % i, ("198.18.155.30", 3478)); time.sleep(0.005)
for i in range(5):
    # One SYN each: the connection times out before the first retransmission (1 s).
    t = socket.socket(); t.settimeout(0.4)
    t.bind(("198.18.100.7", 42000 + i))
    try:
        t.connect(("198.18.155.30", 3479))
    except OSError:
        pass
    t.close()'
sleep 0.5
lines() { [ -e "$1" ] && wc -l <"$1" || echo 0; }
[ "$(lines "$tmp/rtp")" = 20 ] || fail "enforced: $(lines "$tmp/rtp") of 20 RTP datagrams arrived"
[ "$(lines "$tmp/stun")" = 10 ] || fail "enforced: $(lines "$tmp/stun") of 10 STUN datagrams arrived"
[ "$(lines "$tmp/t3479")" = 0 ] || fail "enforced: a TCP 3479 connection was accepted"

sh_json=$("$EDGEFW" shadow stats --instance "$inst" --json)
shadow_get() { json_get "$@" <<<"$sh_json"; }
disagree() { shadow_get '[.disagreements[] | select(.kind == $a1 and .rule == $a2) | .packets] | add // 0' "$1" "$2"; }
cand_rule() { shadow_get '[.rules[] | select(.id == $a1) | .packets] | add // 0' "$1"; }
[ "$(disagree would_drop edge1-ext-av-rtp-udp-in)" = 20 ] ||
  fail "would_drop edge1-ext-av-rtp-udp-in: $(disagree would_drop edge1-ext-av-rtp-udp-in), want 20: $sh_json"
[ "$(disagree would_pass edge1-ext-av-stun-tcp-3479)" = 5 ] ||
  fail "would_pass edge1-ext-av-stun-tcp-3479: $(disagree would_pass edge1-ext-av-stun-tcp-3479), want 5"
[ "$(cand_rule edge1-ext-av-stun-tcp-3479)" = 5 ] || fail "candidate rule 3479: $(cand_rule edge1-ext-av-stun-tcp-3479)"
[ "$(cand_rule ext-vip-av-stun-udp)" = 10 ] || fail "candidate STUN rule: $(cand_rule ext-vip-av-stun-udp)"
n=$(shadow_get '[.disagreements[] | select(.rule | test("rtp-udp-in|stun-tcp-3479") | not)] | length')
[ "$n" = 0 ] || fail "other disagreements: $sh_json"
[ "$(shadow_get '.candidate.policy_hash')" != "$(status_get "$inst" '.[0].policy_hash')" ] ||
  fail "the candidate has the enforced policy's hash"
echo "shadow stats: would_drop 20 (RTP in), would_pass 5 (TCP 3479), STUN 10 agreed"

prom=$("$EDGEFW" shadow stats --instance "$inst" --prometheus)
grep -q '^edgefw_shadow_disagreements_total{.*kind="would_drop",rule="edge1-ext-av-rtp-udp-in"} 20$' <<<"$prom" ||
  fail "prometheus: $prom"
grep -q '^edgefw_shadow_rule_packets_total{.*rule="edge1-ext-av-stun-tcp-3479"} 5$' <<<"$prom" ||
  fail "prometheus: no candidate rule series"
# Captured first: grep -q ends early, and a writer cut off by SIGPIPE fails the pipe.
full=$("$EDGEFW" stats --instance "$inst" --prometheus)
grep -q '^edgefw_shadow_info{' <<<"$full" || fail "stats --prometheus has no edgefw_shadow_info"
log=$("$EDGEFW" shadow log --instance "$inst" --json)
[ "$(jq -s '[.[] | select(.kind == "would_drop" and .enforced == "edge1-ext-av-rtp-udp-in")] | length' <<<"$log")" = 20 ] ||
  fail "shadow log: $log"
[ "$(jq -s '[.[] | select(.kind == "would_pass" and .candidate == "edge1-ext-av-stun-tcp-3479")] | length' <<<"$log")" = 5 ] ||
  fail "shadow log would_pass: $log"
echo "prometheus and shadow log agree"

# stop: the enforced policy and its counters as they were.
before=$(stats_get "$inst" '[.rules[] | select(.id == "edge1-ext-av-rtp-udp-in") | .packets] | add')
hash=$(status_get "$inst" '.[0].policy_hash')
"$EDGEFW" shadow stop --instance "$inst" >/dev/null
[ "$(status_get "$inst" '.[0].shadow // "none"')" = none ] || fail "stop: still a candidate"
[ "$(status_get "$inst" '.[0].policy_hash')" = "$hash" ] || fail "stop changed the policy"
[ "$(status_get "$inst" '.[0].state')" = enforcing ] || fail "stop: not enforcing"
for p in prog_xdp prog_tc ef_rule_counters ef_shadow_would ef_log; do
  [ ! -e "$pins/shadow_$p" ] || fail "stop left shadow_$p"
done
ip netns exec "$ns_c" python3 -c '
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("198.18.100.7", 41000))
for i in range(5): u.sendto(b"rtp", ("198.18.155.30", 50001))'
sleep 0.3
[ "$(lines "$tmp/rtp")" = 25 ] || fail "after stop: $(($(lines "$tmp/rtp") - 20)) of 5 RTP datagrams arrived"
after=$(stats_get "$inst" '[.rules[] | select(.id == "edge1-ext-av-rtp-udp-in") | .packets] | add')
[ "$after" = $((before + 5)) ] || fail "after stop: RTP rule counted $before then $after"
echo "stop: enforced policy and counters untouched"

# promote under the 1 kpps stream: nothing lost, the candidate enforced. The
# stream's own sink takes STUN 3478; RTP gets a sink of its own.
kill "$sinks"
wait "$sinks" 2>/dev/null || true
ip netns exec "$ns_n" python3 -u -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.155.30", 50001))
open(sys.argv[1] + ".ready", "w").close()
with open(sys.argv[1], "a") as f:
    while True:
        s.recvfrom(2048); f.write("x\n"); f.flush()' "$tmp/rtp2" &
pids+=($!)
for _ in $(seq 50); do [ -e "$tmp/rtp2.ready" ] && break; sleep 0.1; done
"$EDGEFW" shadow start "$cand" --site "$site" --instance "$inst" >/dev/null
cand_hash=$("$EDGEFW" shadow stats --instance "$inst" --json | jq -r .candidate.policy_hash)
start_stream
sleep 1
"$EDGEFW" shadow promote --instance "$inst" >/dev/null
sleep 1
stop_stream
[ "$received" = "$sent" ] || fail "promote: $received of $sent datagrams arrived"
[ "$(status_get "$inst" '.[0].policy_hash')" = "$cand_hash" ] || fail "promote: the candidate is not enforced"
[ "$(status_get "$inst" '.[0].shadow // "none"')" = none ] || fail "promote: the candidate is still loaded"
ip netns exec "$ns_c" python3 -c '
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("198.18.100.7", 41002))
for i in range(5): u.sendto(b"rtp", ("198.18.155.30", 50001))'
sleep 0.3
[ "$(lines "$tmp/rtp2")" = 0 ] || fail "after promote: $(lines "$tmp/rtp2") RTP datagrams still arrive"
echo "promote: $received/$sent datagrams of the stream arrived, the candidate is enforced"
echo "PASS shadow"
