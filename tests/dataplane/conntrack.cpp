// Conntrack (docs/dataplane.md steps 6, 7, 9, 10): exchanges through both
// programs, TCP flags, timeouts, egress modes and the benchmark's ct_create off.
#include <criterion/criterion.h>
#include <unistd.h>

#include "fixture.h"

using namespace dptest;

namespace {
const Expect kExtInDefault = drop_reason(EF_R_DEFAULT_EXTERNAL_INGRESS);
const Expect kExtOutDefault = drop_reason(EF_R_DEFAULT_EXTERNAL_EGRESS);
const Expect kSynAck = drop_reason(EF_R_TCP_SYNACK_UNTRACKED);
}  // namespace

Test(conntrack, udp_request_then_reply) {
    auto dp = make_dataplane();
    run_table(*dp, {
                       {"reply before request",
                        "udp 198.51.100.53:53 > 198.18.155.10:40000",
                        {},
                        kExtInDefault},
                       {"request (egress rule)",
                        "egress udp 198.18.155.10:40000 > 198.51.100.53:53",
                        {},
                        rule(kRuleDns)},
                       {"reply (ingress, tracked)",
                        "udp 198.51.100.53:53 > 198.18.155.10:40000",
                        {},
                        rule(kRuleDns)},
                       {"reply to another port",
                        "udp 198.51.100.53:53 > 198.18.155.10:40001",
                        {},
                        kExtInDefault},
                       {"second request",
                        "egress udp 198.18.155.10:40000 > 198.51.100.53:53",
                        {},
                        rule(kRuleDns)},
                   });
    cr_expect_eq(dp->ct_entries(), 1u, "one flow, %zu entries", dp->ct_entries());
}

Test(conntrack, tcp_syn_out_then_synack_in) {
    auto dp = make_dataplane();
    run_table(
        *dp,
        {
            {"syn-ack without syn", "tcp 192.0.2.1:80 > 198.18.155.10:40000 flags SA", {}, kSynAck},
            {"syn out",
             "egress tcp 198.18.155.10:40000 > 192.0.2.1:80 flags S",
             {},
             rule(kRuleCrlHttp)},
            {"syn-ack in",
             "tcp 192.0.2.1:80 > 198.18.155.10:40000 flags SA",
             {},
             rule(kRuleCrlHttp)},
            {"ack out",
             "egress tcp 198.18.155.10:40000 > 192.0.2.1:80 flags A",
             {},
             rule(kRuleCrlHttp)},
            {"data in",
             "tcp 192.0.2.1:80 > 198.18.155.10:40000 flags PA len 600",
             {},
             rule(kRuleCrlHttp)},
            {"syn-ack for another port",
             "tcp 192.0.2.1:80 > 198.18.155.10:40001 flags SA",
             {},
             kSynAck},
            {"syn-ack a rule would match",
             "tcp 203.0.113.7:40000 > 198.18.155.110:443 flags SA",
             {},
             kSynAck},
        });
}

Test(conntrack, ingress_flow_replies_through_tc) {
    auto dp = make_dataplane();
    run_table(
        *dp,
        {
            {"syn in",
             "tcp 203.0.113.7:40000 > 198.18.155.110:443 flags S",
             {},
             rule(kRuleAccessTls)},
            {"syn-ack out (no egress rule)",
             "egress tcp 198.18.155.110:443 > 203.0.113.7:40000 flags SA",
             {},
             rule(kRuleAccessTls)},
            {"ack in",
             "tcp 203.0.113.7:40000 > 198.18.155.110:443 flags A",
             {},
             rule(kRuleAccessTls)},
            {"untracked egress from 443",
             "egress tcp 198.18.155.110:443 > 203.0.113.8:40000 flags A",
             {},
             kExtOutDefault},
            {"echo request in", "icmp 203.0.113.7 > 198.18.155.10 type 8", {}, rule(kRulePing)},
            {"echo reply out",
             "egress icmp 198.18.155.10 > 203.0.113.7 type 0",
             {},
             rule(kRulePing)},
            {"echo6 request in",
             "icmp6 [2001:db8:1::7] > [2001:db8::10] type 128",
             {},
             rule(kRulePing6)},
            {"echo6 reply out",
             "egress icmp6 [2001:db8::10] > [2001:db8:1::7] type 129",
             {},
             rule(kRulePing6)},
        });
}

// A RST cannot be told from a blind one: it does not delete the flow, it moves
// it to the closing timeout, and the flow's next other packet reopens it.
Test(conntrack, rst_shortens_the_flow) {
    kernel::Options o;
    o.timeouts.tcp_closing = 1;
    auto dp = make_dataplane(EF_ROLE_EXTERNAL, o);
    run_table(*dp, {
                       {"syn out",
                        "egress tcp 198.18.155.10:40000 > 192.0.2.1:80 flags S",
                        {},
                        rule(kRuleCrlHttp)},
                       {"syn-ack in",
                        "tcp 192.0.2.1:80 > 198.18.155.10:40000 flags SA",
                        {},
                        rule(kRuleCrlHttp)},
                       {"rst in passes",
                        "tcp 192.0.2.1:80 > 198.18.155.10:40000 flags R",
                        {},
                        rule(kRuleCrlHttp)},
                   });
    cr_expect_eq(dp->ct_entries(), 1u, "a rst deleted the flow");
    usleep(600'000);
    run_table(*dp, {{"ack in within the closing timeout reopens",
                     "tcp 192.0.2.1:80 > 198.18.155.10:40000 flags A",
                     {},
                     rule(kRuleCrlHttp)}});
    usleep(600'000);  // past the closing timeout since the rst: the flow is open again
    run_table(*dp, {
                       {"ack out, reopened",
                        "egress tcp 198.18.155.10:40000 > 192.0.2.1:80 flags A",
                        {},
                        rule(kRuleCrlHttp)},
                       {"rst out",
                        "egress tcp 198.18.155.10:40000 > 192.0.2.1:80 flags R",
                        {},
                        rule(kRuleCrlHttp)},
                   });
    usleep(1'300'000);
    run_table(*dp, {
                       {"ack in after the closing timeout",
                        "tcp 192.0.2.1:80 > 198.18.155.10:40000 flags A",
                        {},
                        kExtInDefault},
                       {"rst matching a rule",
                        "tcp 203.0.113.7:40000 > 198.18.155.110:443 flags R",
                        {},
                        rule(kRuleAccessTls)},
                   });
    cr_expect_eq(dp->ct_entries(), 0u, "an untracked rst created an entry");
    auto st = dp->ct_stats();
    // The first rst hit the flow in the new table, the second once the
    // opener's ack after the reply had made it established.
    cr_expect_eq(st[EF_CT_TCP_NEW].rst, 1u, "rst counted %lu", st[EF_CT_TCP_NEW].rst);
    cr_expect_eq(st[EF_CT_TCP_EST].rst, 1u, "rst counted %lu", st[EF_CT_TCP_EST].rst);
}

// Nothing evicts an established entry, so the programs' timer sweeps the ones
// that expired without their flow coming back: no packet and no reload needed.
Test(conntrack, sweep_removes_expired_established_flows, .timeout = 20) {
    kernel::Options o;
    o.timeouts.udp = 1;
    o.ct_sweep = 1;
    auto dp = make_dataplane(EF_ROLE_EXTERNAL, o);
    run_table(
        *dp,
        {
            {"query out", "egress udp 198.18.155.10:40000 > 198.51.100.53:53", {}, rule(kRuleDns)},
            {"answer in", "udp 198.51.100.53:53 > 198.18.155.10:40000", {}, rule(kRuleDns)},
        });
    cr_assert_eq(dp->ct_entries(), 1u);
    cr_assert_eq(dp->ct_stats()[EF_CT_DGRAM_EST].inserts, 1u, "the answer did not promote");
    // Expired after 1 s; the sweep runs every second: gone within 3.5 s.
    for (int i = 0; i < 35 && dp->ct_entries() != 0; i++) usleep(100'000);
    cr_expect_eq(dp->ct_entries(), 0u, "the expired flow is still in the table");
    cr_expect_eq(dp->ct_stats()[EF_CT_DGRAM_EST].removed, 1u, "removed %lu",
                 dp->ct_stats()[EF_CT_DGRAM_EST].removed);
}

// The flow moves to the established table on its first reply; a full
// established table refuses the move, counted, and the flow goes on from the
// new table.
Test(conntrack, reply_promotes_to_established) {
    kernel::Options o;
    o.ct_size = 2;
    auto dp = make_dataplane(EF_ROLE_EXTERNAL, o);
    for (int port = 40000; port < 40003; ++port) {
        std::string p = std::to_string(port);
        expect_spec(*dp, "egress udp 198.18.155.10:" + p + " > 198.51.100.53:53", rule(kRuleDns));
        expect_spec(*dp, "udp 198.51.100.53:53 > 198.18.155.10:" + p, rule(kRuleDns));
        expect_spec(*dp, "udp 198.51.100.53:53 > 198.18.155.10:" + p, rule(kRuleDns));
    }
    auto st = dp->ct_stats();
    cr_expect_eq(st[EF_CT_DGRAM_NEW].inserts, 3u);
    cr_expect_eq(st[EF_CT_DGRAM_EST].inserts, 2u);
    cr_expect_eq(st[EF_CT_DGRAM_EST].entries, 2u);
    cr_expect_eq(st[EF_CT_DGRAM_NEW].removed, 2u, "promoted out");
    cr_expect_eq(st[EF_CT_DGRAM_NEW].entries, 1u, "the refused flow stays new");
    cr_expect_eq(st[EF_CT_DGRAM_EST].refused, 2u, "both replies of the third flow refused");
    cr_expect_eq(st[EF_CT_DGRAM_NEW].evicted_bound(), 0u);
    expect_spec(*dp, "egress udp 198.18.155.10:40002 > 198.51.100.53:53", rule(kRuleDns));
}

// TCP is established by the opener's packet after the reply (the handshake's
// ACK), not by the reply itself: a server answering spoofed SYNs does not
// fill the established table.
Test(conntrack, tcp_established_after_the_handshake) {
    auto dp = make_dataplane();
    expect_spec(*dp, "egress tcp 198.18.155.10:40000 > 192.0.2.1:80 flags S", rule(kRuleCrlHttp));
    expect_spec(*dp, "tcp 192.0.2.1:80 > 198.18.155.10:40000 flags SA", rule(kRuleCrlHttp));
    expect_spec(*dp, "tcp 192.0.2.1:80 > 198.18.155.10:40000 flags SA", rule(kRuleCrlHttp));
    auto st = dp->ct_stats();
    cr_expect_eq(st[EF_CT_TCP_EST].entries, 0u, "a syn-ack made the flow established");
    cr_expect_eq(st[EF_CT_TCP_NEW].entries, 1u);
    expect_spec(*dp, "egress tcp 198.18.155.10:40000 > 192.0.2.1:80 flags A", rule(kRuleCrlHttp));
    st = dp->ct_stats();
    cr_expect_eq(st[EF_CT_TCP_EST].entries, 1u, "the handshake's ack did not establish the flow");
    cr_expect_eq(st[EF_CT_TCP_NEW].entries, 0u);
    expect_spec(*dp, "tcp 192.0.2.1:80 > 198.18.155.10:40000 flags PA", rule(kRuleCrlHttp));
}

// The loader sweeps expired established entries: nothing evicts them.
Test(conntrack, sweep_removes_expired_established) {
    kernel::Options o;
    o.ct_size = 8192;
    o.timeouts.udp = 3;  // longer than making 5,000 flows on a busy machine
    auto dp = make_dataplane(EF_ROLE_EXTERNAL, o);
    expect_spec(*dp, "egress udp 198.18.155.10:40000 > 198.51.100.53:53", rule(kRuleDns));
    expect_spec(*dp, "udp 198.51.100.53:53 > 198.18.155.10:40000", rule(kRuleDns));
    // More flows than one batch of the sweep's scan.
    for (int port = 30000; port < 35000; ++port) {
        std::string p = std::to_string(port);
        expect_spec(*dp, "egress udp 198.18.155.10:" + p + " > 198.51.100.53:53", rule(kRuleDns));
        expect_spec(*dp, "udp 198.51.100.53:53 > 198.18.155.10:" + p, rule(kRuleDns));
    }
    cr_expect_eq(dp->ct_stats()[EF_CT_DGRAM_EST].entries, 5001u);
    cr_expect_eq(dp->sweep_conntrack(), 0u, "a live flow swept");
    usleep(3'300'000);
    cr_expect_eq(dp->sweep_conntrack(), 5001u);
    cr_expect_eq(dp->ct_entries(), 0u);
}

Test(conntrack, fin_keeps_the_flow_until_closing_timeout) {
    kernel::Options o;
    o.timeouts.tcp_closing = 1;
    auto dp = make_dataplane(EF_ROLE_EXTERNAL, o);
    run_table(*dp, {
                       {"syn out",
                        "egress tcp 198.18.155.10:40000 > 192.0.2.1:80 flags S",
                        {},
                        rule(kRuleCrlHttp)},
                       {"fin out",
                        "egress tcp 198.18.155.10:40000 > 192.0.2.1:80 flags FA",
                        {},
                        rule(kRuleCrlHttp)},
                       {"fin-ack in (closing)",
                        "tcp 192.0.2.1:80 > 198.18.155.10:40000 flags FA",
                        {},
                        rule(kRuleCrlHttp)},
                   });
    usleep(1'300'000);
    run_table(*dp, {{"ack in after closing timeout",
                     "tcp 192.0.2.1:80 > 198.18.155.10:40000 flags A",
                     {},
                     kExtInDefault}});
    cr_expect_eq(dp->ct_entries(), 0u, "expired entry not deleted");
}

Test(conntrack, udp_timeout) {
    kernel::Options o;
    o.timeouts.udp = 1;
    auto dp = make_dataplane(EF_ROLE_EXTERNAL, o);
    expect_spec(*dp, "egress udp 198.18.155.10:40000 > 198.51.100.53:53", rule(kRuleDns));
    expect_spec(*dp, "udp 198.51.100.53:53 > 198.18.155.10:40000", rule(kRuleDns));
    usleep(1'300'000);
    expect_spec(*dp, "udp 198.51.100.53:53 > 198.18.155.10:40000", kExtInDefault);
}

Test(conntrack, clear_conntrack) {
    auto dp = make_dataplane();
    expect_spec(*dp, "egress udp 198.18.155.10:40000 > 198.51.100.53:53", rule(kRuleDns));
    expect_spec(*dp, "icmp 203.0.113.7 > 198.18.155.10 type 8", rule(kRulePing));
    cr_expect_eq(dp->ct_entries(), 2u);
    dp->clear_conntrack();
    cr_expect_eq(dp->ct_entries(), 0u);
    expect_spec(*dp, "udp 198.51.100.53:53 > 198.18.155.10:40000", kExtInDefault);
}

Test(conntrack, egress_enforce_vs_track_only) {
    {
        auto dp = make_dataplane();
        run_table(*dp, {{"enforce: no rule drops",
                         "egress tcp 198.18.155.10:40000 > 192.0.2.1:81",
                         {},
                         kExtOutDefault}});
    }
    kernel::Options o;
    o.egress_mode[EF_ROLE_EXTERNAL] = EF_EGRESS_TRACK_ONLY;
    auto dp = make_dataplane(EF_ROLE_EXTERNAL, o);
    run_table(
        *dp,
        {
            {"track-only: no rule passes",
             "egress tcp 198.18.155.10:40000 > 192.0.2.1:81",
             {},
             pass_reason(EF_R_DEFAULT_EXTERNAL_EGRESS)},
            {"track-only made no entry",
             "tcp 192.0.2.1:81 > 198.18.155.10:40000 flags SA",
             {},
             kSynAck},
            {"track-only: rules still count",
             "egress tcp 198.18.155.10:40000 > 192.0.2.1:80",
             {},
             rule(kRuleCrlHttp)},
            {"ingress still drops", "tcp 203.0.113.7:40000 > 198.18.155.110:80", {}, kExtInDefault},
        });
    cr_expect_eq(dp->ct_entries(), 1u, "only the rule's flow is tracked");
    dp->set_iface_role(kernel::Dataplane::kTestRunIfindex, EF_ROLE_INTERNAL);
    run_table(*dp, {{"internal role stays enforce",
                     "egress tcp 198.19.0.10:40000 > 192.0.2.1:81",
                     {},
                     drop_reason(EF_R_DEFAULT_INTERNAL_EGRESS)}});
}

Test(conntrack, ct_create_off) {
    kernel::Options o;
    o.ct_create = false;
    auto dp = make_dataplane(EF_ROLE_EXTERNAL, o);
    run_table(*dp, {
                       {"rule still passes",
                        "egress udp 198.18.155.10:40000 > 198.51.100.53:53",
                        {},
                        rule(kRuleDns)},
                       {"reply is not tracked",
                        "udp 198.51.100.53:53 > 198.18.155.10:40000",
                        {},
                        kExtInDefault},
                   });
    cr_expect_eq(dp->ct_entries(), 0u);
}

Test(conntrack, ct_size_option) {
    kernel::Options o;
    o.ct_size = 2;
    auto dp = make_dataplane(EF_ROLE_EXTERNAL, o);
    for (int port = 40000; port < 40010; ++port) {
        expect_spec(*dp, "egress udp 198.18.155.10:" + std::to_string(port) + " > 198.51.100.53:53",
                    rule(kRuleDns));
    }
    cr_expect_leq(dp->ct_entries(), 2u, "LRU of 2 holds %zu", dp->ct_entries());
}
