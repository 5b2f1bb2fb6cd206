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

// Every address a rule names (passed to add) and every port range edge of the
// rules, with its neighbours: the values where verdicts change.
template <class AddAddr>
void add_rule_edges(const policy::Policy& p, AddAddr add, std::vector<uint16_t>& ports) {
    for (const auto& r : p.rules) {
        for (const auto* e : {&r.src, &r.dst})
            for (const auto& t : e->terms)
                if (!t.cidr.is_any()) add(t.cidr.addr);
        for (const auto* ranges : {&r.sport, &r.dport})
            for (const auto& pr : *ranges)
                for (int d : {-1, 0, 1}) {
                    ports.push_back(static_cast<uint16_t>(pr.lo + d));
                    ports.push_back(static_cast<uint16_t>(pr.hi + d));
                }
    }
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
    add_rule_edges(p, add, ports_);
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

namespace testgen {

namespace {

using Bytes = std::vector<uint8_t>;

uint16_t get16(const Bytes& b, size_t off) { return uint16_t(b[off] << 8 | b[off + 1]); }
void set16(Bytes& b, size_t off, uint16_t v) {
    b[off] = uint8_t(v >> 8);
    b[off + 1] = uint8_t(v);
}

// A value near a boundary that matters for a length field: 0, the header's
// own size, what the frame holds, one either side, or anything.
uint16_t near(std::mt19937_64& rng, std::initializer_list<int> anchors) {
    std::vector<int> a(anchors);
    int base = a[rng() % a.size()];
    static const int deltas[] = {0, 0, -1, 1, -8, 8, -20, 20, -40};
    switch (rng() % 8) {
        case 0:
            return static_cast<uint16_t>(rng());
        case 1:
            return 0;
        default:
            return static_cast<uint16_t>(std::max(0, base + deltas[rng() % 9]));
    }
}

bool ext_with_length(uint8_t nh) { return nh == 0 || nh == 43 || nh == 60; }

}  // namespace

FrameLayout layout_of(const Bytes& f) {
    FrameLayout l;
    if (f.size() < 14) return l;
    size_t off = 12;
    uint16_t type = get16(f, off);
    for (int tags = 0; (type == 0x8100 || type == 0x88a8) && tags < 3; tags++) {
        off += 4;
        if (off + 2 > f.size()) return l;
        type = get16(f, off);
    }
    off += 2;
    if (type == 0x0800 && off + 20 <= f.size()) {
        l.l3 = off;
        l.family = 4;
        l.proto = f[off + 9];
        size_t ihl = size_t(f[off] & 0xf) * 4;
        l.l4 = ihl >= 20 && off + ihl <= f.size() ? off + ihl : 0;
    } else if (type == 0x86dd && off + 40 <= f.size()) {
        l.l3 = off;
        l.family = 6;
        uint8_t nh = f[off + 6];
        size_t p = off + 40;
        for (int i = 0; i < 8 && (ext_with_length(nh) || nh == 44); i++) {
            if (p + 8 > f.size()) return l;
            size_t len = nh == 44 ? 8 : (size_t(f[p + 1]) + 1) * 8;
            if (nh == 44)
                l.v6_frag = p;
            else
                l.v6_ext.push_back(p);
            nh = f[p];
            p += len;
        }
        l.proto = nh;
        l.l4 = p <= f.size() ? p : 0;
    }
    return l;
}

FrameMutator::FrameMutator(const policy::Policy& p, const std::string& node) {
    auto add = [&](const packet::Addr& a) {
        (a.is_v4() ? v4_ : v6_).push_back(a);
        if (a.is_v4()) {
            packet::Addr mapped = a;  // ::ffff:a.b.c.d: how the model stores IPv4
            v6_.push_back(mapped);
            packet::Addr compat = a;  // ::a.b.c.d
            compat.bytes[10] = compat.bytes[11] = 0;
            v6_.push_back(compat);
        }
    };
    for (const auto& [name, n] : p.nodes)
        for (const auto& [role, iface] : n.interfaces) {
            for (const auto& a : p.local_addresses(node, role)) add(a);
            for (const auto& a : iface.addresses) add(a);
        }
    add_rule_edges(p, add, ports_);
    for (const char* s :
         {"255.255.255.255", "224.0.0.1", "0.0.0.0", "127.0.0.1", "203.0.113.7", "198.51.100.53"})
        add(*packet::parse_addr(s));
    for (const char* s : {"ff02::1", "::", "::1", "fe80::1", "2001:db8::7", "ff02::1:ff00:1"})
        v6_.push_back(*packet::parse_addr(s));
    if (ports_.empty()) ports_.push_back(443);
}

packet::Addr FrameMutator::pick_addr(std::mt19937_64& rng, bool v6) {
    const auto& pool = v6 ? v6_ : v4_;
    packet::Addr a = pool[rng() % pool.size()];
    if (rng() % 8 == 0) a.bytes[15] ^= static_cast<uint8_t>(1 + rng() % 255);
    return a;
}

void FrameMutator::fix_lengths(Bytes& f) {
    FrameLayout l = layout_of(f);
    if (l.family == 4) {
        set16(f, l.l3 + 2, static_cast<uint16_t>(std::min<size_t>(f.size() - l.l3, 65535)));
    } else if (l.family == 6) {
        set16(f, l.l3 + 4, static_cast<uint16_t>(std::min<size_t>(f.size() - l.l3 - 40, 65535)));
    }
    if (l.l4 && l.proto == IPPROTO_UDP && l.l4 + 8 <= f.size())
        set16(f, l.l4 + 4, static_cast<uint16_t>(std::min<size_t>(f.size() - l.l4, 65535)));
}

void FrameMutator::reverse(Bytes& f) {
    FrameLayout l = layout_of(f);
    if (l.family == 4) {
        for (int i = 0; i < 4; i++) std::swap(f[l.l3 + 12 + i], f[l.l3 + 16 + i]);
    } else if (l.family == 6) {
        for (int i = 0; i < 16; i++) std::swap(f[l.l3 + 8 + i], f[l.l3 + 24 + i]);
    } else {
        return;
    }
    if (l.l4 && (l.proto == IPPROTO_TCP || l.proto == IPPROTO_UDP) && l.l4 + 4 <= f.size()) {
        std::swap(f[l.l4], f[l.l4 + 2]);
        std::swap(f[l.l4 + 1], f[l.l4 + 3]);
    }
    if (l.l4 && l.l4 + 1 <= f.size()) {  // echo request <-> reply
        uint8_t& t = f[l.l4];
        if (l.proto == IPPROTO_ICMP && (t == 8 || t == 0)) t = t == 8 ? 0 : 8;
        if (l.proto == IPPROTO_ICMPV6 && (t == 128 || t == 129)) t = t == 128 ? 129 : 128;
    }
}

const char* FrameMutator::mutate(Bytes& f, std::mt19937_64& rng, const std::vector<Bytes>& others,
                                 size_t max_size) {
    FrameLayout l = layout_of(f);
    auto have = [&](size_t off, size_t n) { return off != 0 && off + n <= f.size(); };
    size_t l4_avail = l.l4 && l.l4 <= f.size() ? f.size() - l.l4 : 0;
    for (int attempt = 0; attempt < 16; attempt++) {
        switch (rng() % 20) {
            case 0:  // IPv4 total length
                if (l.family != 4) break;
                set16(f, l.l3 + 2,
                      near(rng, {int(f.size() - l.l3), 20, int((f[l.l3] & 0xf) * 4),
                                 int(l.l4 ? l.l4 - l.l3 : 20) + 8}));
                return "ipv4_tot_len";
            case 1:  // IHL (and sometimes the version nibble)
                if (l.family != 4) break;
                f[l.l3] = static_cast<uint8_t>((rng() % 16 ? 0x40 : (rng() % 16) << 4) |
                                               (rng() % 2 ? rng() % 16 : 5 + rng() % 3));
                return "ipv4_ihl";
            case 2:  // IPv6 payload length
                if (l.family != 6) break;
                set16(f, l.l3 + 4,
                      near(rng, {int(f.size() - l.l3 - 40), 0, 8,
                                 int(l.l4 ? l.l4 - l.l3 - 40 : 0) + 8}));
                return "ipv6_payload_len";
            case 3:  // extension header length, or a new extension header
                if (l.family != 6) break;
                if (!l.v6_ext.empty() && rng() % 2) {
                    f[l.v6_ext[rng() % l.v6_ext.size()] + 1] =
                        static_cast<uint8_t>(rng() % 4 ? rng() % 3 : rng());
                    return "ipv6_ext_len";
                }
                if (f.size() + 8 > max_size) break;
                {
                    static const uint8_t kinds[] = {0, 43, 60, 60};
                    uint8_t kind = kinds[rng() % 4];
                    size_t at = l.l3 + 40;
                    uint8_t nh = f[l.l3 + 6];
                    f[l.l3 + 6] = kind;
                    uint8_t ext[8] = {nh, 0, 1, 4, 0, 0, 0, 0};  // PadN options
                    if (kind == 43) ext[2] = ext[3] = 0;         // routing type 0, segments left 0
                    f.insert(f.begin() + long(at), ext, ext + 8);
                    if (rng() % 4) set16(f, l.l3 + 4, uint16_t(get16(f, l.l3 + 4) + 8));
                }
                return "ipv6_ext_insert";
            case 4:  // TCP data offset
                if (l.proto != IPPROTO_TCP || !have(l.l4, 13)) break;
                f[l.l4 + 12] = static_cast<uint8_t>((rng() % 16) << 4 | (f[l.l4 + 12] & 0xf));
                return "tcp_doff";
            case 5:  // UDP length
                if (l.proto != IPPROTO_UDP || !have(l.l4, 8)) break;
                set16(f, l.l4 + 4, near(rng, {int(l4_avail), 8, 0}));
                return "udp_len";
            case 6:  // TCP flags
                if (l.proto != IPPROTO_TCP || !have(l.l4, 14)) break;
                {
                    static const uint8_t flags[] = {0x02, 0x12, 0x10, 0x04, 0x14, 0x01,
                                                    0x11, 0x00, 0xff, 0x03, 0x06, 0x18};
                    f[l.l4 + 13] = rng() % 8 ? flags[rng() % 12] : static_cast<uint8_t>(rng());
                }
                return "tcp_flags";
            case 7:  // IPv4 fragment fields: offset, MF, id (reused from another frame)
                if (l.family != 4) break;
                {
                    static const uint16_t offs[] = {0, 0, 1, 2, 3, 4, 185, 0x1fff};
                    uint16_t off = offs[rng() % 8];
                    uint16_t flags = rng() % 2 ? 0x2000 : 0;
                    if (rng() % 8 == 0) flags |= 0x4000;  // DF
                    set16(f, l.l3 + 6, uint16_t(flags | off));
                    if (!others.empty() && rng() % 2) {
                        const Bytes& ob = others[rng() % others.size()];
                        FrameLayout o = layout_of(ob);
                        if (o.family == 4) set16(f, l.l3 + 4, get16(ob, o.l3 + 4));
                    }
                }
                return "ipv4_frag";
            case 8:  // IPv6 fragment header: edit it, or insert one
                if (l.family != 6) break;
                if (l.v6_frag && rng() % 2) {
                    static const uint16_t offs[] = {0, 0, 1, 2, 3, 4, 185, 0x1fff};
                    set16(f, l.v6_frag + 2, uint16_t(offs[rng() % 8] << 3 | (rng() % 2)));
                    if (!others.empty() && rng() % 2) {
                        const Bytes& ob = others[rng() % others.size()];
                        FrameLayout o = layout_of(ob);
                        if (o.v6_frag)
                            std::copy_n(ob.begin() + long(o.v6_frag + 4), 4,
                                        f.begin() + long(l.v6_frag + 4));
                    } else if (rng() % 2) {
                        f[l.v6_frag + 7] = static_cast<uint8_t>(rng());
                    }
                    return "ipv6_frag";
                }
                if (f.size() + 8 > max_size) break;
                {
                    size_t at = l.l3 + 40;
                    uint8_t nh = f[l.l3 + 6];
                    f[l.l3 + 6] = 44;
                    uint16_t off = rng() % 2 ? 0 : static_cast<uint16_t>(rng() % 8);
                    uint8_t fh[8] = {
                        nh, 0, uint8_t(off >> 5),     uint8_t((off << 3) | (rng() % 2)), 0,
                        0,  0, uint8_t(1 + rng() % 3)};
                    f.insert(f.begin() + long(at), fh, fh + 8);
                    set16(f, l.l3 + 4, uint16_t(get16(f, l.l3 + 4) + 8));
                }
                return "ipv6_frag_insert";
            case 9:
            case 10: {  // an address
                if (!l.family) break;
                bool v6 = l.family == 6;
                size_t off = l.l3 + (v6 ? 8 : 12) + (rng() % 2 ? (v6 ? 16 : 4) : 0);
                packet::Addr a = pick_addr(rng, v6);
                if (v6)
                    std::copy(a.bytes.begin(), a.bytes.end(), f.begin() + long(off));
                else
                    std::copy(a.bytes.begin() + 12, a.bytes.end(), f.begin() + long(off));
                return "address";
            }
            case 11:  // a port (ICMP: type and code)
                if (!have(l.l4, 4)) break;
                if (l.proto == IPPROTO_TCP || l.proto == IPPROTO_UDP) {
                    set16(f, l.l4 + (rng() % 2 ? 2 : 0),
                          rng() % 4 ? ports_[rng() % ports_.size()] : static_cast<uint16_t>(rng()));
                    return "port";
                }
                if (l.proto == IPPROTO_ICMP || l.proto == IPPROTO_ICMPV6) {
                    static const uint8_t t4[] = {0, 3, 4, 5, 8, 11, 12, 13, 3};
                    static const uint8_t t6[] = {1, 2, 3, 4, 128, 129, 133, 135, 136, 137, 138};
                    bool v4 = l.proto == IPPROTO_ICMP;
                    if (rng() % 4 == 0) v4 = !v4;  // the other family's numbers
                    f[l.l4] = v4 ? t4[rng() % 9] : t6[rng() % 11];
                    f[l.l4 + 1] = static_cast<uint8_t>(rng() % 4 ? rng() % 5 : rng());
                    return "icmp_type";
                }
                break;
            case 12: {  // ICMP error quote: swap its addresses and ports
                if ((l.proto != IPPROTO_ICMP && l.proto != IPPROTO_ICMPV6) || !have(l.l4, 8)) break;
                Bytes q(14, 0);
                q[12] = l.family == 6 ? 0x86 : 0x08;
                q[13] = l.family == 6 ? 0xdd : 0x00;
                if (rng() % 8 == 0)
                    q[12] = q[12] == 0x86 ? 0x08 : 0x86, q[13] = q[12] == 0x86 ? 0xdd : 0;
                q.insert(q.end(), f.begin() + long(l.l4 + 8), f.end());
                if (layout_of(q).family == 0) break;
                reverse(q);
                std::copy(q.begin() + 14, q.end(), f.begin() + long(l.l4 + 8));
                return "icmp_quote_swap";
            }
            case 13: {  // ICMP error quoting another frame of the sequence
                if ((l.proto != IPPROTO_ICMP && l.proto != IPPROTO_ICMPV6) || !have(l.l4, 8) ||
                    others.empty())
                    break;
                const Bytes& ob = others[rng() % others.size()];
                FrameLayout o = layout_of(ob);
                if (!o.family || !o.l4) break;
                size_t end = std::min(ob.size(), o.l4 + 8);
                Bytes quote(ob.begin() + long(o.l3), ob.begin() + long(end));
                if (rng() % 3 == 0) {  // addressed as the quoted packet's source would see it
                    size_t a = o.family == 4 ? 12 : 8, n = o.family == 4 ? 4 : 16;
                    if (o.family == l.family)
                        std::copy_n(ob.begin() + long(o.l3 + a), n, f.begin() + long(l.l3 + a + n));
                }
                f.resize(l.l4 + 8);
                f.insert(f.end(), quote.begin(), quote.end());
                if (f.size() > max_size) f.resize(max_size);
                static const uint8_t t4[] = {3, 3, 11, 12, 4, 5};
                static const uint8_t t6[] = {1, 1, 2, 3, 4};
                f[l.l4] = l.proto == IPPROTO_ICMP ? t4[rng() % 6] : t6[rng() % 5];
                if (rng() % 4) fix_lengths(f);
                return "icmp_quote_other";
            }
            case 14:  // truncate
                if (f.size() <= 14) break;
                f.resize(14 + rng() % (f.size() - 14));
                return "truncate";
            case 15: {  // padding past the datagram
                size_t n =
                    std::min<size_t>(1 + rng() % 64, max_size - std::min(max_size, f.size()));
                if (!n) break;
                for (size_t i = 0; i < n; i++)
                    f.push_back(rng() % 2 ? 0 : static_cast<uint8_t>(rng()));
                return "pad";
            }
            case 16:
                if (!l.family) break;
                fix_lengths(f);
                return "fix_lengths";
            case 17: {  // ethertype, VLAN tags
                if (f.size() < 14) break;
                size_t et = l.l3 ? l.l3 - 2 : 12;
                if (rng() % 2 && f.size() + 4 <= max_size) {
                    static const uint16_t tp[] = {0x8100, 0x88a8};
                    uint8_t tag[4] = {0, static_cast<uint8_t>(1 + rng() % 100), f[12], f[13]};
                    uint16_t tpid = tp[rng() % 2];
                    f.insert(f.begin() + 14, tag, tag + 4);  // TCI, then the old type
                    set16(f, 12, tpid);
                    return "vlan_insert";
                }
                static const uint16_t types[] = {0x0800, 0x86dd, 0x0806, 0x8100,
                                                 0x88a8, 0x8847, 0x0000};
                set16(f, et, rng() % 8 ? types[rng() % 7] : static_cast<uint16_t>(rng()));
                return "ethertype";
            }
            case 18:  // the IP protocol / next header
                if (!l.family) break;
                {
                    static const uint8_t protos[] = {1, 6, 17, 58, 0, 44, 43, 60, 59, 132};
                    uint8_t v = rng() % 4 ? protos[rng() % 10] : static_cast<uint8_t>(rng());
                    f[l.l3 + (l.family == 4 ? 9 : 6)] = v;
                }
                return "ip_proto";
            case 19:
                reverse(f);
                return "reverse";
        }
    }
    if (!f.empty()) f[rng() % f.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
    return "byte_flip";
}

}  // namespace testgen
