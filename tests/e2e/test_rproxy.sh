#!/usr/bin/env bash
# Reverse proxy (nginx): HTTPS 443 and HTTP 80 in on its external interface, proxied from its
# internal interface to the pool web VIP on 4443 and 8080; everything else dropped both ways.
. "$(dirname "$0")/lib.sh"
e2e_init rproxy
require_cmd nginx curl kamailio
topo_build
pool_services
rproxy_services
ef_enable rproxy

body_has() { # NS URL TEXT
  ns_exec "$1" curl -sk --connect-timeout 1 --max-time 3 --interface "$INET_USER" "$2" 2>/dev/null | grep -q "$3"
}
check "HTTPS 443 -> reverse proxy -> pool web VIP 4443 (address book download)" body_has inet "https://$RPROXY_EXT/abs/handler" "pool-4443 /abs/handler"
check "HTTP 80 -> reverse proxy -> pool web VIP 8080 (mobility autodiscover)" body_has inet "http://$RPROXY_EXT/autodiscover" "pool-8080 /autodiscover"
expect_pass "HTTPS 443 to the reverse proxy (curl)" http inet "$INET_USER" "https://$RPROXY_EXT/"
expect_drop "TCP 22 -> reverse proxy (unlisted)" tcp inet "$INET_ATTACKER" "$RPROXY_EXT" 22
expect_drop "TCP 8080 -> reverse proxy external (8080 is internal only)" tcp inet "$INET_ATTACKER" "$RPROXY_EXT" 8080
expect_drop "reverse proxy internal -> $FE1:5061 (egress: only the pool web VIP)" tcp rproxy "$RPROXY_INT" "$FE1" 5061
expect_pass "reverse proxy internal -> pool web VIP 8080 directly" tcp rproxy "$RPROXY_INT" "$POOL_WEB_VIP" 8080
check_rules_nonzero rproxy rproxy-ext-http rproxy-ext-https rproxy-int-https rproxy-int-autodiscover-http
e2e_finish
