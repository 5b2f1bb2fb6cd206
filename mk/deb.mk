# Debian package: `make deb` builds build/deb/edgefw_<version>_<arch>.deb with
# debhelper (debian/); `make deb-check` installs it, checks it and purges it.
#
#   make deb               the package (reuses build/edgefw; nothing outside build/)
#   make deb-lint          lintian on it: errors fail, warnings are shown
#   make deb-check         build, lint, apt-get install, check, purge (root; 77 = skip)
#   make completion-check  the bash completion against edgefw --help (no root)
#   make man-check         edgefw(8) names every command and flag of edgefw --help
#
# The version is debian/changelog's (edgefw has no --version).
DEB_DIR     := $(BUILD)/deb
DEB_STAGE   := $(DEB_DIR)/src
# First line of debian/changelog, "edgefw (VERSION) ...": read with awk, as
# dpkg-parsechangelog (dpkg-dev) may not be installed yet when make parses this.
DEB_VERSION := $(shell awk -F'[()]' 'NR == 1 { print $$2; exit }' debian/changelog)
DEB_ARCH    := $(shell dpkg --print-architecture 2>/dev/null)
DEB_FILE    := $(DEB_DIR)/edgefw_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_INPUTS  := $(shell find debian man tools/systemd tools/bash-completion -type f 2>/dev/null) \
               policies/lync2010-edge-hlb.yaml policies/site-test.yaml README.md \
               $(wildcard docs/*.md) tools/prometheus/README.md tools/prometheus/edgefw-alerts.yml \
               tools/grafana/edgefw-dashboard.json tools/grafana/edgefw-fleet-dashboard.json \
               tools/prometheus/edgefw-fleet-alerts.yml tools/prometheus/fleet-scrape.yml \
               $(shell find tools/ansible -type f 2>/dev/null)

# What building and checking the package needs beyond tools/install-deps.sh:
# debhelper and dpkg-dev, scdoc for the man pages, lintian, man-db for `man -w`,
# bash-completion to load the completion as an interactive shell does.
DEB_PACKAGES   := debhelper dpkg-dev scdoc lintian man-db bash-completion
DEB_DEPS_STAMP := $(BUILD)/.deb-deps-installed
$(DEB_DEPS_STAMP): mk/deb.mk | $(DEPS_STAMP)
	$(Q)mkdir -p $(@D)
	$(call apt_install_missing,$(DEB_PACKAGES))
	$(Q)touch $@

# dpkg-buildpackage writes its results next to the source directory, so it runs
# in a copy of debian/ under build/deb/src and debian/rules reaches back to the
# tree (EDGEFW_TREE): the .deb, .buildinfo and .changes land in build/deb/.
# build/edgefw is a prerequisite, so the rules' own `make` finds it up to date;
# the outer make's flags (-j, jobserver) are not passed through dpkg-buildpackage.
.PHONY: deb deb-lint deb-check completion-check man-check
deb: $(DEB_FILE)
$(DEB_FILE): $(BUILD)/edgefw $(DEB_INPUTS) | $(DEB_DEPS_STAMP)
	$(call msg,DEB,$@)
	$(Q)rm -rf $(DEB_STAGE) $(DEB_DIR)/*.deb $(DEB_DIR)/*.buildinfo $(DEB_DIR)/*.changes
	$(Q)mkdir -p $(DEB_STAGE)
	$(Q)cp -a debian $(DEB_STAGE)/
	$(Q)cd $(DEB_STAGE) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	  EDGEFW_TREE=$(CURDIR) EDGEFW_BUILD=$(BUILD) \
	  dpkg-buildpackage -b --no-sign > ../build.log 2>&1 \
	  || { tail -n 40 ../build.log; echo "deb: dpkg-buildpackage failed; log: $(DEB_DIR)/build.log" >&2; exit 1; }
	$(Q)test -f $@ || { echo "deb: $@ not built (is debian/changelog's version $(DEB_VERSION)?)" >&2; exit 1; }

deb-lint: $(DEB_FILE)
	$(call msg,LINTIAN,$<)
	$(Q)lintian --fail-on error $< 2>&1 | grep -v '^running with root privileges'; \
	exit $${PIPESTATUS[0]}

completion-check: $(BUILD)/edgefw
	$(call msg,TEST,tools/bash-completion/check.sh)
	$(Q)bash --norc tools/bash-completion/check.sh $(BUILD)/edgefw tools/bash-completion/edgefw

man-check: $(BUILD)/edgefw
	$(call msg,TEST,man/check.sh)
	$(Q)man/check.sh $(BUILD)/edgefw man/edgefw.8.scd

deb-check: $(DEB_FILE) deb-lint
	$(call msg,TEST,tests/deb/deb_check.sh)
	$(Q)$(call run_test,deb-check,tests/deb/deb_check.sh $(DEB_FILE))

CHECK_EXTRA += completion-check man-check deb-check
CHECK_BUILD += $(DEB_FILE)
