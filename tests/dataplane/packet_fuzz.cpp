// Hostile frames through the real programs: truncations at every offset,
// bogus IHL and option lengths, IPv6 extension chains past the parser's
// bound, VLAN stacks, TCP data offsets, random byte flips, tiny and later
// fragments, ICMP errors quoting forged headers. Property: no frame passes
// unless the model, reading the same bytes back, would pass it too — no
// packet the policy denies ever gets through. Outcomes are counted by class.
#include <criterion/criterion.h>
#include <netinet/in.h>

#include <map>
#include <random>

#include "compile/compile.h"
#include "fixture.h"
#include "image/reasons.h"
#include "model/model.h"
#include "packet_gen.h"

namespace {

enum Mutation {
    kTruncate,
    kFlip,
    kIhl,
    kIpv6Chain,
    kVlanStack,
    kTcpDoff,
    kFragment,
    kNone,
    kCount
};
const char* kNames[] = {"truncate",   "byte-flip", "bogus-ihl", "ipv6-chain",
                        "vlan-stack", "tcp-doff",  "fragment",  "unmutated"};

size_t l3_offset(const packet::Packet& p) { return 14 + 4 * p.vlan_tags.size(); }

}  // namespace

Test(packet_fuzz, no_denied_frame_passes, .timeout = 600) {
    dptest::require_root();
    policy::Diagnostics d;
    auto p = policy::load("policies/lync2010-edge-hlb.yaml", "policies/site-test.yaml", d);
    cr_assert(p.has_value());
    const std::string node = "edge1";
    auto img = compile::compile_node(*p, node);
    auto opts = kernel::Options::from_image(img);
    opts.record_last = true;
    opts.ct_size = 1024;
    kernel::Dataplane dp(opts);
    dp.write_image(img);
    testgen::PacketGen gen(*p, node, 7777);
    std::mt19937_64 rng(7777);
    std::map<std::string, size_t> outcome;
    size_t violations = 0, frames = 0;
    uint32_t current_role = ~0u;
    const int kFrames = 40000;
    for (int i = 0; i < kFrames; i++) {
        packet::Packet pkt = gen.next();
        uint32_t role = gen.role();
        auto m = static_cast<Mutation>(rng() % kCount);
        if (m == kIpv6Chain && pkt.dst.is_v4()) m = kIhl;
        if (m == kVlanStack) pkt.vlan_tags = {10, 20, 30};
        if (m == kIpv6Chain) pkt.ipv6_ext.assign(8 + rng() % 4, rng() % 2 ? 60 : 0);
        if (m == kFragment) {
            pkt.fragment = true;
            pkt.frag_id = static_cast<uint32_t>(rng());
            pkt.frag_offset = rng() % 2 ? 0 : static_cast<uint16_t>(1 + rng() % 200);
            pkt.more_fragments = rng() % 2;
        }
        std::vector<uint8_t> f = packet::build_frame(pkt);
        size_t l3 = l3_offset(pkt);
        switch (m) {
            case kTruncate:
                f.resize(14 + rng() % (f.size() - 14));
                break;
            case kFlip:
                for (int k = 0; k < 3; k++)
                    f[rng() % f.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
                break;
            case kIhl:
                if (pkt.dst.is_v4() && f.size() > l3)
                    f[l3] = static_cast<uint8_t>(0x40 | (rng() % 16));
                break;
            case kTcpDoff:
                if (pkt.proto == IPPROTO_TCP) {
                    size_t l4 = l3 + (pkt.dst.is_v4() ? 20 + 4u * pkt.ipv4_option_words
                                                      : 40 + 8 * pkt.ipv6_ext.size());
                    if (l4 + 12 < f.size()) f[l4 + 12] = static_cast<uint8_t>((rng() % 16) << 4);
                }
                break;
            default:
                break;
        }
        if (f.size() < 14) continue;
        if (role != current_role)
            dp.set_iface_role(kernel::Dataplane::kTestRunIfindex, current_role = role);
        dp.clear_conntrack();
        kernel::RunResult got;
        try {
            got = dp.run(pkt.dir, f);
        } catch (const kernel::Error&) {
            // BPF_PROG_TEST_RUN itself refuses some short skbs (TC): never run.
            outcome[std::string(kNames[m]) + " refused by test run"]++;
            continue;
        }
        frames++;
        std::string what = got.kind == EF_LAST_RULE ? "rule" : image::reason_name(got.index);
        outcome[std::string(kNames[m]) + " " + (got.pass ? "pass " : "drop ") + what]++;
        if (!got.pass) continue;
        // Passed: the same bytes, read back, must be something the policy allows.
        if (got.kind == EF_LAST_REASON && got.index == EF_R_ARP_PASS) {
            size_t et = 12 + 4 * std::min<size_t>(2, pkt.vlan_tags.size());
            bool arp =
                f.size() >= 14 && ((f[12] << 8 | f[13]) == 0x0806 ||
                                   (et + 1 < f.size() && (f[et] << 8 | f[et + 1]) == 0x0806));
            if (arp) continue;
        }
        auto q = packet::parse_frame(f.data(), f.size());
        bool allowed = false;
        if (q) {
            q->dir = pkt.dir;
            model::Model fresh(*p, node);
            allowed = fresh.run(role, *q).pass;
        }
        if (!allowed && ++violations <= 10)
            cr_log_error("frame %d (%s) passed as %s but the model denies it: %s", i, kNames[m],
                         what.c_str(), q ? packet::to_spec(*q).c_str() : "(unparseable)");
    }
    std::string summary;
    for (auto& [k, n] : outcome) summary += "  " + k + ": " + std::to_string(n) + "\n";
    fprintf(stderr, "packet fuzz: %zu frames, %zu denied frames passed\n%s", frames, violations,
            summary.c_str());
    cr_assert_eq(violations, 0u);
    cr_assert_gt(frames, static_cast<size_t>(kFrames * 8 / 10));
}
