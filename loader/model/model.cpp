#include "model/model.h"

#include <netinet/in.h>

#include <algorithm>

#include "model/frame_reader.h"

namespace model {

using packet::Dir;
using packet::Packet;

bool is_icmp_error(uint8_t proto, uint8_t type) {
    if (proto == IPPROTO_ICMP)
        return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
    if (proto == IPPROTO_ICMPV6) return type >= 1 && type <= 4;
    return false;
}

namespace {

bool icmp_proto(uint8_t proto) { return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6; }
bool port_proto(uint8_t proto) { return proto == IPPROTO_TCP || proto == IPPROTO_UDP; }

Dir opposite(Dir d) { return d == Dir::ingress ? Dir::egress : Dir::ingress; }

bool in_ports(const std::vector<policy::PortRange>& ranges, uint16_t port) {
    return std::any_of(ranges.begin(), ranges.end(),
                       [&](const policy::PortRange& r) { return r.contains(port); });
}

// Prefix matching is policy::Cidr::contains, which decides how families meet.
bool in_cidrs(const std::vector<policy::Cidr>& cidrs, const packet::Addr& a, bool skip_any) {
    return std::any_of(cidrs.begin(), cidrs.end(), [&](const policy::Cidr& c) {
        return !(skip_any && c.is_any()) && c.contains(a);
    });
}

// A verdict counted under a reason: the reasons that pass are the host's own
// needs (ARP, neighbour discovery) and errors of tracked flows.
Verdict reason(uint32_t r) {
    bool pass = r == EF_R_ARP_PASS || r == EF_R_ND_PASS || r == EF_R_ICMP_ERROR_RELATED;
    return Verdict{pass, false, r};
}

}  // namespace

Model::Model(const policy::Policy& p, std::string node) : policy_(p), node_(std::move(node)) {
    for (const auto& r : p.rules)
        sides_.push_back({p.expand(r.src, node_), p.expand(r.dst, node_)});
    for (uint32_t role : {EF_ROLE_EXTERNAL, EF_ROLE_INTERNAL})
        locals_[role] = p.local_addresses(node_, role);
    for (const auto& r : p.rules) enabled_.push_back(p.rule_enabled(r));
    for (const auto& [role, addrs] : locals_)
        for (const auto& a : addrs) local_slots_.push_back({role, a});
    for (uint32_t pos = 0; pos < p.rules.size(); pos++) {
        const policy::Rule& r = p.rules[pos];
        uint8_t proto = policy::proto_number(r.proto);
        // The sides a packet can match this rule from: the local address must
        // be named by the rule itself on the local side (matches_local()).
        std::vector<uint32_t> sides;
        for (uint32_t slot = 0; slot < local_slots_.size(); slot++)
            for (Dir dir : {Dir::ingress, Dir::egress}) {
                const Sides& sd = sides_[pos];
                if (in_cidrs(dir == Dir::ingress ? sd.dst : sd.src, local_slots_[slot].second,
                             true))
                    sides.push_back(side_of(slot, dir));
            }
        for (uint32_t side : sides) {
            if (icmp_proto(proto)) {
                // matches_local(): a type given must equal the packet's; none matches every type.
                if (r.icmp_type)
                    index_rule(proto, side, *r.icmp_type, *r.icmp_type, pos);
                else
                    index_rule(proto, side, 0, 255, pos);
            } else {
                for (const auto& range : r.dport)
                    if (range.lo <= range.hi) index_rule(proto, side, range.lo, range.hi, pos);
            }
        }
    }
}

// [lo, hi] as the canonical nodes of the segment tree over [0, 2^16): node 1
// is the root, node n's children are 2n and 2n + 1, key k's leaf is 2^16 + k.
void Model::index_rule(uint8_t proto, uint32_t side, uint32_t lo, uint32_t hi, uint32_t pos) {
    uint32_t l = lo + (1u << kKeyBits), r = hi + (1u << kKeyBits) + 1;  // [l, r)
    for (; l < r; l >>= 1, r >>= 1) {
        if (l & 1) {
            auto& v = by_port_[node_key(proto, side, l++)];
            if (v.empty() || v.back() != pos) v.push_back(pos);
        }
        if (r & 1) {
            auto& v = by_port_[node_key(proto, side, --r)];
            if (v.empty() || v.back() != pos) v.push_back(pos);
        }
    }
}

void Model::clear() {
    ct_.clear();
    frags_.clear();
}

bool Model::source_is_a(const Tuple& t) {
    // Endpoint a is the smaller (address, port); the source is a unless the
    // destination is strictly smaller (a packet to itself: the source is a).
    return !(std::tie(t.dst, t.dport) < std::tie(t.src, t.sport));
}

Model::CtKey Model::ct_key(const Tuple& t, uint32_t role) {
    if (source_is_a(t)) return {t.src, t.sport, t.dst, t.dport, t.proto, role};
    return {t.dst, t.dport, t.src, t.sport, t.proto, role};
}

// Step 6's direction rule: on the hook the flow was opened on, the packet
// comes from the opener; on the other hook, from the other endpoint.
bool Model::accepts(const Flow& f, Dir hook, bool src_is_a) {
    return hook == f.opened_dir ? src_is_a == f.opener_is_a : src_is_a != f.opener_is_a;
}

bool Model::is_local(uint32_t role, const packet::Addr& a) const {
    auto it = locals_.find(role);
    return it != locals_.end() &&
           std::find(it->second.begin(), it->second.end(), a) != it->second.end();
}

bool Model::matches_local(const policy::Rule& r, const Tuple& t) const {
    bool in = t.dir == Dir::ingress;
    const packet::Addr& local = in ? t.dst : t.src;
    const packet::Addr& remote = in ? t.src : t.dst;
    // The local side must name this address itself; `any` never makes a side local.
    const Sides& s = sides_[r.index];
    if (!in_cidrs(in ? s.dst : s.src, local, true)) return false;
    if (!in_cidrs(in ? s.src : s.dst, remote, false)) return false;
    if (icmp_proto(t.proto)) {
        if (r.icmp_type && *r.icmp_type != t.icmp_type) return false;
        if (r.icmp_code && *r.icmp_code != t.icmp_code) return false;
        return true;
    }
    return in_ports(r.sport, t.sport) && in_ports(r.dport, t.dport);
}

const policy::Rule* Model::first_match(uint32_t role, const Tuple& t) const {
    // A rule matches only a packet whose local side is one of the role's
    // addresses and is named by the rule: the index is per (address, hook).
    const packet::Addr& local = t.dir == Dir::ingress ? t.dst : t.src;
    uint32_t slot = 0;
    while (slot < local_slots_.size() &&
           !(local_slots_[slot].first == role && local_slots_[slot].second == local))
        slot++;
    if (slot == local_slots_.size()) return nullptr;
    // The rules whose port (ICMP: type) can match, in file order; matches_local()
    // still checks everything.
    uint32_t key = icmp_proto(t.proto) ? t.icmp_type : t.dport;
    std::vector<uint32_t> candidates;
    for (uint32_t n = key + (1u << kKeyBits); n >= 1; n >>= 1) {
        auto it = by_port_.find(node_key(t.proto, side_of(slot, t.dir), n));
        if (it != by_port_.end())
            candidates.insert(candidates.end(), it->second.begin(), it->second.end());
    }
    std::sort(candidates.begin(), candidates.end());
    for (uint32_t pos : candidates) {
        const policy::Rule& r = policy_.rules[pos];
        if (enabled_[pos] && t.proto == policy::proto_number(r.proto) && matches_local(r, t))
            return &r;
    }
    return nullptr;
}

const policy::Rule* Model::classify(uint32_t role, const Packet& pkt) const {
    Tuple t{pkt.dir, pkt.proto, pkt.src, pkt.dst, 0, 0, pkt.icmp_type, pkt.icmp_code};
    if (port_proto(pkt.proto)) {
        t.sport = pkt.sport;
        t.dport = pkt.dport;
    }
    return first_match(role, t);
}

// Step 10 (and proto_unsupported, which takes the same verdict).
Verdict Model::no_rule(uint32_t role, Dir dir, uint32_t reason_override) const {
    bool in = dir == Dir::ingress;
    uint32_t r = role == EF_ROLE_EXTERNAL
                     ? (in ? EF_R_DEFAULT_EXTERNAL_INGRESS : EF_R_DEFAULT_EXTERNAL_EGRESS)
                     : (in ? EF_R_DEFAULT_INTERNAL_INGRESS : EF_R_DEFAULT_INTERNAL_EGRESS);
    bool pass = !in && policy_.egress_mode == EF_EGRESS_TRACK_ONLY;
    return Verdict{pass, false, reason_override < EF_R_COUNT ? reason_override : r};
}

// Step 5 for a well-formed quote: the error relates to a flow only if it is
// addressed to the quoted packet's source and the quoted packet is one the
// flow's entry accepts on the hook opposite to the error's.
Verdict Model::icmp_error(uint32_t role, Dir dir, const FrameView& v) const {
    const QuotedTuple& q = v.quoted;
    if (v.dst != q.src) return reason(EF_R_ICMP_ERROR_UNRELATED);
    Tuple quoted{opposite(dir), q.proto, q.src, q.dst, q.sport, q.dport, 0, 0};
    auto it = ct_.find(ct_key(quoted, role));
    if (it == ct_.end() || !accepts(it->second, quoted.dir, source_is_a(quoted)))
        return reason(EF_R_ICMP_ERROR_UNRELATED);
    return reason(EF_R_ICMP_ERROR_RELATED);
}

// Steps 4-10 for a packet that is not a later fragment.
Verdict Model::judge(uint32_t role, Dir dir, const FrameView& v) {
    // Step 4.
    if (!family_protocol(v.v6, v.proto)) return no_rule(role, dir, EF_R_PROTO_UNSUPPORTED);
    if (v.l4 != L4State::ok) return reason(EF_R_MALFORMED_L4);
    if (v.proto == IPPROTO_ICMPV6 && v.icmp_type >= 133 && v.icmp_type <= 137)
        return reason(EF_R_ND_PASS);

    // Step 5: source quench and redirect never relate, whatever they quote.
    if (is_icmp_error(v.proto, v.icmp_type)) {
        if (v.proto == IPPROTO_ICMP && (v.icmp_type == 4 || v.icmp_type == 5))
            return reason(EF_R_ICMP_ERROR_UNRELATED);
        if (v.quote != QuoteState::ok) return reason(EF_R_MALFORMED_L4);
        return icmp_error(role, dir, v);
    }

    // Step 6.
    Tuple t{dir, v.proto, v.src, v.dst, 0, 0, v.icmp_type, v.icmp_code};
    if (port_proto(v.proto)) {
        t.sport = v.sport;
        t.dport = v.dport;
    }
    using namespace packet::tcp_flag;
    bool tcp = v.proto == IPPROTO_TCP;
    bool src_is_a = source_is_a(t);
    CtKey key = ct_key(t, role);
    if (auto it = ct_.find(key); it != ct_.end() && accepts(it->second, dir, src_is_a)) {
        // A RST does not end the flow: it could be blind. (The kernel moves
        // the flow to the closing timeout until its next other packet; the
        // model has no clock, so the entry simply stays.)
        uint32_t rule = it->second.rule;
        if (tcp && !(v.tcp_flags & RST) && (v.tcp_flags & FIN)) it->second.closing = true;
        return Verdict{true, true, rule};
    }

    // Step 7.
    if (tcp && (v.tcp_flags & (SYN | ACK)) == (SYN | ACK)) return reason(EF_R_TCP_SYNACK_UNTRACKED);

    // Steps 8-10. A rule's entry replaces one step 6 did not accept; an RST
    // creates none (and leaves any entry as it was).
    const policy::Rule* r = first_match(role, t);
    if (!r) return no_rule(role, dir, EF_R_COUNT);
    if (!(tcp && (v.tcp_flags & RST)))
        ct_[key] = Flow{r->index, tcp && (v.tcp_flags & FIN) != 0, dir, src_is_a};
    return Verdict{true, true, r->index};
}

Verdict Model::run_frame(uint32_t role, Dir dir, std::span<const uint8_t> frame) {
    // Steps 1-2: layer 2, the IP header and the datagram's extent.
    FrameRead read = read_frame(frame);
    if (read.reason) return reason(*read.reason);
    const FrameView& v = read.view;

    // Step 2: families, then anti-spoofing.
    if (v.v6 && (ipv6_mapped_or_compatible(v.src) || ipv6_mapped_or_compatible(v.dst)))
        return reason(EF_R_IPV6_MAPPED_ADDRESS);
    if (dir == Dir::ingress && is_local(role, v.src)) return reason(EF_R_SPOOFED_SOURCE);

    // Step 3: the datagram's identity (RFC 791: src, dst, protocol, id;
    // RFC 8200: src, dst, id), plus role and direction.
    FragKey fkey{v.src, v.dst, v.frag_id, v.v6 ? uint8_t{0} : v.proto, role, dir};
    if (v.later_fragment()) {
        if (uint32_t(v.frag_offset) * 8 < EF_FRAG_MIN_LATER_OFFSET)
            return reason(v.v6 ? EF_R_MALFORMED_IPV6 : EF_R_MALFORMED_IPV4);
        auto it = frags_.find(fkey);
        if (it == frags_.end()) return reason(EF_R_FRAGMENT_UNTRACKED);
        return Verdict{true, it->second.by_rule, it->second.index};
    }

    Verdict out = judge(role, dir, v);
    if (v.first_fragment()) {
        if (out.pass)
            frags_[fkey] = FragVerdict{out.by_rule, out.index};
        else
            frags_.erase(fkey);
    }
    return out;
}

Verdict Model::run(uint32_t role, const Packet& pkt) {
    std::vector<uint8_t> frame = packet::build_frame(pkt);
    return run_frame(role, pkt.dir, frame);
}

}  // namespace model
