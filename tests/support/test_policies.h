// Policies for unit tests: the file (with a site file, or "") or a synthetic
// policy, loaded with every diagnostic logged; a policy that does not load
// fails the test.
#pragma once

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <cstdint>
#include <string>

#include "policy/policy.h"
#include "synth/synth.h"

namespace testpol {

inline policy::Policy load(const std::string& file, const std::string& site = "") {
    policy::Diagnostics d;
    auto p = policy::load(file, site, d);
    for (const auto& x : d.all()) cr_log_error("%s", x.str().c_str());
    cr_assert(p.has_value(), "%s does not load", file.c_str());
    return *p;
}

// synth::generate's policy of `rules` rules from `seed` (node syn1).
inline policy::Policy synthetic(uint32_t rules, uint64_t seed) {
    policy::Diagnostics d;
    auto p = policy::load_text(synth::generate({rules, seed, true}), "synthetic.yaml", "", "", d);
    for (const auto& x : d.all()) cr_log_error("%s", x.str().c_str());
    cr_assert(p.has_value(), "the synthetic policy of %u rules does not load", rules);
    return *p;
}

}  // namespace testpol
