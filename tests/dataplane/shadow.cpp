// Shadow policy in the kernel (bpf/ef_shadow.h): a candidate object plugged
// into the enforced programs' shadow slots judges every packet beside them.
// The enforced verdict must stay what it was; the candidate's verdict is
// checked against the model of the candidate policy (its own conntrack, as
// the model keeps its own), and every disagreement is counted exactly once
// under the right slot.
#include <bpf/bpf.h>
#include <criterion/criterion.h>

#include <cstdlib>
#include <map>
#include <string>

#include "compile/compile.h"
#include "fixture.h"
#include "image/reasons.h"
#include "model/model.h"
#include "packet_gen.h"
#include "util/input_file.h"

using namespace dptest;

namespace {

struct Pair {
    std::unique_ptr<kernel::Dataplane> enforced, candidate;
};

kernel::Options candidate_options(const kernel::Dataplane& enforced, kernel::Options opts) {
    opts = kernel::shadow_options(opts, enforced.shared_maps());
    opts.record_last = true;
    return opts;
}

void plug(const Pair& p) {
    auto s = p.enforced->shared_maps();
    p.candidate->plug_into(s.shadow_xdp, s.shadow_tc);
}

// The reference policy with edge1's RTP-in rows removed and TCP 3479 in on
// its A/V address added: the change the README walks through.
std::string candidate_text(std::string t) {
    auto drop = [&](const std::string& id) {
        auto start = t.find("- id: " + id + "\n");
        cr_assert(start != std::string::npos, "no rule %s", id.c_str());
        auto end = t.find("- id:", start + 5);
        t.erase(start, end - start);
        auto row = t.find(id + ", ");
        cr_assert(row != std::string::npos, "no summary row names %s", id.c_str());
        t.erase(row, id.size() + 2);
    };
    drop("edge1-ext-av-rtp-udp-in");
    drop("edge1-ext-av-rtp-tcp-in");
    auto at = t.find("  - id: edge1-ext-av-stun-udp-out\n");
    cr_assert(at != std::string::npos);
    t.insert(at,
             "  - id: edge1-ext-av-stun-tcp-3479\n"
             "    table: \"External Interface Node 1\"\n"
             "    row: 7\n"
             "    edge_role: \"A/V\"\n"
             "    app: \"STUN/MSTURN\"\n"
             "    feature: av\n"
             "    proto: tcp\n"
             "    src: any\n"
             "    sport: any\n"
             "    dst: 131.107.155.30\n"
             "    dport: 3479\n"
             "    note: \"candidate: STUN over TCP 3479\"\n");
    return t;
}

policy::Policy load(const std::string& text) {
    std::string err;
    auto site = util::read_input("policies/site-test.yaml", "site", util::kMaxInputBytes, err);
    cr_assert(site.has_value(), "%s", err.c_str());
    policy::Diagnostics d;
    auto p = policy::load_text(text, "policy.yaml", *site, "policies/site-test.yaml", d);
    cr_assert(p.has_value(), "policy does not load");
    return *p;
}

}  // namespace

// The hand-built test image enforced; the candidate lacks the relay rule and
// names 50000-59999 for TCP instead. Enforced verdicts are unchanged, the
// candidate counts its own, and the two disagreements land in their slots.
Test(shadow, candidate_counts_beside_the_enforced_policy) {
    require_root();
    Pair p;
    p.enforced = make_dataplane();
    auto rules = test_rules();
    rules[kRuleAvRelay].slot = EF_PS_TCP;  // the candidate admits TCP, not UDP, to the relay
    auto cand_img = build_image(rules);
    p.candidate = std::make_unique<kernel::Dataplane>(
        candidate_options(*p.enforced, kernel::Options::from_image(cand_img)));
    p.candidate->write_image(cand_img);
    plug(p);

    struct Case {
        const char* spec;
        Expect enforced, candidate;
    };
    const Expect ext_in_default = drop_reason(EF_R_DEFAULT_EXTERNAL_INGRESS);
    const Case cases[] = {
        {"udp 203.0.113.7:40000 > 198.18.155.30:50001", rule(kRuleAvRelay), ext_in_default},
        {"tcp 203.0.113.7:40001 > 198.18.155.30:50001 flags S", ext_in_default, rule(kRuleAvRelay)},
        {"tcp 203.0.113.7:40002 > 198.18.155.110:443 flags S", rule(kRuleAccessTls),
         rule(kRuleAccessTls)},
        {"tcp 203.0.113.7:40003 > 198.18.155.110:22 flags S", ext_in_default, ext_in_default},
    };
    for (const auto& c : cases) {
        expect_spec(*p.enforced, c.spec, c.enforced);
        uint32_t kind, index;
        cr_assert(p.candidate->take_last(kind, index), "%s: the candidate did not run", c.spec);
        cr_expect(kind == c.candidate.kind && index == c.candidate.index,
                  "%s: candidate counted kind %u index %u, want %u %u", c.spec, kind, index,
                  c.candidate.kind, c.candidate.index);
    }
    // A reply of the UDP flow: enforced by conntrack, the candidate never
    // admitted the flow, so its reply would drop.
    expect_spec(*p.enforced, "egress udp 198.18.155.30:50001 > 203.0.113.7:40000",
                rule(kRuleAvRelay));
    const uint32_t would_drop_relay = EF_SHADOW_SLOT(EF_LAST_RULE, kRuleAvRelay);
    const uint32_t would_pass_relay = EF_SHADOW_SLOTS + EF_SHADOW_SLOT(EF_LAST_RULE, kRuleAvRelay);
    cr_expect_eq(p.candidate->would_counter(would_drop_relay).packets, 2u);
    cr_expect_eq(p.candidate->would_counter(would_pass_relay).packets, 1u);
    cr_expect_eq(p.candidate->rule_counter(kRuleAccessTls).packets, 1u);
    cr_expect_eq(p.candidate->reason_counter(EF_R_DEFAULT_EXTERNAL_EGRESS).packets, 1u);
    // The enforced object's own disagreement map stays unused.
    cr_expect_eq(p.enforced->would_counter(0).packets, 0u);
}

// With the slots emptied the enforced programs run alone again.
Test(shadow, an_empty_slot_changes_nothing) {
    require_root();
    Pair p;
    p.enforced = make_dataplane();
    auto img = build_image(test_rules());
    p.candidate = std::make_unique<kernel::Dataplane>(
        candidate_options(*p.enforced, kernel::Options::from_image(img)));
    p.candidate->write_image(img);
    plug(p);
    expect_spec(*p.enforced, "udp 203.0.113.7:40000 > 198.18.155.30:50001", rule(kRuleAvRelay));
    uint32_t kind, index;
    cr_assert(p.candidate->take_last(kind, index));
    auto s = p.enforced->shared_maps();
    const uint32_t slot = 0;
    cr_assert_eq(bpf_map_delete_elem(s.shadow_xdp, &slot), 0);
    expect_spec(*p.enforced, "udp 203.0.113.7:40000 > 198.18.155.30:50002", rule(kRuleAvRelay));
    cr_expect(!p.candidate->take_last(kind, index), "the candidate ran from an empty slot");
}

// Random and conntrack-replaying packets of both policies on edge1: the
// enforced verdict against the reference model, the candidate's against the
// candidate's model, and the disagreement counters against the two models'
// verdicts, packet for packet.
Test(shadow, differential_against_both_models, .timeout = 600) {
    require_root();
    std::string err;
    auto text =
        util::read_input("policies/lync2010-edge-hlb.yaml", "policy", util::kMaxInputBytes, err);
    cr_assert(text.has_value(), "%s", err.c_str());
    const policy::Policy enforced_policy = load(*text);
    const policy::Policy candidate_policy = load(candidate_text(*text));
    const std::string node = "edge1";

    auto setup = [](const policy::Policy& pol, const std::string& n) {
        auto img = compile::compile_node(pol, n);
        auto opts = kernel::Options::from_image(img);
        opts.record_last = true;
        opts.ct_size = 1 << 18;
        opts.timeouts = {86400, 86400, 86400, 86400};  // the models have no clock
        return std::make_pair(img, opts);
    };
    auto [eimg, eopts] = setup(enforced_policy, node);
    auto [cimg, copts] = setup(candidate_policy, node);
    Pair p;
    p.enforced = std::make_unique<kernel::Dataplane>(eopts);
    p.enforced->write_image(eimg);
    p.candidate = std::make_unique<kernel::Dataplane>(candidate_options(*p.enforced, copts));
    p.candidate->write_image(cimg);
    plug(p);

    model::Model em(enforced_policy, node), cm(candidate_policy, node);
    testgen::PacketGen egen(enforced_policy, node, 20261206), cgen(candidate_policy, node, 7);
    std::map<uint32_t, uint64_t> want_would;
    size_t enforced_bad = 0, candidate_bad = 0, disagreements = 0;
    uint32_t role_now = ~0u;
    // EDGEFW_DIFF_PACKETS scales it as it scales the differential suite (the
    // kernel-matrix VM runs a reduced size under emulation).
    const char* scaled = getenv("EDGEFW_DIFF_PACKETS");
    const int packets = scaled ? atoi(scaled) : 30000;
    for (int i = 0; i < packets; i++) {
        auto& gen = i % 3 == 2 ? cgen : egen;
        packet::Packet pkt = gen.next();
        uint32_t role = gen.role();
        if (role != role_now)
            p.enforced->set_iface_role(kernel::Dataplane::kTestRunIfindex, role_now = role);
        auto ew = em.run(role, pkt);
        auto cw = cm.run(role, pkt);
        auto got = p.enforced->run(pkt.dir, packet::build_frame(pkt));
        uint32_t ckind = ~0u, cindex = ~0u;
        bool cran = p.candidate->take_last(ckind, cindex);
        bool e_ok = got.counted && got.pass == ew.pass &&
                    (got.kind == EF_LAST_RULE) == ew.by_rule && got.index == ew.index;
        bool c_ok = cran && (ckind == EF_LAST_RULE) == cw.by_rule && cindex == cw.index;
        if (!e_ok && ++enforced_bad <= 5)
            cr_log_error("packet %d %s: enforced %s %u, model %s %u", i,
                         packet::to_spec(pkt).c_str(), got.pass ? "pass" : "drop", got.index,
                         ew.pass ? "pass" : "drop", ew.index);
        if (!c_ok && ++candidate_bad <= 5)
            cr_log_error("packet %d %s: candidate kind %u index %u, model %s %s %u", i,
                         packet::to_spec(pkt).c_str(), ckind, cindex, cw.pass ? "pass" : "drop",
                         cw.by_rule ? "rule" : "reason", cw.index);
        if (ew.pass != cw.pass) {
            disagreements++;
            uint32_t slot = ew.pass
                                ? EF_SHADOW_SLOT(ew.by_rule ? 0 : 1, ew.index)
                                : EF_SHADOW_SLOTS + EF_SHADOW_SLOT(cw.by_rule ? 0 : 1, cw.index);
            want_would[slot]++;
        }
    }
    cr_assert_eq(enforced_bad, 0u, "the enforced verdict changed with a candidate plugged in");
    cr_assert_eq(candidate_bad, 0u, "the candidate disagrees with its model");
    cr_assert_gt(disagreements, size_t(packets) / 2000,
                 "too few packets where the two policies differ");
    const auto would = p.candidate->would_counters();
    cr_assert_eq(would.size(), size_t(EF_SHADOW_WOULD_SLOTS));
    for (const auto& [slot, n] : want_would)
        cr_expect_eq(would[slot].packets, n, "slot %u: %lu, want %lu", slot,
                     static_cast<unsigned long>(would[slot].packets),
                     static_cast<unsigned long>(n));
    uint64_t total = 0;
    for (const auto& c : would) total += c.packets;
    cr_expect_eq(total, disagreements, "disagreements counted %lu, want %zu",
                 static_cast<unsigned long>(total), disagreements);
    fprintf(stderr, "shadow differential edge1: %d packets, %zu disagreements in %zu slots\n",
            packets, disagreements, want_would.size());
}
