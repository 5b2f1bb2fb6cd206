# `make bench` (docs/bench.md): per-packet cost through BPF_PROG_TEST_RUN and veth
# drop rates, printed from one run and written to build/bench/results.json.
# Not part of `make check`; the driver is built by `make` so it keeps compiling.
BENCH_SRCS := $(sort $(wildcard tools/bench/*.cpp))
BENCH_OBJS := $(BENCH_SRCS:%.cpp=$(BUILD)/obj/%.o)

all: $(BUILD)/tools/bench

$(BUILD)/tools/bench: $(BENCH_OBJS) $(LOADER_OBJS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

# BENCH_ARGS: extra driver options, e.g. BENCH_ARGS="--runs 9 --wire-secs 5".
# BENCH_RUNS=2: two whole runs; results.json keeps the first and each number's
# min-max over both (the README's spread).
BENCH_RUNS ?= 1
bench: $(BUILD)/tools/bench $(BUILD)/edgefw
	$(Q)BENCH_RUNS=$(BENCH_RUNS) tools/bench/run.sh $(BUILD)/tools/bench $(BENCH_ARGS)

# The README's bench tables (markdown) from build/bench/results.json.
.PHONY: bench-table
bench-table:
	$(Q)tools/bench/table.sh $(BUILD)/bench/results.json
