# Monitoring: `edgefw stats --prometheus|--watch`, `edgefw exporter` (loader/monitor/),
# the Grafana dashboard, the alerting rules and the exporter's systemd unit.
#
#   make monitor-test            tests/monitor/prometheus.sh: real Prometheus scraping the
#                                exporter over a netns topology (root; 77 = skip)
#   make monitor-bounds          tests/monitor/bounds.sh: the exporter's limits under 60,000
#                                header fields and 200 slow clients (root; 77 = skip)
#   make monitor-static          dashboard structure + alert rules (promtool check rules)
#   make monitor-systemd-verify  systemd-analyze verify of edgefw-exporter.service

# The exporter's HTTP server: Debian's libmicrohttpd (its own limits on memory,
# connections and time per connection; loader/monitor/exporter.cpp).
LDLIBS += -lmicrohttpd

# The exporter's header and library come from libmicrohttpd-dev (also listed in
# tools/install-deps.sh); checked here so a tree whose deps stamp predates it still builds.
MONITOR_DEPS_STAMP := $(BUILD)/.monitor-microhttpd-installed
$(MONITOR_DEPS_STAMP): | $(DEPS_STAMP)
	$(Q)mkdir -p $(@D)
	$(Q)if ! dpkg-query -W -f='$${Status}' libmicrohttpd-dev 2>/dev/null | grep -q "install ok installed"; then \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "edgefw: missing libmicrohttpd-dev; run as root or: apt-get install libmicrohttpd-dev" >&2; exit 1; \
	  fi; \
	  echo "edgefw: installing libmicrohttpd-dev"; \
	  DEBIAN_FRONTEND=noninteractive $(APT_GET) update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends libmicrohttpd-dev; \
	fi
	$(Q)touch $@
$(BUILD)/obj/loader/monitor/exporter.o $(BUILD)/asan/obj/loader/monitor/exporter.o: | $(MONITOR_DEPS_STAMP)

.PHONY: monitor-test monitor-bounds monitor-static monitor-systemd-verify install-exporter

monitor-static: | $(DEPS_STAMP)
	$(call msg,TEST,tests/monitor/static.sh)
	$(Q)$(call run_test,monitor-static,tests/monitor/static.sh,promtool unavailable)

# 77 means a missing capability (root, or Prometheus cannot be installed): a skip, never a pass.
monitor-test: $(BUILD)/edgefw
	$(call msg,TEST,tests/monitor/prometheus.sh)
	$(Q)$(call run_test,monitor-test,tests/monitor/prometheus.sh)

monitor-bounds: $(BUILD)/edgefw
	$(call msg,TEST,tests/monitor/bounds.sh)
	$(Q)$(call run_test,monitor-bounds,tests/monitor/bounds.sh)

$(BUILD)/systemd/edgefw-exporter.service: tools/systemd/edgefw-exporter.service.in
	$(Q)mkdir -p $(@D)
	$(Q)sed -e 's|@SBINDIR@|$(CURDIR)/$(BUILD)|g' -e 's|@DOCDIR@|$(CURDIR)|g' $< > $@

monitor-systemd-verify: $(BUILD)/systemd/edgefw-exporter.service $(BUILD)/edgefw
	$(call msg,VERIFY,edgefw-exporter.service)
	$(Q)command -v systemd-analyze >/dev/null || DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq systemd >/dev/null
	$(Q)mkdir -p $(BUILD)/systemd/verify
	$(Q)cp $< $(BUILD)/systemd/verify/edgefw-exporter.service
	$(Q)out=$$(systemd-analyze verify $(BUILD)/systemd/verify/edgefw-exporter.service 2>&1 | grep -v -e 'Cannot add dependency job' -e 'Failed to load configuration' -e 'Unit .* not found' ); \
	if [ -n "$$out" ]; then echo "$$out"; exit 1; fi

# `make install` installs the loader and its unit (mk/lifecycle.mk); this adds the
# exporter's unit, the dashboard and the alerting rules.
install: install-exporter
install-exporter: $(BUILD)/edgefw
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' tools/systemd/edgefw-exporter.service.in > $(BUILD)/edgefw-exporter.service.install
	install -D -m 0644 $(BUILD)/edgefw-exporter.service.install $(DESTDIR)$(UNITDIR)/edgefw-exporter.service
	install -D -m 0644 tools/grafana/edgefw-dashboard.json $(DESTDIR)$(DOCDIR)/grafana/edgefw-dashboard.json
	install -D -m 0644 tools/prometheus/edgefw-alerts.yml $(DESTDIR)$(DOCDIR)/prometheus/edgefw-alerts.yml
	install -D -m 0644 tools/prometheus/README.md $(DESTDIR)$(DOCDIR)/prometheus/README.md
uninstall: uninstall-exporter
uninstall-exporter:
	rm -f $(DESTDIR)$(UNITDIR)/edgefw-exporter.service
.PHONY: uninstall-exporter

CHECK_EXTRA += monitor-static monitor-systemd-verify monitor-test monitor-bounds
