// The compiler against the model: for every node of the reference policy and
// for synthetic policies up to 10,000 rules, the four lookups over the map
// image pick the same rule as the model's first-match scan, on random and
// adversarial packets. No kernel needed.
#include "compile/compile.h"

#include <criterion/criterion.h>
#include <netinet/in.h>

#include <chrono>

#include "image/lookup.h"
#include "model/model.h"
#include "packet_gen.h"
#include "test_policies.h"

namespace {

const char* kReference = "policies/lync2010-edge-hlb.yaml";
const char* kSite = "policies/site-test.yaml";

// Returns the number of packets a rule matched (so the test cannot pass vacuously).
size_t agree(const policy::Policy& p, const std::string& node, uint64_t seed, int packets) {
    image::MapImage img = compile::compile_node(p, node);
    image::Lookup lookup(img);
    model::Model m(p, node);
    testgen::PacketGen gen(p, node, seed);
    size_t matched = 0;
    for (int i = 0; i < packets; i++) {
        packet::Packet pkt = gen.next();
        uint32_t role = gen.role();
        bool in = pkt.dir == packet::Dir::ingress;
        bool icmp = pkt.proto == IPPROTO_ICMP || pkt.proto == IPPROTO_ICMPV6;
        const policy::Rule* want = m.classify(role, pkt);
        uint32_t combo = EF_COMBO(role, in ? EF_DIR_INGRESS : EF_DIR_EGRESS,
                                  policy::proto_slot_of_number(pkt.proto));
        std::optional<uint32_t> got;
        if (pkt.proto == IPPROTO_TCP || pkt.proto == IPPROTO_UDP || icmp)
            got = lookup.classify(
                combo, in ? pkt.dst.bytes : pkt.src.bytes, in ? pkt.src.bytes : pkt.dst.bytes,
                icmp ? static_cast<uint16_t>(pkt.icmp_type << 8 | pkt.icmp_code) : pkt.dport,
                icmp ? 0 : pkt.sport);
        bool same = want ? (got && *got == want->index) : !got;
        cr_assert(same, "seed %llu packet %d on %s role %u: model says %s, image says %s: %s",
                  static_cast<unsigned long long>(seed), i, node.c_str(), role,
                  want ? want->id.c_str() : "no rule", got ? p.rules[*got].id.c_str() : "no rule",
                  packet::to_spec(pkt).c_str());
        matched += want != nullptr;
    }
    return matched;
}

}  // namespace

Test(compile, reference_compiles_for_every_node) {
    auto p = testpol::load(kReference, "");
    for (const char* node : {"edge1", "edge2", "rproxy"}) {
        auto img = compile::compile_node(p, node);
        cr_assert_gt(img.rules.size(), 0u, "%s has no rules", node);
        cr_assert_gt(img.locals.size(), 0u);
        cr_assert_eq(img.policy_hash.size(), 16u);
    }
    cr_assert_eq(compile::compile_node(p, "edge1").rules.size(), 25u);
    cr_assert_throw(compile::compile_node(p, "edge9"), compile::Error);
}

Test(compile, image_is_deterministic) {
    auto p = testpol::load(kReference, kSite);
    auto a = compile::compile_node(p, "edge1"), b = compile::compile_node(p, "edge1");
    cr_assert_eq(a.policy_hash, b.policy_hash);
    cr_assert_eq(a.locals.size(), b.locals.size());
}

Test(compile, reference_image_agrees_with_model) {
    for (const char* site : {"", kSite}) {
        auto p = testpol::load(kReference, site);
        for (const char* node : {"edge1", "edge2", "rproxy"})
            cr_assert_gt(agree(p, node, 42, 20000), 500u, "too few packets matched a rule on %s",
                         node);
    }
}

Test(compile, disabled_feature_removes_its_rules) {
    policy::Diagnostics d;
    auto p = testpol::load(kReference, "");
    p.features.at("ocs2007-interop").enabled = false;
    compile::Report report;
    auto img = compile::compile_node(p, "edge1", &report);
    cr_assert_eq(report.disabled.size(), 1u);
    cr_assert_eq(report.disabled[0].first, "ocs2007-interop");
    cr_assert_eq(report.disabled[0].second.size(), 8u);
    for (const auto& r : img.rules) cr_assert_neq(r.feature, "ocs2007-interop");
}

Test(compile, synthetic_policies_agree_with_model, .timeout = 120) {
    for (uint32_t n : {100u, 1000u, 10000u}) {
        auto p = testpol::synthetic(n, n);
        auto t0 = std::chrono::steady_clock::now();
        auto img = compile::compile_node(p, "syn1");
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                        .count();
        cr_log_info(
            "compile %u synthetic rules: %.0f ms (%zu port ranges, %zu local, %zu remote, %zu "
            "sport entries)",
            n, ms, img.port_classes.size(), img.locals.size(), img.remotes.size(),
            img.sports.size());
        fprintf(stderr, "compile %u synthetic rules: %.0f ms\n", n, ms);
        cr_assert_gt(agree(p, "syn1", n + 1, n == 10000 ? 20000 : 10000), 100u);
    }
}
