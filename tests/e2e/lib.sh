# shellcheck shell=bash
# tests/e2e/lib.sh — sourced by every e2e test and by tools/demo/demo.sh.
#
# Builds the reference topology of the seed (Lync Server 2010 Scaled Consolidated Edge, HLB) in
# network namespaces, with every address mapped into 198.18.0.0/15 by policies/site-test.yaml,
# starts real protocol software in those namespaces, and offers pass/drop probes and counter
# checks. Nothing here touches the host's interfaces: every veth is created inside a namespace.
#
#   e2e_init NAME           namespaces ef-NAME-PID-*, a work dir, and the cleanup trap
#   topo_build              the seven namespaces below, addressed and routed
#   svc_* / bg NAME NS CMD  servers, each in its own process group, killed by cleanup
#   ef_enable NODE          edgefw load on the node's two NICs (native XDP, --netns)
#   expect_pass/expect_drop DESC PROBE ARGS...   (PROBE: tcp, udp, sip, tls, http, stun, turn, dns)
#   stats_rule INST ID      packets of one rule (edgefw stats --json)
#
# Topology (site-test addresses; the seed's in brackets):
#
#   inet ──── hlb ──┬── edge1 ext0 198.18.155.10/.20/.30  [131.107.155.10/.20/.30]
#   198.18.1.0/24   ├── edge2 ext0 198.18.155.11/.21/.31  [131.107.155.11/.21/.31]
#                   └── rproxy ext0 198.18.16.40          [10.45.16.40]
#   VIPs .110 access, .120 webconf, .130 A/V: held on each edge's lo (arp_ignore); the HLB routes
#   .110 and .130 to the chosen node unchanged, and DNATs .120 (and .110:5061) to its backend address.
#
#   corp (internal router + HLB) ──┬── edge1 int0 198.19.33.10   [172.25.33.10]
#     198.19.33.1, 198.19.10.1     ├── edge2 int0 198.19.33.11   [172.25.33.11]
#                                  └── rproxy int0 198.19.33.40  [172.25.33.40]
#   pool: Front End .90 .91, pool web VIP .190 [192.168.10.x], a non-pool workstation .50
#   edge internal VIP 198.19.33.110 [172.25.33.110]: held on each edge's lo, routed by corp.
#
# Inet hosts: .10 remote user, .20 federated partner, .30 partner media / TURN peer,
#             .53 DNS resolver, .80 CRL web server, .66 attacker.

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_LIB_DIR/../.." && pwd)
EDGEFW=${EDGEFW:-$REPO/build/edgefw}
# skip, require_cmd, fail (fatal), jq helpers, netns_add and netns_cleanup.
. "$REPO/tests/lib/common.sh"
REQUIRE_HINT="run tests/e2e/install-deps.sh"
POLICY=${POLICY:-$REPO/policies/lync2010-edge-hlb.yaml}
SITE=${SITE:-$REPO/policies/site-test.yaml}
E2E_FILTER=${E2E_FILTER:-auto}   # auto: filter when `edgefw load` exists; 1: require it; 0: never
E2E_VERBOSE=${E2E_VERBOSE:-0}
PROBE_TIMEOUT=${PROBE_TIMEOUT:-1}      # seconds a probe waits for an allowed exchange
DROP_TIMEOUT=${DROP_TIMEOUT:-0.6}      # ... and for one that must be dropped (replies take < 1 ms here)

# Addresses (site-test.yaml mapping).
INET_USER=198.18.1.10 INET_PARTNER=198.18.1.20 INET_MEDIA=198.18.1.30
INET_DNS=198.18.1.53 INET_WEB=198.18.1.80 INET_ATTACKER=198.18.1.66 HLB_INET=198.18.1.1
HLB_EXT=198.18.155.1
VIP_ACCESS=198.18.155.110 VIP_WEBCONF=198.18.155.120 VIP_AV=198.18.155.130
declare -A ACCESS_IP=([edge1]=198.18.155.10 [edge2]=198.18.155.11)
declare -A WEBCONF_IP=([edge1]=198.18.155.20 [edge2]=198.18.155.21)
declare -A AV_IP=([edge1]=198.18.155.30 [edge2]=198.18.155.31)
declare -A INT_IP=([edge1]=198.19.33.10 [edge2]=198.19.33.11)
VIP_INT=198.19.33.110 CORP_PERIM=198.19.33.1 CORP_POOL=198.19.10.1
RPROXY_EXT=198.18.16.40 HLB_RP=198.18.16.1 RPROXY_INT=198.19.33.40
FE1=198.19.10.90 FE2=198.19.10.91 POOL_WEB_VIP=198.19.10.190 WORKSTATION=198.19.10.50

E2E_NAME='' PFX='' WORK=''
E2E_PIDS=() E2E_INSTANCES=()
E2E_PASS=0 E2E_FAIL=0
FILTER=0

log() { printf '%s\n' "$*"; }
plus() { awk -v a="$1" -v b="$2" 'BEGIN { print a + b }'; }
vlog() { [ "$E2E_VERBOSE" = 1 ] && printf '    %s\n' "$*" >&2; return 0; }

# ---------------------------------------------------------------- setup and cleanup

e2e_init() {
  E2E_NAME=$1
  TEST_NAME=$1
  PFX="ef-$1-$$"
  require_root "CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF"
  require_cmd ip ss nft timeout setsid socat jq
  ip netns add "$PFX-probe" 2>/dev/null || skip "cannot create network namespaces (ip netns add)"
  ip netns del "$PFX-probe"
  WORK=$(mktemp -d "/tmp/$PFX.XXXXXX")
  trap e2e_cleanup EXIT
  trap 'exit 130' INT TERM HUP
  filter_detect
}

filter_detect() {
  FILTER=0
  case "$E2E_FILTER" in
    0) ;;
    1) ef_has_load || fail "E2E_FILTER=1 but $EDGEFW has no 'load' command"; FILTER=1 ;;
    *) ef_has_load && FILTER=1 ;;
  esac
  if [ "$FILTER" = 0 ]; then
    log "# $E2E_NAME: no filter (edgefw load unavailable or E2E_FILTER=0): expected drops are checked as reachable (baseline)"
  fi
}

ef_has_load() {
  [ -x "$EDGEFW" ] && "$EDGEFW" --help 2>&1 | grep -qE '^[[:space:]]+load[[:space:]]'
}

e2e_cleanup() {
  local rc=$? i p ns
  trap - EXIT INT TERM HUP
  for i in "${E2E_INSTANCES[@]}"; do
    if ! "$EDGEFW" unload --instance "$i" >"$WORK/unload-$i.log" 2>&1; then
      log "cleanup: edgefw unload --instance $i failed: $(tr '\n' ' ' <"$WORK/unload-$i.log")"
    fi
    if [ -e "/sys/fs/bpf/edgefw/$i" ]; then
      log "cleanup: /sys/fs/bpf/edgefw/$i still present after unload; removing"
      rm -rf "/sys/fs/bpf/edgefw/$i"
    fi
  done
  for p in "${E2E_PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
  for p in "${E2E_PIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
  netns_cleanup
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -n "${E2E_KEEP_LOGS:-}" ]; then
      log "cleanup: logs kept in $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}

ns() { printf '%s-%s' "$PFX" "$1"; }
ns_exec() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }

ns_add() {
  local n
  n=$(ns "$1")
  netns_add "$n"
  ip -n "$n" link set lo up
  ns_exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.ip_forward=0
}

# veth NS1 IF1 NS2 IF2: one pair, created inside NS1 with its peer moved straight into NS2.
veth() {
  ip -n "$(ns "$1")" link add "$2" type veth peer name "$4" netns "$(ns "$3")" || fail "veth $1/$2 $3/$4"
  ip -n "$(ns "$1")" link set "$2" up
  ip -n "$(ns "$3")" link set "$4" up
}

addr() { ip -n "$(ns "$1")" addr add "$3" dev "$2" || fail "addr $*"; }

bridge_add() { # NS BR PORT...
  local n=$1 br=$2 p
  shift 2
  ip -n "$(ns "$n")" link add "$br" type bridge
  ip -n "$(ns "$n")" link set "$br" up
  for p in "$@"; do ip -n "$(ns "$n")" link set "$p" master "$br"; done
}

edge_host() { # NODE: an Edge server: a host, not a router; VIPs on lo, answered on no NIC
  local n=$1
  ns_add "$n"
  # Ephemeral ports below the media range, as an Edge should have them: otherwise a third of
  # the connections it opens from its A/V address would match the RTP rows (sport 50000-59999).
  ns_exec "$n" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
    net.ipv4.ip_local_port_range="32768 49999"
}

topo_build() {
  local n
  ns_add inet; ns_add hlb; ns_add corp; ns_add pool; ns_add rproxy
  edge_host edge1; edge_host edge2

  veth inet eth0 hlb inet0
  veth hlb e1 edge1 ext0
  veth hlb e2 edge2 ext0
  veth hlb rp rproxy ext0
  veth corp e1 edge1 int0
  veth corp e2 edge2 int0
  veth corp rp rproxy int0
  veth corp pool0 pool eth0

  # Internet
  for a in $INET_USER $INET_PARTNER $INET_MEDIA $INET_DNS $INET_WEB $INET_ATTACKER; do addr inet eth0 "$a/24"; done
  ip -n "$(ns inet)" route add default via $HLB_INET

  # HLB: routes between the Internet and the edge external segment and the reverse proxy
  addr hlb inet0 $HLB_INET/24
  bridge_add hlb brext e1 e2
  addr hlb brext $HLB_EXT/24
  addr hlb rp $HLB_RP/24
  ns_exec hlb sysctl -qw net.ipv4.ip_forward=1

  # Edge nodes
  for n in edge1 edge2; do
    addr "$n" ext0 "${ACCESS_IP[$n]}/24"
    addr "$n" ext0 "${WEBCONF_IP[$n]}/24"
    addr "$n" ext0 "${AV_IP[$n]}/24"
    addr "$n" lo $VIP_ACCESS/32
    addr "$n" lo $VIP_WEBCONF/32
    addr "$n" lo $VIP_AV/32
    addr "$n" int0 "${INT_IP[$n]}/24"
    addr "$n" lo $VIP_INT/32
    ip -n "$(ns "$n")" route add default via $HLB_EXT src "${ACCESS_IP[$n]}"
    ip -n "$(ns "$n")" route add 198.19.10.0/24 via $CORP_PERIM
  done

  # Reverse proxy: a host with two NICs
  addr rproxy ext0 $RPROXY_EXT/24
  addr rproxy int0 $RPROXY_INT/24
  ip -n "$(ns rproxy)" route add default via $HLB_RP
  ip -n "$(ns rproxy)" route add 198.19.10.0/24 via $CORP_PERIM

  # Corp: internal router and the internal HLB for the Edge internal VIP
  bridge_add corp brint e1 e2 rp
  addr corp brint $CORP_PERIM/24
  addr corp pool0 $CORP_POOL/24
  ns_exec corp sysctl -qw net.ipv4.ip_forward=1

  # Pool: Front End servers, pool web VIP, a workstation that is not in the pool
  for a in $FE1 $FE2 $POOL_WEB_VIP $WORKSTATION; do addr pool eth0 "$a/24"; done
  ip -n "$(ns pool)" route add default via $CORP_POOL

  hlb_steer edge1
}

# hlb_steer NODE: send every VIP to NODE. Both delivery forms of a hardware load balancer:
#  - forwarded unchanged to the VIP address the node holds: access .110 (443), A/V .130, internal .110
#  - DNAT to the node's backend address: webconf .120 -> .20/.21, access .110:5061 -> .10/.11
hlb_steer() {
  local n=$1
  HLB_NODE=$n
  ip -n "$(ns hlb)" route replace $VIP_ACCESS/32 via "${ACCESS_IP[$n]}"
  ip -n "$(ns hlb)" route replace $VIP_AV/32 via "${AV_IP[$n]}"
  ip -n "$(ns hlb)" route replace $VIP_WEBCONF/32 via "${WEBCONF_IP[$n]}"
  ip -n "$(ns corp)" route replace $VIP_INT/32 via "${INT_IP[$n]}"
  ns_exec hlb nft -f - <<EOF || fail "nft on hlb"
table ip hlb
delete table ip hlb
table ip hlb {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr $VIP_WEBCONF dnat to ${WEBCONF_IP[$n]}
    ip daddr $VIP_ACCESS tcp dport 5061 dnat to ${ACCESS_IP[$n]}
  }
}
EOF
  # DNAT state of earlier flows would keep them on the old node.
  ns_exec hlb sh -c 'command -v conntrack >/dev/null && conntrack -F >/dev/null 2>&1; true'
}

# ---------------------------------------------------------------- background servers

# bg NAME NS CMD...: start CMD in namespace NS in its own process group; log in $WORK/NAME.log.
bg() {
  local name=$1 n=$2
  shift 2
  ip netns exec "$(ns "$n")" setsid "$@" >"$WORK/$name.log" 2>&1 </dev/null &
  E2E_PIDS+=($!)
  disown $!
  vlog "started $name in $n: $* (pid $!)"
}

# wait_listen NS PROTO ADDR PORT: wait (3 s) until a socket listens there.
wait_listen() {
  local n=$1 proto=$2 a=$3 p=$4 i flag=-tln
  [ "$proto" = udp ] && flag=-uln
  for i in $(seq 60); do
    ns_exec "$n" ss -H $flag "src $a:$p" 2>/dev/null | grep -q . && return 0
    sleep 0.05
  done
  fail "no $proto listener on $a:$p in $n (see $WORK)"
}

make_cert() { # self-signed EC certificate for every TLS server of the run
  [ -f "$WORK/tls.crt" ] && return 0
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=edgefw-e2e.test" -keyout "$WORK/tls.key" -out "$WORK/tls.crt" >/dev/null 2>&1 ||
    fail "openssl req"
}

# svc_sip NAME NS [tcp:ADDR:PORT ...]: kamailio answering SIP OPTIONS with 200 over TCP.
svc_sip() {
  local name=$1 n=$2 l
  shift 2
  mkdir -p "$WORK/$name.run"
  {
    printf '#!KAMAILIO\ndebug=0\nlog_stderror=yes\nchildren=1\ntcp_children=1\nauto_aliases=no\n'
    printf 'disable_tcp=no\ntcp_connection_lifetime=10\n'
    for l in "$@"; do printf 'listen=%s\n' "$l"; done
    printf 'loadmodule "sl.so"\n'
    printf 'request_route {\n  if (method=="OPTIONS") { sl_send_reply("200", "OK %s"); exit; }\n' "$name"
    printf '  sl_send_reply("404", "Not here");\n}\n'
  } >"$WORK/$name.cfg"
  bg "$name" "$n" kamailio -f "$WORK/$name.cfg" -DD -E -m 16 -M 4 -Y "$WORK/$name.run"
  for l in "$@"; do l=${l#tcp:}; wait_listen "$n" tcp "${l%:*}" "${l##*:}"; done
}

# svc_tls NAME NS ADDR PORT: openssl s_server (TLS, answers HTTP GET with its status page).
svc_tls() {
  make_cert
  bg "$1" "$2" openssl s_server -quiet -www -accept "$3:$4" -cert "$WORK/tls.crt" -key "$WORK/tls.key"
  wait_listen "$2" tcp "$3" "$4"
}

# svc_turn NAME NS PORT ADDR... : coturn; relay on the node's A/V address, ports 50000-59999.
svc_turn() {
  local name=$1 n=$2 port=$3 relay=$4 a
  shift 3
  {
    printf 'listening-port=%s\nrelay-ip=%s\nmin-port=50000\nmax-port=59999\n' "$port" "$relay"
    printf 'no-auth\nno-tls\nno-dtls\nno-cli\nno-multicast-peers\nno-software-attribute\n'
    printf 'simple-log\nlog-file=stdout\nrealm=edgefw-e2e.test\npidfile=%s\n' "$WORK/$name.pid"
    printf 'userdb=%s\n' "$WORK/$name.db"
    for a in "$@"; do printf 'listening-ip=%s\n' "$a"; done
  } >"$WORK/$name.conf"
  bg "$name" "$n" turnserver -c "$WORK/$name.conf"
  for a in "$@"; do wait_listen "$n" udp "$a" "$port"; wait_listen "$n" tcp "$a" "$port"; done
}

# svc_tcp_echo / svc_udp_echo NAME NS ADDR PORT: socat echo (stand-ins for RTP peers, and
# listeners behind the ports an attacker tries, so a drop is the filter's doing).
svc_tcp_echo() { bg "$1" "$2" socat "TCP4-LISTEN:$4,bind=$3,reuseaddr,fork" PIPE; wait_listen "$2" tcp "$3" "$4"; }
svc_udp_echo() { bg "$1" "$2" socat "UDP4-RECVFROM:$4,bind=$3,reuseaddr,fork" PIPE; wait_listen "$2" udp "$3" "$4"; }

# svc_nginx NAME NS CONF-BODY: nginx in the foreground with its own prefix.
svc_nginx() {
  local name=$1 n=$2 body=$3 d="$WORK/$1.nginx"
  mkdir -p "$d/logs" "$d/tmp"
  make_cert
  cat >"$d/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $d/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  ssl_certificate $WORK/tls.crt;
  ssl_certificate_key $WORK/tls.key;
$body
}
EOF
  bg "$name" "$n" nginx -p "$d" -c "$d/nginx.conf" -e stderr
}

svc_dns() { # NAME NS ADDR: dnsmasq answering for the partner's SIP domain
  bg "$1" "$2" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
    --listen-address="$3" --port=53 --address=/sip.partner.test/$INET_PARTNER --pid-file= \
    --user=root --group=root
  wait_listen "$2" udp "$3" 53
}

# ---------------------------------------------------------------- service bundles

# edge_services NODE: what an Edge server runs, on the addresses the seed gives each role.
edge_services() {
  local n=$1 a=${ACCESS_IP[$1]} w=${WEBCONF_IP[$1]} v=${AV_IP[$1]} i=${INT_IP[$1]}
  # Access Edge: SIP over TCP 443 (remote users) and 5061 (federation); internal SIP 5061 and
  # A/V authentication 5062 (kamailio stands in for the Access Edge and A/V auth service).
  svc_sip "sip-$n" "$n" "tcp:$a:443" "tcp:$a:5061" "tcp:$VIP_ACCESS:443" "tcp:$VIP_ACCESS:5061" \
    "tcp:$i:5061" "tcp:$VIP_INT:5061" "tcp:$i:5062" "tcp:$VIP_INT:5062"
  # Web Conferencing Edge: PSOM over TLS 443 outside, PSOM over MTLS 8057 inside; CMS 4443.
  svc_tls "psom-$n" "$n" "$w" 443
  svc_tls "psom-int-$n" "$n" "$i" 8057
  svc_tls "psom-vip-$n" "$n" "$VIP_INT" 8057   # not open on the VIP: must drop
  svc_tls "cms-$n" "$n" "$i" 4443
  # A/V Edge: coturn on 3478 (UDP and TCP) and on 443, relays on the node's A/V address.
  svc_turn "turn-$n" "$n" 3478 "$v" "$VIP_AV" "$i" "$VIP_INT"
  svc_turn "turn443-$n" "$n" 443 "$v" "$VIP_AV" "$i" "$VIP_INT"
  # Media endpoints inside the range, and listeners behind ports the policy does not open.
  svc_udp_echo "rtp-udp-$n" "$n" "$v" 55000
  svc_tcp_echo "rtp-tcp-$n" "$n" "$v" 55000
  svc_udp_echo "rtp60000-udp-$n" "$n" "$v" 60000
  svc_tcp_echo "rtp60000-tcp-$n" "$n" "$v" 60000
  local p
  for p in 22 80 3389; do svc_tcp_echo "tcp$p-$n" "$n" 0.0.0.0 "$p"; done
  svc_udp_echo "udp5061-$n" "$n" "$a" 5061
  svc_tcp_echo "tcp5061-av-$n" "$n" "$v" 5061
}

# inet_services: the remote side: a TURN peer, a federated partner's SIP server and STUN/TURN
# server, a CRL web server on 80 and 443, a DNS resolver, a media echo.
inet_services() {
  bg turn-peer inet turnutils_peer -L "$INET_MEDIA" -p 3480
  wait_listen inet udp "$INET_MEDIA" 3480
  svc_sip sip-partner inet "tcp:$INET_PARTNER:5061"
  svc_turn turn-partner inet 3478 "$INET_PARTNER"
  svc_nginx web-inet inet "  server { listen $INET_WEB:80; location / { return 200 \"crl\\n\"; } }
  server { listen $INET_WEB:443 ssl; location / { return 200 \"tls\\n\"; } }"
  wait_listen inet tcp "$INET_WEB" 80
  wait_listen inet tcp "$INET_WEB" 443
  svc_dns dns inet "$INET_DNS"
  svc_udp_echo media-udp inet "$INET_MEDIA" 40000
  svc_tcp_echo media-tcp inet "$INET_MEDIA" 40000
}

# pool_services: the Front End servers' SIP (the Edge's next hop) and the pool web services
# behind the pool web VIP (4443 for published HTTPS, 8080 for mobility autodiscover).
pool_services() {
  svc_sip sip-pool pool "tcp:$FE1:5061" "tcp:$FE2:5061"
  svc_nginx web-pool pool "  server { listen $POOL_WEB_VIP:4443 ssl; location / { return 200 \"pool-4443 \$request_uri\\n\"; } }
  server { listen $POOL_WEB_VIP:8080; location / { return 200 \"pool-8080 \$request_uri\\n\"; } }"
  wait_listen pool tcp "$POOL_WEB_VIP" 4443
  wait_listen pool tcp "$POOL_WEB_VIP" 8080
}

# rproxy_services: nginx as the reverse proxy: 443 -> pool web VIP 4443, 80 -> pool web VIP 8080.
rproxy_services() {
  svc_nginx rproxy rproxy "  server { listen $RPROXY_EXT:443 ssl;
    location / { proxy_pass https://$POOL_WEB_VIP:4443; proxy_bind $RPROXY_INT; proxy_connect_timeout 2s; } }
  server { listen $RPROXY_EXT:80;
    location / { proxy_pass http://$POOL_WEB_VIP:8080; proxy_bind $RPROXY_INT; proxy_connect_timeout 2s; } }"
  wait_listen rproxy tcp "$RPROXY_EXT" 443
  wait_listen rproxy tcp "$RPROXY_EXT" 80
  svc_tcp_echo rp-tcp22 rproxy "$RPROXY_EXT" 22
  svc_tcp_echo rp-tcp8080 rproxy "$RPROXY_EXT" 8080
}

# ---------------------------------------------------------------- probes
# Each probe exits 0 when the exchange completed (a reply came back), non-zero otherwise.

# tcp NS SRC DST PORT: TCP connect and one echo/close.
probe_tcp() { ns_exec "$1" timeout "$(plus "$PROBE_TIMEOUT" "${PROBE_SLACK:-2}")" socat -T"$PROBE_TIMEOUT" /dev/null "TCP4:$3:$4,bind=$2,connect-timeout=$PROBE_TIMEOUT" 2>/dev/null; }

# udp NS SRC[:SPORT] DST PORT: one datagram out, its echo back.
probe_udp() {
  local out
  out=$(printf 'edgefw-e2e\n' | ns_exec "$1" timeout "$(plus "$PROBE_TIMEOUT" "${PROBE_SLACK:-2}")" socat -t"$PROBE_TIMEOUT" -T"$PROBE_TIMEOUT" - "UDP4:$3:$4,bind=$2" 2>/dev/null)
  [ "$out" = edgefw-e2e ]
}

# sip NS DST PORT [SRCPORT]: SIP OPTIONS over TCP (sipsak), expects 200.
probe_sip() {
  local extra=()
  [ -n "${4:-}" ] && extra=(-l "$4")
  ns_exec "$1" timeout "$(plus "$PROBE_TIMEOUT" "${PROBE_SLACK:-2}")" sipsak --transport tcp "${extra[@]}" -s "sip:ping@$2:$3" >/dev/null 2>&1
}

# tls NS SRC DST PORT: TLS handshake (openssl s_client) and an HTTP GET over it.
probe_tls() {
  printf 'GET / HTTP/1.0\r\n\r\n' | ns_exec "$1" timeout "$(plus "$PROBE_TIMEOUT" "${PROBE_SLACK:-2}")" \
    openssl s_client -quiet -connect "$3:$4" -bind "$2" -verify_quiet 2>/dev/null | grep -q 'HTTP/1'
}

# http NS SRC URL [CODE]: curl, expects CODE (200).
probe_http() {
  local code
  code=$(ns_exec "$1" curl -sk -o /dev/null -w '%{http_code}' --interface "$2" \
    --connect-timeout "$PROBE_TIMEOUT" --max-time "$(plus "$PROBE_TIMEOUT" "${PROBE_SLACK:-2}")" "$3" 2>/dev/null)
  [ "$code" = "${4:-200}" ]
}

# until_match NS SECS PATTERN CMD...: run CMD in NS until its output matches PATTERN (success)
# or SECS pass (failure); for clients that keep waiting after the answer we need.
until_match() {
  local n=$1 secs=$2 pat=$3 f pid i rc=1
  shift 3
  f=$(mktemp "$WORK/until.XXXXXX")
  ip netns exec "$(ns "$n")" "$@" >"$f" 2>&1 &
  pid=$!
  for i in $(seq "$(awk -v s="$secs" 'BEGIN { print int(s * 50) + 1 }')"); do
    if grep -qE "$pat" "$f"; then rc=0; break; fi
    kill -0 "$pid" 2>/dev/null || { grep -qE "$pat" "$f" && rc=0; break; }
    sleep 0.02
  done
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  cat "$f" >>"$WORK/until.log"
  rm -f "$f"
  return $rc
}

# stun NS SRC DST PORT: a STUN binding request (turnutils_stunclient, UDP) and its response.
probe_stun() { until_match "$1" "$PROBE_TIMEOUT" 'UDP reflexive addr' turnutils_stunclient -L "$2" -p "$4" "$3"; }

# turn NS SRC SERVER PORT PEER [tcp]: TURN allocation and relayed media through coturn
# (turnutils_uclient); passes when every message came back (0 lost).
probe_turn() {
  local t=() out
  [ "${6:-}" = tcp ] && t=(-t)
  out=$(ns_exec "$1" timeout 8 turnutils_uclient "${t[@]}" -L "$2" -p "$4" -e "$5" -r 3480 -n 20 -l 160 -z 10 -c "$3" 2>&1)
  printf '%s\n' "$out" >>"$WORK/turn-probes.log"
  printf '%s\n' "$out" | grep -q 'Total lost packets 0 (0.000000%)' &&
    printf '%s\n' "$out" | grep -q 'tot_send_msgs=20, tot_recv_msgs=20'
}

# dns NS SRC SERVER NAME: a UDP DNS query (dig).
probe_dns() {
  ns_exec "$1" timeout "$(plus "$PROBE_TIMEOUT" "${PROBE_SLACK:-2}")" dig +short +time=1 +tries=1 +retry=0 \
    -b "$2" "@$3" "$4" 2>/dev/null | grep -qE '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' 
}

# ---------------------------------------------------------------- assertions

ok() { E2E_PASS=$((E2E_PASS + 1)); log "ok   $*"; }
# check_failed MSG: one check failed; counted, and the test goes on (fail stops it).
check_failed() { E2E_FAIL=$((E2E_FAIL + 1)); log "FAIL $*"; }

# expect_pass DESC PROBE ARGS...
expect_pass() {
  local d=$1
  shift
  if "probe_$@"; then ok "pass: $d"; else check_failed "pass: $d (probe $*: no reply)"; fi
}

# expect_drop DESC PROBE ARGS...: with the filter loaded, the exchange must fail; without it
# (baseline) it must succeed, which shows a server really listens behind the dropped port.
expect_drop() {
  local d=$1
  shift
  if [ "$FILTER" = 1 ]; then
    if PROBE_TIMEOUT=$DROP_TIMEOUT PROBE_SLACK=0.2 "probe_$@"; then check_failed "drop: $d (probe $*: got a reply)"; else ok "drop: $d"; fi
  else
    if "probe_$@"; then ok "reachable without filter: $d"; else check_failed "reachable without filter: $d (probe $*)"; fi
  fi
}

# check DESC CMD...: any other assertion.
check() {
  local d=$1
  shift
  if "$@"; then ok "$d"; else check_failed "$d"; fi
}

# ---------------------------------------------------------------- edgefw

# ef_enable NODE [NS]: load the reference policy for NODE on the namespace's ext0/int0 (native XDP).
declare -A EF_INST=()
ef_enable() {
  local node=$1 n=${2:-$1} inst="e2e-$E2E_NAME-$$-$1"
  [ "$FILTER" = 1 ] || return 0
  E2E_INSTANCES+=("$inst")
  if ! "$EDGEFW" load "$POLICY" --node "$node" --site "$SITE" --iface external=ext0 --iface internal=int0 \
    --mode "${EF_MODE:-native}" --instance "$inst" --netns "$(ns "$n")" >"$WORK/load-$inst.log" 2>&1; then
    cat "$WORK/load-$inst.log" >&2
    fail "edgefw load --node $node --netns $(ns "$n") failed"
  fi
  EF_INST[$node]=$inst
  vlog "edgefw loaded: $inst"
}

ef_stats() { "$EDGEFW" stats --instance "${EF_INST[$1]}" --json; }

# stats_rule NODE RULE-ID [packets|bytes]: one rule's counter (0 if the rule is absent).
stats_rule() {
  ef_stats "$1" | jq -r --arg id "$2" --arg f "${3:-packets}" \
    '[.rules[] | select(.id == $id) | .[$f]] | add // 0'
}
stats_reason() {
  ef_stats "$1" | jq -r --arg n "$2" '[.reasons[] | select(.name == $n) | .packets] | add // 0'
}

# check_rules_nonzero NODE ID...: each named rule counted at least one packet;
# check_rules_zero NODE ID...: none did.
check_rules_nonzero() { check_rules nonzero "$@"; }
check_rules_zero() { check_rules zero "$@"; }
check_rules() {
  local want=$1 node=$2 id v
  shift 2
  [ "$FILTER" = 1 ] || return 0
  for id in "$@"; do
    v=$(stats_rule "$node" "$id")
    if [ "$want" = nonzero ]; then
      if [ "${v:-0}" -gt 0 ] 2>/dev/null; then ok "counter $node $id = $v (> 0)"; else check_failed "counter $node $id = ${v:-?} (expected > 0)"; fi
    elif [ "${v:-x}" = 0 ]; then ok "counter $node $id = 0 (never exercised)"; else check_failed "counter $node $id = ${v:-?} (expected 0)"; fi
  done
}

e2e_finish() {
  log "# $E2E_NAME: $E2E_PASS checks passed, $E2E_FAIL failed"
  [ "$E2E_FAIL" = 0 ]
}
