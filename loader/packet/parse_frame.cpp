// parse_frame: Ethernet frame -> Packet, the inverse of build_frame, for pcap
// replay. It reads what classification needs (addresses, ports, flags,
// type/code, fragment fields) and the shaping build_frame can reproduce.
// frame_len is always the captured length, so byte counts stay true.
#include <netinet/in.h>

#include <algorithm>

#include "packet/packet.h"

namespace packet {

namespace {

constexpr uint16_t kEtherIPv4 = 0x0800, kEtherIPv6 = 0x86dd;
constexpr uint16_t kTpid8021Q = 0x8100, kTpid8021AD = 0x88a8;
constexpr uint8_t kIPv6Frag = 44;

uint16_t get16(const uint8_t* d) { return uint16_t(d[0] << 8 | d[1]); }
uint32_t get32(const uint8_t* d) { return uint32_t(get16(d)) << 16 | get16(d + 2); }

Addr v4_addr(const uint8_t* d) {
    Addr a;
    a.bytes[10] = a.bytes[11] = 0xff;
    std::copy(d, d + 4, a.bytes.begin() + 12);
    return a;
}
Addr v6_addr(const uint8_t* d) {
    Addr a;
    std::copy(d, d + 16, a.bytes.begin());
    return a;
}

// The headers bpf/ef_parse.h walks (hop-by-hop, routing, fragment, destination
// options); anything else, AH included, is the protocol, as in the kernel.
bool is_ipv6_ext(uint8_t next) {
    return next == 0 || next == 43 || next == kIPv6Frag || next == 60;
}

// The L4 bytes are [begin, end): end is where the IP length says the datagram
// stops (Ethernet padding after it is not payload).
struct Span {
    size_t begin, end;
};

std::optional<Span> parse_ipv4(const uint8_t* d, size_t len, size_t off, Packet& p) {
    if (len < off + 20 || d[off] >> 4 != 4) return std::nullopt;
    size_t ihl = size_t(d[off] & 0x0f) * 4;
    size_t total = get16(d + off + 2);
    if (ihl < 20 || len < off + ihl || total < ihl) return std::nullopt;
    p.ipv4_option_words = uint8_t(ihl / 4 - 5);
    p.frag_id = get16(d + off + 4);
    uint16_t frag = get16(d + off + 6);
    p.more_fragments = frag & 0x2000;
    p.frag_offset = frag & 0x1fff;
    p.fragment = p.more_fragments || p.frag_offset > 0;
    p.proto = d[off + 9];
    p.src = v4_addr(d + off + 12);
    p.dst = v4_addr(d + off + 16);
    return Span{off + ihl, std::min(len, off + total)};
}

std::optional<Span> parse_ipv6(const uint8_t* d, size_t len, size_t off, Packet& p) {
    if (len < off + 40 || d[off] >> 4 != 6) return std::nullopt;
    size_t end = std::min(len, off + 40 + get16(d + off + 4));
    p.src = v6_addr(d + off + 8);
    p.dst = v6_addr(d + off + 24);
    uint8_t next = d[off + 6];
    size_t pos = off + 40;
    // No bound on the chain here: every header is 8+ bytes of the frame, and
    // the model judges a chain longer than EF_IPV6_EXT_MAX from ipv6_ext.
    bool later_fragment = false;
    while (is_ipv6_ext(next) && !later_fragment) {
        if (end < pos + 8) return std::nullopt;
        size_t hdr_len = (size_t(d[pos + 1]) + 1) * 8;
        if (next == kIPv6Frag) {
            hdr_len = 8;
            p.fragment = true;
            p.frag_offset = get16(d + pos + 2) >> 3;
            p.more_fragments = d[pos + 3] & 1;
            p.frag_id = get32(d + pos + 4);
            // A later fragment's next header names the fragmentable part's
            // first header; what follows is data, not headers.
            later_fragment = p.frag_offset > 0;
        }
        p.ipv6_ext.push_back(next);
        next = d[pos];
        pos += hdr_len;
    }
    if (pos > end) return std::nullopt;
    // build_frame appends the fragment header after the listed ones by
    // itself, so only a fragment header elsewhere in the chain is listed.
    if (!p.ipv6_ext.empty() && p.ipv6_ext.back() == kIPv6Frag) p.ipv6_ext.pop_back();
    p.proto = next;
    return Span{pos, end};
}

bool is_icmp_error(uint8_t proto, uint8_t type) {
    if (proto == IPPROTO_ICMP)
        return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
    if (proto == IPPROTO_ICMPV6) return type >= 1 && type <= 4;
    return false;
}

// Truncated L4 headers leave the fields at zero: the kernel drops such frames
// as malformed, and the caller can see the shortfall from frame_len.
void parse_l4(const uint8_t* d, Span l4, Packet& p) {
    if (p.fragment && p.frag_offset > 0) return;  // continuation data, no header
    size_t avail = l4.end - l4.begin;
    const uint8_t* h = d + l4.begin;
    switch (p.proto) {
        case IPPROTO_TCP:
            if (avail < 20) return;
            p.sport = get16(h);
            p.dport = get16(h + 2);
            p.tcp_flags = h[13];
            return;
        case IPPROTO_UDP:
            if (avail < 8) return;
            p.sport = get16(h);
            p.dport = get16(h + 2);
            return;
        case IPPROTO_ICMP:
        case IPPROTO_ICMPV6:
            if (avail < 4) return;
            p.icmp_type = h[0];
            p.icmp_code = h[1];
            if (avail > 8 && is_icmp_error(p.proto, p.icmp_type)) {
                p.icmp_quote = std::vector<uint8_t>(h + 8, h + avail);
            }
            return;
        default:
            return;
    }
}

}  // namespace

std::optional<Packet> parse_frame(const uint8_t* data, size_t len) {
    if (data == nullptr || len < 14) return std::nullopt;
    Packet p;
    p.frame_len = uint32_t(len);
    size_t off = 12;
    uint16_t ethertype = get16(data + off);
    // Every tag is reported, even past the two the kernel accepts: the model
    // turns a deeper stack into its malformed-L2 verdict.
    while (ethertype == kTpid8021Q || ethertype == kTpid8021AD) {
        if (len < off + 6) return std::nullopt;
        p.vlan_tags.push_back(get16(data + off + 2));
        off += 4;
        ethertype = get16(data + off);
    }
    off += 2;
    std::optional<Span> l4;
    if (ethertype == kEtherIPv4) {
        l4 = parse_ipv4(data, len, off, p);
    } else if (ethertype == kEtherIPv6) {
        l4 = parse_ipv6(data, len, off, p);
    }
    if (!l4) return std::nullopt;
    parse_l4(data, *l4, p);
    return p;
}

}  // namespace packet
