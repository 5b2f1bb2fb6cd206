// Synthetic policies for tests and benchmarks: N rules over one node with
// mixed exact ports, ranges, lists, CIDRs and source sets, reproducible from
// a seed. Shaped like published port tables: each rule names one local
// address and a service (destination) port; the peer's port is mostly any.
// Addresses stay inside 198.18.0.0/15 and 2001:db8::/32.
#pragma once

#include <cstdint>
#include <string>

namespace synth {

struct Options {
    uint32_t rules = 1000;
    uint64_t seed = 1;
    // When set, the last rule is a known one (bench packets hit it):
    // udp any -> 198.18.0.1 port 65000, "synth-last".
    bool known_last = true;
};

// The policy as YAML text; node "syn1", external and internal interfaces.
std::string generate(const Options& o);

}  // namespace synth
