// Classification (docs/dataplane.md steps 8-10): each rule of the test image,
// one field wrong at a time, range edges, both roles and both directions.
#include <criterion/criterion.h>

#include "fixture.h"

using namespace dptest;

namespace {
const Expect kExtInDefault = drop_reason(EF_R_DEFAULT_EXTERNAL_INGRESS);
const Expect kExtOutDefault = drop_reason(EF_R_DEFAULT_EXTERNAL_EGRESS);
const Expect kIntInDefault = drop_reason(EF_R_DEFAULT_INTERNAL_INGRESS);
}  // namespace

Test(classify, external_ingress_rules) {
    auto dp = make_dataplane(EF_ROLE_EXTERNAL);
    run_table(
        *dp,
        {
            {"allowed", "tcp 203.0.113.7:40000 > 198.18.155.110:443", {}, rule(kRuleAccessTls)},
            {"wrong port", "tcp 203.0.113.7:40000 > 198.18.155.110:444", {}, kExtInDefault},
            {"wrong proto", "udp 203.0.113.7:40000 > 198.18.155.110:443", {}, kExtInDefault},
            {"wrong local", "tcp 203.0.113.7:40000 > 198.18.155.111:443", {}, kExtInDefault},
            {"range below", "udp 203.0.113.7:3478 > 198.18.155.30:49999", {}, kExtInDefault},
            {"range low edge",
             "udp 203.0.113.7:3478 > 198.18.155.30:50000",
             {},
             rule(kRuleAvRelay)},
            {"range high edge",
             "udp 203.0.113.7:3478 > 198.18.155.30:59999",
             {},
             rule(kRuleAvRelay)},
            {"range above", "udp 203.0.113.7:3478 > 198.18.155.30:60000", {}, kExtInDefault},
            {"range wrong local", "udp 203.0.113.7:3478 > 198.18.155.31:50000", {}, kExtInDefault},
            {"source in /31 (.90)",
             "tcp 198.19.10.90:40000 > 198.18.155.10:5061",
             {},
             rule(kRuleSipPool)},
            {"source in /31 (.91)",
             "tcp 198.19.10.91:40001 > 198.18.155.10:5061",
             {},
             rule(kRuleSipPool)},
            {"source below /31", "tcp 198.19.10.89:40000 > 198.18.155.10:5061", {}, kExtInDefault},
            {"source above /31", "tcp 198.19.10.92:40000 > 198.18.155.10:5061", {}, kExtInDefault},
            {"source any", "tcp 203.0.113.7:40000 > 198.18.155.10:5061", {}, kExtInDefault},
            {"ipv6 allowed",
             "tcp [2001:db8:1::7]:40000 > [2001:db8::10]:443",
             {},
             rule(kRuleAccessTls6)},
            {"ipv6 wrong local",
             "tcp [2001:db8:1::7]:40000 > [2001:db8::11]:443",
             {},
             kExtInDefault},
            {"ipv6 wrong port", "tcp [2001:db8:1::7]:40000 > [2001:db8::10]:80", {}, kExtInDefault},
            {"mapped v4 local is not the v6 rule",
             "tcp 203.0.113.7:40000 > 198.18.155.10:443",
             {},
             kExtInDefault},
            {"icmp echo request",
             "icmp 203.0.113.7 > 198.18.155.10 type 8 code 0",
             {},
             rule(kRulePing)},
            {"icmp echo wrong code",
             "icmp 203.0.113.8 > 198.18.155.10 type 8 code 1",
             {},
             kExtInDefault},
            {"icmp timestamp", "icmp 203.0.113.9 > 198.18.155.10 type 13", {}, kExtInDefault},
            {"icmp6 echo request",
             "icmp6 [2001:db8:1::7] > [2001:db8::10] type 128",
             {},
             rule(kRulePing6)},
            {"icmp6 echo wrong local",
             "icmp6 [2001:db8:1::7] > [2001:db8::11] type 128",
             {},
             kExtInDefault},
            {"internal rule on external iface",
             "tcp 198.19.200.5:40000 > 198.19.0.10:22",
             {},
             kExtInDefault},
            {"egress packet ingress",
             "tcp 192.0.2.1:80 > 198.18.155.10:40000 flags S",
             {},
             kExtInDefault},
        });
}

Test(classify, external_egress_rules) {
    auto dp = make_dataplane(EF_ROLE_EXTERNAL);
    run_table(
        *dp,
        {
            {"allowed", "egress tcp 198.18.155.10:40000 > 192.0.2.1:80", {}, rule(kRuleCrlHttp)},
            {"any local port", "egress tcp 198.18.155.10:1 > 192.0.2.9:80", {}, rule(kRuleCrlHttp)},
            {"wrong remote port",
             "egress tcp 198.18.155.10:40000 > 192.0.2.1:81",
             {},
             kExtOutDefault},
            {"wrong local", "egress tcp 198.18.155.11:40000 > 192.0.2.1:80", {}, kExtOutDefault},
            {"wrong proto", "egress udp 198.18.155.10:40000 > 192.0.2.1:80", {}, kExtOutDefault},
            {"dns allowed",
             "egress udp 198.18.155.10:40000 > 198.51.100.53:53",
             {},
             rule(kRuleDns)},
            {"dns wrong server",
             "egress udp 198.18.155.10:40000 > 198.51.100.54:53",
             {},
             kExtOutDefault},
            {"dns wrong port",
             "egress udp 198.18.155.10:40000 > 198.51.100.53:54",
             {},
             kExtOutDefault},
            {"ingress rule seen egress",
             "egress tcp 198.18.155.110:443 > 203.0.113.7:40000 flags S",
             {},
             kExtOutDefault},
        });
}

Test(classify, internal_role) {
    auto dp = make_dataplane(EF_ROLE_INTERNAL);
    run_table(
        *dp,
        {
            {"allowed", "tcp 198.19.200.5:40000 > 198.19.0.10:22", {}, rule(kRuleMgmtSsh)},
            {"source outside /24", "tcp 198.19.201.5:40000 > 198.19.0.10:22", {}, kIntInDefault},
            {"external rule on internal iface",
             "tcp 203.0.113.7:40000 > 198.18.155.110:443",
             {},
             kIntInDefault},
            {"egress default",
             "egress tcp 198.18.155.10:40000 > 192.0.2.1:80",
             {},
             drop_reason(EF_R_DEFAULT_INTERNAL_EGRESS)},
        });
}

Test(classify, bytes_count_the_whole_frame) {
    auto dp = make_dataplane(EF_ROLE_EXTERNAL);
    run_table(*dp, {
                       {"padded ingress",
                        "tcp 203.0.113.7:40000 > 198.18.155.110:443 len 1514",
                        {},
                        rule(kRuleAccessTls)},
                       {"padded egress",
                        "egress tcp 198.18.155.10:40000 > 192.0.2.2:80 len 900",
                        {},
                        rule(kRuleCrlHttp)},
                       {"padded default",
                        "udp 203.0.113.7:1 > 198.18.155.30:1 len 333",
                        {},
                        drop_reason(EF_R_DEFAULT_EXTERNAL_INGRESS)},
                   });
}
