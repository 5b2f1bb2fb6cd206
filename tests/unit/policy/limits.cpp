// Limits on policy size: a policy too large for the maps, or objects nested so
// that an expression would multiply without bound, is refused with a clear
// error before anything is compiled.
#include <criterion/criterion.h>

#include <string>

#include "policy/policy.h"

namespace {

std::string head() {
    return "edgefw: 1\nname: limits\nfeatures: {f: {}}\n"
           "nodes: {n1: {interfaces: {external: {addresses: [198.18.0.1]}}}}\n";
}

bool has_error(const policy::Diagnostics& d, const std::string& text) {
    for (const auto& x : d.all())
        if (x.severity == policy::Severity::error && x.message.find(text) != std::string::npos)
            return true;
    return false;
}

}  // namespace

Test(policy_limits, nested_objects_cannot_multiply_without_bound) {
    // o0 = two addresses, o(k) = [o(k-1), o(k-1)]: 2^40 terms if expanded.
    std::string y = head() + "objects:\n  o0: [198.18.1.1, 198.18.1.2]\n";
    for (int k = 1; k <= 40; k++)
        y += "  o" + std::to_string(k) + ": [o" + std::to_string(k - 1) + ", o" +
             std::to_string(k - 1) + "]\n";
    y += "rules:\n  - {id: r, app: A, feature: f, proto: tcp, src: o40, dst: 198.18.0.1, dport: "
         "443}\n";
    policy::Diagnostics d;
    cr_assert(!policy::load_text(y, "nested.yaml", "", "", d).has_value());
    cr_assert(has_error(d, "expands to more than 65536 addresses"));
}

Test(policy_limits, more_rules_than_counter_slots_is_refused) {
    std::string y = head() + "rules:\n";
    for (uint32_t i = 0; i <= EF_MAX_RULES; i++)
        y += "  - {id: r" + std::to_string(i) +
             ", app: A, feature: f, proto: udp, src: any, dst: 198.18.0.1, dport: " +
             std::to_string(1 + i % 60000) + "}\n";
    policy::Diagnostics d;
    cr_assert(!policy::load_text(y, "big.yaml", "", "", d).has_value());
    cr_assert(has_error(d, "the policy has 16385 rules"));
}
