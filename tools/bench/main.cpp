// bench: `make bench` driver. Usage (tools/bench/run.sh calls it):
//   bench [--repeat N] [--runs N] [--json PATH]
//         [--wire TX_NS RX_NS TX_DEV RX_DEV] [--wire-secs S] [--fixed-pps N]
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench.h"

namespace {

void usage() {
    std::fprintf(stderr,
                 "usage: bench [--repeat N] [--runs N] [--json PATH]\n"
                 "             [--wire TX_NS RX_NS TX_DEV RX_DEV] [--wire-secs S] "
                 "[--fixed-pps N]\n");
    std::exit(2);
}

// The rows of the per-packet table, in print order: key, what it is.
const std::pair<const char*, const char*> kRows[] = {
    {"floor", "empty XDP, XDP_PASS"},
    {"oracle", "eth/ipv4/udp, 1 hash lookup, 1 per-CPU counter"},
    {"conntrack", "edge1: RTP to A/V edge, established flow (replied)"},
    {"conntrack_unanswered", "edge1: RTP to A/V edge, flow seen one way only"},
    {"ref", "edge1: STUN to A/V VIP, ct creation off"},
    {"deny", "edge1: no rule, default drop"},
    {"rules_100", "synthetic 100 rules, last rule"},
    {"rules_1000", "synthetic 1,000 rules, last rule"},
    {"rules_10000", "synthetic 10,000 rules, last rule"},
    {"deny_100", "synthetic 100 rules, no rule"},
    {"deny_1000", "synthetic 1,000 rules, no rule"},
    {"deny_10000", "synthetic 10,000 rules, no rule"},
    {"new_flow", "edge1: STUN, a new flow every packet, ct creation on"},
    {"ct_create", "creating a conntrack entry (A/B)"},
    {"new_flow_percpu", "the same, new tables with per-CPU LRU lists (--ct-lru per-cpu)"},
    {"ct_create_percpu", "creating a conntrack entry, per-CPU LRU lists (A/B)"},
    {"conntrack_shadow", "conntrack, with a shadow candidate loaded"},
    {"ref_shadow", "ref, with a shadow candidate loaded"},
    {"deny_shadow", "deny, with a shadow candidate loaded"},
    {"shadow_extra_conntrack", "what the candidate adds to conntrack (A/B)"},
    {"shadow_extra_ref", "what the candidate adds to ref (A/B)"},
    {"shadow_extra_deny", "what the candidate adds to deny (A/B)"},
    {"xdp_filter", "xdp-filter deny policy (ports), packet of ref"},
    {"xdp_filter_deny", "xdp-filter deny policy (ports), packet of deny"},
    {"xdp_filter_allow", "xdp-filter allow policy (ports+src addrs), packet of ref"},
    {"xdp_filter_allow_deny", "xdp-filter allow policy (ports+src addrs), packet of deny"},
};

// The bench issue's targets (issue 14), overhead = ns - floor_ns. Reported, not asserted.
std::vector<bench::Target> targets(const bench::Results& r) {
    const double floor = r.ns.at("floor"), oracle = r.ns.at("oracle");
    auto over = [&](const char* key) { return (r.ns.at(key) - floor) / (oracle - floor); };
    auto ratio = [&](const char* a, const char* b) { return r.ns.at(a) / r.ns.at(b); };
    std::vector<bench::Target> t = {
        {"conntrack hit overhead / oracle overhead", over("conntrack"), "<=", 1.2},
        {"classification (ref) overhead / oracle overhead", over("ref"), "<=", 2.0},
        {"default drop (deny) overhead / oracle overhead", over("deny"), "<=", 1.5},
        {"10,000 rules overhead / oracle overhead", over("rules_10000"), "<=", 2.5},
        {"rules_10000 / rules_100", ratio("rules_10000", "rules_100"), "<=", 1.15},
        {"deny_10000 / deny_100", ratio("deny_10000", "deny_100"), "<=", 1.15},
        {"new flow overhead / oracle overhead", over("new_flow"), "<=", 4.0},
        {"new flow (--ct-lru per-cpu) overhead / oracle overhead", over("new_flow_percpu"),
         "<=", 4.0},
        {"ref / xdp-filter (deny, ports only)", ratio("ref", "xdp_filter"), "<", 1.0},
        {"deny / xdp-filter (deny, ports only)", ratio("deny", "xdp_filter_deny"), "<", 1.0},
        {"ref / xdp-filter (allow, ports+addresses)", ratio("ref", "xdp_filter_allow"), "<", 1.0},
        {"deny / xdp-filter (allow, ports+addresses)", ratio("deny", "xdp_filter_allow_deny"), "<",
         1.0},
        {"compile of 10,000 rules in-process, ms", r.values.at("compile_10000_ms"), "<=", 200},
    };
    if (r.wire_done)
        t.push_back({"veth: edgefw / nft dropped pps",
                     r.wire.at("edgefw_pps") / r.wire.at("nft_pps"), ">=", 0.95});
    return t;
}

void print_target(const bench::Target& t) {
    std::printf("  %-50s %8.2f (target %s %.2f: %s)\n", t.what.c_str(), t.value, t.cmp.c_str(),
                t.limit, t.met() ? "met" : "NOT met");
}

std::string mib(double bytes) {
    char b[32];
    std::snprintf(b, sizeof(b), "%.2f MiB", bytes / (1024 * 1024));
    return b;
}

void print_table(const bench::Settings& s, const bench::Results& r) {
    const double floor = r.ns.at("floor"), oracle = r.ns.at("oracle");
    std::printf("\nedgefw bench: BPF_PROG_TEST_RUN, %u repetitions x %u runs, median per case\n",
                s.repeat, s.runs);
    std::printf("%-25s %8s %8s %9s %11s  %s\n", "case", "ns/pkt", "x floor", "x oracle",
                "x oracle-net", "what");
    for (const auto& [key, what] : kRows) {
        double ns = r.ns.at(key);
        const std::string k = key;  // a difference already: no floor to take out
        bool delta = k.rfind("ct_create", 0) == 0 || k.rfind("shadow_extra", 0) == 0;
        // Net of floor: the program's own work, without the test-run loop.
        double net = delta ? ns / (oracle - floor) : (ns - floor) / (oracle - floor);
        std::printf("%-25s %8.1f %8.2f %9.2f %11.2f  %s\n", (std::string(key) + "_ns").c_str(), ns,
                    ns / floor, ns / oracle, net, what);
    }
    std::printf("  ct_create = new_flow_ct_on %.1f - new_flow_ct_off %.1f ns\n",
                r.ns.at("new_flow_ct_on"), r.ns.at("new_flow_ct_off"));
    std::printf("  new_flow = new_flow_ct_on %.1f - new_flow_wrapper %.1f + floor %.1f ns\n",
                r.ns.at("new_flow_ct_on"), r.ns.at("new_flow_wrapper"), floor);
    std::printf("  ct_create_percpu = new_flow_ct_on_percpu %.1f - new_flow_ct_off %.1f ns\n",
                r.ns.at("new_flow_ct_on_percpu"), r.ns.at("new_flow_ct_off"));
    std::printf("  conntrack tables holding the flow: established case %s; unanswered case %s\n",
                r.info.at("ct_tables_conntrack").c_str(),
                r.info.at("ct_tables_conntrack_unanswered").c_str());
    std::printf(
        "\nmemory (memlock of every map, /proc/self/fdinfo): reference policy %s (policy maps "
        "%s), 10,000 rules %s (policy maps %s)\n",
        mib(r.values.at("map_bytes_ref")).c_str(), mib(r.values.at("map_bytes_policy_ref")).c_str(),
        mib(r.values.at("map_bytes_10000")).c_str(),
        mib(r.values.at("map_bytes_policy_10000")).c_str());
    std::printf(
        "compile of 10,000 rules in-process (parse + compile_node): median %.0f ms of %u "
        "(parse %.0f ms)\n",
        r.values.at("compile_10000_ms"), s.runs, r.values.at("compile_10000_parse_ms"));
    std::printf("\ntargets (overhead = ns - floor_ns; reported, not asserted):\n");
    for (const auto& t : targets(r))
        if (t.what.rfind("veth", 0) != 0) print_target(t);
    std::printf("  %-50s %8.2f (no target)\n",
                "conntrack hit, unanswered flow: overhead / oracle's",
                (r.ns.at("conntrack_unanswered") - floor) / (oracle - floor));
}

void print_wire(const bench::Settings& s, const bench::Results& r) {
    const auto& w = r.wire;
    std::printf("\nwire: trafgen (1 core) -> veth -> filter, %.0f s windows; dropped packet %s\n",
                s.wire_secs, r.info.at("packet_wire").c_str());
    std::printf("%-10s %12s %12s %12s %12s %12s %12s\n", "filter", "dropped pps", "offered pps",
                "sender drops", "cpu_ns", "cpu_ns raw", "cpu traffic");
    for (const char* f : {"edgefw", "nft", "iptables", "none"}) {
        std::string n = f;
        std::printf("%-10s %12.0f %12.0f %12.0f %12.0f %12.0f %12.0f\n", f, w.at(n + "_pps"),
                    w.at("offered_pps_" + n), w.at("sender_drops_" + n), w.at("cpu_ns_" + n),
                    w.at("cpu_ns_raw_" + n), w.at("cpu_ns_traffic_" + n));
    }
    std::printf(
        "fixed rate: %u pps offered (achieved: edgefw %.0f, nft %.0f, iptables %.0f, "
        "none %.0f)\n  cpu ns/pkt = whole-machine busy time (/proc/stat) at the fixed rate minus "
        "the "
        "same machine's busy time in a quiet window just before, / packets offered; raw = "
        "without subtracting;\n  cpu traffic = trafgen's processes' CPU + machine softirq time, / "
        "packets "
        "offered (holds on a busy machine)\n",
        s.fixed_pps, w.at("fixed_offered_pps_edgefw"), w.at("fixed_offered_pps_nft"),
        w.at("fixed_offered_pps_iptables"), w.at("fixed_offered_pps_none"));
    std::printf("edgefw XDP per packet (bpf_stats run_time_ns/run_cnt): %.1f ns over %.0f runs\n",
                w.at("edgefw_stats_ns"), w.at("edgefw_stats_run_cnt"));
    const double vs_nft = w.at("edgefw_pps") / w.at("nft_pps");
    std::printf("edgefw / nft dropped pps: %.2f (target >= 0.95: %s)\n", vs_nft,
                vs_nft >= 0.95 ? "met" : "NOT met");
    std::printf("sender_limited: %s (%s)\n", r.sender_limited ? "true" : "false",
                r.sender_limited
                    ? "edgefw, nft and iptables each dropped >= 95% of what one trafgen core "
                      "offered: the sender, not the filter, sets these pps"
                    : "at least one filter dropped < 95% of the offered rate");
    std::printf(
        "\nwire, 1,000 RTP flows from one trafgen core, passed by edgefw: %s\n"
        "%-10s %12s %12s %12s %12s %12s %12s %12s\n",
        r.info.at("packet_wire_multiflow").c_str(), "filter", "passed pps", "offered pps",
        "received pps", "sender drops", "cpu_ns", "cpu_ns raw", "cpu traffic");
    std::printf("%-10s %12.0f %12.0f %12.0f %12.0f %12.0f %12.0f %12.0f\n", "edgefw",
                w.at("multiflow_pps"), w.at("offered_pps_multiflow"), w.at("multiflow_rx_pps"),
                w.at("sender_drops_multiflow"), w.at("cpu_ns_multiflow"),
                w.at("cpu_ns_raw_multiflow"), w.at("cpu_ns_traffic_multiflow"));
    std::printf(
        "  flood: the stack took in %.0f pps (Udp NoPorts: no socket behind the port); fixed "
        "rate: %u pps offered (achieved %.0f, passed %.0f)\n  edgefw XDP per packet "
        "(bpf_stats): %.1f ns over %.0f runs; conntrack entries after: %.0f\n",
        w.at("multiflow_delivered_pps"), s.fixed_pps, w.at("fixed_offered_pps_multiflow"),
        w.at("fixed_passed_pps_multiflow"), w.at("multiflow_stats_ns"),
        w.at("multiflow_stats_run_cnt"), w.at("multiflow_ct_entries"));
}

void write_json(const std::string& path, const bench::Settings& s, const bench::Results& r) {
    nlohmann::json j;
    for (const auto& [k, v] : r.ns) j[k + "_ns"] = v;
    for (const auto& [k, v] : r.wire) j[k] = v;
    for (const auto& [k, v] : r.values) j[k] = v;
    j["map_bytes_per_map"] = r.per_map;
    j["samples_values"] = r.value_samples;
    if (r.wire_done) j["sender_limited"] = r.sender_limited;
    j["targets"] = nlohmann::json::array();
    for (const auto& t : targets(r))
        j["targets"].push_back({{"what", t.what},
                                {"value", t.value},
                                {"cmp", t.cmp},
                                {"limit", t.limit},
                                {"met", t.met()}});
    j["oracle_ratio"] = {
        {"conntrack", r.ns.at("conntrack") / r.ns.at("oracle")},
        {"conntrack_unanswered", r.ns.at("conntrack_unanswered") / r.ns.at("oracle")},
        {"ref", r.ns.at("ref") / r.ns.at("oracle")},
        {"rules_10000", r.ns.at("rules_10000") / r.ns.at("oracle")}};
    j["overhead_ratio"] = nlohmann::json::object();  // (ns - floor) / (oracle - floor)
    for (const auto& [k, v] : r.ns)
        j["overhead_ratio"][k] = (v - r.ns.at("floor")) / (r.ns.at("oracle") - r.ns.at("floor"));
    j["floor_ratio"] = nlohmann::json::object();
    for (const auto& [k, v] : r.ns) j["floor_ratio"][k] = v / r.ns.at("floor");
    j["rows"] = nlohmann::json::array();  // the per-packet table, for tools/bench/table.sh
    for (const auto& [key, what] : kRows) j["rows"].push_back({{"key", key}, {"what", what}});
    j["samples_ns"] = r.samples;
    j["info"] = r.info;
    j["settings"] = {{"repeat", s.repeat},
                     {"runs", s.runs},
                     {"wire_secs", s.wire_secs},
                     {"fixed_pps", s.fixed_pps}};
    utsname u{};
    uname(&u);
    char date[32];
    std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    j["machine"] = {{"kernel", u.release}, {"cpus", sysconf(_SC_NPROCESSORS_ONLN)}, {"date", date}};
    std::ofstream f(path);
    f << j.dump(2) << "\n";
    if (!f) throw bench::Error("bench: write " + path);
}

}  // namespace

int main(int argc, char** argv) {
    bench::Settings s;
    std::string json = "build/bench/results.json";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage();
            return argv[++i];
        };
        if (a == "--repeat")
            s.repeat = uint32_t(std::stoul(next()));
        else if (a == "--runs")
            s.runs = uint32_t(std::stoul(next()));
        else if (a == "--json")
            json = next();
        else if (a == "--wire") {
            s.tx_ns = next();
            s.rx_ns = next();
            s.tx_dev = next();
            s.rx_dev = next();
        } else if (a == "--wire-secs")
            s.wire_secs = std::stod(next());
        else if (a == "--fixed-pps")
            s.fixed_pps = uint32_t(std::stoul(next()));
        else
            usage();
    }
    if (s.runs < 1 || s.repeat < 1) usage();
    try {
        bench::Results r;
        std::fprintf(stderr, "bench: BPF_PROG_TEST_RUN cases...\n");
        bench::run_testrun(s, r);
        print_table(s, r);
        std::fflush(stdout);
        if (s.tx_ns.empty()) {
            std::printf("\nwire: skipped (no --wire)\n");
        } else {
            std::fprintf(stderr, "\nbench: wire (veth) runs...\n");
            bench::run_wire(s, r);
            print_wire(s, r);
        }
        write_json(json, s, r);
        std::printf("\nresults: %s\n", json.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
