#!/usr/bin/env bash
# edgefw beside xdp-filter (xdp-tools) under libxdp's multi-program dispatcher
# on one NIC, in both orders:
#   1. xdp-filter loaded first: edgefw joins its dispatcher without being asked.
#   2. edgefw loaded first (--xdp-multiprog --xdp-priority 60): xdp-filter joins.
# Each time both enforce -- a TCP port xdp-filter denies stays closed although
# edgefw allows it, a UDP port edgefw does not allow stays closed although
# xdp-filter passes it, an allowed UDP stream passes both and counts under its
# edgefw rule -- and `status` lists the dispatcher's programs. In order 1,
# RELOADS reloads under a UDP stream lose no datagram and leave the dispatcher
# as it was (same id: nothing rebuilt it). Unloading edgefw leaves xdp-filter
# attached and enforcing.
#
# libxdp keeps its dispatchers' state in a bpffs: here the test's own, for
# xdp-filter (run in a mount namespace where it is /sys/fs/bpf) and for edgefw
# (LIBXDP_BPFFS). Skips (77) without xdp-filter, jq or socat, and where this
# kernel cannot run libxdp's dispatcher (then edgefw must refuse in one line).
# Python-free, so the kernel-matrix VM runs it too (vm/init, step multiprog).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lifecycle/lib.sh
RELOADS=${RELOADS:-20}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
for t in xdp-filter jq socat unshare nsenter; do
  command -v "$t" >/dev/null || { echo "SKIP: needs $t (xdp-filter: Debian package xdp-tools)"; exit 77; }
done
two_hosts efmp 198.18.155.30 198.18.155.10
private_state
export LIBXDP_BPFFS="$tmp/bpf"

policy=policies/lync2010-edge-hlb.yaml
site_a=policies/site-test.yaml
site_b=$(site_without dns crl-download)
# Static neighbours: no ARP exchange in the way of the first datagrams.
mac_n0=$(ip -n "$ns_n" -j link show n0 | jq -r '.[0].address')
ip -n "$ns_c" neigh replace 198.18.155.30 lladdr "$mac_n0" dev c0 nud permanent
ip -n "$ns_c" neigh replace 198.18.155.10 lladdr "$mac_n0" dev c0 nud permanent

# xdp-filter on n0, its bpffs being the test's.
xf() {
  unshare -m --propagation private bash -c \
    'mount --bind "$1" /sys/fs/bpf && exec nsenter --net="/run/netns/$2" xdp-filter "${@:3}"' \
    xf "$tmp/bpf" "$ns_n" "$@"
}
st() { "$EDGEFW" status --instance "$inst" --json | jq -r ".[0]$1"; }
load() { "$EDGEFW" load "$policy" --site "$site_a" --node edge1 --iface external=n0 --netns "$ns_n" --instance "$inst" "$@"; }

# TCP connect from the client: "open" or "closed". PROBE_TIMEOUT: seconds a
# connect may take (an emulated CPU is slow).
PROBE_TIMEOUT=${PROBE_TIMEOUT:-2}
tcp_probe() { # ADDR PORT
  if ip netns exec "$ns_c" timeout $((PROBE_TIMEOUT + 5)) socat -u OPEN:/dev/null "TCP:$1:$2,connect-timeout=$PROBE_TIMEOUT" 2>/dev/null; then echo open; else echo closed; fi
}
# What edgefw counted, for a failure message.
counted() { "$EDGEFW" stats --instance "$inst" --json | jq -c '[.rules[], .reasons[] | select(.packets > 0) | {(.id // .name): .packets}] | add'; }
listen_tcp() { # ADDR PORT
  ip netns exec "$ns_n" socat -u "TCP-LISTEN:$2,bind=$1,reuseaddr,fork" OPEN:/dev/null &
  pids+=($!)
}
# UDP datagrams a sink on the node got: counted lines of its output file.
sink_udp() { # ADDR PORT FILE
  ip netns exec "$ns_n" socat -u "UDP-RECV:$2,bind=$1,reuseaddr" "OPEN:$3,creat,append" &
  pids+=($!)
}
send_udp() { # ADDR PORT COUNT
  ip netns exec "$ns_c" bash -c 'for ((i = 0; i < $3; i++)); do echo "$i" >"/dev/udp/$1/$2"; done' sh "$@"
}
lines() { [ -e "$1" ] && wc -l <"$1" || echo 0; }
rule_packets() { "$EDGEFW" stats --instance "$inst" --json | jq -r ".rules[] | select(.id == \"$1\") | .packets"; }

listen_tcp 198.18.155.10 5061
listen_tcp 198.18.155.10 443
sink_udp 198.18.155.30 3478 "$tmp/stun"
sink_udp 198.18.155.30 9 "$tmp/discard"
sleep 0.5

# Both programs enforce: 5061 closed by xdp-filter (edgefw allows it), 443
# open through both, UDP 9 dropped by edgefw (xdp-filter passes it), STUN through both.
both_enforce() { # LABEL
  local before after d0 s0
  [ "$(tcp_probe 198.18.155.10 5061)" = closed ] || fail "$1: TCP 5061 open, xdp-filter denies it"
  [ "$(tcp_probe 198.18.155.10 443)" = open ] ||
    fail "$1: TCP 443 closed, both allow it; edgefw counted $(counted); chain $(chain); $(xf status | grep -A3 -E 'Filtered ports|Loaded on'); $(ip -n "$ns_n" -d link show n0 | grep -i xdp)"
  before=$(rule_packets ext-vip-av-stun-udp)
  d0=$(lines "$tmp/discard")
  s0=$(lines "$tmp/stun")
  send_udp 198.18.155.30 9 20
  send_udp 198.18.155.30 3478 20
  sleep 0.5
  [ "$(lines "$tmp/discard")" -eq "$d0" ] || fail "$1: UDP 9 got through, edgefw denies it"
  [ "$(lines "$tmp/stun")" -eq $((s0 + 20)) ] || fail "$1: STUN got $(($(lines "$tmp/stun") - s0)) of 20"
  after=$(rule_packets ext-vip-av-stun-udp)
  [ "$after" -eq $((before + 20)) ] || fail "$1: edgefw's STUN rule counted $((after - before)) of 20"
  xf status | grep -E '^ +5061 ' | grep -q -v ' 0$' || fail "$1: xdp-filter's 5061 counter did not move"
  echo "$1: both enforce (5061 closed by xdp-filter, UDP 9 dropped by edgefw, STUN and 443 through both)"
}

# The chain as status shows it: "name:priority" in run order.
chain() { st '.ifaces[0].xdp_dispatcher.programs | map("\(.name):\(.priority)\(if .edgefw then "*" else "" end)") | join(" ")'; }

xf load --mode native --policy allow n0 >/dev/null
if ! ls -d "$tmp"/bpf/xdp/dispatch-* >/dev/null 2>&1; then
  # libxdp fell back to a single program: this kernel cannot run its
  # dispatcher. edgefw must say so in one line, and leave the NIC as it was.
  out=$(load 2>&1) && fail "edgefw loaded beside a program attached without libxdp's dispatcher"
  [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "refusal is not one line: $out"
  echo "$out" | grep -q "without libxdp's dispatcher" || fail "refusal does not say why: $out"
  xf unload n0 >/dev/null
  out=$(load --xdp-multiprog 2>&1) && fail "--xdp-multiprog loaded where libxdp has no dispatcher"
  [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "refusal is not one line: $out"
  ip -n "$ns_n" -j link show n0 | jq -e '.[0].xdp == null' >/dev/null || fail "refused load left an XDP program on n0"
  echo "refused in one line: $out"
  echo "SKIP: libxdp cannot run its dispatcher on this kernel ($(uname -r))"
  exit 77
fi
xf port 5061 >/dev/null
# xdp-filter alone: 5061 closed, 443 open.
[ "$(tcp_probe 198.18.155.10 5061)" = closed ] || fail "xdp-filter alone: TCP 5061 open"
[ "$(tcp_probe 198.18.155.10 443)" = open ] || fail "xdp-filter alone: TCP 443 closed; $(xf status)"

# 1. xdp-filter first: edgefw joins its dispatcher unasked, at the default priority.
load >/dev/null || fail "load beside xdp-filter; again with -v: $(load -v 2>&1 | tail -n 40)"
[ "$(st '.ifaces[0].xdp_attach')" = dispatcher ] || fail "edgefw did not join xdp-filter's dispatcher"
[ "$(st .state)" = enforcing ] || fail "state $(st .state) after load beside xdp-filter"
[ "$(chain)" = "xdpfilt_alw_all:10 ef_xdp_dispatch:50*" ] || fail "chain after load: $(chain)"
"$EDGEFW" status --instance "$inst" | grep -q 'libxdp dispatcher id' || fail "status text shows no dispatcher"
"$EDGEFW" status --instance "$inst" | grep -E 'prio 10 +xdpfilt_alw_all' >/dev/null || fail "status text does not list xdp-filter"
both_enforce "xdp-filter first"

# A mode other than the dispatcher's is refused in one line.
"$EDGEFW" unload --instance "$inst" >/dev/null
out=$(load --mode generic 2>&1) && fail "--mode generic joined a native dispatcher"
[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && echo "$out" | grep -q "native mode" || fail "mode refusal: $out"
load >/dev/null

# Reloads under a UDP stream: nothing lost; each reload swaps in a dispatcher
# holding the new program in the old one's slot, xdp-filter's program the same.
dispatcher=$(st '.ifaces[0].xdp_dispatcher.id')
filter_id=$(st '.ifaces[0].xdp_dispatcher.programs[0].id')
s0=$(lines "$tmp/stun")
c0=$(rule_packets ext-vip-av-stun-udp)
ip netns exec "$ns_c" bash -c 'n=0; while [ ! -e "$1" ]; do echo "$n" >/dev/udp/198.18.155.30/3478; n=$((n + 1)); sleep 0.001; done; echo "$n" >"$2"' \
  sh "$tmp/stop" "$tmp/sent" &
sender=$!
pids+=("$sender")
sleep 0.3
for i in $(seq "$RELOADS"); do
  if [ $((i % 2)) -eq 1 ]; then site=$site_b; else site=$site_a; fi
  "$EDGEFW" reload "$policy" --site "$site" --instance "$inst" >/dev/null
done
sleep 0.3
touch "$tmp/stop"
wait "$sender"
sleep 0.5
sent=$(cat "$tmp/sent")
received=$(($(lines "$tmp/stun") - s0))
counted=$(($(rule_packets ext-vip-av-stun-udp) - c0))
echo "reloads $RELOADS under libxdp's dispatcher: udp sent $sent received $received, rule counter +$counted, dispatcher id $dispatcher -> $(st '.ifaces[0].xdp_dispatcher.id'), xdp-filter id $filter_id"
[ "$sent" -gt 0 ] || fail "nothing sent"
[ "$received" -eq "$sent" ] || fail "$((sent - received)) datagrams lost across reloads"
[ "$counted" -eq "$sent" ] || fail "STUN rule counted $counted of $sent"
[ "$(st '.ifaces[0].xdp_dispatcher.programs[0].id')" = "$filter_id" ] || fail "xdp-filter's program changed across reloads"
[ "$(chain)" = "xdpfilt_alw_all:10 ef_xdp_dispatch:50*" ] || fail "chain after reloads: $(chain)"
[ "$(st '.ifaces[0].xdp_dispatcher.id')" != "$dispatcher" ] || fail "no reload swapped the dispatcher"
[ "$(st .state)" = enforcing ] || fail "state $(st .state) after reloads"
[ "$(st '.ifaces[0].current')" = true ] || fail "the dispatcher's edgefw entry does not run the current program"
both_enforce "after $RELOADS reloads"

# A shadow candidate needs edgefw's own XDP link (the dispatcher's program has
# no shadow slot): refused in one line, nothing changed.
out=$("$EDGEFW" shadow start "$policy" --site "$site_b" --instance "$inst" 2>&1) &&
  fail "shadow start accepted under libxdp's dispatcher"
[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && grep -q "libxdp's dispatcher" <<<"$out" ||
  fail "shadow refusal: $out"
[ "$(st '.shadow // "none"')" = none ] || fail "a refused shadow start left a candidate"
both_enforce "after a refused shadow start"

# Unload: xdp-filter stays attached and enforcing; edgefw's drop is gone.
"$EDGEFW" unload --instance "$inst" >/dev/null
xf status | grep -q 'n0 (native mode)' || fail "xdp-filter not attached after edgefw's unload"
[ "$(tcp_probe 198.18.155.10 5061)" = closed ] || fail "TCP 5061 open after edgefw's unload"
d0=$(lines "$tmp/discard")
send_udp 198.18.155.30 9 5
sleep 0.5
[ "$(lines "$tmp/discard")" -eq $((d0 + 5)) ] || fail "UDP 9 still dropped after edgefw's unload"
echo "unload: xdp-filter still attached and denying 5061; UDP 9 passes without edgefw"
xf unload n0 >/dev/null

# 2. edgefw first (asked, priority 60), then xdp-filter joins its dispatcher.
load --xdp-multiprog --xdp-priority 60 >/dev/null
[ "$(chain)" = "ef_xdp_dispatch:60*" ] || fail "chain after edgefw alone: $(chain)"
xf load --mode native --policy allow n0 >/dev/null
xf port 5061 >/dev/null
[ "$(chain)" = "xdpfilt_alw_all:10 ef_xdp_dispatch:60*" ] || fail "chain after xdp-filter joined: $(chain)"
[ "$(st .state)" = enforcing ] || fail "state $(st .state) after xdp-filter joined"
both_enforce "edgefw first"
"$EDGEFW" reload "$policy" --site "$site_b" --instance "$inst" >/dev/null
[ "$(st .state)" = enforcing ] && [ "$(st '.ifaces[0].current')" = true ] || fail "reload after xdp-filter joined"
"$EDGEFW" unload --instance "$inst" >/dev/null
xf status | grep -q 'n0 (native mode)' || fail "xdp-filter not attached after edgefw's unload (edgefw first)"
[ "$(tcp_probe 198.18.155.10 5061)" = closed ] || fail "TCP 5061 open after edgefw's unload (edgefw first)"
xf unload n0 >/dev/null
ip -n "$ns_n" -j link show n0 | jq -e '.[0].xdp == null' >/dev/null || fail "an XDP program is left on n0"
echo "PASS: edgefw beside xdp-filter under libxdp's dispatcher, both orders"
