// The userspace model: the verdict of docs/dataplane.md computed from the
// policy itself (rules in file order), independently of the map image. It is
// the oracle the kernel programs are tested against.
#pragma once

#include <map>
#include <span>
#include <string>
#include <tuple>

#include "packet/packet.h"
#include "policy/policy.h"

namespace model {

struct Verdict {
    bool pass = false;
    bool by_rule = false;  // counted under a rule (else under a reason)
    uint32_t index = 0;    // rule index or enum ef_reason
};

class Model {
  public:
    Model(const policy::Policy& p, std::string node);

    // One packet on the interface of `role`; conntrack state carries over.
    Verdict run(uint32_t role, const packet::Packet& pkt);
    // One Ethernet frame as the NIC's hook sees it (ingress: XDP, egress: TC),
    // read by the model's own parser; conntrack state carries over.
    Verdict run_frame(uint32_t role, packet::Dir dir, std::span<const uint8_t> frame);
    void clear();
    size_t conntrack_entries() const { return ct_.size(); }

    // The first enabled rule matching the packet as a new flow, if any.
    const policy::Rule* classify(uint32_t role, const packet::Packet& pkt) const;

  private:
    struct Flow {
        uint32_t rule = 0;
        bool closing = false;
    };
    using CtKey = std::tuple<packet::Addr, uint16_t, packet::Addr, uint16_t, uint8_t, uint32_t>;
    using FragKey = std::tuple<packet::Addr, packet::Addr, uint32_t, uint8_t, uint32_t>;

    bool matches(const policy::Rule& r, uint32_t role, packet::Dir dir,
                 const packet::Packet& pkt) const;
    Verdict no_rule(uint32_t role, packet::Dir dir, uint32_t reason_override) const;
    Verdict icmp_error(uint32_t role, const packet::Packet& pkt) const;
    static CtKey ct_key(const packet::Addr& a, uint16_t pa, const packet::Addr& b, uint16_t pb,
                        uint8_t proto, uint32_t role);

    const policy::Policy& policy_;
    std::string node_;
    // The policy's terms as seen from this node (VIPs it backs expanded), per rule.
    struct Sides {
        std::vector<policy::Cidr> src, dst;
    };
    std::vector<Sides> sides_;
    std::map<uint32_t, std::vector<packet::Addr>> locals_;  // by role
    std::map<CtKey, Flow> ct_;
    std::map<FragKey, uint32_t> frags_;
};

// ICMP / ICMPv6 types that are errors quoting another packet.
bool is_icmp_error(uint8_t proto, uint8_t type);

}  // namespace model
