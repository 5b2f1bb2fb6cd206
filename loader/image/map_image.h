// The map image: exactly the keys and values the kernel side writes for one
// node. Plain data; produced by compile::, consumed by kernel:: and by tests.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

extern "C" {
#include "edgefw_abi.h"
}

namespace image {

// One contiguous run of local ports (or ICMP type<<8|code) in one combo that
// maps to the same port class. The kernel side expands it into ef_port_class.
struct PortClassRange {
    uint32_t combo = 0;  // EF_COMBO(role, dir, proto slot)
    uint16_t lo = 0;
    uint16_t hi = 0;
    uint32_t port_class = 0;  // never 0: 0 means "no rule for this port"
    // Every source port the class's rules name lies in [sport_lo, sport_hi]
    // (struct ef_port_class_value).
    uint16_t sport_lo = 0;
    uint16_t sport_hi = 65535;
};

struct LocalEntry {
    ef_local_key key{};
    uint32_t bucket = 0;  // never 0; EF_DIRECT_RULE | rule when the match ends here
};

struct RemoteEntry {
    ef_remote_key key{};
    uint32_t remote_class = 0;  // never 0; EF_DIRECT_RULE | rule when the match ends here
};

struct SportEntry {
    ef_sport_key key{};
    uint32_t rule_plus_one = 0;  // rule index + 1
};

// What a counter slot means, for stats, explain and test output.
struct RuleInfo {
    uint32_t index = 0;  // counter slot, stable for a rule id within a policy
    std::string id;
    std::string app;
    std::string note;
    std::string feature;
    std::string proto;  // "tcp", "udp", "icmp", "icmp6"
    // Where the rule is enforced on this node: (role, dir) pairs, enum ef_role / ef_dir.
    std::vector<std::pair<uint32_t, uint32_t>> placements;
};

struct IfaceInfo {
    uint32_t role = 0;                   // enum ef_role
    std::vector<std::string> addresses;  // local addresses, VIPs it backs included
};

struct MapImage {
    std::string policy_name;
    std::string node;
    std::string policy_hash;  // sha-like hex of the canonical image
    uint32_t egress_mode[EF_ROLE_COUNT] = {EF_EGRESS_ENFORCE, EF_EGRESS_ENFORCE};
    ef_ct_timeouts ct_timeouts = EF_CT_TIMEOUTS_DEFAULT;
    std::vector<IfaceInfo> ifaces;
    std::vector<RuleInfo> rules;  // rules enforced on this node, by ascending index
    std::vector<PortClassRange> port_classes;
    std::vector<LocalEntry> locals;
    std::vector<RemoteEntry> remotes;
    std::vector<SportEntry> sports;
    // ef_local_addrs: every address local to a role (anti-spoofing), sorted.
    std::vector<ef_local_addr_key> local_addrs;
};

}  // namespace image
