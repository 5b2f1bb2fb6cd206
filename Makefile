# edgefw — one Make graph: `make`, `make check`, `make demo`, `make bench`, `make format`.
.DELETE_ON_ERROR:
.SECONDARY:
.SUFFIXES:
SHELL := /bin/bash

BUILD   := build
CXX     := g++
CLANG   := clang
BPFTOOL := bpftool
ARCH_INC := /usr/include/$(shell uname -m)-linux-gnu

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)"
endif

CXXFLAGS := -std=c++20 -O2 -g -Wall -Wextra -Werror -MMD -MP \
            -Imaps -Iloader -Itests/support -I$(BUILD)/gen $(EXTRA_CXXFLAGS)
LDLIBS   := -lxdp -lbpf -lelf -lz -lyaml-cpp -lfmt -lpcap -lcrypto
BPFFLAGS := -target bpf -O2 -g -Wall -Wextra -Werror -MMD -MP \
            -Imaps -I$(ARCH_INC) -D__TARGET_ARCH_x86

DEPS_STAMP := $(BUILD)/.deps-installed
# Feature areas install their own packages from stamps that `make -j2` may run
# at the same time; one lock keeps two apt-get runs from meeting on dpkg's.
APT_GET = flock $(BUILD)/.apt.lock apt-get
# $(call apt_install_missing,PACKAGES): a recipe line installing those of
# PACKAGES dpkg does not list as installed (as root; otherwise it names them).
define apt_install_missing
$(Q)missing=; for p in $(1); do \
  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
done; \
if [ -n "$$missing" ]; then \
  if [ "$$(id -u)" -ne 0 ]; then \
    echo "edgefw: missing$$missing; run as root or: apt-get install$$missing" >&2; exit 1; \
  fi; \
  echo "edgefw: installing$$missing"; \
  DEBIAN_FRONTEND=noninteractive $(APT_GET) update -qq && \
  DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends $$missing >/dev/null; \
fi
endef
LOADER_SRCS := $(shell find loader -name '*.cpp' ! -path loader/cli/main.cpp | sort)
LOADER_OBJS := $(LOADER_SRCS:%.cpp=$(BUILD)/obj/%.o)
BPF_SRCS    := $(wildcard bpf/*.bpf.c)
BPF_OBJS    := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/bpf/%.bpf.o)
SKELETONS   := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/gen/%.skel.h)
UNIT_SRCS   := $(shell find tests/unit -name '*.cpp' 2>/dev/null | sort)
UNIT_OBJS   := $(UNIT_SRCS:%.cpp=$(BUILD)/obj/%.o)
DP_SRCS     := $(shell find tests/dataplane -name '*.cpp' 2>/dev/null | sort)
SUPPORT_SRCS := $(shell find tests/support -name '*.cpp' 2>/dev/null | sort)
SUPPORT_OBJS := $(SUPPORT_SRCS:%.cpp=$(BUILD)/obj/%.o)
DP_OBJS     := $(DP_SRCS:%.cpp=$(BUILD)/obj/%.o)
FORMAT_SRCS := $(shell find loader maps tests bpf tools -name '*.cpp' -o -name '*.h' -o -name '*.c' 2>/dev/null | grep -v '/fuzz/corpus' | sort)

.PHONY: all check unit dataplane e2e demo bench format format-check clean deps
all: $(BUILD)/edgefw

deps: $(DEPS_STAMP)
$(DEPS_STAMP): tools/install-deps.sh
	$(Q)mkdir -p $(@D)
	$(Q)tools/install-deps.sh
	$(Q)touch $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c | $(DEPS_STAMP)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPFFLAGS) -c $< -o $@

$(BUILD)/gen/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@

# Every C++ object waits for the skeletons (order-only); -MMD then records
# which headers it really includes, so a maps/ change rebuilds both sides.
$(BUILD)/obj/%.o: %.cpp | $(DEPS_STAMP) $(SKELETONS)
	$(call msg,CXX,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/edgefw: $(BUILD)/obj/loader/cli/main.o $(LOADER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/unit: $(UNIT_OBJS) $(SUPPORT_OBJS) $(LOADER_OBJS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS) -lcriterion

$(BUILD)/tests/dataplane: $(DP_OBJS) $(SUPPORT_OBJS) $(LOADER_OBJS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS) -lcriterion

# Each maps/ header must stand on its own, as C and as C++.
$(BUILD)/maps-pedantic.stamp: $(wildcard maps/*.h) | $(DEPS_STAMP)
	$(call msg,PEDANTIC,maps/)
	$(Q)mkdir -p $(@D)
	$(Q)for h in $(wildcard maps/*.h); do \
	  echo "#include \"$$h\"" | $(CLANG) -x c -std=c11 -Wall -Wextra -Werror -pedantic -I. -fsyntax-only - || exit 1; \
	  echo "#include \"$$h\"" | $(CXX) -x c++ -std=c++20 -Wall -Wextra -Werror -I. -fsyntax-only - || exit 1; \
	done
	$(Q)touch $@

unit: $(BUILD)/tests/unit
	$(Q)$(BUILD)/tests/unit --jobs 2

dataplane: $(BUILD)/tests/dataplane $(BUILD)/edgefw
	$(Q)$(BUILD)/tests/dataplane --jobs 1

# $(call run_test,NAME,COMMAND[,WHY]): runs a test script in a recipe. Exit 77
# means a missing capability: reported as "NAME: skipped", never as a pass;
# any other failure stops make with the script's status.
run_test = rc=0; $(2) || rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "$(1): skipped$(if $(3), ($(3)))"; \
	elif [ $$rc -ne 0 ]; then exit $$rc; fi

# Feature areas add their own targets in mk/*.mk and append suites to CHECK_EXTRA
# and what those suites run to CHECK_BUILD.
CHECK_EXTRA :=
CHECK_BUILD := $(BUILD)/edgefw $(BUILD)/tests/unit $(BUILD)/tests/dataplane
include $(sort $(wildcard mk/*.mk))

# Everything `make check` runs, built first: `make -j2 check-build` is safe in
# parallel, the suites themselves run one at a time.
.PHONY: check-build
check-build: $(CHECK_BUILD)

check: format-check $(BUILD)/maps-pedantic.stamp all unit dataplane $(CHECK_EXTRA)
	@echo "make check: all suites passed"

format:
	$(Q)clang-format -i $(FORMAT_SRCS)

format-check: | $(DEPS_STAMP)
	$(call msg,FORMAT,check)
	$(Q)clang-format --dry-run -Werror $(FORMAT_SRCS)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -type f -name '*.d' 2>/dev/null)
