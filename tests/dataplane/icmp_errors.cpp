// ICMP errors (docs/dataplane.md step 5): pass when the quoted flow is tracked
// for this role and accepts the quoted packet in the direction opposite to the
// error, and the error goes to the quoted packet's source; drop otherwise;
// never create an entry.
#include <criterion/criterion.h>

#include "fixture.h"

using namespace dptest;

namespace {

std::function<void(packet::Packet&)> quoting(const std::string& quoted) {
    return [quoted](packet::Packet& p) { p.icmp_quote = packet::quote_of(spec(quoted)); };
}

const char* kCrlSyn = "egress tcp 198.18.155.10:40000 > 192.0.2.1:80";
const Expect kRelated = pass_reason(EF_R_ICMP_ERROR_RELATED);
const Expect kUnrelated = drop_reason(EF_R_ICMP_ERROR_UNRELATED);

}  // namespace

Test(icmp_errors, ipv4_quotes) {
    auto dp = make_dataplane();
    expect_spec(*dp, kCrlSyn, rule(kRuleCrlHttp));
    size_t entries = dp->ct_entries();
    run_table(*dp,
              {
                  {"frag needed, tracked", "icmp 203.0.113.1 > 198.18.155.10 type 3 code 4",
                   quoting(kCrlSyn), kRelated},
                  {"time exceeded, tracked", "icmp 203.0.113.1 > 198.18.155.10 type 11",
                   quoting(kCrlSyn), kRelated},
                  {"unreachable, untracked port", "icmp 203.0.113.1 > 198.18.155.10 type 3 code 3",
                   quoting("egress tcp 198.18.155.10:40001 > 192.0.2.1:80"), kUnrelated},
                  {"unreachable, untracked proto", "icmp 203.0.113.1 > 198.18.155.10 type 3 code 3",
                   quoting("egress udp 198.18.155.10:40000 > 192.0.2.1:80"), kUnrelated},
                  {"quote with options, tracked", "icmp 203.0.113.1 > 198.18.155.10 type 12",
                   [](packet::Packet& p) {
                       packet::Packet q = spec(kCrlSyn);
                       q.ipv4_option_words = 2;
                       p.icmp_quote = packet::quote_of(q);
                   },
                   kRelated},
                  // Source quench and redirect never pass, whatever they quote.
                  {"source quench, tracked", "icmp 203.0.113.1 > 198.18.155.10 type 4",
                   quoting(kCrlSyn), kUnrelated},
                  {"redirect, tracked", "icmp 203.0.113.1 > 198.18.155.10 type 5", quoting(kCrlSyn),
                   kUnrelated},
              });
    cr_expect_eq(dp->ct_entries(), entries, "errors created conntrack entries");
}

Test(icmp_errors, egress_error_for_an_ingress_flow) {
    auto dp = make_dataplane();
    const char* av = "udp 203.0.113.7:3478 > 198.18.155.30:50000";
    expect_spec(*dp, av, rule(kRuleAvRelay));
    run_table(*dp,
              {
                  {"port unreachable back", "egress icmp 198.18.155.30 > 203.0.113.7 type 3 code 3",
                   quoting(av), kRelated},
                  {"port unreachable, other flow",
                   "egress icmp 198.18.155.30 > 203.0.113.7 type 3 code 3",
                   quoting("udp 203.0.113.7:3479 > 198.18.155.30:50000"), kUnrelated},
              });
}

Test(icmp_errors, ipv6_quotes) {
    auto dp = make_dataplane();
    const char* tls6 = "tcp [2001:db8:1::7]:40000 > [2001:db8::10]:443";
    expect_spec(*dp, tls6, rule(kRuleAccessTls6));
    run_table(
        *dp,
        {
            {"packet too big, tracked", "egress icmp6 [2001:db8::10] > [2001:db8:1::7] type 2",
             quoting(tls6), kRelated},
            {"unreachable from a router", "icmp6 [2001:db8:ff::1] > [2001:db8::10] type 1 code 4",
             quoting("egress tcp [2001:db8::10]:443 > [2001:db8:1::7]:40000 flags SA"), kRelated},
            {"time exceeded, untracked", "icmp6 [2001:db8:ff::1] > [2001:db8::10] type 3",
             quoting("egress tcp [2001:db8::10]:443 > [2001:db8:1::8]:40000 flags SA"), kUnrelated},
            {"param problem, untracked", "icmp6 [2001:db8:ff::1] > [2001:db8::10] type 4",
             quoting("egress udp [2001:db8::10]:53 > [2001:db8:1::8]:40000"), kUnrelated},
        });
}

Test(icmp_errors, echo_flows_are_quoted_with_ports_zero) {
    auto dp = make_dataplane();
    const char* ping = "icmp 203.0.113.7 > 198.18.155.10 type 8";
    expect_spec(*dp, ping, rule(kRulePing));
    run_table(*dp,
              {
                  {"error about the echo request",
                   "egress icmp 198.18.155.10 > 203.0.113.7 type 3 code 1",
                   quoting("icmp 203.0.113.7 > 198.18.155.10 type 8"), kRelated},
                  {"error quoting the echo reply, to the peer",
                   "egress icmp 198.18.155.10 > 203.0.113.7 type 3 code 1",
                   quoting("egress icmp 198.18.155.10 > 203.0.113.7 type 0"), kUnrelated},
                  {"inbound error about the echo reply", "icmp 192.0.2.254 > 198.18.155.10 type 11",
                   quoting("egress icmp 198.18.155.10 > 203.0.113.7 type 0"), kRelated},
              });
}

Test(icmp_errors, role_is_part_of_the_key) {
    auto dp = make_dataplane();
    expect_spec(*dp, kCrlSyn, rule(kRuleCrlHttp));
    dp->set_iface_role(kernel::Dataplane::kTestRunIfindex, EF_ROLE_INTERNAL);
    run_table(*dp,
              {{"tracked on external, seen on internal",
                "icmp 203.0.113.1 > 198.18.155.10 type 3 code 4", quoting(kCrlSyn), kUnrelated}});
}

Test(icmp_errors, truncated_quotes) {
    auto dp = make_dataplane();
    expect_spec(*dp, kCrlSyn, rule(kRuleCrlHttp));
    auto run_cut = [&](const std::string& name, const std::string& line, size_t keep_quote,
                       const std::string& quoted) {
        packet::Packet p = spec(line);
        auto q = packet::quote_of(spec(quoted));
        q.resize(keep_quote);
        p.icmp_quote = q;
        expect_run(*dp, name, p.dir, packet::build_frame(p), drop_reason(EF_R_MALFORMED_L4));
    };
    const char* err4 = "icmp 203.0.113.1 > 198.18.155.10 type 3 code 4";
    run_cut("ipv4 quote cut in the ip header", err4, 19, kCrlSyn);
    run_cut("ipv4 quote with 7 l4 bytes", err4, 27, kCrlSyn);
    run_cut("ipv4 quote empty", err4, 0, kCrlSyn);
    const char* err6 = "icmp6 [2001:db8:ff::1] > [2001:db8::10] type 2";
    const char* tls6 = "tcp [2001:db8:1::7]:40000 > [2001:db8::10]:443";
    run_cut("ipv6 quote cut in the ip header", err6, 39, tls6);
    run_cut("ipv6 quote with 7 l4 bytes", err6, 47, tls6);

    packet::Packet p = spec(err4);
    auto q = packet::quote_of(spec(kCrlSyn));
    q[0] = 0x44;  // IHL 4
    p.icmp_quote = q;
    expect_run(*dp, "ipv4 quote with ihl 4", p.dir, packet::build_frame(p),
               drop_reason(EF_R_MALFORMED_L4));
}
