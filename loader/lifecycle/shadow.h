// Shadow policies (docs/shadow.md): a candidate policy judged beside the
// enforced one on live traffic. Its verdicts only count; `promote` makes it
// the enforced policy through the hitless reload.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lifecycle/lifecycle.h"
#include "lifecycle/meta.h"

namespace lifecycle {

struct Disagreement {
    std::string kind;  // would_drop | would_pass
    std::string rule;  // would_drop: the enforced rule or reason; would_pass: the candidate's
    uint64_t packets = 0, bytes = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Disagreement, kind, rule, packets, bytes)

struct ShadowStats {
    std::string instance, node;
    ShadowMeta candidate;
    Stats counters;                           // the candidate's rules and reasons
    std::vector<Disagreement> disagreements;  // non-zero ones
};
void to_json(nlohmann::json& j, const ShadowStats& s);

// Compiles a.policy/a.site (or a.bundle) for the instance's node, runs its
// self-test and loads it beside the enforced policy of a.instance. Refused
// (nothing changed) when a candidate is loaded already, on a policy error,
// another node's bundle, a failed self-test or a map limit.
ShadowMeta shadow_start(const LoadArgs& a);
// Removes the candidate; the enforced policy is not touched.
void shadow_stop(const std::string& instance);
// The candidate as the enforced policy, by the hitless reload (a.confirm_secs,
// a.force as for reload), then removed.
void shadow_promote(const LoadArgs& a);
ShadowStats shadow_stats(const std::string& instance);
// The candidate's description, or nullopt when none is loaded.
std::optional<ShadowMeta> read_shadow(const std::string& instance_dir);

// `edgefw shadow log`: the candidate's sampled disagreement events.
void print_shadow_log(const LogArgs& a);

}  // namespace lifecycle
