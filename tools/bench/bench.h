// `make bench` driver (docs/bench.md): per-packet cost through BPF_PROG_TEST_RUN
// and drop rate / CPU per packet on a veth pair. It prints and records numbers;
// it never fails on speed, only when a measurement cannot be made.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Settings {
    uint32_t repeat = 1000000;  // BPF_PROG_TEST_RUN repetitions per run
    uint32_t runs = 5;          // runs per case; the median is reported
    std::string policy = "policies/lync2010-edge-hlb.yaml";
    std::string site = "policies/site-test.yaml";  // wire only: addresses in 198.18.0.0/15
    // xdp-filter's objects for `xdp-filter load --policy deny` and `--policy allow`
    // (default features: all), as Debian's xdp-tools installs them.
    std::string xdp_filter_obj = "/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_dny_all.o";
    std::string xdp_filter_allow_obj = "/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_all.o";
    // Wire phase (skipped when tx_ns is empty).
    std::string tx_ns, rx_ns, tx_dev, rx_dev;
    double wire_secs = 3.0;       // measuring window per flood / fixed-rate run
    uint32_t fixed_pps = 200000;  // offered rate of the CPU-per-packet runs
};

// A target of the bench issue as measured: reported, never asserted.
struct Target {
    std::string what;
    double value = 0;
    std::string cmp;  // "<", "<=" or ">="
    double limit = 0;
    bool met() const {
        return cmp == "<" ? value < limit : cmp == "<=" ? value <= limit : value >= limit;
    }
};

// One measured quantity: name -> value, plus free-form notes printed under the table.
struct Results {
    std::map<std::string, double> ns;                    // per-packet cost, median, ns
    std::map<std::string, std::vector<double>> samples;  // every run, ns
    std::map<std::string, double> wire;                  // pps, cpu ns, stats
    // Other top-level numbers under their JSON key (map_bytes_*, compile_10000_ms).
    std::map<std::string, double> values;
    std::map<std::string, std::vector<double>> value_samples;      // every run, same unit
    std::map<std::string, std::map<std::string, double>> per_map;  // map_bytes by map name
    std::map<std::string, std::string> info;                       // how, versions, packets
    bool sender_limited = false;
    bool wire_done = false;
};

void run_testrun(const Settings& s, Results& r);
void run_wire(const Settings& s, Results& r);

// Runs a shell command; throws with its output when it fails. Returns stdout.
std::string sh(const std::string& cmd);

}  // namespace bench
