#!/usr/bin/env bash
# A reload judges open flows again (issue 15, "A change takes effect on flows
# already open"), and `diff --instance` says beforehand what it will do. Three
# UDP flows to STUN on edge1's A/V address (198.18.155.30:3478, admitted by
# ext-vip-av-stun-udp) are opened, then (each step first asks diff):
#   1. reload with that rule renamed: the flows move to the new id; 10 more
#      datagrams of one flow all arrive, counted under the new id;
#   2. reload --keep-flows with the STUN UDP rules removed: a flow keeps
#      passing (10/10), as reloads did before;
#   3. the same policy reloaded without --keep-flows: the open flows close;
#      10 more datagrams of a flow: 0 arrive, 10 counted under
#      default_external_ingress.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lifecycle/lib.sh
require_root_python
two_hosts efrf 198.18.155.30
private_state
policy=policies/lync2010-edge-hlb.yaml
site=policies/site-test.yaml

python3 - "$policy" "$tmp" <<'PY'
import re, sys
src, tmp = sys.argv[1], sys.argv[2]
text = open(src).read()
# The id and the summary row that names it.
renamed = re.sub(r"\bext-vip-av-stun-udp\b(?!-)", "ext-vip-av-stun-udp-renamed", text)
assert renamed.count("ext-vip-av-stun-udp-renamed") >= 2
def drop(t, rule):
    start = t.index("- id: %s\n" % rule)
    end = t.find("- id:", start + 5)
    return t[:start] + (t[end:] if end >= 0 else "")
without = drop(drop(renamed, "ext-vip-av-stun-udp-renamed"), "edge1-ext-av-stun-udp-in")
row = "ext-vip-av-stun-udp-renamed, edge1-ext-av-stun-udp-in, "
assert row in without
without = without.replace(row, "")
open(tmp + "/renamed.yaml", "w").write(renamed)
open(tmp + "/without.yaml", "w").write(without)
PY

# The sink writes one line per datagram: the sender's port.
ip netns exec "$ns_n" python3 -u -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.155.30", 3478))
open(sys.argv[1] + ".ready", "w").close()
with open(sys.argv[1], "a") as out:
    while True:
        _, peer = s.recvfrom(2048)
        out.write("%d\n" % peer[1]); out.flush()' "$tmp/sink" &
pids+=($!)
for _ in $(seq 50); do [ -e "$tmp/sink.ready" ] && break; sleep 0.1; done
send() { # SPORT N: N datagrams of the flow from 198.18.100.7:SPORT
  ip netns exec "$ns_c" python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.18.100.7", int(sys.argv[1])))
for i in range(int(sys.argv[2])):
    s.sendto(b"stun %d" % i, ("198.18.155.30", 3478)); time.sleep(0.01)' "$1" "$2"
  sleep 0.3
}
got() { grep -cx "$1" "$tmp/sink" || true; }
rule_packets() { stats_get "$inst" '[.rules[] | select(.id == $a1) | .packets] | add // 0' "$1"; }
reason_packets() { stats_get "$inst" '[.reasons[] | select(.name == $a1) | .packets] | add // 0' "$1"; }
flows() {
  status_get "$inst" '.[0].reload_flows // {} | to_entries | sort_by(.key) |
    map("\(.key)=\(.value)") | join(" ")'
}

"$EDGEFW" load "$policy" --site "$site" --node edge1 --iface external=n0 \
  --netns "$ns_n" --instance "$inst" >/dev/null
for p in 40001 40002 40003; do send $p 3; done
for p in 40001 40002 40003; do
  [ "$(got $p)" = 3 ] || fail "flow $p: $(got $p) of 3 datagrams arrived under the loaded policy"
done

# What diff says a change does to the 3 open flows, before it is made; it
# changes nothing (the reloads below find the flows as they were).
diff_flows() { # OLD NEW EXPECTED-EXIT: prints "open= kept= moved= cut="
  local out rc=0
  out=$("$EDGEFW" diff "$1" "$2" --site "$site" --node edge1 --instance "$inst" --json) || rc=$?
  [ "$rc" = "$3" ] || fail "diff $1 $2 --instance: exit $rc, expected $3"
  jq -r '.flows | "open=\(.open) kept=\(.kept) moved=\(.moved) cut=\(.cut)"' <<<"$out"
}
[ "$(diff_flows "$policy" "$policy" 0)" = "open=3 kept=3 moved=0 cut=0" ] ||
  fail "diff of the policy with itself: $(diff_flows "$policy" "$policy" 0)"
[ "$(diff_flows "$policy" "$tmp/renamed.yaml" 1)" = "open=3 kept=0 moved=3 cut=0" ] ||
  fail "diff before the rename: $(diff_flows "$policy" "$tmp/renamed.yaml" 1)"
text=$("$EDGEFW" diff "$policy" "$tmp/without.yaml" --site "$site" --node edge1 --instance "$inst" || true)
grep -q "# instance $inst: 3 tracked flows; NEW would cut 3, move 0 to another rule, keep 0" <<<"$text" ||
  fail "diff text before removing the rule: $text"
echo "diff --instance: itself keeps 3, the rename moves 3, the removal cuts 3"

# 1. The rule renamed: the flows move to the new id.
out=$("$EDGEFW" reload "$tmp/renamed.yaml" --site "$site" --instance "$inst")
grep "open flows kept 0, moved 3, closed 0" <<<"$out" || fail "rename: reload said: $out"
[ "$(flows)" = "closed=0 kept=0 moved=3" ] || fail "rename: status reload_flows $(flows)"
[ "$(rule_packets ext-vip-av-stun-udp-renamed)" = 0 ] || fail "the renamed rule has counts already"
send 40002 10
[ "$(got 40002)" = 13 ] || fail "rename: $(($(got 40002) - 3)) of 10 datagrams arrived"
n=$(rule_packets ext-vip-av-stun-udp-renamed)
[ "$n" = 10 ] || fail "rename: $n of 10 datagrams counted under ext-vip-av-stun-udp-renamed"
echo "rename: 10/10 datagrams passed, 10 counted under the new id"

# 2. --keep-flows: the rule is gone, the open flow still passes.
out=$("$EDGEFW" reload "$tmp/without.yaml" --site "$site" --instance "$inst" --keep-flows)
grep -q "open flows kept their rules (--keep-flows)" <<<"$out" || fail "--keep-flows: reload said: $out"
send 40003 10
[ "$(got 40003)" = 13 ] || fail "--keep-flows: $(($(got 40003) - 3)) of 10 datagrams arrived"
echo "--keep-flows: 10/10 datagrams passed"

# 3. Judged again: no rule admits the flows any more; they close. diff of the
# running policy with itself has no region, but counts the flows it would cut.
[ "$(diff_flows "$tmp/without.yaml" "$tmp/without.yaml" 1)" = "open=3 kept=0 moved=0 cut=3" ] ||
  fail "diff after --keep-flows: $(diff_flows "$tmp/without.yaml" "$tmp/without.yaml" 1)"
out=$("$EDGEFW" reload "$tmp/without.yaml" --site "$site" --instance "$inst")
grep "open flows kept 0, moved 0, closed 3" <<<"$out" || fail "remove: reload said: $out"
before=$(reason_packets default_external_ingress)
send 40001 10
[ "$(got 40001)" = 3 ] || fail "remove: $(($(got 40001) - 3)) of 10 datagrams arrived after the rule went"
dropped=$(($(reason_packets default_external_ingress) - before))
[ "$dropped" -ge 10 ] || fail "remove: $dropped of 10 datagrams counted under default_external_ingress"
echo "remove: 0/10 datagrams arrived, $dropped counted under default_external_ingress"
echo "PASS reload_flows"
