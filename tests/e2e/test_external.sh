#!/usr/bin/env bash
# External interface of both Edge nodes: every external VIP and node row of the seed, both HLB
# delivery forms (forwarded to the VIP the node holds, DNAT to its backend address), and the
# flows the policy must drop: unlisted ports, wrong protocols, RTP outside 50000-59999.
. "$(dirname "$0")/lib.sh"
e2e_init external
require_cmd kamailio sipsak turnserver turnutils_stunclient openssl
topo_build
for n in edge1 edge2; do edge_services "$n"; ef_enable "$n"; done

external_checks() {
  local n=$1 a=${ACCESS_IP[$1]} v=${AV_IP[$1]}
  hlb_steer "$n"
  log "# HLB steers every VIP to $n"
  expect_pass "$n remote user SIP/TLS 443 -> access VIP (forwarded)" sip inet "$VIP_ACCESS" 443
  expect_pass "$n federated partner SIP/MTLS 5061 -> access VIP (DNAT to $a)" sip inet "$VIP_ACCESS" 5061
  expect_pass "$n PSOM/TLS 443 -> web conferencing VIP (DNAT)" tls inet "$INET_USER" "$VIP_WEBCONF" 443
  expect_pass "$n STUN/MSTURN UDP 3478 -> A/V VIP" stun inet "$INET_USER" "$VIP_AV" 3478
  expect_pass "$n STUN/MSTURN TCP 443 -> A/V VIP" tcp inet "$INET_USER" "$VIP_AV" 443
  expect_pass "$n STUN/MSTURN UDP 3478 -> node A/V address $v" stun inet "$INET_USER" "$v" 3478
  expect_pass "$n STUN/MSTURN TCP 443 -> node A/V address $v" tcp inet "$INET_USER" "$v" 443
  expect_pass "$n RTP/UDP 55000 in -> $v" udp inet "$INET_MEDIA" "$v" 55000
  expect_pass "$n RTP/TCP 55000 in -> $v" tcp inet "$INET_MEDIA" "$v" 55000

  expect_drop "$n TCP 22 -> $a (unlisted port)" tcp inet "$INET_ATTACKER" "$a" 22
  expect_drop "$n TCP 80 -> $a (unlisted port on the edge)" tcp inet "$INET_ATTACKER" "$a" 80
  expect_drop "$n TCP 3389 -> $a (unlisted port)" tcp inet "$INET_ATTACKER" "$a" 3389
  expect_drop "$n TCP 3389 -> access VIP (unlisted port)" tcp inet "$INET_ATTACKER" "$VIP_ACCESS" 3389
  expect_drop "$n RTP/UDP 60000 -> $v (outside 50000-59999)" udp inet "$INET_ATTACKER" "$v" 60000
  expect_drop "$n RTP/TCP 60000 -> $v (outside 50000-59999)" tcp inet "$INET_ATTACKER" "$v" 60000
  expect_drop "$n UDP 5061 -> $a (wrong protocol: SIP is TCP)" udp inet "$INET_ATTACKER" "$a" 5061
  expect_drop "$n TCP 3478 -> A/V VIP (wrong protocol: STUN 3478 is UDP)" tcp inet "$INET_ATTACKER" "$VIP_AV" 3478
  expect_drop "$n STUN UDP 443 -> A/V VIP (wrong protocol: 443 is TCP)" stun inet "$INET_ATTACKER" "$VIP_AV" 443
  expect_drop "$n SIP TCP 5061 -> A/V address $v (wrong destination)" tcp inet "$INET_ATTACKER" "$v" 5061

  check_rules_nonzero "$n" ext-vip-access-sip-tls ext-vip-access-sip-mtls ext-vip-webconf-psom-tls \
    ext-vip-av-stun-udp ext-vip-av-stun-tcp "$n-ext-av-rtp-udp-in" "$n-ext-av-rtp-tcp-in"
  # Shadowed by the VIP rules (whose backend address is this node's), and never exercised here.
  check_rules_zero "$n" "$n-ext-av-stun-udp-in" "$n-ext-av-stun-tcp-in" "$n-ext-dns" "$n-ext-crl-http"
}

external_checks edge1
external_checks edge2
e2e_finish
