// Layers 2-4 that parse fine (docs/dataplane.md steps 1, 2 and 4): VLAN tags,
// IPv4 options, IPv6 extension chains, and what passes or drops without a rule.
#include <criterion/criterion.h>
#include <netinet/in.h>

#include "fixture.h"

using namespace dptest;

namespace {
const char* kTls = "tcp 203.0.113.7:40000 > 198.18.155.110:443";
const char* kTls6 = "tcp [2001:db8:1::7]:40000 > [2001:db8::10]:443";

std::function<void(packet::Packet&)> ext_chain(std::vector<uint8_t> chain) {
    return [chain](packet::Packet& p) { p.ipv6_ext = chain; };
}
}  // namespace

Test(layers, vlan_tags) {
    auto dp = make_dataplane();
    run_table(*dp, {
                       {"one tag", kTls, [](packet::Packet& p) { p.vlan_tags = {100}; },
                        rule(kRuleAccessTls)},
                       {"two tags", kTls,
                        [](packet::Packet& p) {
                            p.vlan_tags = {10, 100};
                        },
                        rule(kRuleAccessTls)},
                       {"two tags v6", kTls6,
                        [](packet::Packet& p) {
                            p.vlan_tags = {10, 100};
                        },
                        rule(kRuleAccessTls6)},
                       {"three tags", kTls,
                        [](packet::Packet& p) {
                            p.vlan_tags = {10, 100, 200};
                        },
                        drop_reason(EF_R_MALFORMED_L2)},
                       {"two tags, no rule", "tcp 203.0.113.7:40000 > 198.18.155.110:80",
                        [](packet::Packet& p) {
                            p.vlan_tags = {10, 100};
                        },
                        drop_reason(EF_R_DEFAULT_EXTERNAL_INGRESS)},
                   });
}

Test(layers, ipv4_options) {
    auto dp = make_dataplane();
    run_table(*dp, {
                       {"1 option word", kTls, [](packet::Packet& p) { p.ipv4_option_words = 1; },
                        rule(kRuleAccessTls)},
                       {"10 option words (IHL 15)", kTls,
                        [](packet::Packet& p) { p.ipv4_option_words = 10; }, rule(kRuleAccessTls)},
                       {"options, wrong port", "tcp 203.0.113.7:40000 > 198.18.155.110:444",
                        [](packet::Packet& p) { p.ipv4_option_words = 3; },
                        drop_reason(EF_R_DEFAULT_EXTERNAL_INGRESS)},
                   });
}

Test(layers, ipv6_extension_headers) {
    auto dp = make_dataplane();
    run_table(
        *dp, {
                 {"hop-by-hop", kTls6, ext_chain({0}), rule(kRuleAccessTls6)},
                 {"hbh, routing, dstopts", kTls6, ext_chain({0, 43, 60}), rule(kRuleAccessTls6)},
                 {"8 headers (the bound)", kTls6, ext_chain({0, 60, 60, 60, 60, 60, 60, 43}),
                  rule(kRuleAccessTls6)},
                 {"9 headers (past the bound)", kTls6,
                  ext_chain({0, 60, 60, 60, 60, 60, 60, 60, 43}), drop_reason(EF_R_MALFORMED_IPV6)},
                 {"8 headers, no rule", "tcp [2001:db8:1::7]:40000 > [2001:db8::10]:444",
                  ext_chain({0, 60, 60, 60, 60, 60, 60, 43}),
                  drop_reason(EF_R_DEFAULT_EXTERNAL_INGRESS)},
                 {"icmp6 echo after dstopts", "icmp6 [2001:db8:1::7] > [2001:db8::10] type 128",
                  ext_chain({60}), rule(kRulePing6)},
             });
}

Test(layers, host_keepalive_passes) {
    auto dp = make_dataplane();
    expect_run(*dp, "arp request", packet::Dir::ingress, raw_frame(0x0806, 28),
               pass_reason(EF_R_ARP_PASS));
    expect_run(*dp, "arp egress", packet::Dir::egress, raw_frame(0x0806, 28),
               pass_reason(EF_R_ARP_PASS));
    run_table(*dp, {
                       {"router solicitation",
                        "icmp6 [fe80::1] > [ff02::2] type 133",
                        {},
                        pass_reason(EF_R_ND_PASS)},
                       {"neighbour solicitation",
                        "icmp6 [fe80::1] > [ff02::1:ff00:10] type 135",
                        {},
                        pass_reason(EF_R_ND_PASS)},
                       {"neighbour advertisement egress",
                        "egress icmp6 [2001:db8::10] > [fe80::1] type 136",
                        {},
                        pass_reason(EF_R_ND_PASS)},
                       {"redirect",
                        "icmp6 [fe80::1] > [2001:db8::10] type 137",
                        {},
                        pass_reason(EF_R_ND_PASS)},
                       {"type 138 is not ND",
                        "icmp6 [fe80::1] > [2001:db8::10] type 138",
                        {},
                        drop_reason(EF_R_DEFAULT_EXTERNAL_INGRESS)},
                       {"ND types in ICMPv4 are not ND",
                        "icmp 203.0.113.7 > 198.18.155.10 type 135",
                        {},
                        drop_reason(EF_R_DEFAULT_EXTERNAL_INGRESS)},
                   });
}

Test(layers, non_ip_and_unsupported_protocols) {
    auto dp = make_dataplane();
    expect_run(*dp, "lldp", packet::Dir::ingress, raw_frame(0x88cc, 46),
               drop_reason(EF_R_NON_IP_DROP));
    expect_run(*dp, "ipx egress", packet::Dir::egress, raw_frame(0x8137, 46),
               drop_reason(EF_R_NON_IP_DROP));
    run_table(*dp, {
                       {"gre ingress",
                        "47 203.0.113.7 > 198.18.155.10",
                        {},
                        drop_reason(EF_R_PROTO_UNSUPPORTED)},
                       {"esp egress (enforce)",
                        "egress 50 198.18.155.10 > 203.0.113.7",
                        {},
                        drop_reason(EF_R_PROTO_UNSUPPORTED)},
                       {"sctp v6",
                        "132 [2001:db8:1::7] > [2001:db8::10]",
                        {},
                        drop_reason(EF_R_PROTO_UNSUPPORTED)},
                   });
}

// ICMP is IPv4's and ICMPv6 IPv6's. A crossed pairing is a protocol the family
// does not have: no ICMP rule may answer it (the model says the same). The spec
// language refuses to write such packets, so the protocol byte is patched.
Test(layers, icmp_of_the_other_family_is_unsupported) {
    auto dp = make_dataplane();
    auto v6 = frame_of("icmp6 [2001:db8:1::7] > [2001:db8::10] type 128");
    v6[14 + 6] = IPPROTO_ICMP;  // IPv6 next header
    expect_run(*dp, "icmp (1) over IPv6", packet::Dir::ingress, v6,
               drop_reason(EF_R_PROTO_UNSUPPORTED));
    auto v4 = frame_of("icmp 203.0.113.7 > 198.18.155.10 type 8");
    v4[14 + 9] = IPPROTO_ICMPV6;  // IPv4 protocol
    expect_run(*dp, "icmpv6 (58) over IPv4", packet::Dir::ingress, v4,
               drop_reason(EF_R_PROTO_UNSUPPORTED));
}

Test(layers, unsupported_protocol_egress_track_only) {
    kernel::Options o;
    o.egress_mode[EF_ROLE_EXTERNAL] = EF_EGRESS_TRACK_ONLY;
    auto dp = make_dataplane(EF_ROLE_EXTERNAL, o);
    run_table(*dp, {
                       {"esp egress (track-only)",
                        "egress 50 198.18.155.10 > 203.0.113.7",
                        {},
                        pass_reason(EF_R_PROTO_UNSUPPORTED)},
                       {"esp ingress still drops",
                        "50 203.0.113.7 > 198.18.155.10",
                        {},
                        drop_reason(EF_R_PROTO_UNSUPPORTED)},
                   });
}
