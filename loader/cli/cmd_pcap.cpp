// `explain --pcap FILE` and `test --pcap FILE`: replay a capture against one
// node's interface, a verdict line a judged packet, then a per-rule summary.
// `test` runs every frame through the kernel program as the NIC would see it
// (ARP, ND, frames to other hosts, frames the model cannot parse) and prints
// beside each the model's verdict on the same bytes and whether they agree.
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

void print_summary(const policy::Policy& p, const capture::Summary& s, const PacketArgs& a,
                   bool every_frame) {
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
        if (every_frame) {  // every frame has a direction and goes to both sides
            for (const char* k : {"too_large", "skipped", "unparsed"}) j.erase(k);
            j["not_run"] = s.not_run;
            j["agreed"] = s.agreed;
            j["disagreed"] = s.disagreed;
        }
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
    if (every_frame) {
        fmt::print(
            "{} frames: {} run through the kernel program ({} bytes), {} not run; the model "
            "agrees on {}, disagrees on {}\n",
            s.frames, s.packets, s.bytes, s.not_run, s.agreed, s.disagreed);
        return;
    }
    fmt::print(
        "{} frames: {} judged ({} bytes), {} not for this node ({} {}), {} unparsed (not "
        "IPv4/IPv6 over Ethernet, or a truncated IP header)\n",
        s.frames, s.packets, s.bytes, s.skipped, a.node, a.iface, s.unparsed);
    if (s.not_run)
        fmt::print("{} frames larger than {} bytes not run (BPF_PROG_TEST_RUN limit)\n", s.not_run,
                   kMaxTestRunFrame);
}

// What a frame is when there is no spec for it: its ethertype and length.
std::string frame_text(const capture::FrameResult& r) {
    if (r.pkt) return packet::to_spec(*r.pkt);
    const capture::Frame& f = *r.frame;
    if (f.caplen < 14) return fmt::format("{}-byte runt", f.caplen);
    return fmt::format("ethertype 0x{:02x}{:02x}, {} bytes", f.data[12], f.data[13], f.caplen);
}

void print_frame(const policy::Policy& p, uint32_t role, const capture::FrameResult& r, bool json) {
    const char* dir = r.dir == packet::Dir::ingress ? "ingress" : "egress";
    auto verdict = [&](const capture::Verdict& v) {
        return nlohmann::json{{"verdict", v.pass ? "pass" : "drop"},
                              {"rule", verdict_name(p, VerdictLine{v.pass, v.by_rule, v.index})},
                              {"kind", v.by_rule ? "rule" : "reason"}};
    };
    if (json) {
        nlohmann::json j = {{"frame", r.frame->number}};
        if (r.kernel) {
            j.update(verdict(*r.kernel));
            if (r.kernel->by_rule && r.kernel->index < p.rules.size())
                j["app"] = p.rules[r.kernel->index].app;
        } else {
            j["verdict"] = "not_run";
            j["rule"] = nullptr;
            j["why"] = r.not_run_why;
        }
        j["iface"] = policy::role_name(role);
        j["dir"] = dir;
        if (r.pkt) j["packet"] = packet::to_spec(*r.pkt);
        j["bytes"] = r.frame->caplen;
        j["model"] = r.model ? verdict(*r.model) : nlohmann::json("unparsed");
        j["agree"] = r.agree ? nlohmann::json(*r.agree) : nlohmann::json(nullptr);
        std::cout << j.dump() << "\n";
        return;
    }
    auto name = [&](const capture::Verdict& v) {
        return std::string(v.pass ? "pass " : "drop ") +
               verdict_name(p, VerdictLine{v.pass, v.by_rule, v.index});
    };
    std::string kern = r.kernel ? name(*r.kernel) : "not run (" + r.not_run_why + ")";
    std::string model = r.model ? name(*r.model) : "unparsed";
    const char* agree = !r.agree ? "" : *r.agree ? "agree" : "DISAGREE";
    fmt::print("frame {:<6} {:<40} {} {:<8} {}  model: {} {}\n", r.frame->number, kern,
               policy::role_name(role), dir, frame_text(r), model, agree);
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
    int rc = with_kernel_errors([&] {
        if (!kernel_side) {
            ok = capture::replay_model(p, a.node, role, a.pcap, on_frame, summary, err);
        } else {
            auto dp_owner = test_dataplane(p, a.node, role);
            kernel::Dataplane& dp = *dp_owner;
            auto judge = [&](const capture::Frame& f, packet::Dir dir,
                             std::string& why) -> std::optional<capture::Verdict> {
                if (f.caplen > kMaxTestRunFrame) {
                    why = fmt::format(
                        "{} bytes, more than BPF_PROG_TEST_RUN takes ({}): a "
                        "GRO/TSO capture?",
                        f.caplen, kMaxTestRunFrame);
                    return std::nullopt;
                }
                // The skb test run refuses a frame whose ethertype names IP
                // but that is shorter than the IP header; the stack never hands
                // TC such a frame, so it has no verdict.
                if (dir == packet::Dir::egress && f.caplen < 14 + 40) {
                    try {
                        auto r = dp.run(dir, {f.data, f.caplen});
                        if (!r.counted) throw kernel::Error("no counter moved");
                        return capture::Verdict{r.pass, r.kind == EF_LAST_RULE, r.index};
                    } catch (const kernel::Error&) {
                        why =
                            "the skb test run refuses it (an IP ethertype with less than an IP "
                            "header)";
                        return std::nullopt;
                    }
                }
                auto v =
                    test_verdict(dp, dir, {f.data, f.caplen}, "frame " + std::to_string(f.number));
                return capture::Verdict{v.pass, v.by_rule, v.index};
            };
            ok = capture::replay_every_frame(
                p, a.node, role, a.pcap, judge,
                [&](const capture::FrameResult& r) { print_frame(p, role, r, a.json); }, summary,
                err);
        }
        return kExitOk;
    });
    if (rc != kExitOk) return rc;
    if (!ok && summary.frames == 0) {
        std::cerr << "edgefw: " << err << "\n";
        return kExitError;
    }
    print_summary(p, summary, a, kernel_side);
    if (!ok) {
        std::cerr << "edgefw: " << err << " (summary above covers the frames before it)\n";
        return kExitError;
    }
    return kExitOk;
}

}  // namespace cli
