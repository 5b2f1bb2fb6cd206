// The pre-attach self-test: boundary packets derived from the compiled policy
// (every placed rule at its port edges and just outside them) run through a
// scratch copy of the freshly built programs and are compared with the model.
// A disagreement means the kernel would not enforce what the policy says.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "image/map_image.h"
#include "packet/packet.h"
#include "policy/policy.h"

namespace lifecycle {

struct Probe {
    uint32_t role = 0;
    packet::Packet pkt;
    std::string rule;     // the rule it was derived from
    bool inside = false;  // inside the rule's ports: the rule (or an earlier one) must pass it
};

std::vector<Probe> boundary_probes(const policy::Policy& p, const std::string& node);

struct SelfTest {
    size_t probes = 0;  // run
    size_t of = 0;      // boundary probes the policy has
    size_t passed = 0;
    std::vector<std::string> mismatches;  // one line each, model vs kernel
};

// The model finds a probe's candidate rules through its port index (O(log n)
// plus the rules whose ports hold the probe's), so every boundary probe runs
// (10,000 synthetic rules have about 84,000). Beyond this many, an evenly
// spaced sample of them runs.
inline constexpr size_t kMaxSelfTestProbes = 1u << 20;

// One probe's outcome, for `edgefw bundle` (which keeps every probe with its result).
struct ProbeResult {
    const Probe* probe = nullptr;
    std::string model, kernel;  // "pass <rule>" / "drop <reason>"
    bool ok = false;            // agree, and a probe inside the rule's ports passes
};

// Throws kernel::Error if the scratch programs cannot be loaded. With `each`,
// it is called once for every probe run.
SelfTest self_test(const policy::Policy& p, const std::string& node, const image::MapImage& img,
                   const std::function<void(const ProbeResult&)>& each = {});

}  // namespace lifecycle
