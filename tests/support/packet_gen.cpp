#include "packet_gen.h"

#include <netinet/in.h>

#include <algorithm>

namespace testgen {

namespace {

packet::Addr step(packet::Addr a, int delta) {
    int carry = delta;
    for (int i = 15; i >= 12 && carry; i--) {
        int v = a.bytes[i] + carry;
        a.bytes[i] = static_cast<uint8_t>(v & 0xff);
        carry = v < 0 ? -1 : v >> 8;
    }
    return a;
}

}  // namespace

PacketGen::PacketGen(const policy::Policy& p, const std::string& node, uint64_t seed)
    : policy_(p), node_(node), seed_(seed), rng_(seed) {
    auto add = [&](const packet::Addr& a) {
        auto& v = a.is_v4() ? v4_ : v6_;
        v.push_back(a);
        v.push_back(step(a, 1));
        v.push_back(step(a, -1));
    };
    for (const auto& [name, n] : p.nodes)
        for (const auto& [role, i] : n.interfaces) {
            if (name == node) roles_.push_back(role);
            for (const auto& a : i.addresses) add(a);
        }
    for (const auto& [name, v] : p.vips) {
        add(v.address);
        for (const auto& [n, b] : v.backends) add(b);
    }
    for (const auto& r : p.rules) {
        for (const auto* e : {&r.src, &r.dst})
            for (const auto& t : e->terms)
                if (!t.cidr.is_any()) add(t.cidr.addr);
        for (const auto* ranges : {&r.sport, &r.dport})
            for (const auto& pr : *ranges)
                for (int d : {-1, 0, 1}) {
                    ports_.push_back(static_cast<uint16_t>(pr.lo + d));
                    ports_.push_back(static_cast<uint16_t>(pr.hi + d));
                }
    }
    for (const auto& m : p.management) add(m.src.addr);
    if (v4_.empty()) add(*packet::parse_addr("198.18.0.1"));
    if (v6_.empty()) add(*packet::parse_addr("2001:db8::1"));
    if (roles_.empty()) roles_.push_back(EF_ROLE_EXTERNAL);
}

uint32_t PacketGen::role() { return role_; }

packet::Addr PacketGen::inside(const policy::Cidr& c, bool v6) {
    if (c.is_any()) return addr(v6);
    packet::Addr a = c.addr;
    for (int bit = c.plen; bit < 128; bit++)
        if (rng_() % 2) a.bytes[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
    return a;
}

bool PacketGen::aim(packet::Packet& p) {
    const auto& rules = policy_.rules;
    if (rules.empty()) return false;
    const policy::Rule& r = rules[rng_() % rules.size()];
    auto pick = [&](const policy::AddrExpr& e, bool v6) {
        auto cidrs = policy_.expand(e, node_);
        return inside(cidrs[rng_() % cidrs.size()], v6);
    };
    p.proto = policy::proto_number(r.proto);
    bool v6 = r.proto == policy::Proto::icmp6;
    for (const auto* e : {&r.src, &r.dst})
        for (const auto& t : e->terms)
            if (!t.cidr.is_any()) v6 = !t.cidr.addr.is_v4();
    p.src = pick(r.src, v6);
    p.dst = pick(r.dst, v6);
    if (p.src.is_v4() != p.dst.is_v4()) return false;
    auto in_range = [&](const std::vector<policy::PortRange>& rs) {
        const auto& pr = rs[rng_() % rs.size()];
        switch (rng_() % 3) {
            case 0:
                return pr.lo;
            case 1:
                return pr.hi;
            default:
                return static_cast<uint16_t>(pr.lo + rng_() % (pr.hi - pr.lo + 1u));
        }
    };
    p.sport = in_range(r.sport);
    p.dport = in_range(r.dport);
    if (r.proto == policy::Proto::icmp || r.proto == policy::Proto::icmp6) {
        p.sport = p.dport = 0;
        p.icmp_type = r.icmp_type.value_or(v6 ? 128 : 8);
        p.icmp_code = r.icmp_code.value_or(0);
    }
    // The direction follows whichever side is local; the role is that interface's.
    auto n = policy_.nodes.find(node_);
    if (n == policy_.nodes.end()) return false;
    for (const auto& [role, iface] : n->second.interfaces) {
        auto local = policy_.local_addresses(node_, role);
        bool dst_local = std::find(local.begin(), local.end(), p.dst) != local.end();
        bool src_local = std::find(local.begin(), local.end(), p.src) != local.end();
        if (dst_local || src_local) {
            role_ = role;
            p.dir = dst_local && (!src_local || rng_() % 2) ? packet::Dir::ingress
                                                            : packet::Dir::egress;
            return true;
        }
    }
    return false;
}

packet::Addr PacketGen::addr(bool v6) {
    const auto& pool = v6 ? v6_ : v4_;
    if (rng_() % 8 != 0) return pool[rng_() % pool.size()];
    packet::Addr a = pool[rng_() % pool.size()];  // random neighbour in the same /16
    a.bytes[14] = static_cast<uint8_t>(rng_());
    a.bytes[15] = static_cast<uint8_t>(rng_());
    return a;
}

uint16_t PacketGen::port() {
    if (!ports_.empty() && rng_() % 4 != 0) return ports_[rng_() % ports_.size()];
    return static_cast<uint16_t>(rng_());
}

packet::Packet PacketGen::next() {
    using namespace packet::tcp_flag;
    if (!recent_.empty() && rng_() % 4 == 0) {  // a reply or a later packet of a recent flow
        packet::Packet q = recent_[rng_() % recent_.size()];
        if (rng_() % 2) {
            std::swap(q.src, q.dst);
            std::swap(q.sport, q.dport);
            q.dir = q.dir == packet::Dir::ingress ? packet::Dir::egress : packet::Dir::ingress;
            if (q.proto == IPPROTO_ICMP) q.icmp_type = q.icmp_type == 8 ? 0 : q.icmp_type;
            if (q.proto == IPPROTO_ICMPV6) q.icmp_type = q.icmp_type == 128 ? 129 : q.icmp_type;
        }
        static const uint8_t flags[] = {SYN | ACK, ACK, ACK | PSH, FIN | ACK, RST, RST | ACK};
        q.tcp_flags = flags[rng_() % 6];
        return q;
    }
    packet::Packet p;
    role_ = roles_[rng_() % roles_.size()];
    if (rng_() % 2 && aim(p)) {
        static const uint8_t flags[] = {SYN, SYN, ACK, FIN | ACK, RST};
        p.tcp_flags = p.proto == IPPROTO_TCP ? flags[rng_() % 5] : 0;
        remember(p);
        return p;
    }
    p = packet::Packet{};
    p.dir = rng_() % 2 ? packet::Dir::ingress : packet::Dir::egress;
    bool v6 = rng_() % 10 == 0;
    p.src = addr(v6);
    p.dst = addr(v6);
    switch (rng_() % 10) {
        case 0:
            p.proto = static_cast<uint8_t>(v6 ? int{IPPROTO_ICMPV6} : int{IPPROTO_ICMP});
            break;
        case 1:
        case 2:
        case 3:
        case 4:
            p.proto = IPPROTO_UDP;
            break;
        default:
            p.proto = IPPROTO_TCP;
            break;
    }
    if (p.proto == IPPROTO_TCP || p.proto == IPPROTO_UDP) {
        p.sport = port();
        p.dport = port();
    }
    static const uint8_t tcp_flags[] = {SYN, SYN, SYN, SYN | ACK, ACK, FIN | ACK, RST};
    p.tcp_flags = p.proto == IPPROTO_TCP ? tcp_flags[rng_() % 7] : 0;
    if (p.proto == IPPROTO_ICMP) p.icmp_type = rng_() % 2 ? 8 : static_cast<uint8_t>(rng_() % 20);
    if (p.proto == IPPROTO_ICMPV6)
        p.icmp_type = rng_() % 2 ? 128 : static_cast<uint8_t>(128 + rng_() % 10);
    if (p.proto == IPPROTO_ICMP && (p.icmp_type == 3 || p.icmp_type == 4 || p.icmp_type == 5 ||
                                    p.icmp_type == 11 || p.icmp_type == 12))
        p.icmp_type = 8;  // errors are built separately, with a quote
    if (rng_() % 16 == 0) p.vlan_tags = {static_cast<uint16_t>(1 + rng_() % 4094)};
    if (rng_() % 32 == 0) p.vlan_tags = {100, 200};
    if (!v6 && rng_() % 16 == 0) p.ipv4_option_words = static_cast<uint8_t>(1 + rng_() % 10);
    if (v6 && rng_() % 8 == 0) p.ipv6_ext = {0, 60};
    if (rng_() % 32 == 0) {  // an ICMP error quoting a recent flow (or a made-up one)
        packet::Packet q = recent_.empty() ? p : recent_[rng_() % recent_.size()];
        if (q.src.is_v4() == p.src.is_v4() && (q.proto == IPPROTO_TCP || q.proto == IPPROTO_UDP)) {
            p.proto = static_cast<uint8_t>(v6 ? int{IPPROTO_ICMPV6} : int{IPPROTO_ICMP});
            p.icmp_type = v6 ? 1 : 3;
            p.icmp_code = v6 ? 4 : 3;
            p.sport = p.dport = 0;
            p.tcp_flags = 0;
            if (rng_() % 2) std::swap(q.src, q.dst), std::swap(q.sport, q.dport);
            p.icmp_quote = packet::quote_of(q);
        }
    }
    remember(p);
    return p;
}

void PacketGen::remember(const packet::Packet& p) {
    if (recent_.size() < 64)
        recent_.push_back(p);
    else
        recent_[rng_() % recent_.size()] = p;
}

}  // namespace testgen
