// Fragments (docs/dataplane.md step 3): the first fragment of an admitted
// datagram records {src, dst, id, proto (IPv4 only), role, dir}; later fragments
// pass under the same rule only with that record.
#include <criterion/criterion.h>

#include "fixture.h"

using namespace dptest;

namespace {

const Expect kUntracked = drop_reason(EF_R_FRAGMENT_UNTRACKED);

}  // namespace

Test(fragments, ipv4_first_then_later) {
    auto dp = make_dataplane();
    const char* av = "udp 203.0.113.7:3478 > 198.18.155.30:50000";
    run_table(*dp, {
                       {"later before first", av, later_fragment(77), kUntracked},
                       {"first fragment", av, first_fragment(77), rule(kRuleAvRelay)},
                       {"middle fragment", av, later_fragment(77, 185, true), rule(kRuleAvRelay)},
                       {"last fragment", av, later_fragment(77), rule(kRuleAvRelay)},
                       {"other id", av, later_fragment(78), kUntracked},
                       {"other source", "udp 203.0.113.8:3478 > 198.18.155.30:50000",
                        later_fragment(77), kUntracked},
                       {"denied first fragment", "udp 203.0.113.7:3478 > 198.18.155.30:40000",
                        first_fragment(79), drop_reason(EF_R_DEFAULT_EXTERNAL_INGRESS)},
                       {"its later fragment", "udp 203.0.113.7:3478 > 198.18.155.30:40000",
                        later_fragment(79), kUntracked},
                       {"unsupported protocol first", "47 203.0.113.7 > 198.18.155.30",
                        first_fragment(80), drop_reason(EF_R_PROTO_UNSUPPORTED)},
                       {"unsupported protocol later", "47 203.0.113.7 > 198.18.155.30",
                        later_fragment(80), kUntracked},
                   });
    cr_expect_eq(dp->frag_entries(), 1u, "one admitted datagram, %zu frag entries",
                 dp->frag_entries());
}

Test(fragments, ipv6_first_then_later) {
    auto dp = make_dataplane();
    const char* tls6 = "tcp [2001:db8:1::7]:40000 > [2001:db8::10]:443";
    run_table(*dp, {
                       {"first fragment", tls6, first_fragment(0x12345678), rule(kRuleAccessTls6)},
                       {"later fragment", tls6, later_fragment(0x12345678), rule(kRuleAccessTls6)},
                       {"later, other id", tls6, later_fragment(0x12345679), kUntracked},
                       {"first after dstopts", tls6,
                        [](packet::Packet& p) {
                            p.ipv6_ext = {60};
                            first_fragment(9)(p);
                        },
                        rule(kRuleAccessTls6)},
                       {"later after dstopts", tls6,
                        [](packet::Packet& p) {
                            p.ipv6_ext = {60};
                            later_fragment(9)(p);
                        },
                        rule(kRuleAccessTls6)},
                       {"atomic fragment (offset 0, no M) is a whole packet",
                        "tcp [2001:db8:1::7]:40001 > [2001:db8::10]:80",
                        [](packet::Packet& p) {
                            p.fragment = true;
                            p.frag_id = 5;
                        },
                        drop_reason(EF_R_DEFAULT_EXTERNAL_INGRESS)},
                   });
}

Test(fragments, egress_and_conntrack_admitted) {
    auto dp = make_dataplane();
    run_table(
        *dp,
        {
            {"egress first fragment", "egress udp 198.18.155.10:40000 > 198.51.100.53:53",
             first_fragment(1), rule(kRuleDns)},
            {"egress later fragment", "egress udp 198.18.155.10:40000 > 198.51.100.53:53",
             later_fragment(1), rule(kRuleDns)},
            // The reply's first fragment passes through conntrack: still admitted.
            {"reply first fragment", "udp 198.51.100.53:53 > 198.18.155.10:40000",
             first_fragment(2), rule(kRuleDns)},
            {"reply later fragment", "udp 198.51.100.53:53 > 198.18.155.10:40000",
             later_fragment(2), rule(kRuleDns)},
            {"same id and addresses, egress", "egress udp 198.51.100.53:53 > 198.18.155.10:40000",
             later_fragment(2), kUntracked},
            {"same id, addresses swapped", "egress udp 198.18.155.10:40000 > 198.51.100.53:53",
             later_fragment(2), kUntracked},
        });
}

Test(fragments, role_is_part_of_the_key) {
    auto dp = make_dataplane();
    const char* av = "udp 203.0.113.7:3478 > 198.18.155.30:50000";
    run_table(*dp, {{"first fragment", av, first_fragment(42), rule(kRuleAvRelay)}});
    dp->set_iface_role(kernel::Dataplane::kTestRunIfindex, EF_ROLE_INTERNAL);
    run_table(*dp, {{"later fragment on internal", av, later_fragment(42), kUntracked}});
}
