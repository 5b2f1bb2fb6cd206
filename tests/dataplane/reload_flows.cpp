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
