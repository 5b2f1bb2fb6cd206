# End-to-end tests in network namespaces and the demo (tests/e2e/, tools/demo/).
# `make e2e` is part of `make check`; both need root. Their own Debian packages (coturn,
# kamailio, sipsak, nginx-light, ...) are installed by tests/e2e/install-deps.sh.

E2E_DEPS_STAMP := $(BUILD)/.e2e-deps-installed

$(E2E_DEPS_STAMP): tests/e2e/install-deps.sh
	$(Q)mkdir -p $(@D)
	$(Q)tests/e2e/install-deps.sh
	$(Q)touch $@

e2e: $(BUILD)/edgefw $(E2E_DEPS_STAMP)
	$(Q)tests/e2e/run.sh

demo: $(BUILD)/edgefw $(E2E_DEPS_STAMP)
	$(Q)tools/demo/demo.sh

.PHONY: e2e demo
CHECK_EXTRA += e2e
