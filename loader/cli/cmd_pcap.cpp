// `explain --pcap FILE` and `test --pcap FILE`: replay a capture against one
// node's interface, a verdict line a judged packet, then a per-rule summary.
#include <fmt/core.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "compile/compile.h"
#include "image/reasons.h"
#include "kernel/dataplane.h"
#include "model/model.h"
#include "pcap/reader.h"

namespace cli {

namespace {

// BPF_PROG_TEST_RUN's linear buffer on x86-64 (4 KiB page less XDP headroom and
// skb_shared_info). A larger XDP frame is cut into fragments, so the program
// sees a truncated IP datagram (malformed_ipv4), and TC refuses it (EINVAL):
// neither says what the policy would do, so `test` does not run such frames.
// Captures with them were taken with GRO/TSO on (ethtool -K DEV gro off tso off).
constexpr uint32_t kMaxTestRunFrame = 3520;

void print_summary(const policy::Policy& p, const capture::Summary& s, const PacketArgs& a) {
    auto name = [&](const capture::Row& r) {
        return verdict_name(p, VerdictLine{false, r.by_rule, r.index});
    };
    auto app = [&](const capture::Row& r) {
        return r.by_rule && r.index < p.rules.size() ? p.rules[r.index].app : std::string();
    };
    if (a.json) {
        nlohmann::json rows = nlohmann::json::array();
        for (const auto& r : s.table()) {
            rows.push_back({{"rule", name(r)},
                            {"kind", r.by_rule ? "rule" : "reason"},
                            {"app", app(r)},
                            {"packets", r.packets},
                            {"bytes", r.bytes},
                            {"pass", r.passed},
                            {"drop", r.dropped}});
        }
        nlohmann::json j = {{"summary", rows},        {"packets", s.packets},
                            {"bytes", s.bytes},       {"skipped", s.skipped},
                            {"unparsed", s.unparsed}, {"too_large", s.not_run},
                            {"frames", s.frames}};
        std::cout << j.dump() << "\n";
        return;
    }
    fmt::print("\n{:<34} {:<18} {:>9} {:>12} {:>9} {:>9}\n", "rule / reason", "app", "packets",
               "bytes", "pass", "drop");
    for (const auto& r : s.table()) {
        std::string label = app(r);
        fmt::print("{:<34} {:<18} {:>9} {:>12} {:>9} {:>9}\n", name(r), label.empty() ? "-" : label,
                   r.packets, r.bytes, r.passed, r.dropped);
    }
    fmt::print(
        "{} frames: {} judged ({} bytes), {} not for this node ({} {}), {} unparsed (not "
        "IPv4/IPv6 over Ethernet, or a truncated IP header)\n",
        s.frames, s.packets, s.bytes, s.skipped, a.node, a.iface, s.unparsed);
    if (s.not_run)
        fmt::print("{} frames larger than {} bytes not run (BPF_PROG_TEST_RUN limit)\n", s.not_run,
                   kMaxTestRunFrame);
}

}  // namespace

int cmd_pcap(const PacketArgs& a, bool kernel_side) {
    int exit_code;
    auto t = packet_target(a, exit_code);
    if (!t) return exit_code;
    const policy::Policy& p = t->policy;
    const uint32_t role = t->role;
    if (p.local_addresses(a.node, role).empty()) {
        std::cerr << "edgefw: node '" << a.node << "' has no " << a.iface
                  << " interface: every packet would be skipped\n";
        return kExitError;
    }

    auto on_frame = [&](const capture::Frame& f, capture::Outcome o, const packet::Packet* pkt,
                        const capture::Verdict* v) {
        if (o == capture::Outcome::judged) {
            SpecLine s{*pkt, packet::to_spec(*pkt), int(f.number)};
            print_verdict(p, role, s, VerdictLine{v->pass, v->by_rule, v->index}, a.json);
        } else if (o == capture::Outcome::unparsed && !a.json) {
            fmt::print(
                "skip frame {}: unparsed ({} bytes): not IPv4/IPv6 over Ethernet, or a "
                "truncated IP header\n",
                f.number, f.caplen);
        } else if (o == capture::Outcome::not_run && !a.json) {
            fmt::print(
                "skip frame {}: {} bytes, more than BPF_PROG_TEST_RUN takes ({}): a GRO/TSO "
                "capture? explain --pcap judges it\n",
                f.number, f.caplen, kMaxTestRunFrame);
        }
    };

    capture::Summary summary;
    std::string err;
    bool ok = false;
    try {
        if (!kernel_side) {
            ok = capture::replay_model(p, a.node, role, a.pcap, on_frame, summary, err);
        } else {
            auto dp_owner = test_dataplane(p, a.node, role);
            kernel::Dataplane& dp = *dp_owner;
            auto judge = [&](const capture::Frame& f,
                             const packet::Packet& pkt) -> std::optional<capture::Verdict> {
                if (f.caplen > kMaxTestRunFrame) return std::nullopt;
                auto v = test_verdict(dp, pkt.dir, {f.data, f.caplen},
                                      "frame " + std::to_string(f.number));
                return capture::Verdict{v.pass, v.by_rule, v.index};
            };
            ok = capture::replay(a.pcap, p.local_addresses(a.node, role), judge, on_frame, summary,
                                 err);
        }
    } catch (const compile::Error& e) {
        std::cerr << "edgefw: compile: " << e.what() << "\n";
        return kExitError;
    } catch (const kernel::Error& e) {
        std::cerr << "edgefw: " << e.what() << "\n";
        return kExitError;
    }
    if (!ok && summary.frames == 0) {
        std::cerr << "edgefw: " << err << "\n";
        return kExitError;
    }
    print_summary(p, summary, a);
    if (!ok) {
        std::cerr << "edgefw: " << err << " (summary above covers the frames before it)\n";
        return kExitError;
    }
    return kExitOk;
}

}  // namespace cli
