#!/usr/bin/env bash
# The monitoring files that need no kernel: the Grafana dashboard's structure
# and PromQL, the alerting rules (promtool check rules) and their unit tests
# (promtool test rules). 77 (skip) only when promtool cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/monitor/lib.sh

ensure_prometheus || { echo "SKIP: promtool unavailable (Debian package prometheus)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 tests/monitor/check_dashboard.py tools/grafana/edgefw-dashboard.json --rules-out "$tmp/dashboard-rules.yml"
promtool check rules "$tmp/dashboard-rules.yml" >/dev/null ||
  { promtool check rules "$tmp/dashboard-rules.yml"; echo "FAIL: dashboard PromQL"; exit 1; }
promtool check rules tools/prometheus/edgefw-alerts.yml
(cd tools/prometheus && promtool test rules edgefw-alerts.test.yml)
echo "PASS: monitor static checks"
