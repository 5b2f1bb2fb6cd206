#!/usr/bin/env bash
# Outbound from the Edge external interface with egress `enforce`: CRL download over HTTP 80,
# DNS over UDP 53 and federation SIP 5061 from the Access address pass (replies come back);
# the same flows from another address, and anything unlisted, are dropped on TC egress.
. "$(dirname "$0")/lib.sh"
e2e_init egress
require_cmd kamailio sipsak curl dig dnsmasq nginx turnserver
topo_build
inet_services
for n in edge1 edge2; do ef_enable "$n"; done

egress_checks() {
  local n=$1 a=${ACCESS_IP[$1]} v=${AV_IP[$1]} w=${WEBCONF_IP[$1]}
  expect_pass "$n CRL HTTP 80 from access $a" http "$n" "$a" "http://$INET_WEB/crl"
  expect_pass "$n DNS UDP 53 from access $a" dns "$n" "$a" "$INET_DNS" sip.partner.test
  expect_pass "$n federation SIP/MTLS 5061 out from access $a" sip "$n" "$INET_PARTNER" 5061
  expect_drop "$n HTTPS 443 out from access $a (not in the policy)" tcp "$n" "$a" "$INET_WEB" 443
  # From the A/V address every source port in 50000-59999 may go anywhere (the seed's RTP out
  # rows), and Linux picks ephemeral ports in 32768-60999: pin the source port below the range.
  expect_drop "$n HTTP 80 out from A/V $v:40080 (wrong source)" tcp "$n" "$v:40080" "$INET_WEB" 80
  expect_drop "$n HTTP 80 out from web conferencing $w (wrong source)" tcp "$n" "$w" "$INET_WEB" 80
  expect_drop "$n DNS UDP 53 out from A/V $v:40053 (wrong source)" dns "$n" "$v#40053" "$INET_DNS" sip.partner.test
  expect_drop "$n SIP TCP 5061 out from A/V $v:45061 (wrong source)" tcp "$n" "$v:45061" "$INET_PARTNER" 5061
  expect_pass "$n TCP 5061 out from A/V $v:55061 (RTP/TCP out row: any destination port)" tcp "$n" "$v:55061" "$INET_PARTNER" 5061
  expect_drop "$n TCP 40000 out from access $a (unlisted)" tcp "$n" "$a" "$INET_MEDIA" 40000
  expect_drop "$n UDP 40000 out from access $a (unlisted)" udp "$n" "$a" "$INET_MEDIA" 40000
  check_rules_nonzero "$n" "$n-ext-crl-http" "$n-ext-dns" "$n-ext-sip-mtls"
  check_rules_nonzero "$n" "$n-ext-av-rtp-tcp-out"
  check_rules_zero "$n" "$n-ext-av-rtp-udp-out" "$n-ext-av-stun-udp-out" ext-vip-access-sip-tls
  if [ "$FILTER" = 1 ]; then
    local d
    d=$(ef_stats "$n" | jq -r '[.reasons[] | select(.name | test("default.*external.*egress|default_external_egress")) | .packets] | add // 0')
    check "$n default external egress drops counted ($d > 0)" [ "${d:-0}" -gt 0 ]
  fi
}

egress_checks edge1
egress_checks edge2
e2e_finish
