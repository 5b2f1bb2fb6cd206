#!/usr/bin/env bash
# Soak (`make soak`, minutes, not part of `make check`): sustained mixed
# traffic — a 1 kpps UDP stream and a TCP connection echoing every 10 ms —
# with a reload every second alternating two policies, and the exporter
# scraped every second. Reports packets, allowed packets lost (must be 0),
# the exporter's RSS and conntrack fill over time.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lifecycle/lib.sh
SOAK_SECS=${SOAK_SECS:-180}
require_root_python
two_hosts efsoak 198.18.155.30 198.18.155.10

policy=policies/lync2010-edge-hlb.yaml
site_a=policies/site-test.yaml
site_b=$(site_without dns crl-download)
"$EDGEFW" load "$policy" --site "$site_a" --node edge1 --iface external=n0 --netns "$ns_n" --instance "$inst" >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$EDGEFW" exporter --listen "127.0.0.1:$port" --instance "$inst" >"$tmp/exporter.log" 2>&1 &
exporter=$!
pids+=("$exporter")
start_stream

metric() { grep -E "^$1[{ ]" "$tmp/metrics" | head -1 | awk '{print $NF}'; }
echo "  t(s)  reloads  scrapes  stun_rule_packets  conntrack  exporter_rss_kb"
reloads=0
scrapes=0
start=$(date +%s)
while [ $(( $(date +%s) - start )) -lt "$SOAK_SECS" ]; do
  if [ $((reloads % 2)) -eq 0 ]; then site=$site_b; else site=$site_a; fi
  "$EDGEFW" reload "$policy" --site "$site" --instance "$inst" >/dev/null
  reloads=$((reloads + 1))
  python3 -c 'import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
    "http://127.0.0.1:$port/metrics" > "$tmp/metrics"
  scrapes=$((scrapes + 1))
  t=$(( $(date +%s) - start ))
  if [ $((reloads % 10)) -eq 1 ]; then
    stun=$(grep 'edgefw_rule_packets_total{.*rule="ext-vip-av-stun-udp"' "$tmp/metrics" | awk '{print $NF}')
    printf '%6d %8d %8d %18s %10s %16s\n' "$t" "$reloads" "$scrapes" "$stun" "$(metric edgefw_conntrack_entries)" \
      "$(awk '/VmRSS/{print $2}' /proc/$exporter/status)"
  fi
  sleep 1
done
stop_stream
echo "soak ${SOAK_SECS}s: $reloads reloads, $scrapes scrapes, udp sent $sent received $received (lost $((sent - received))), tcp echoes $echoes"
[ "$received" -eq "$sent" ] || { echo "FAIL: allowed packets lost"; exit 1; }
echo "PASS: soak"
