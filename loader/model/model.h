// The userspace model: the verdict of docs/dataplane.md computed from the
// policy itself (rules in file order), independently of the map image. It is
// the oracle the kernel programs are tested against.
//
// The model judges raw Ethernet frames, read by its own frame reader
// (frame_reader.h); a packet spec is first built into a frame.
//
// The model has no clock: conntrack and fragment entries never expire here.
// The kernel's do (policy `conntrack:` timeouts, EF_FRAG_TIMEOUT_S), so runs
// that compare the two use conntrack timeouts longer than the run and finish
// each fragmented datagram well within EF_FRAG_TIMEOUT_S.
#pragma once

#include <map>
#include <span>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "packet/packet.h"
#include "policy/policy.h"

namespace model {

struct FrameView;

struct Verdict {
    bool pass = false;
    bool by_rule = false;  // counted under a rule (else under a reason)
    uint32_t index = 0;    // rule index or enum ef_reason
};

class Model {
  public:
    Model(const policy::Policy& p, std::string node);

    // One packet on the interface of `role`: build_frame(pkt), then
    // run_frame(role, pkt.dir, frame). Conntrack state carries over.
    Verdict run(uint32_t role, const packet::Packet& pkt);
    // One Ethernet frame as the NIC's hook sees it (ingress: XDP, egress: TC):
    // steps 1-10 of docs/dataplane.md. Conntrack state carries over.
    Verdict run_frame(uint32_t role, packet::Dir dir, std::span<const uint8_t> frame);
    void clear();
    size_t conntrack_entries() const { return ct_.size(); }
    size_t fragment_entries() const { return frags_.size(); }

    // The first enabled rule matching the packet as a new flow, if any
    // (step 8 alone, on the packet's fields).
    const policy::Rule* classify(uint32_t role, const packet::Packet& pkt) const;

  private:
    // What classification and conntrack read of a packet: ports are 0 for
    // anything but TCP/UDP.
    struct Tuple {
        packet::Dir dir = packet::Dir::ingress;
        uint8_t proto = 0;
        packet::Addr src, dst;
        uint16_t sport = 0, dport = 0;
        uint8_t icmp_type = 0, icmp_code = 0;
    };
    // A conntrack entry: the rule that admitted the flow, the hook it was
    // opened on and whether the opener's source was endpoint a of the key.
    struct Flow {
        uint32_t rule = 0;
        bool closing = false;
        packet::Dir opened_dir = packet::Dir::ingress;
        bool opener_is_a = true;
    };
    // Normalised (addr_a, port_a, addr_b, port_b, proto, role).
    using CtKey = std::tuple<packet::Addr, uint16_t, packet::Addr, uint16_t, uint8_t, uint32_t>;
    // (src, dst, id, proto (0 for IPv6), role, dir).
    using FragKey =
        std::tuple<packet::Addr, packet::Addr, uint32_t, uint8_t, uint32_t, packet::Dir>;
    struct FragVerdict {
        bool by_rule = false;
        uint32_t index = 0;
    };

    // Whether r matches t, once t's local side is known to be the role's.
    bool matches_local(const policy::Rule& r, const Tuple& t) const;
    const policy::Rule* first_match(uint32_t role, const Tuple& t) const;
    bool is_local(uint32_t role, const packet::Addr& a) const;
    Verdict no_rule(uint32_t role, packet::Dir dir, uint32_t reason_override) const;
    Verdict judge(uint32_t role, packet::Dir dir, const FrameView& v);
    Verdict icmp_error(uint32_t role, packet::Dir dir, const FrameView& v) const;
    static CtKey ct_key(const Tuple& t, uint32_t role);
    static bool source_is_a(const Tuple& t);
    static bool accepts(const Flow& f, packet::Dir hook, bool src_is_a);

    const policy::Policy& policy_;
    std::string node_;
    // The policy's terms as seen from this node (VIPs it backs expanded), per rule.
    struct Sides {
        std::vector<policy::Cidr> src, dst;
    };
    std::vector<Sides> sides_;
    std::vector<char> enabled_;  // by rule position: its feature is enabled
    std::map<uint32_t, std::vector<packet::Addr>> locals_;  // by role
    // Which rules can match a packet, by protocol and destination port (ICMP:
    // type): a segment tree over the 16-bit key space. A rule's ranges are
    // stored at the canonical nodes that cover them, in file order; a lookup
    // gathers the nodes from the key's leaf up to the root, so first_match
    // checks only the rules whose port (type) matches, in file order.
    // One tree per protocol and side: (local address slot, hook).
    static constexpr uint32_t kKeyBits = 16;
    static uint32_t side_of(uint32_t slot, packet::Dir dir) {
        return slot * 2 + (dir == packet::Dir::ingress ? 0 : 1);
    }
    static uint64_t node_key(uint8_t proto, uint32_t side, uint32_t node) {
        return uint64_t(side) << 28 | uint64_t(proto) << 20 | node;
    }
    void index_rule(uint8_t proto, uint32_t side, uint32_t lo, uint32_t hi, uint32_t pos);
    std::vector<std::pair<uint32_t, packet::Addr>> local_slots_;  // (role, address)
    std::unordered_map<uint64_t, std::vector<uint32_t>> by_port_;
    std::map<CtKey, Flow> ct_;
    std::map<FragKey, FragVerdict> frags_;
};

// ICMP / ICMPv6 types that are errors quoting another packet.
bool is_icmp_error(uint8_t proto, uint8_t type);

}  // namespace model
