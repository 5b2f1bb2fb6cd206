# Fuzzing (libFuzzer) and the unit tests under ASan+UBSan.
#
#   make fuzz                 every target for FUZZ_TIME seconds (default 60)
#   make fuzz-smoke           every target for FUZZ_SMOKE_TIME seconds (part of `make check`)
#   make fuzz-policy          one target (policy, site, spec, frame) for FUZZ_TIME seconds
#   make fuzz-dataplane       model vs kernel on raw frames (root) for FUZZ_TIME seconds, or
#                             FUZZ_RUNS inputs (up to 8 frames each); prints frames run and
#                             disagreements. EDGEFW_FUZZ_CONTINUE=1 lists every distinct
#                             disagreement instead of stopping at the first.
#   make fuzz-smoke-dataplane the same for FUZZ_DP_SMOKE_TIME seconds (part of `make check`)
#   make fuzz-dataplane-seeds rewrite tests/fuzz/corpus/dataplane from the reference policy
#   make unit-asan            the Criterion unit tests built with -fsanitize=address,undefined
#
# The fuzz binaries compile the loader sources themselves with clang++ and the
# sanitizers into build/fuzz/ (never the g++ objects of build/obj/). Seeds live in
# tests/fuzz/corpus/<target>/ and are only read: inputs the fuzzer finds go to
# build/fuzz/corpus/<target>/, crashes to build/fuzz/artifacts/. A crash that
# gets fixed is added to tests/fuzz/corpus/<target>/ as a regression case, so
# every later smoke run replays it.

FUZZ_TARGETS    := policy site spec frame
FUZZ_TIME       ?= 60
FUZZ_SMOKE_TIME ?= 8
FUZZ_CXX        := clang++
FUZZ_DIR        := $(BUILD)/fuzz
FUZZ_SAN        := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                   -fno-omit-frame-pointer
# -Werror only on tests/fuzz: the loader is held to -Werror by the g++ build, and
# clang warns on some deliberate idioms (e.g. a non-short-circuit '&' of bools).
FUZZ_CXXFLAGS   := -std=c++20 -O1 -g1 -Wall -Wextra -MMD -MP \
                   -Wno-bitwise-instead-of-logical -Imaps -Iloader -Itests/support -I$(BUILD)/gen \
                   $(FUZZ_SAN)
# The loader layers the targets reach (no kernel, no CLI): input files, parse -> model ->
# compile -> image.
FUZZ_LIB_SRCS   := $(filter loader/util/% loader/packet/% loader/policy/% loader/compile/% loader/image/% \
                     loader/model/%,$(LOADER_SRCS))
FUZZ_LIB_OBJS   := $(FUZZ_LIB_SRCS:%.cpp=$(FUZZ_DIR)/obj/%.o)
FUZZ_BINS       := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_LDLIBS     := -lyaml-cpp -lfmt
# Each run: -timeout catches hangs, -rss_limit_mb runaway memory; leaks are on (ASan default).
FUZZ_RUN_FLAGS  := -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
FUZZ_ENV        := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
                   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 EDGEFW_ROOT=$(CURDIR)

# libFuzzer's runtime comes with clang (Debian: libclang-rt-14-dev). Checked by
# linking a trivial target; installed when missing (as root), like tools/install-deps.sh.
FUZZ_RT_STAMP := $(FUZZ_DIR)/.libfuzzer-ok
$(FUZZ_RT_STAMP): | $(DEPS_STAMP)
	$(Q)mkdir -p $(@D)
	$(Q)probe='extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }'; \
	link() { echo "$$probe" | $(FUZZ_CXX) -x c++ -fsanitize=fuzzer,address,undefined - -o $(@D)/.probe 2>/dev/null; }; \
	if ! link; then \
	  pkg=libclang-rt-$$($(FUZZ_CXX) -dumpversion | cut -d. -f1)-dev; \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "edgefw: $(FUZZ_CXX) -fsanitize=fuzzer does not link; install $$pkg as root" >&2; exit 1; \
	  fi; \
	  echo "edgefw: installing $$pkg (libFuzzer runtime)"; \
	  DEBIAN_FRONTEND=noninteractive $(APT_GET) update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends $$pkg && link || exit 1; \
	fi; rm -f $(@D)/.probe
	$(Q)touch $@

$(FUZZ_DIR)/obj/%.o: %.cpp | $(DEPS_STAMP) $(SKELETONS)
	$(call msg,FUZZCXX,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CXX) $(FUZZ_CXXFLAGS) $(if $(filter tests/fuzz/%,$<),-Werror) \
	  -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJS) | $(FUZZ_RT_STAMP)
	$(call msg,FUZZLD,$@)
	$(Q)$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer $^ -o $@ $(FUZZ_LDLIBS)

# $(call fuzz_run,TARGET,SECONDS): new inputs go to build/fuzz/corpus (first
# directory); the seeds and regression cases in tests/fuzz/corpus are read only.
define fuzz_run
	$(call msg,FUZZ,$(1) $(2)s)
	$(Q)mkdir -p $(FUZZ_DIR)/corpus/$(1) $(FUZZ_DIR)/artifacts
	$(Q)dict=; [ -f tests/fuzz/$(1).dict ] && dict=-dict=tests/fuzz/$(1).dict; \
	$(FUZZ_ENV) $(FUZZ_DIR)/fuzz_$(1) $(FUZZ_RUN_FLAGS) -max_total_time=$(2) $(3) $$dict \
	  -artifact_prefix=$(FUZZ_DIR)/artifacts/$(1)- \
	  $(FUZZ_DIR)/corpus/$(1) tests/fuzz/corpus/$(1) > $(FUZZ_DIR)/$(1).log 2>&1 \
	  || { tail -n 30 $(FUZZ_DIR)/$(1).log; \
	       awk '/^fuzz: property failed/ { p = 1; print; next } p && /^  after frame/ { print; next } \
	            { p = 0 } /^fuzz_$(1): [0-9]/ || /^fuzz_$(1):   / { print }' $(FUZZ_DIR)/$(1).log; \
	       echo "fuzz: $(1) failed; input in $(FUZZ_DIR)/artifacts/, log $(FUZZ_DIR)/$(1).log" >&2; exit 1; }; \
	grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec|^fuzz_$(1): [0-9]' \
	  $(FUZZ_DIR)/$(1).log | sed -e 's/^stat::/  $(1): /' -e 's/^fuzz_$(1): /  $(1): /'
endef

.PHONY: fuzz fuzz-build fuzz-smoke unit-asan $(FUZZ_TARGETS:%=fuzz-%) $(FUZZ_TARGETS:%=fuzz-smoke-%)
fuzz-build: $(FUZZ_BINS)
fuzz: $(FUZZ_TARGETS:%=fuzz-%)
fuzz-smoke: $(FUZZ_TARGETS:%=fuzz-smoke-%)

$(FUZZ_TARGETS:%=fuzz-%): fuzz-%: $(FUZZ_DIR)/fuzz_%
	$(call fuzz_run,$*,$(FUZZ_TIME))

$(FUZZ_TARGETS:%=fuzz-smoke-%): fuzz-smoke-%: $(FUZZ_DIR)/fuzz_%
	$(call fuzz_run,$*,$(FUZZ_SMOKE_TIME))

# --- Raw-frame differential target: model vs kernel (root) -------------------
# It loads the real BPF programs, so unlike the targets above it also compiles
# the kernel layer (libbpf skeleton) and the frame mutator of tests/support,
# and links libbpf. Inputs hold up to 8 frames: libFuzzer's counts are inputs,
# the target prints the frames it ran at exit.
FUZZ_DP_SMOKE_TIME ?= 60
FUZZ_DP_SRCS    := loader/kernel/dataplane.cpp loader/kernel/map_write.cpp tests/support/packet_gen.cpp
FUZZ_DP_OBJS    := $(FUZZ_DP_SRCS:%.cpp=$(FUZZ_DIR)/obj/%.o)
FUZZ_DP_FLAGS   = -max_len=4096 $(if $(FUZZ_RUNS),-runs=$(FUZZ_RUNS))
# bpftool's skeleton declares bool rodata as C's _Bool, which g++ takes and clang++ does not.
$(FUZZ_DIR)/obj/loader/kernel/dataplane.o: FUZZ_CXXFLAGS += -D_Bool=bool

$(FUZZ_DIR)/fuzz_dataplane: $(FUZZ_DIR)/obj/tests/fuzz/fuzz_dataplane.o $(FUZZ_LIB_OBJS) \
                            $(FUZZ_DP_OBJS) | $(FUZZ_RT_STAMP)
	$(call msg,FUZZLD,$@)
	$(Q)$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer $^ -o $@ $(FUZZ_LDLIBS) -lbpf -lelf -lz

.PHONY: fuzz-dataplane fuzz-smoke-dataplane fuzz-dataplane-seeds
fuzz-dataplane: $(FUZZ_DIR)/fuzz_dataplane
	$(call fuzz_run,dataplane,$(FUZZ_TIME),$(FUZZ_DP_FLAGS))

fuzz-smoke-dataplane: $(FUZZ_DIR)/fuzz_dataplane
	$(call fuzz_run,dataplane,$(FUZZ_DP_SMOKE_TIME),-max_len=4096)

fuzz-dataplane-seeds: $(FUZZ_DIR)/fuzz_dataplane
	$(Q)rm -rf tests/fuzz/corpus/dataplane && mkdir -p tests/fuzz/corpus/dataplane
	$(Q)EDGEFW_FUZZ_WRITE_SEEDS=tests/fuzz/corpus/dataplane $(FUZZ_ENV) $< >/dev/null

fuzz: fuzz-dataplane
CHECK_EXTRA += fuzz-smoke-dataplane
CHECK_BUILD += $(FUZZ_DIR)/fuzz_dataplane

# --- Unit tests under ASan+UBSan (g++), objects in build/asan/ -------------
ASAN_DIR      := $(BUILD)/asan
# GCC's flow analysis under ASan reports bogus maybe-uninitialized (e.g. in
# <regex>), so that one warning is off here; the -O2 build keeps it. -O0: the
# build is ~2.5x faster than at -O1 and the sanitizers catch the same.
ASAN_CXXFLAGS := $(filter-out -O2 -g,$(CXXFLAGS)) -O0 -g1 -fsanitize=address,undefined \
                 -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Wno-maybe-uninitialized
ASAN_OBJS     := $(patsubst %.cpp,$(ASAN_DIR)/obj/%.o,$(UNIT_SRCS) $(SUPPORT_SRCS) $(LOADER_SRCS))

$(ASAN_DIR)/obj/%.o: %.cpp | $(DEPS_STAMP) $(SKELETONS)
	$(call msg,ASANCXX,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(ASAN_CXXFLAGS) -c $< -o $@

$(ASAN_DIR)/unit: $(ASAN_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CXX) $(ASAN_CXXFLAGS) $^ -o $@ $(LDLIBS) -lcriterion

# The 10,000-rule compile-vs-model case runs past Criterion's timeout under
# ASan at -O0; `make unit` runs it. Criterion filter syntax: !(a|b).
ASAN_UNIT_FILTER ?= !(compile/synthetic_policies_agree_with_model)

# From the repo root: the tests read policies/ and run build/edgefw.
unit-asan: $(ASAN_DIR)/unit $(BUILD)/edgefw
	$(call msg,ASAN,unit tests)
	$(Q)ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/unit/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(ASAN_DIR)/unit --jobs 2 --filter '$(ASAN_UNIT_FILTER)'

CHECK_EXTRA += unit-asan fuzz-smoke

CHECK_BUILD += $(FUZZ_BINS) $(ASAN_DIR)/unit
