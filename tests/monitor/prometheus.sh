#!/usr/bin/env bash
# The exporter against a real Prometheus server. A client netns sends a known
# number of UDP datagrams to the STUN VIP rule of edge1 (edgefw on the node
# netns's veth); Prometheus scrapes `edgefw exporter` on host loopback every
# second until its query returns exactly that count. Also: promtool check metrics
# on the exposition (exporter and `stats --prometheus`), the HTML page, GET-only,
# counts kept across a reload, and `edgefw_up 0` after unload with the exporter
# still serving. 77 (skip) when not root or Prometheus cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/monitor/lib.sh
. tests/lifecycle/lib.sh  # two_hosts: the namespaces, their cleanup trap
SENT=${SENT:-137}
RULE=ext-vip-av-stun-udp

require_root
require_cmd python3 jq
ensure_prometheus || skip "Prometheus cannot be installed (Debian package prometheus)"

# Topology: client 198.18.100.7 -- veth -- node 198.18.155.30 (edge1's A/V backend in site-test.yaml).
two_hosts efmon 198.18.155.30
# A static neighbour: no ARP exchange in front of the datagrams.
mac=$(ip -n "$ns_n" -br link show n0 | awk '{print $3}')
ip -n "$ns_c" neigh replace 198.18.155.30 lladdr "$mac" dev c0 nud permanent

policy=policies/lync2010-edge-hlb.yaml
site=policies/site-test.yaml
"$EDGEFW" load "$policy" --site "$site" --node edge1 --iface external=n0 --netns "$ns_n" \
  --instance "$inst" >/dev/null

# The exporter on host loopback: it only reads the pins.
start_exporter

# Prometheus scraping it every second.
pport=$(free_port)
cat > "$tmp/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/tools/prometheus/edgefw-alerts.yml
scrape_configs:
  - job_name: edgefw
    static_configs:
      - targets: ['127.0.0.1:$eport']
CONF
promtool check config "$tmp/prometheus.yml" >/dev/null || fail "prometheus config"
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
  --web.listen-address="127.0.0.1:$pport" --log.level=warn >"$tmp/prometheus.log" 2>&1 &
pids+=($!)

# query EXPR: the first result's value, or nothing.
query() {
  local q
  q=$(jq -rn --arg q "$1" '$q | @uri')
  http "http://127.0.0.1:$pport/api/v1/query?query=$q" 2>/dev/null |
    json_get '.data.result[0].value[1] // ""' 2>/dev/null || true
}
# wait_for EXPR WANT: bounded wait (30 s) until Prometheus returns WANT.
wait_for() {
  local got=""
  for _ in $(seq 300); do
    got=$(query "$1")
    [ "$got" = "$2" ] && return 0
    sleep 0.1
  done
  fail "Prometheus: $1 = '${got}', expected $2"
}

# Prometheus has scraped the exporter (edgefw_up 1) before any traffic.
wait_for "edgefw_up{instance_name=\"$inst\"}" 1
wait_for "edgefw_rule_packets_total{instance_name=\"$inst\",rule=\"$RULE\"}" 0

ip netns exec "$ns_c" python3 - "$SENT" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[1])):
    s.sendto(b"stun %d" % i, ("198.18.155.30", 3478))
    time.sleep(0.001)
PY

wait_for "edgefw_rule_packets_total{instance_name=\"$inst\",rule=\"$RULE\"}" "$SENT"
echo "prometheus: edgefw_rule_packets_total{rule=\"$RULE\"} = $SENT (sent $SENT)"

# The exposition passes promtool's linter, from the exporter and from the CLI.
http "http://127.0.0.1:$eport/metrics" > "$tmp/metrics"
promtool check metrics < "$tmp/metrics" || fail "promtool check metrics (exporter)"
"$EDGEFW" stats --prometheus --instance "$inst" > "$tmp/metrics-cli"
promtool check metrics < "$tmp/metrics-cli" || fail "promtool check metrics (stats --prometheus)"
for family in edgefw_build_info edgefw_up edgefw_policy_info edgefw_rule_packets_total \
  edgefw_rule_bytes_total edgefw_drops_total edgefw_passes_total edgefw_conntrack_entries \
  edgefw_conntrack_entries_max edgefw_map_entries edgefw_map_entries_max; do
  grep -q "^# TYPE $family " "$tmp/metrics" || fail "/metrics has no $family"
done
for m in ef_ct ef_local ef_remote ef_sport ef_frags; do
  grep -q "^edgefw_map_entries_max{.*map=\"$m\"} [1-9]" "$tmp/metrics" || fail "no fill level of $m"
done
grep -q "^edgefw_passes_total{.*reason=\"arp_pass\"}" "$tmp/metrics" || fail "arp_pass is not a pass"
# The dashboard's queries use only families present in the real exposition
# (last_hit appears once lifecycle::stats reports last_hit_unix; the shadow
# families while a candidate is loaded, tests/lifecycle/shadow.sh).
python3 tests/monitor/check_dashboard.py tools/grafana/edgefw-dashboard.json --metrics "$tmp/metrics" \
  --optional edgefw_rule_last_hit_timestamp_seconds --optional edgefw_shadow_info \
  --optional edgefw_shadow_rule_packets_total --optional edgefw_shadow_disagreements_total \
  >/dev/null || fail "dashboard vs /metrics"

# The human page and read-only HTTP.
http "http://127.0.0.1:$eport/" | grep -q "$RULE" || fail "/ does not list $RULE"
if http "http://127.0.0.1:$eport/metrics" POST >/dev/null 2>"$tmp/post"; then fail "POST accepted"; fi
grep -q 405 "$tmp/post" || fail "POST: expected 405, got $(cat "$tmp/post")"

# stats --watch draws frames (ANSI home/clear) with rate columns.
timeout -s INT 1.5 "$EDGEFW" stats --watch 0.2 --instance "$inst" > "$tmp/watch" || true
grep -q $'\x1b\[H\x1b\[2J' "$tmp/watch" || fail "stats --watch: no ANSI clear/home"
grep -q "pps" "$tmp/watch" && grep -q "$RULE" "$tmp/watch" || fail "stats --watch: no rate table"

# A reload keeps the rule's counter (slots follow rule ids); the exporter follows it.
"$EDGEFW" reload "$policy" --site "$site" --instance "$inst" >/dev/null
wait_for "count(edgefw_policy_info{instance_name=\"$inst\",generation=\"2\"})" 1
wait_for "edgefw_rule_packets_total{instance_name=\"$inst\",rule=\"$RULE\"}" "$SENT"

# Unload: the exporter keeps serving and reports edgefw_up 0.
"$EDGEFW" unload --instance "$inst" >/dev/null
http "http://127.0.0.1:$eport/metrics" > "$tmp/metrics-down" || fail "exporter stopped serving after unload"
grep -qx "edgefw_up{instance_name=\"$inst\"} 0" "$tmp/metrics-down" || fail "no edgefw_up 0 after unload"
promtool check metrics < "$tmp/metrics-down" || fail "promtool check metrics (after unload)"
wait_for "edgefw_up{instance_name=\"$inst\"}" 0
kill -0 "$exporter" 2>/dev/null || fail "exporter exited"
echo "PASS: Prometheus scraped $SENT packets of $RULE; promtool ok; edgefw_up 0 after unload"
