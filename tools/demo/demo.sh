#!/usr/bin/env bash
# edgefw demo: the reference topology in network namespaces (addresses from
# policies/site-test.yaml), the reference policy loaded on edge1's two NICs (native XDP + TC
# egress), a short scenario with real clients and servers, the per-rule counters, teardown.
# Plain, colour-free output, suitable for pasting into the README.
set -u
E2E_FILTER=${E2E_FILTER:-1}
. "$(dirname "$0")/../../tests/e2e/lib.sh"
e2e_init demo
require_cmd kamailio sipsak turnserver turnutils_uclient turnutils_stunclient openssl curl dnsmasq nginx
t0=$SECONDS

echo "== Topology: Internet - HLB - edge1/edge2 (external, internal) - Front End pool; addresses from policies/site-test.yaml"
topo_build
edge_services edge1
inet_services
ef_enable edge1
echo "   edgefw load policies/lync2010-edge-hlb.yaml --node edge1 --site policies/site-test.yaml \\"
echo "       --iface external=ext0 --iface internal=int0 --mode native --netns $(ns edge1)"
"$EDGEFW" status --instance "${EF_INST[edge1]}" 2>/dev/null | sed 's/^/   /'
echo

n_pass=0 n_drop=0 n_wrong=0
step() { # EXPECT(pass|drop) TEXT PROBE ARGS...
  local want=$1 text=$2 got
  shift 2
  if [ "$want" = drop ]; then
    PROBE_TIMEOUT=$DROP_TIMEOUT PROBE_SLACK=0.2 "probe_$@" && got=passed || got=dropped
  else
    "probe_$@" && got=passed || got=dropped
  fi
  [ "$got" = passed ] && n_pass=$((n_pass + 1)) || n_drop=$((n_drop + 1))
  local mark=""
  { [ "$want" = pass ] && [ "$got" = dropped ]; } || { [ "$want" = drop ] && [ "$got" = passed ]; } &&
    { mark="   <-- UNEXPECTED"; n_wrong=$((n_wrong + 1)); }
  printf '   %-8s %s%s\n' "$got" "$text" "$mark"
}

a=${ACCESS_IP[edge1]} v=${AV_IP[edge1]}
echo "== Scenario"
step pass "remote user $INET_USER signs in: SIP over TCP 443 to the Access Edge VIP $VIP_ACCESS" sip inet "$VIP_ACCESS" 443
step pass "federated partner $INET_PARTNER: SIP over TCP 5061 to $VIP_ACCESS (HLB DNAT to $a)" sip inet "$VIP_ACCESS" 5061
step pass "edge1 federates out: SIP 5061 from $a to the partner" sip edge1 "$INET_PARTNER" 5061
step pass "A/V call: STUN binding, UDP 3478 to the A/V Edge VIP $VIP_AV (coturn)" stun inet "$INET_USER" "$VIP_AV" 3478
step pass "A/V call: TURN allocation on 3478, 20 media packets relayed via $v:50000-59999, 0 lost" turn inet "$INET_USER" "$VIP_AV" 3478 "$INET_MEDIA"
step pass "A/V call: RTP/UDP from partner media $INET_MEDIA to $v:55000 and back" udp inet "$INET_MEDIA" "$v" 55000
step pass "edge1 downloads a CRL: HTTP 80 from $a" http edge1 "$a" "http://$INET_WEB/crl"
step drop "attacker $INET_ATTACKER: TCP 22 (ssh) to $a" tcp inet "$INET_ATTACKER" "$a" 22
step drop "attacker: TCP 80 (http) to $a" tcp inet "$INET_ATTACKER" "$a" 80
step drop "attacker: TCP 3389 (rdp) to $a" tcp inet "$INET_ATTACKER" "$a" 3389
step drop "attacker: RTP/UDP to $v:60000 (outside 50000-59999)" udp inet "$INET_ATTACKER" "$v" 60000
step drop "attacker: TCP 3478 to $VIP_AV (STUN 3478 is UDP only)" tcp inet "$INET_ATTACKER" "$VIP_AV" 3478
step drop "edge1 egress: HTTPS 443 from $a (not in the policy)" tcp edge1 "$a" "$INET_WEB" 443
echo "   -- $n_pass passed, $n_drop dropped, $n_wrong unexpected"
echo

echo "== Per-rule counters (edgefw stats --instance ${EF_INST[edge1]} --json), node edge1"
ef_stats edge1 >"$WORK/stats.json"
jq -r '["rule id", "seed label", "packets", "bytes"], (.rules[] | [.id, (.app // ""), (.packets|tostring), (.bytes|tostring)]) | @tsv' \
  "$WORK/stats.json" | awk -F'\t' '{ printf "   %-30s %-14s %9s %10s\n", $1, $2, $3, $4 }'
echo
echo "== Packets that matched no rule (edgefw stats: reasons)"
jq -r '.reasons[] | select(.packets > 0) | [.name, (.packets|tostring)] | @tsv' "$WORK/stats.json" |
  awk -F'\t' '{ printf "   %-30s %9s\n", $1, $2 }'
echo
echo "== Teardown: edgefw unload, namespaces and servers removed ($((SECONDS - t0)) s)"
[ "$n_wrong" = 0 ]
