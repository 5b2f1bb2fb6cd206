#!/usr/bin/env bash
# The fleet files that need no kernel: the drift rule (promtool check rules and
# its unit test), the example scrape config (promtool check config), the fleet
# dashboard (structure, PromQL) and the Ansible playbook and role
# (ansible-playbook --syntax-check, a --list-tasks walk). 77 (skip) only when
# promtool or ansible-playbook is missing and cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/monitor/lib.sh

ensure_prometheus || { echo "SKIP: promtool unavailable (Debian package prometheus)"; exit 77; }
command -v ansible-playbook >/dev/null || { echo "SKIP: ansible-playbook unavailable (Debian package ansible)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

promtool check rules tools/prometheus/edgefw-fleet-alerts.yml
(cd tools/prometheus && promtool test rules edgefw-fleet-alerts.test.yml)
# The scrape config as shipped names /etc/prometheus/; checked against the repo's files.
sed "s|/etc/prometheus/|$PWD/tools/prometheus/|" tools/prometheus/fleet-scrape.yml >"$tmp/fleet-scrape.yml"
promtool check config "$tmp/fleet-scrape.yml"
grep -q 'honor_labels: true' tools/prometheus/fleet-scrape.yml || { echo "FAIL: fleet-scrape.yml without honor_labels"; exit 1; }
for n in edge1 edge2 rproxy; do
  grep -q "node: $n, pool: " tools/prometheus/fleet-scrape.yml || { echo "FAIL: fleet-scrape.yml: no target for $n"; exit 1; }
done

python3 tests/monitor/check_dashboard.py tools/grafana/edgefw-fleet-dashboard.json --rules-out "$tmp/dashboard-rules.yml"
promtool check rules "$tmp/dashboard-rules.yml" >/dev/null ||
  { promtool check rules "$tmp/dashboard-rules.yml"; echo "FAIL: fleet dashboard PromQL"; exit 1; }

export ANSIBLE_HOME="$tmp/ansible" ANSIBLE_LOCAL_TEMP="$tmp/ansible/tmp" ANSIBLE_NOCOLOR=1 \
  ANSIBLE_ROLES_PATH="$PWD/tools/ansible/roles" ANSIBLE_RETRY_FILES_ENABLED=False
printf 'all:\n  children:\n    edgefw:\n      hosts:\n        edge1:\n' >"$tmp/inventory.yml"
ansible-playbook -i "$tmp/inventory.yml" tools/ansible/rollout.yml --syntax-check
ansible-playbook -i "$tmp/inventory.yml" tools/ansible/rollout.yml --list-tasks >"$tmp/tasks"
# include_tasks is dynamic: the apply, gate and confirm steps are read from their file.
cat tools/ansible/roles/edgefw/tasks/apply.yml >>"$tmp/tasks"
for t in "Copy the bundle" "Check the policy" "Reload edgefw with the bundle" "Gate: Ansible reconnects over SSH" \
  "Gate: the exporter answers" "Confirm (the timer ends"; do
  grep -qF "$t" "$tmp/tasks" || { echo "FAIL: the edgefw role has no task '$t'"; exit 1; }
done
grep -q 'serial: 1' tools/ansible/rollout.yml && grep -q 'max_fail_percentage: 0' tools/ansible/rollout.yml ||
  { echo "FAIL: rollout.yml must run serial: 1 with max_fail_percentage: 0"; exit 1; }
echo "PASS: fleet static checks"
