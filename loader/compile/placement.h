// Placement: where each enabled rule is enforced on one node. Direction is
// derived from addresses (docs/policy-format.md "Direction"), never from the
// seed's (in)/(out).
#pragma once

#include <string>
#include <vector>

#include "policy/policy.h"

namespace compile {

struct Entry {
    const policy::Rule* rule = nullptr;
    uint32_t role = 0;                 // enum ef_role
    uint32_t dir = 0;                  // enum ef_dir
    uint32_t slot = 0;                 // enum ef_proto_slot
    std::vector<packet::Addr> local;   // exact local addresses (narrowed)
    std::vector<policy::Cidr> remote;  // remote prefixes (any = ::/0)
    // Ports are keyed by header field, not by side: the destination port is the
    // service port in both directions (ICMP: type << 8 | code), the source
    // port is almost always `any`, so it is looked up last.
    std::vector<policy::PortRange> dport;
    std::vector<policy::PortRange> sport;
};

// Enabled rules of `node`, one entry per (rule, interface, direction), in rule order.
std::vector<Entry> place(const policy::Policy& p, const std::string& node);

// The ICMP type/code of a rule as a range of (type << 8 | code).
policy::PortRange icmp_range(const policy::Rule& r);

}  // namespace compile
