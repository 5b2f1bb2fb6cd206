#!/usr/bin/env bash
# Internal interface of both Edge nodes: the Front End pool reaches each Edge (SIP 5061 on the
# internal VIP and node address, A/V authentication 5062, PSOM 8057, CMS replication 4443); the
# Edge reaches its next hop (SIP 5061 to each Front End); wrong sources, unlisted ports and
# wrong protocols are dropped.
. "$(dirname "$0")/lib.sh"
e2e_init internal
require_cmd kamailio sipsak turnserver openssl
topo_build
pool_services
for n in edge1 edge2; do edge_services "$n"; ef_enable "$n"; done

internal_checks() {
  local n=$1 i=${INT_IP[$1]}
  hlb_steer "$n"
  log "# corp routes the internal VIP to $n"
  expect_pass "$n pool $FE1 SIP/MTLS 5061 -> internal VIP" sip pool "$VIP_INT" 5061
  expect_pass "$n pool SIP/MTLS 5061 -> $i" sip pool "$i" 5061
  expect_pass "$n pool $FE2 TCP 5061 -> $i" tcp pool "$FE2" "$i" 5061
  expect_pass "$n pool A/V auth SIP 5062 -> internal VIP" sip pool "$VIP_INT" 5062
  expect_pass "$n pool A/V auth SIP 5062 -> $i" sip pool "$i" 5062
  expect_pass "$n pool PSOM/MTLS 8057 -> $i" tls pool "$FE1" "$i" 8057
  expect_pass "$n pool CMS HTTPS 4443 -> $i (from $FE1)" tls pool "$FE1" "$i" 4443
  expect_pass "$n pool CMS HTTPS 4443 -> $i (from $FE2)" tcp pool "$FE2" "$i" 4443
  expect_pass "$n edge SIP 5061 -> next hop $FE1" sip "$n" "$FE1" 5061
  expect_pass "$n edge TCP 5061 -> next hop $FE2" tcp "$n" "$i" "$FE2" 5061

  expect_drop "$n workstation $WORKSTATION TCP 5061 -> internal VIP (wrong source)" tcp pool "$WORKSTATION" "$VIP_INT" 5061
  expect_drop "$n workstation TCP 4443 -> $i (wrong source: CMS is pool only)" tcp pool "$WORKSTATION" "$i" 4443
  expect_drop "$n pool TCP 8057 -> internal VIP (PSOM is node address only)" tcp pool "$FE1" "$VIP_INT" 8057
  expect_drop "$n pool TCP 22 -> $i (unlisted port)" tcp pool "$FE1" "$i" 22
  expect_drop "$n pool TCP 3389 -> $i (unlisted port)" tcp pool "$FE1" "$i" 3389
  expect_drop "$n pool TCP 80 -> $i (unlisted port)" tcp pool "$FE1" "$i" 80
  expect_drop "$n edge TCP 4443 -> pool web VIP (egress enforce)" tcp "$n" "$i" "$POOL_WEB_VIP" 4443

  check_rules_nonzero "$n" int-vip-access-sip-mtls int-vip-av-auth-sip-mtls "$n-int-sip-mtls" \
    "$n-int-cms-https" "$n-int-webconf-psom-mtls"
  check_rules_zero "$n" "$n-int-av-auth-sip-mtls" "$n-ext-crl-http" "$n-ext-av-rtp-udp-in"
}

internal_checks edge1
internal_checks edge2
e2e_finish
