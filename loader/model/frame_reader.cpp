// The model's frame reader (see frame_reader.h). Offsets below are absolute
// positions in the frame; `end` is always the datagram's end, never the
// frame's, once layer 3 has been read.
#include "model/frame_reader.h"

#include <netinet/in.h>

#include <algorithm>

namespace model {

namespace {

constexpr size_t kEthernetHeader = 14;  // destination, source, ethertype
constexpr size_t kVlanTag = 4;          // TCI, then the inner ethertype
constexpr unsigned kMaxVlanTags = 2;
constexpr uint16_t kEtherIPv4 = 0x0800, kEtherIPv6 = 0x86dd, kEtherArp = 0x0806;
constexpr uint16_t kTpid8021Q = 0x8100, kTpid8021AD = 0x88a8;

constexpr size_t kIPv4MinHeader = 20;  // RFC 791: IHL >= 5 words
constexpr size_t kIPv6Header = 40;     // RFC 8200 section 3
constexpr size_t kIPv6ExtUnit = 8;     // extension lengths count 8-octet units
constexpr size_t kIPv6FragHeader = 8;  // RFC 8200 section 4.5: fixed size
constexpr uint8_t kHopByHop = 0, kRouting = 43, kFragment = 44, kDestOpts = 60;

constexpr size_t kTcpMinHeader = 20;  // RFC 9293: data offset >= 5 words
constexpr size_t kUdpHeader = 8;      // RFC 768
constexpr size_t kIcmpHeader = 8;     // type, code, checksum, 4 bytes of the rest
constexpr size_t kQuotedL4 = 8;       // RFC 792 / 4443: the quote's first 8 L4 bytes

uint16_t be16(std::span<const uint8_t> f, size_t off) {
    return uint16_t(uint16_t(f[off]) << 8 | f[off + 1]);
}
uint32_t be32(std::span<const uint8_t> f, size_t off) {
    return uint32_t(be16(f, off)) << 16 | be16(f, off + 2);
}

packet::Addr ipv4_addr(std::span<const uint8_t> f, size_t off) {
    packet::Addr a;
    a.bytes[10] = a.bytes[11] = 0xff;
    std::copy_n(f.begin() + long(off), 4, a.bytes.begin() + 12);
    return a;
}
packet::Addr ipv6_addr(std::span<const uint8_t> f, size_t off) {
    packet::Addr a;
    std::copy_n(f.begin() + long(off), 16, a.bytes.begin());
    return a;
}

bool ipv6_extension(uint8_t next) {
    return next == kHopByHop || next == kRouting || next == kFragment || next == kDestOpts;
}

// [begin, end) holds at least n bytes.
bool holds(size_t begin, size_t end, size_t n) { return begin <= end && end - begin >= n; }

// RFC 791: version, IHL, total length; the frame must hold the datagram.
std::optional<uint32_t> read_ipv4(std::span<const uint8_t> f, FrameView& v) {
    size_t l3 = v.l3_off;
    if (!holds(l3, f.size(), kIPv4MinHeader)) return EF_R_MALFORMED_IPV4;
    if (f[l3] >> 4 != 4) return EF_R_MALFORMED_IPV4;
    size_t ihl = size_t(f[l3] & 0x0f) * 4;
    size_t total = be16(f, l3 + 2);
    if (ihl < kIPv4MinHeader || total < ihl) return EF_R_MALFORMED_IPV4;
    if (!holds(l3, f.size(), total)) return EF_R_MALFORMED_IPV4;
    v.datagram_end = l3 + total;
    v.l4_off = l3 + ihl;
    v.frag_id = be16(f, l3 + 4);
    uint16_t flags_offset = be16(f, l3 + 6);
    v.more_fragments = (flags_offset & 0x2000) != 0;
    v.frag_offset = flags_offset & 0x1fff;
    v.fragment = v.more_fragments || v.frag_offset != 0;
    v.proto = f[l3 + 9];
    v.src = ipv4_addr(f, l3 + 12);
    v.dst = ipv4_addr(f, l3 + 16);
    return std::nullopt;
}

// RFC 8200: version, payload length, then the extension chain, every header
// inside the datagram, at most EF_IPV6_EXT_MAX of them. A fragment header
// with a non-zero offset ends the walk: what follows it is the fragmentable
// part of the original packet, carried as data.
std::optional<uint32_t> read_ipv6(std::span<const uint8_t> f, FrameView& v) {
    size_t l3 = v.l3_off;
    if (!holds(l3, f.size(), kIPv6Header)) return EF_R_MALFORMED_IPV6;
    if (f[l3] >> 4 != 6) return EF_R_MALFORMED_IPV6;
    size_t end = l3 + kIPv6Header + be16(f, l3 + 4);
    if (end > f.size()) return EF_R_MALFORMED_IPV6;
    v.datagram_end = end;
    v.src = ipv6_addr(f, l3 + 8);
    v.dst = ipv6_addr(f, l3 + 24);

    uint8_t next = f[l3 + 6];
    size_t pos = l3 + kIPv6Header;
    while (ipv6_extension(next)) {
        if (v.ipv6_ext.size() == EF_IPV6_EXT_MAX) return EF_R_MALFORMED_IPV6;
        if (!holds(pos, end, kIPv6ExtUnit)) return EF_R_MALFORMED_IPV6;
        size_t len = next == kFragment ? kIPv6FragHeader : (size_t(f[pos + 1]) + 1) * kIPv6ExtUnit;
        if (!holds(pos, end, len)) return EF_R_MALFORMED_IPV6;
        v.ipv6_ext.push_back(next);
        uint8_t following = f[pos];
        if (next == kFragment) {
            // One fragment header at most (RFC 8200 4.1): a second one would
            // say again which datagram, and which part of it, this is.
            if (std::count(v.ipv6_ext.begin(), v.ipv6_ext.end() - 1, kFragment) > 0)
                return EF_R_MALFORMED_IPV6;
            // Offset (13 bits) and M flag.
            uint16_t offset_flags = be16(f, pos + 2);
            v.frag_offset = uint16_t(offset_flags >> 3);
            v.more_fragments = (offset_flags & 1) != 0;
            v.frag_id = be32(f, pos + 4);
            v.fragment = v.more_fragments || v.frag_offset != 0;
        }
        pos += len;
        next = following;
        if (v.later_fragment()) break;
    }
    v.proto = next;
    v.l4_off = pos;
    return std::nullopt;
}

// Step 4: the transport header, inside the datagram.
void read_l4(std::span<const uint8_t> f, FrameView& v) {
    size_t l4 = v.l4_off, end = v.datagram_end;
    v.l4 = L4State::malformed;
    switch (v.proto) {
        case IPPROTO_TCP: {
            if (!holds(l4, end, kTcpMinHeader)) return;
            v.tcp_doff = uint8_t(f[l4 + 12] >> 4);
            if (v.tcp_doff < 5 || !holds(l4, end, size_t(v.tcp_doff) * 4)) return;
            v.sport = be16(f, l4);
            v.dport = be16(f, l4 + 2);
            v.tcp_flags = f[l4 + 13];
            break;
        }
        case IPPROTO_UDP: {
            if (!holds(l4, end, kUdpHeader)) return;
            v.udp_len = be16(f, l4 + 4);
            if (v.udp_len < kUdpHeader) return;
            // A first fragment carries only part of the UDP datagram.
            if (!v.first_fragment() && !holds(l4, end, v.udp_len)) return;
            v.sport = be16(f, l4);
            v.dport = be16(f, l4 + 2);
            break;
        }
        default: {  // ICMP over IPv4, ICMPv6 over IPv6
            if (!holds(l4, end, kIcmpHeader)) return;
            v.icmp_type = f[l4];
            v.icmp_code = f[l4 + 1];
            break;
        }
    }
    v.l4 = L4State::ok;
}

bool error_with_quote(bool v6, uint8_t type) {
    if (v6) return type >= 1 && type <= 4;  // unreachable, too big, time exceeded, parameter
    return type == 3 || type == 11 || type == 12;
}

// Step 5: the quoted IP header of the outer family and 8 bytes after it,
// inside the outer datagram.
void read_quote(std::span<const uint8_t> f, FrameView& v) {
    size_t q = v.l4_off + kIcmpHeader, end = v.datagram_end;
    QuotedTuple& t = v.quoted;
    v.quote = QuoteState::malformed;
    size_t header;
    if (!v.v6) {
        if (!holds(q, end, kIPv4MinHeader) || f[q] >> 4 != 4) return;
        header = size_t(f[q] & 0x0f) * 4;
        if (header < kIPv4MinHeader || !holds(q, end, header + kQuotedL4)) return;
        t.proto = f[q + 9];
        t.src = ipv4_addr(f, q + 12);
        t.dst = ipv4_addr(f, q + 16);
    } else {
        header = kIPv6Header;
        if (!holds(q, end, header + kQuotedL4) || f[q] >> 4 != 6) return;
        t.proto = f[q + 6];
        t.src = ipv6_addr(f, q + 8);
        t.dst = ipv6_addr(f, q + 24);
    }
    if (t.proto == IPPROTO_TCP || t.proto == IPPROTO_UDP) {
        t.sport = be16(f, q + header);
        t.dport = be16(f, q + header + 2);
    }
    v.quote = QuoteState::ok;
}

}  // namespace

bool family_protocol(bool v6, uint8_t proto) {
    if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) return true;
    return v6 ? proto == IPPROTO_ICMPV6 : proto == IPPROTO_ICMP;
}

bool ipv6_mapped_or_compatible(const packet::Addr& a) {
    const auto& b = a.bytes;
    if (!std::all_of(b.begin(), b.begin() + 10, [](uint8_t x) { return x == 0; })) return false;
    if (b[10] == 0xff && b[11] == 0xff) return true;  // ::ffff:0:0/96
    if (b[10] != 0 || b[11] != 0) return false;
    // ::/96, except the unspecified address :: and the loopback ::1.
    bool high_zero = b[12] == 0 && b[13] == 0 && b[14] == 0;
    return !(high_zero && (b[15] == 0 || b[15] == 1));
}

FrameRead read_frame(std::span<const uint8_t> f) {
    FrameRead r;
    FrameView& v = r.view;

    // Step 1: Ethernet, up to two 802.1ad/802.1Q tags.
    if (f.size() < kEthernetHeader) return {EF_R_MALFORMED_L2, {}};
    size_t type_off = 12;
    uint16_t ethertype = be16(f, type_off);
    while (ethertype == kTpid8021Q || ethertype == kTpid8021AD) {
        if (v.vlan_tags == kMaxVlanTags) return {EF_R_MALFORMED_L2, {}};
        if (!holds(type_off + 2, f.size(), kVlanTag)) return {EF_R_MALFORMED_L2, {}};
        ++v.vlan_tags;
        type_off += kVlanTag;
        ethertype = be16(f, type_off);
    }
    v.l3_off = type_off + 2;
    if (ethertype == kEtherArp) return {EF_R_ARP_PASS, {}};
    if (ethertype != kEtherIPv4 && ethertype != kEtherIPv6) return {EF_R_NON_IP_DROP, {}};

    // Step 2: the IP header and the datagram's extent.
    v.v6 = ethertype == kEtherIPv6;
    if (auto reason = v.v6 ? read_ipv6(f, v) : read_ipv4(f, v)) return {*reason, {}};

    // Steps 4-5, for the packets that get there.
    if (v.later_fragment() || !family_protocol(v.v6, v.proto)) return r;
    read_l4(f, v);
    bool icmp = v.proto == IPPROTO_ICMP || v.proto == IPPROTO_ICMPV6;
    if (icmp && v.l4 == L4State::ok && error_with_quote(v.v6, v.icmp_type)) read_quote(f, v);
    return r;
}

}  // namespace model
