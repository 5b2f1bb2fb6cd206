// The policy model: what a policy file says, resolved (objects expanded, site
// file applied) but not yet compiled. Everything carries its source location.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "policy/cidr.h"
#include "policy/diag.h"

extern "C" {
#include "edgefw_abi.h"
}

namespace policy {

enum class Proto { tcp, udp, icmp, icmp6 };
const char* proto_name(Proto p);
uint8_t proto_number(Proto p);
uint32_t proto_slot(Proto p);  // enum ef_proto_slot
// The slot of an IP protocol number as the data plane files it (tcp, udp,
// icmp; anything else is read as icmp6).
uint32_t proto_slot_of_number(uint8_t ip_proto);

// The NIC roles' names, in one place: policy files, site files, --iface and
// what edgefw prints all use these.
const char* role_name(uint32_t role);                      // "external" / "internal"
std::optional<uint32_t> role_of(const std::string& name);  // nullopt: not a role
const char* dir_name(uint32_t dir);                        // "ingress" / "egress"

// One term of an address expression after resolution: a prefix, or a VIP
// (which a node that backs it reads as the VIP and its own backend address).
struct AddrTerm {
    Cidr cidr;
    std::string vip;  // non-empty: this term is VIP `vip` (cidr = its address)
};

struct AddrExpr {
    std::vector<AddrTerm> terms;
    bool has_any() const;
};

struct Feature {
    std::string name;
    std::string description;
    bool enabled = true;
    Loc loc;
};

struct Interface {
    uint32_t role = EF_ROLE_EXTERNAL;
    std::vector<packet::Addr> addresses;
    Loc loc;
};

struct Node {
    std::string name;
    std::map<uint32_t, Interface> interfaces;  // by role
    std::string assumptions;
    Loc loc;
};

struct Vip {
    std::string name;
    packet::Addr address;
    uint32_t role = EF_ROLE_EXTERNAL;
    std::map<std::string, packet::Addr> backends;  // node name -> backend address
    std::string note;
    Loc loc;
};

struct Rule {
    uint32_t index = 0;  // position in the file: the counter slot
    std::string id;
    std::string table;
    int row = 0;
    std::string edge_role;
    std::string app;
    std::string feature;
    std::string note;
    Proto proto = Proto::tcp;
    AddrExpr src, dst;
    std::vector<PortRange> sport, dport;  // for icmp: unused (any)
    std::optional<uint8_t> icmp_type, icmp_code;
    Loc loc;
};

struct SummaryRow {
    std::string table;
    int row = 0;
    std::string text;
    std::string used_for;
    std::vector<std::string> rules;
    Loc loc;
};

struct Management {
    Cidr src;
    Proto proto = Proto::tcp;
    std::vector<PortRange> dport;
    Loc loc;
};

struct Policy {
    std::string file;
    std::string name;
    std::string source;
    uint32_t egress_mode = EF_EGRESS_ENFORCE;
    ef_ct_timeouts timeouts = EF_CT_TIMEOUTS_DEFAULT;
    std::map<std::string, Feature> features;
    std::map<std::string, Node> nodes;
    std::map<std::string, Vip> vips;
    std::vector<Rule> rules;  // file order
    std::vector<SummaryRow> summary;
    std::vector<Management> management;  // from the site file

    const Rule* find_rule(const std::string& id) const;
    bool rule_enabled(const Rule& r) const;

    // L(I): the interface's addresses plus every VIP of that role the node backs.
    std::vector<packet::Addr> local_addresses(const std::string& node, uint32_t role) const;
    // The prefixes an expression stands for on `node`: a VIP the node backs adds
    // the node's backend address.
    std::vector<Cidr> expand(const AddrExpr& e, const std::string& node) const;
};

inline constexpr size_t kMaxPolicyBytes = 16 * 1024 * 1024;
inline constexpr size_t kMaxObjects = 65536;
// One address expression after objects are expanded: nested objects could
// otherwise multiply without bound.
inline constexpr size_t kMaxExpandedTerms = 65536;

// Site management entries wider than these, or open to every port, are errors
// unless LoadOptions::allow_wide_management.
inline constexpr int kMaxManagementV4Plen = 16;
inline constexpr int kMaxManagementV6Plen = 48;

struct LoadOptions {
    // --allow-wide-management: accept management entries wider than /16 (IPv4)
    // or /48 (IPv6), or with `dport: any`.
    bool allow_wide_management = false;
};

// Reads, checks and resolves a policy and an optional site file. Returns the
// policy only when there is no error; diagnostics holds every problem found.
std::optional<Policy> load(const std::string& policy_path, const std::string& site_path,
                           Diagnostics& diags, const LoadOptions& opts = {});

// Same, from text (for tests and fuzzing); `name` is used in locations.
std::optional<Policy> load_text(const std::string& policy_text, const std::string& policy_name,
                                const std::string& site_text, const std::string& site_name,
                                Diagnostics& diags, const LoadOptions& opts = {});

}  // namespace policy
