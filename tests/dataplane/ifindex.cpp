// BPF_PROG_TEST_RUN's interface: both programs must see ifindex 1 (loopback)
// when no ctx_in is given, since kernel::Dataplane::run maps that ifindex to
// the role under test.
#include <criterion/criterion.h>

#include "fixture.h"

using namespace dptest;

Test(ifindex, test_run_reports_loopback_to_both_programs) {
    auto dp = make_dataplane(EF_ROLE_EXTERNAL);
    // Only ifindex 1 has a role: any other ifindex would count unknown_iface_pass.
    expect_spec(*dp, "ingress tcp 203.0.113.7:40000 > 198.18.155.110:443", rule(kRuleAccessTls));
    expect_spec(*dp, "egress tcp 198.18.155.10:40000 > 192.0.2.1:80", rule(kRuleCrlHttp));
}

Test(ifindex, interface_without_role_passes) {
    auto dp = make_dataplane(EF_ROLE_EXTERNAL);
    dp->clear_iface_role(kernel::Dataplane::kTestRunIfindex);
    expect_spec(*dp, "ingress tcp 203.0.113.7:40000 > 198.18.155.111:443",
                pass_reason(EF_R_UNKNOWN_IFACE_PASS));
    expect_spec(*dp, "egress tcp 198.18.155.10:40000 > 192.0.2.1:81",
                pass_reason(EF_R_UNKNOWN_IFACE_PASS));
}
