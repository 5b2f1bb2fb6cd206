#!/usr/bin/env bash
# A/V Edge: coturn (STUN/TURN, relay range 50000-59999) driven by turnutils_uclient from the
# Internet through the A/V VIP over UDP 3478 and TCP 443, relayed media to a remote peer, STUN
# out from the A/V address (Edge-to-Edge), STUN/TURN from the pool to the internal interface,
# and an exact per-rule count for a known UDP exchange.
. "$(dirname "$0")/lib.sh"
e2e_init av
require_cmd turnserver turnutils_uclient turnutils_peer turnutils_stunclient kamailio openssl
topo_build
edge_services edge1
inet_services
ef_enable edge1
n=edge1 v=${AV_IP[edge1]} i=${INT_IP[edge1]}

expect_pass "TURN over UDP 3478 via the A/V VIP, media relayed to an Internet peer, 0 lost" \
  turn inet "$INET_USER" "$VIP_AV" 3478 "$INET_MEDIA"
expect_pass "TURN over TCP 443 via the A/V VIP, media relayed, 0 lost" \
  turn inet "$INET_USER" "$VIP_AV" 443 "$INET_MEDIA" tcp
expect_pass "TURN over UDP 3478 to the node A/V address $v, 0 lost" \
  turn inet "$INET_USER" "$v" 3478 "$INET_MEDIA"
expect_pass "STUN UDP 3478 out from $v to a partner Edge (Edge-to-Edge)" stun "$n" "$v" "$INET_PARTNER" 3478
expect_drop "STUN UDP 3478 out from the access address ${ACCESS_IP[$n]} (wrong source)" \
  stun "$n" "${ACCESS_IP[$n]}" "$INET_PARTNER" 3478
expect_pass "RTP/UDP out from $v:50000 to a partner" udp "$n" "$v:50000" "$INET_MEDIA" 40000
expect_pass "RTP/UDP out from $v:59999 to a partner" udp "$n" "$v:59999" "$INET_MEDIA" 40000
expect_drop "RTP/UDP out from $v:60001 (outside 50000-59999)" udp "$n" "$v:60001" "$INET_MEDIA" 40000
expect_drop "RTP/UDP out from $v:49999 (outside 50000-59999)" udp "$n" "$v:49999" "$INET_MEDIA" 40000
expect_pass "RTP/TCP out from $v:55555 to a partner" tcp "$n" "$v:55555" "$INET_MEDIA" 40000
expect_drop "RTP/TCP out from $v:40000 (outside 50000-59999)" tcp "$n" "$v:40000" "$INET_MEDIA" 40000

# Internal interface: the pool reaches the A/V Edge's STUN/TURN on the internal VIP and node address.
expect_pass "pool STUN UDP 3478 -> internal VIP" stun pool "$FE1" "$VIP_INT" 3478
expect_pass "pool STUN UDP 3478 -> $i" stun pool "$FE1" "$i" 3478
expect_pass "pool STUN/MSTURN TCP 443 -> internal VIP" tcp pool "$FE1" "$VIP_INT" 443
expect_pass "pool STUN/MSTURN TCP 443 -> $i" tcp pool "$FE2" "$i" 443
expect_drop "pool STUN UDP 443 -> internal VIP (wrong protocol)" stun pool "$FE1" "$VIP_INT" 443

check_rules_nonzero "$n" ext-vip-av-stun-udp ext-vip-av-stun-tcp "$n-ext-av-rtp-udp-out" \
  "$n-ext-av-stun-udp-out" "$n-ext-av-rtp-tcp-out" int-vip-av-stun-udp int-vip-av-stun-tcp

# Exact counts: N request/reply exchanges on one UDP flow into the RTP range. Every packet of
# the flow (N in through XDP, N replies out through TC egress) counts under the rule that
# admitted it; a frame is 14 + 20 + 8 + 11 bytes.
N=5
if [ "$FILTER" = 1 ]; then
  p0=$(stats_rule "$n" "$n-ext-av-rtp-udp-in") b0=$(stats_rule "$n" "$n-ext-av-rtp-udp-in" bytes)
fi
for k in $(seq $N); do
  expect_pass "RTP/UDP exchange $k/$N $INET_MEDIA:41000 -> $v:55000" udp inet "$INET_MEDIA:41000" "$v" 55000
done
if [ "$FILTER" = 1 ]; then
  p1=$(stats_rule "$n" "$n-ext-av-rtp-udp-in") b1=$(stats_rule "$n" "$n-ext-av-rtp-udp-in" bytes)
  check "counter $n-ext-av-rtp-udp-in grew by exactly $((2 * N)) packets (got $((p1 - p0)))" [ $((p1 - p0)) = $((2 * N)) ]
  check "counter $n-ext-av-rtp-udp-in grew by exactly $((2 * N * 53)) bytes (got $((b1 - b0)))" [ $((b1 - b0)) = $((2 * N * 53)) ]
  check_rules_zero "$n" "$n-ext-av-rtp-tcp-in" "$n-ext-crl-http" "$n-int-cms-https"
fi
e2e_finish
