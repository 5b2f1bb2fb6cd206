#!/usr/bin/env bash
# Hitless reload, proved: a continuous UDP stream (1 packet/ms) and an open TCP
# connection cross 100 reloads that alternate two policies which both allow
# them. Pass: zero UDP packets lost, the TCP connection answers throughout,
# the stream's rule counter only grows and ends equal to what was sent.
# TC=netlink proves the netlink-filter egress path (default: auto, tcx where
# the kernel has it).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lifecycle/lib.sh
RELOADS=${RELOADS:-100}
TC=${TC:-auto}
require_root_python
two_hosts efhr 198.18.155.30 198.18.155.10

policy=policies/lync2010-edge-hlb.yaml
site_a=policies/site-test.yaml
site_b=$(site_without dns crl-download)

"$EDGEFW" load "$policy" --site "$site_a" --node edge1 --iface external=n0 --netns "$ns_n" \
  --instance "$inst" --tc "$TC" >/dev/null
hook=$(status_get "$inst" '.[0].ifaces[0].tc_hook')

start_stream

rule_packets() {
  stats_get "$inst" '[.rules[] | select(.id == "ext-vip-av-stun-udp") | .packets][0]'
}

last=0
sleep 0.5
for i in $(seq "$RELOADS"); do
  if [ $((i % 2)) -eq 1 ]; then site=$site_b; else site=$site_a; fi
  "$EDGEFW" reload "$policy" --site "$site" --instance "$inst" >/dev/null
  now=$(rule_packets)
  if [ "$now" -lt "$last" ]; then echo "FAIL: counter went back from $last to $now at reload $i"; exit 1; fi
  last=$now
done
stop_stream
final=$(rule_packets)
state=$(status_get "$inst" '.[0].state')
generation=$(status_get "$inst" '.[0].generation')
echo "reloads $RELOADS (generation $generation, TC egress $hook): udp sent $sent received $received, tcp echoes $echoes, rule counter $final, state $state"
[ "$received" -eq "$sent" ] || { echo "FAIL: $((sent - received)) UDP packets lost"; exit 1; }
[ "$echoes" -gt 0 ] || { echo "FAIL: no TCP echo"; exit 1; }
# Every datagram (and the 5 END markers) counted under the STUN rule: nothing lost, nothing reset.
[ "$final" -eq $((sent + 5)) ] || { echo "FAIL: rule counter $final, expected $((sent + 5))"; exit 1; }
[ "$state" = enforcing ] || { echo "FAIL: state $state"; exit 1; }
[ "$generation" -eq $((RELOADS + 1)) ] || { echo "FAIL: generation $generation"; exit 1; }
echo "PASS: hitless reload (TC egress $hook)"
