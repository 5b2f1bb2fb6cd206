// What a new policy changes for one node, computed symbolically from the two
// policies' placements (compile/placement.h), not by sampling. A new flow is a
// point (role, dir, protocol slot, local address, remote address, dport,
// sport); each policy's first matching placed rule (or the default) decides it.
// The result lists the regions of that space where the decision changes:
// "open" (dropped before, passed now), "close" (passed before, dropped now)
// and "move" (passed by both, under rules that are not the same rule).
// Plain data in, plain data out: no kernel.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "policy/policy.h"

namespace diff {

enum class Change { open, close, move };
const char* change_name(Change c);  // "open", "close", "move"

struct Region {
    Change change = Change::open;
    uint32_t role = 0;  // enum ef_role
    uint32_t dir = 0;   // enum ef_dir
    uint32_t slot = 0;  // enum ef_proto_slot
    packet::Addr local;
    // Remote addresses: the bit prefix `remote` of the 128-bit space (IPv4
    // mapped) minus the prefixes in `except` (each inside `remote`).
    policy::Prefix remote;
    std::vector<policy::Prefix> except;
    policy::PortRange sport, dport;  // ICMP: dport is type << 8 | code, sport 0
    std::string old_rule, new_rule;  // empty: the default
};

struct Result {
    std::vector<Region> regions;
    std::vector<std::pair<std::string, std::string>> renamed;  // old id -> new id, same effect
    std::vector<std::string> relabelled;                       // same id and effect, labels changed
    std::vector<std::string> moved;                            // same id and effect, order changed
    // True when some region opens or closes (moves do not count).
    bool verdict_changes() const;
};

struct Options {
    std::optional<uint32_t> role;  // restrict to one NIC role
};

// Throws compile::Error when `node` is in neither policy.
Result compute(const policy::Policy& old_p, const policy::Policy& new_p, const std::string& node,
               const Options& opts = {});

// Text of the pieces of a region.
const char* slot_name(uint32_t slot);
std::string remote_str(const policy::Prefix& p);  // "any", "192.0.2.0/24", "2001:db8::/32"
std::string ports_str(uint32_t slot, const policy::PortRange& r, bool dport);
std::string remote_text(const Region& r);  // "any", "any except 10.0.0.0/8, 2001:db8::/32"
std::string region_line(const Region& r);
// Whether the region holds a new flow (role, dir, slot, local, remote, ports).
bool contains(const Region& r, uint32_t role, uint32_t dir, uint32_t slot,
              const packet::Addr& local, const packet::Addr& remote, uint16_t sport,
              uint16_t dport);  // "+ open  external ingress udp ... (new rule X)"

}  // namespace diff
