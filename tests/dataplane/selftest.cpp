// The pre-attach self-test (lifecycle::self_test) against the programs: it
// passes on a policy that is right, and its probes only ask what a rule can
// answer.
#include "lifecycle/selftest.h"

#include <criterion/criterion.h>

#include <chrono>

#include "compile/compile.h"
#include "fixture.h"
#include "policy/policy.h"
#include "synth/synth.h"

using namespace dptest;

namespace {

policy::Policy load(const std::string& yaml) {
    policy::Diagnostics d;
    auto p = policy::load_text(yaml, "selftest.yaml", "", "", d);
    if (!p) {
        for (const auto& x : d.all()) cr_log_error("%s", x.str().c_str());
        cr_assert_fail("policy did not load");
    }
    return *p;
}

}  // namespace

// An object of both families: icmp applies to its IPv4 addresses, icmp6 to its
// IPv6 ones. The other pairings can never match and must not be probed as if
// they could (a 10,000-rule synthetic policy was refused for this).
Test(selftest, icmp_rules_on_objects_of_both_families) {
    require_root();
    auto p = load(
        "edgefw: 1\nname: dual\nfeatures: {f: {}}\n"
        "nodes: {n1: {interfaces: {external: {addresses: [198.18.0.1, '2001:db8::1']}}}}\n"
        "objects:\n  me: [198.18.0.1, '2001:db8::1']\n"
        "rules:\n"
        "  - {id: ping, app: ICMP, feature: f, proto: icmp, src: any, dst: me, icmp_type: 8}\n"
        "  - {id: ping6, app: ICMPv6, feature: f, proto: icmp6, src: any, dst: me, icmp_type: "
        "128}\n"
        "  - {id: web, app: HTTPS, feature: f, proto: tcp, src: any, dst: me, dport: 443}\n");
    auto st = lifecycle::self_test(p, "n1", compile::compile_node(p, "n1"));
    for (const auto& m : st.mismatches) cr_log_error("%s", m.c_str());
    cr_expect(st.mismatches.empty(), "%zu of %zu probes disagree", st.mismatches.size(), st.probes);
    cr_expect_gt(st.probes, 0u);
}

// A 10,000-rule synthetic policy: compile and self-test times, and how many of
// its boundary probes the self-test ran.
Test(selftest, ten_thousand_rules_timed, .timeout = 600) {
    require_root();
    synth::Options o;
    o.rules = 10000;
    o.seed = 99;
    auto p = load(synth::generate(o));
    auto t0 = std::chrono::steady_clock::now();
    auto img = compile::compile_node(p, "syn1");
    auto t1 = std::chrono::steady_clock::now();
    auto st = lifecycle::self_test(p, "syn1", img);
    auto t2 = std::chrono::steady_clock::now();
    auto ms = [](auto a, auto b) {
        return std::chrono::duration<double, std::milli>(b - a).count();
    };
    fprintf(stderr, "selftest 10000 rules: compile %.0f ms, self-test %.0f ms, %zu of %zu probes\n",
            ms(t0, t1), ms(t1, t2), st.probes, st.of);
    for (const auto& m : st.mismatches) cr_log_error("%s", m.c_str());
    cr_expect(st.mismatches.empty(), "%zu of %zu probes disagree", st.mismatches.size(), st.probes);
}
