#include "model/model.h"

#include <netinet/in.h>

#include <algorithm>

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

bool in_ports(const std::vector<policy::PortRange>& ranges, uint16_t port) {
    return std::any_of(ranges.begin(), ranges.end(),
                       [&](const policy::PortRange& r) { return r.contains(port); });
}

bool in_cidrs(const std::vector<policy::Cidr>& cidrs, const packet::Addr& a, bool skip_any) {
    return std::any_of(cidrs.begin(), cidrs.end(), [&](const policy::Cidr& c) {
        return !(skip_any && c.is_any()) && c.contains(a);
    });
}

}  // namespace

Model::Model(const policy::Policy& p, std::string node) : policy_(p), node_(std::move(node)) {
    for (const auto& r : p.rules)
        sides_.push_back({p.expand(r.src, node_), p.expand(r.dst, node_)});
    for (uint32_t role : {EF_ROLE_EXTERNAL, EF_ROLE_INTERNAL})
        locals_[role] = p.local_addresses(node_, role);
}

void Model::clear() {
    ct_.clear();
    frags_.clear();
}

Model::CtKey Model::ct_key(const packet::Addr& a, uint16_t pa, const packet::Addr& b, uint16_t pb,
                           uint8_t proto, uint32_t role) {
    if (std::tie(b, pb) < std::tie(a, pa)) return {b, pb, a, pa, proto, role};
    return {a, pa, b, pb, proto, role};
}

bool Model::matches(const policy::Rule& r, uint32_t role, Dir dir, const Packet& pkt) const {
    if (pkt.proto != policy::proto_number(r.proto)) return false;
    bool in = dir == Dir::ingress;
    const packet::Addr& local = in ? pkt.dst : pkt.src;
    const packet::Addr& remote = in ? pkt.src : pkt.dst;
    const auto& locals = locals_.at(role);
    if (std::find(locals.begin(), locals.end(), local) == locals.end()) return false;
    // The local side must name this address itself; `any` never makes a side local.
    const Sides& s = sides_[r.index];
    if (!in_cidrs(in ? s.dst : s.src, local, true)) return false;
    if (!in_cidrs(in ? s.src : s.dst, remote, false)) return false;
    if (icmp_proto(pkt.proto)) {
        if (r.icmp_type && *r.icmp_type != pkt.icmp_type) return false;
        if (r.icmp_code && *r.icmp_code != pkt.icmp_code) return false;
        return true;
    }
    return in_ports(r.sport, pkt.sport) && in_ports(r.dport, pkt.dport);
}

const policy::Rule* Model::classify(uint32_t role, const Packet& pkt) const {
    for (const auto& r : policy_.rules)
        if (policy_.rule_enabled(r) && matches(r, role, pkt.dir, pkt)) return &r;
    return nullptr;
}

Verdict Model::no_rule(uint32_t role, Dir dir, uint32_t reason_override) const {
    bool in = dir == Dir::ingress;
    uint32_t reason = role == EF_ROLE_EXTERNAL
                          ? (in ? EF_R_DEFAULT_EXTERNAL_INGRESS : EF_R_DEFAULT_EXTERNAL_EGRESS)
                          : (in ? EF_R_DEFAULT_INTERNAL_INGRESS : EF_R_DEFAULT_INTERNAL_EGRESS);
    bool pass = !in && policy_.egress_mode == EF_EGRESS_TRACK_ONLY;
    return Verdict{pass, false, reason_override < EF_R_COUNT ? reason_override : reason};
}

Verdict Model::icmp_error(uint32_t role, const Packet& pkt) const {
    const auto& q = *pkt.icmp_quote;
    // The quote holds an IP header and 8 bytes of its L4 header.
    packet::Addr src, dst;
    uint8_t proto = 0;
    size_t l4 = 0;
    if (!pkt.dst.is_v4()) {
        if (q.size() < 48) return Verdict{false, false, EF_R_MALFORMED_L4};
        std::copy(q.begin() + 8, q.begin() + 24, src.bytes.begin());
        std::copy(q.begin() + 24, q.begin() + 40, dst.bytes.begin());
        proto = q[6];
        l4 = 40;
    } else {
        if (q.size() < 20) return Verdict{false, false, EF_R_MALFORMED_L4};
        size_t ihl = static_cast<size_t>(q[0] & 0x0f) * 4;
        if (ihl < 20 || q.size() < ihl + 8) return Verdict{false, false, EF_R_MALFORMED_L4};
        src.bytes[10] = src.bytes[11] = dst.bytes[10] = dst.bytes[11] = 0xff;
        std::copy(q.begin() + 12, q.begin() + 16, src.bytes.begin() + 12);
        std::copy(q.begin() + 16, q.begin() + 20, dst.bytes.begin() + 12);
        proto = q[9];
        l4 = ihl;
    }
    uint16_t sp = 0, dp = 0;
    if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
        sp = static_cast<uint16_t>(q[l4] << 8 | q[l4 + 1]);
        dp = static_cast<uint16_t>(q[l4 + 2] << 8 | q[l4 + 3]);
    }
    bool related = ct_.count(ct_key(src, sp, dst, dp, proto, role)) > 0;
    return Verdict{
        related, false,
        related ? uint32_t{EF_R_ICMP_ERROR_RELATED} : uint32_t{EF_R_ICMP_ERROR_UNRELATED}};
}

Verdict Model::run(uint32_t role, const Packet& pkt) {
    if (pkt.vlan_tags.size() > 2) return Verdict{false, false, EF_R_MALFORMED_L2};
    bool v6 = !pkt.dst.is_v4();
    if (v6 && pkt.ipv6_ext.size() + (pkt.fragment ? 1 : 0) > EF_IPV6_EXT_MAX)
        return Verdict{false, false, EF_R_MALFORMED_IPV6};

    // An IPv6 packet whose protocol is itself an extension header type names a
    // header that is not there: the walk runs off the packet.
    if (v6 && (pkt.proto == 0 || pkt.proto == 43 || pkt.proto == 44 || pkt.proto == 60) &&
        !pkt.fragment)
        return Verdict{false, false, EF_R_MALFORMED_IPV6};

    uint32_t frag_id = v6 ? pkt.frag_id : (pkt.frag_id & 0xffff);
    FragKey fkey{pkt.src, pkt.dst, frag_id, pkt.proto, role};
    if (pkt.fragment && pkt.frag_offset > 0) {
        auto f = frags_.find(fkey);
        if (f == frags_.end()) return Verdict{false, false, EF_R_FRAGMENT_UNTRACKED};
        return Verdict{true, true, f->second};
    }

    bool known = pkt.proto == IPPROTO_TCP || pkt.proto == IPPROTO_UDP ||
                 (pkt.proto == IPPROTO_ICMP && !v6) || (pkt.proto == IPPROTO_ICMPV6 && v6);
    if (!known) return no_rule(role, pkt.dir, EF_R_PROTO_UNSUPPORTED);
    if (pkt.proto == IPPROTO_ICMPV6 && pkt.icmp_type >= 133 && pkt.icmp_type <= 137)
        return Verdict{true, false, EF_R_ND_PASS};
    if (is_icmp_error(pkt.proto, pkt.icmp_type)) {
        if (!pkt.icmp_quote) return Verdict{false, false, EF_R_MALFORMED_L4};
        return icmp_error(role, pkt);
    }

    bool ports = pkt.proto == IPPROTO_TCP || pkt.proto == IPPROTO_UDP;
    CtKey key =
        ct_key(pkt.src, ports ? pkt.sport : 0, pkt.dst, ports ? pkt.dport : 0, pkt.proto, role);
    using namespace packet::tcp_flag;
    bool tcp = pkt.proto == IPPROTO_TCP;
    if (auto it = ct_.find(key); it != ct_.end()) {
        uint32_t rule = it->second.rule;
        if (tcp && (pkt.tcp_flags & RST))
            ct_.erase(it);
        else if (tcp && (pkt.tcp_flags & FIN))
            it->second.closing = true;
        return Verdict{true, true, rule};
    }
    if (tcp && (pkt.tcp_flags & (SYN | ACK)) == (SYN | ACK))
        return Verdict{false, false, EF_R_TCP_SYNACK_UNTRACKED};

    const policy::Rule* r = classify(role, pkt);
    if (!r) return no_rule(role, pkt.dir, EF_R_COUNT);
    if (!(tcp && (pkt.tcp_flags & RST))) ct_[key] = Flow{r->index, tcp && (pkt.tcp_flags & FIN)};
    if (pkt.fragment && pkt.frag_offset == 0 && pkt.more_fragments) frags_[fkey] = r->index;
    return Verdict{true, true, r->index};
}

// Interim: reads the frame with packet::parse_frame until the model's own
// frame reader lands.
Verdict Model::run_frame(uint32_t role, packet::Dir dir, std::span<const uint8_t> frame) {
    auto p = packet::parse_frame(frame.data(), frame.size());
    if (!p) return Verdict{false, false, EF_R_MALFORMED_L2};
    p->dir = dir;
    return run(role, *p);
}

}  // namespace model
