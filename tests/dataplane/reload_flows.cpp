// A reload judges open flows again (kernel::rejudge_conntrack): entries of
// every conntrack table, new and established, judged by the new image's
// lookups; a flow no rule admits is deleted (its next packets drop under the
// default), a flow another rule admits counts there from its next packet.
#include <criterion/criterion.h>

#include <chrono>
#include <string>

#include "fixture.h"
#include "image/lookup.h"

using namespace dptest;

namespace {
const Expect kExtInDefault = drop_reason(EF_R_DEFAULT_EXTERNAL_INGRESS);
const Expect kExtOutDefault = drop_reason(EF_R_DEFAULT_EXTERNAL_EGRESS);
constexpr uint32_t kRuleDnsAgain = kRuleCount;  // appended to the new image
}  // namespace

Test(reload_flows, kept_moved_closed) {
    require_root();
    auto dp = make_dataplane();
    run_table(
        *dp,
        {
            // Established (a reply has passed): ef_ct_dgram_est, ef_ct_est.
            {"relay in", "udp 203.0.113.7:40000 > 198.18.155.30:50001", {}, rule(kRuleAvRelay)},
            {"relay reply",
             "egress udp 198.18.155.30:50001 > 203.0.113.7:40000",
             {},
             rule(kRuleAvRelay)},
            {"tls syn",
             "tcp 203.0.113.7:40001 > 198.18.155.110:443 flags S",
             {},
             rule(kRuleAccessTls)},
            {"tls syn-ack",
             "egress tcp 198.18.155.110:443 > 203.0.113.7:40001 flags SA",
             {},
             rule(kRuleAccessTls)},
            {"tls ack",
             "tcp 203.0.113.7:40001 > 198.18.155.110:443 flags A",
             {},
             rule(kRuleAccessTls)},
            // New (no reply yet): ef_ct_dgram.
            {"dns out", "egress udp 198.18.155.10:40002 > 198.51.100.53:53", {}, rule(kRuleDns)},
            {"ping in", "icmp 203.0.113.7 > 198.18.155.10 type 8 code 0", {}, rule(kRulePing)},
        });
    cr_assert_eq(dp->ct_entries(), 4u);

    // The new policy: the relay's range no longer holds 50001; the DNS rule
    // names another resolver and a new rule (index 9) admits the old one.
    auto rules = test_rules();
    rules[kRuleAvRelay].dport_lo = 50002;
    auto dns = rules[kRuleDns];
    rules[kRuleDns].remote = "192.0.2.53/32";
    rules.push_back(dns);
    auto img = build_image(rules);
    dp->write_image(img);
    auto f = dp->rejudge_conntrack(image::Lookup(img));
    cr_expect_eq(f.kept, 2u, "kept %zu", f.kept);
    cr_expect_eq(f.moved, 1u, "moved %zu", f.moved);
    cr_expect_eq(f.closed, 1u, "closed %zu", f.closed);
    cr_expect_eq(dp->ct_entries(), 3u);

    run_table(
        *dp,
        {
            {"relay in after", "udp 203.0.113.7:40000 > 198.18.155.30:50001", {}, kExtInDefault},
            {"relay reply after",
             "egress udp 198.18.155.30:50001 > 203.0.113.7:40000",
             {},
             kExtOutDefault},
            {"tls data after",
             "tcp 203.0.113.7:40001 > 198.18.155.110:443 flags PA len 100",
             {},
             rule(kRuleAccessTls)},
            {"dns reply after",
             "udp 198.51.100.53:53 > 198.18.155.10:40002",
             {},
             rule(kRuleDnsAgain)},
            {"ping reply after",
             "egress icmp 198.18.155.10 > 203.0.113.7 type 0 code 0",
             {},
             rule(kRulePing)},
        });

    // Judged again by the same policy: nothing changes.
    auto again = dp->rejudge_conntrack(image::Lookup(img));
    cr_expect_eq(again.kept, 3u, "kept %zu", again.kept);
    cr_expect_eq(again.moved + again.closed, 0u);
}

// What the walk costs: 50,000 open UDP flows judged twice, once kept and
// once closed (the time is logged, not asserted: the machine is shared).
Test(reload_flows, many_flows, .timeout = 120) {
    require_root();
    auto dp = make_dataplane();
    constexpr uint32_t kFlows = 50000;
    for (uint32_t i = 0; i < kFlows; i++) {
        auto line = "udp 203.0.113." + std::to_string(1 + i / 10000) + ":" +
                    std::to_string(10000 + i % 10000) + " > 198.18.155.30:50001";
        auto r = dp->run(packet::Dir::ingress, frame_of(line));
        cr_assert(r.pass, "%s", line.c_str());
    }
    cr_assert_eq(dp->ct_entries(), kFlows);
    auto timed = [&](const image::MapImage& img, const char* what) {
        auto t0 = std::chrono::steady_clock::now();
        auto f = dp->rejudge_conntrack(image::Lookup(img));
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                        .count();
        cr_log_info("%u flows %s: %.1f ms (kept %zu, moved %zu, closed %zu)", kFlows, what, ms,
                    f.kept, f.moved, f.closed);
        return f;
    };
    auto kept = timed(build_image(test_rules()), "kept");
    cr_expect_eq(kept.kept, kFlows);
    auto rules = test_rules();
    rules[kRuleAvRelay].dport_lo = 50002;
    auto closed = timed(build_image(rules), "closed");
    cr_expect_eq(closed.closed, kFlows);
    cr_expect_eq(dp->ct_entries(), 0u);
}

// Between a reload's swap and its walk the new programs meet entries judged
// by the old policy. They judge such an entry again on its next packet (its
// generation tag differs): the packet never counts under a rule the new
// policy does not have. Here the walk never runs at all.
Test(reload_flows, new_generation_judges_before_the_walk) {
    require_root();
    auto old_dp = make_dataplane();
    run_table(
        *old_dp,
        {
            {"relay in", "udp 203.0.113.7:40000 > 198.18.155.30:50001", {}, rule(kRuleAvRelay)},
            {"relay reply",
             "egress udp 198.18.155.30:50001 > 203.0.113.7:40000",
             {},
             rule(kRuleAvRelay)},
            {"dns out", "egress udp 198.18.155.10:40002 > 198.51.100.53:53", {}, rule(kRuleDns)},
            {"tls syn",
             "tcp 203.0.113.7:40001 > 198.18.155.110:443 flags S",
             {},
             rule(kRuleAccessTls)},
            {"sip syn",
             "tcp 198.19.10.90:40005 > 198.18.155.10:5061 flags S",
             {},
             rule(kRuleSipPool)},
        });
    cr_assert_eq(old_dp->ct_entries(), 4u);
    // The new policy, as in kept_moved_closed: the relay's range no longer
    // holds 50001, the old resolver's rule is appended under a new index; and
    // the SIP pool shrinks to .91, so port 5061 keeps its class but no rule
    // admits the open flow from .90.
    auto rules = test_rules();
    rules[kRuleAvRelay].dport_lo = 50002;
    rules[kRuleSipPool].remote = "198.19.10.91/32";
    auto dns = rules[kRuleDns];
    rules[kRuleDns].remote = "192.0.2.53/32";
    rules.push_back(dns);
    auto img = build_image(rules);
    kernel::Options opts = kernel::Options::from_image(img);
    opts.record_last = true;
    opts.shared = old_dp->shared_maps();
    opts.policy_gen = EF_CT_GEN(2);
    kernel::Dataplane dp(opts);
    dp.write_image(img);
    run_table(dp, {
                      {"relay reply, rule gone",
                       "egress udp 198.18.155.30:50001 > 203.0.113.7:40000",
                       {},
                       kExtOutDefault},
                      {"relay in, rule gone",
                       "udp 203.0.113.7:40000 > 198.18.155.30:50001",
                       {},
                       kExtInDefault},
                      {"dns reply, moved",
                       "udp 198.51.100.53:53 > 198.18.155.10:40002",
                       {},
                       rule(kRuleDnsAgain)},
                      {"tls ack, kept",
                       "tcp 203.0.113.7:40001 > 198.18.155.110:443 flags A",
                       {},
                       rule(kRuleAccessTls)},
                      {"sip ack, no rule: its entry goes",
                       "tcp 198.19.10.90:40005 > 198.18.155.10:5061 flags A",
                       {},
                       kExtInDefault},
                  });
    // The relay's packets no longer meet a port class on either hook, so they
    // skip the lookup (ef_ct_may_accept) and its entry waits for the walk; the
    // DNS flow was moved by its packet, so the walk has nothing to move. The
    // SIP flow's entry went with its packet.
    cr_expect_eq(dp.ct_entries(), 3u, "entries %zu", dp.ct_entries());
    auto f = dp.rejudge_conntrack(image::Lookup(img));
    cr_expect_eq(f.moved, 0u, "moved %zu", f.moved);
    cr_expect_eq(f.closed, 1u, "closed %zu", f.closed);

    // --keep-flows (ct_lookup_all): entries keep their rule, whatever the tag.
    opts.ct_lookup_all = true;
    opts.policy_gen = EF_CT_GEN(3);
    rules = test_rules();
    rules[kRuleAccessTls].dport_lo = 444;
    rules[kRuleAccessTls].dport_hi = 444;
    img = build_image(rules);
    kernel::Dataplane kept(opts);
    kept.write_image(img);
    expect_spec(kept, "tcp 203.0.113.7:40001 > 198.18.155.110:443 flags A", rule(kRuleAccessTls));
}
