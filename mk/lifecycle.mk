# Lifecycle on real NICs: the hitless-reload proof, the control plane (safe pin
# directories, locks, all-or-nothing reload, confirm, status), edgefw beside
# xdp-filter under libxdp's dispatcher, the systemd unit,
# `make install`.
PREFIX  ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
DOCDIR  ?= $(PREFIX)/share/doc/edgefw
UNITDIR ?= /etc/systemd/system

.PHONY: lifecycle-test crash-test soak systemd-verify install uninstall

# 77 means a missing capability: reported as a skip, never as a pass (run_test).
lifecycle-test: $(BUILD)/edgefw $(BPF_OBJS)
	$(Q)for t in hitless_reload operator faults hooks fs_safety races atomic_reload reload_flows shadow confirm status_inputs xdp_multiprog adopt; do \
	  printf '  %-8s %s\n' TEST tests/lifecycle/$$t.sh; \
	  $(call run_test,$$t,tests/lifecycle/$$t.sh); \
	done
	$(call msg,TEST,tests/lifecycle/hitless_reload.sh TC=netlink RELOADS=50)
	$(Q)$(call run_test,hitless_reload (netlink),TC=netlink RELOADS=50 tests/lifecycle/hitless_reload.sh)

crash-test: $(BUILD)/edgefw
	$(call msg,TEST,tests/lifecycle/crash_safety.sh)
	$(Q)$(call run_test,crash-test,tests/lifecycle/crash_safety.sh)

# Minutes, not part of `make check`: SOAK_SECS=600 make soak for a longer run.
soak: $(BUILD)/edgefw
	$(Q)tests/lifecycle/soak.sh

$(BUILD)/systemd/edgefw.service: tools/systemd/edgefw.service.in
	$(Q)mkdir -p $(@D)
	$(Q)sed -e 's|@SBINDIR@|$(CURDIR)/$(BUILD)|g' -e 's|@DOCDIR@|$(CURDIR)|g' $< > $@

# systemd-analyze checks the unit against the binary it names (the build's).
systemd-verify: $(BUILD)/systemd/edgefw.service $(BUILD)/edgefw
	$(call msg,VERIFY,edgefw.service)
	$(Q)command -v systemd-analyze >/dev/null || DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq systemd >/dev/null
	$(Q)mkdir -p $(BUILD)/systemd/verify
	$(Q)sed 's|/etc/edgefw/edgefw.env|-/etc/edgefw/edgefw.env|' $< > $(BUILD)/systemd/verify/edgefw.service
	$(Q)out=$$(systemd-analyze verify $(BUILD)/systemd/verify/edgefw.service 2>&1 | grep -v -e 'Cannot add dependency job' -e 'Failed to load configuration' -e 'Unit .* not found' ); \
	if [ -n "$$out" ]; then echo "$$out"; exit 1; fi

install: $(BUILD)/edgefw
	install -D -m 0755 $(BUILD)/edgefw $(DESTDIR)$(SBINDIR)/edgefw
	install -D -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -d -m 0755 $(DESTDIR)/etc/edgefw
	install -D -m 0644 policies/lync2010-edge-hlb.yaml $(DESTDIR)$(DOCDIR)/policies/lync2010-edge-hlb.yaml
	install -D -m 0644 policies/site-test.yaml $(DESTDIR)$(DOCDIR)/policies/site-test.yaml
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' tools/systemd/edgefw.service.in > $(BUILD)/edgefw.service.install
	install -D -m 0644 $(BUILD)/edgefw.service.install $(DESTDIR)$(UNITDIR)/edgefw.service
	@echo "installed; put policy.yaml, site.yaml and edgefw.env in /etc/edgefw, then: systemctl enable --now edgefw"

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/edgefw $(DESTDIR)$(UNITDIR)/edgefw.service
	rm -rf $(DESTDIR)$(DOCDIR)

CHECK_EXTRA += systemd-verify lifecycle-test crash-test
