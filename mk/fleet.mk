# A fleet of Edge nodes: per-node bundles (`edgefw bundle`), an Ansible
# inventory (`edgefw inventory`), the Ansible role and playbook (tools/ansible/)
# and the fleet view in Prometheus (tools/prometheus/edgefw-fleet-alerts.yml,
# fleet-scrape.yml, tools/grafana/edgefw-fleet-dashboard.json).
#
#   make fleet-test     tests/fleet/fleet.sh: three nodes in namespaces with sshd, a rolling
#                       rollout over real SSH, Prometheus (root; 77 = skip; 6-7 minutes on a busy
#                       2-core machine).
#                       Run by .ci/run after make check; not part of make check.
#   make fleet-bundle   tests/fleet/bundle.sh: bundles, --bundle refusals, inventory (root;
#                       seconds; part of make check)
#   make fleet-static   promtool on the fleet rules, ansible-playbook --syntax-check,
#                       the fleet dashboard's structure (part of make check)

# fleet-static needs ansible and promtool; fleet-test also an OpenSSH server
# (Debian starts ssh.service on install where systemd runs: CI machines only).
FLEET_STATIC_PACKAGES := ansible prometheus
FLEET_TEST_PACKAGES   := $(FLEET_STATIC_PACKAGES) openssh-server
FLEET_STATIC_STAMP    := $(BUILD)/.fleet-static-deps-installed
FLEET_TEST_STAMP      := $(BUILD)/.fleet-test-deps-installed
$(FLEET_STATIC_STAMP): PKGS := $(FLEET_STATIC_PACKAGES)
$(FLEET_TEST_STAMP): PKGS := $(FLEET_TEST_PACKAGES)
$(FLEET_STATIC_STAMP) $(FLEET_TEST_STAMP): mk/fleet.mk | $(DEPS_STAMP)
	$(Q)mkdir -p $(@D)
	$(call apt_install_missing,$(PKGS))
	$(Q)touch $@

.PHONY: fleet-test fleet-bundle fleet-static

# 77 means a missing capability: reported as a skip, never as a pass.
fleet-test: $(BUILD)/edgefw $(E2E_DEPS_STAMP) $(FLEET_TEST_STAMP)
	$(call msg,TEST,tests/fleet/fleet.sh)
	$(Q)rc=0; tests/fleet/fleet.sh || rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "fleet-test: skipped"; elif [ $$rc -ne 0 ]; then exit $$rc; fi

fleet-bundle: $(BUILD)/edgefw
	$(call msg,TEST,tests/fleet/bundle.sh)
	$(Q)rc=0; tests/fleet/bundle.sh || rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "fleet-bundle: skipped"; elif [ $$rc -ne 0 ]; then exit $$rc; fi

fleet-static: $(FLEET_STATIC_STAMP)
	$(call msg,TEST,tests/fleet/static.sh)
	$(Q)tests/fleet/static.sh

CHECK_EXTRA += fleet-static fleet-bundle
