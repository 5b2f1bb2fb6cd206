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
    uint32_t role = 0;  // enum ef_role
    uint32_t dir = 0;   // enum ef_dir
    uint32_t slot = 0;  // enum ef_proto_slot
    std::vector<packet::Addr> local;       // exact local addresses (narrowed)
    std::vector<policy::Cidr> remote;      // remote prefixes (any = ::/0)
    std::vector<policy::PortRange> lport;  // for ICMP: type << 8 | code
    std::vector<policy::PortRange> rport;
};

// Enabled rules of `node`, one entry per (rule, interface, direction), in rule order.
std::vector<Entry> place(const policy::Policy& p, const std::string& node);

// The ICMP type/code of a rule as a range of (type << 8 | code).
policy::PortRange icmp_range(const policy::Rule& r);

}  // namespace compile
