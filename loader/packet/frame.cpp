// build_frame: Packet -> Ethernet frame with valid checksums, for
// BPF_PROG_TEST_RUN and the data-plane tests. Layout:
//   Ethernet [VLAN tags] IPv4|IPv6 [ext headers] [fragment] L4 [quote] [zero padding]
#include <netinet/in.h>

#include <algorithm>

#include "packet/packet.h"

namespace packet {

namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint16_t kEtherIPv4 = 0x0800, kEtherIPv6 = 0x86dd;
constexpr uint16_t kTpid8021Q = 0x8100, kTpid8021AD = 0x88a8;
constexpr uint8_t kIPv6Frag = 44, kIPv6Routing = 43, kIPv6HopByHop = 0, kIPv6DestOpts = 60;
constexpr uint8_t kMaxIPv4OptionWords = 10;  // IHL is 4 bits: 15 words of header at most
constexpr uint16_t kIcmpEchoId = 0x1234, kIcmpEchoSeq = 1;
constexpr uint16_t kIcmpNextHopMtu = 1400;  // type 3 code 4: "fragmentation needed"
constexpr uint32_t kIcmp6PacketTooBigMtu = 1280;

void put16(Bytes& b, uint16_t v) {
    b.push_back(uint8_t(v >> 8));
    b.push_back(uint8_t(v));
}
void put32(Bytes& b, uint32_t v) {
    put16(b, uint16_t(v >> 16));
    put16(b, uint16_t(v));
}
void set16(Bytes& b, size_t off, uint16_t v) {
    b[off] = uint8_t(v >> 8);
    b[off + 1] = uint8_t(v);
}
void put_bytes(Bytes& b, const uint8_t* d, size_t n) { b.insert(b.end(), d, d + n); }

// RFC 1071 one's-complement sum of big-endian 16-bit words.
uint32_t sum16(const uint8_t* d, size_t n, uint32_t acc = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) acc += uint32_t(d[i]) << 8 | d[i + 1];
    if (n % 2) acc += uint32_t(d[n - 1]) << 8;
    return acc;
}
uint16_t fold(uint32_t acc) {
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return uint16_t(~acc);
}

bool is_v4(const Packet& p) { return p.src.is_v4(); }
bool non_first_fragment(const Packet& p) { return p.fragment && p.frag_offset > 0; }

bool is_icmp_error(uint8_t proto, uint8_t type) {
    if (proto == IPPROTO_ICMP)
        return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
    if (proto == IPPROTO_ICMPV6) return type >= 1 && type <= 4;
    return false;
}
bool is_echo(uint8_t proto, uint8_t type) {
    if (proto == IPPROTO_ICMP) return type == 8 || type == 0;
    if (proto == IPPROTO_ICMPV6) return type == 128 || type == 129;
    return false;
}

// IPv6 extension headers in wire order: the listed ones, then a fragment
// header if the packet is a fragment and the list did not place one itself.
std::vector<uint8_t> ipv6_chain(const Packet& p) {
    std::vector<uint8_t> chain = p.ipv6_ext;
    bool listed = std::find(chain.begin(), chain.end(), kIPv6Frag) != chain.end();
    if (p.fragment && !listed) chain.push_back(kIPv6Frag);
    return chain;
}

// How many of the chain's headers are on the wire. A later fragment carries
// the fragmentable part (headers after the fragment header, then L4) only as
// data, so its chain ends at the fragment header.
size_t ipv6_emitted(const Packet& p, const std::vector<uint8_t>& chain) {
    if (!non_first_fragment(p)) return chain.size();
    return size_t(std::find(chain.begin(), chain.end(), kIPv6Frag) - chain.begin()) + 1;
}

size_t l2_len(const Packet& p) { return 14 + 4 * p.vlan_tags.size(); }
size_t l3_len(const Packet& p) {
    if (is_v4(p)) return 20 + 4 * std::min(p.ipv4_option_words, kMaxIPv4OptionWords);
    return 40 + 8 * ipv6_emitted(p, ipv6_chain(p));
}

// L4 header and payload, checksum still zero.
Bytes l4_segment(const Packet& p) {
    Bytes b;
    if (non_first_fragment(p)) return Bytes(8, 0);  // continuation data: no L4 header
    switch (p.proto) {
        case IPPROTO_TCP:
            put16(b, p.sport);
            put16(b, p.dport);
            put32(b, 1);                                      // seq
            put32(b, (p.tcp_flags & tcp_flag::ACK) ? 1 : 0);  // ack
            b.push_back(5 << 4);                              // data offset: 20 bytes
            b.push_back(p.tcp_flags);
            put16(b, 65535);  // window
            put32(b, 0);      // checksum, urgent pointer
            return b;
        case IPPROTO_UDP:
            put16(b, p.sport);
            put16(b, p.dport);
            put32(b, 0);  // length, checksum: filled in finish_l4
            return b;
        case IPPROTO_ICMP:
        case IPPROTO_ICMPV6:
            b.push_back(p.icmp_type);
            b.push_back(p.icmp_code);
            put16(b, 0);
            if (is_echo(p.proto, p.icmp_type)) {
                put16(b, kIcmpEchoId);
                put16(b, kIcmpEchoSeq);
            } else if (p.proto == IPPROTO_ICMP && p.icmp_type == 3 && p.icmp_code == 4) {
                put16(b, 0);
                put16(b, kIcmpNextHopMtu);
            } else if (p.proto == IPPROTO_ICMPV6 && p.icmp_type == 2) {
                put32(b, kIcmp6PacketTooBigMtu);
            } else {
                put32(b, 0);  // unused
            }
            if (p.icmp_quote && is_icmp_error(p.proto, p.icmp_type)) {
                b.insert(b.end(), p.icmp_quote->begin(), p.icmp_quote->end());
            }
            return b;
        default:
            return Bytes(8, 0);
    }
}

// Sum of the TCP/UDP/ICMPv6 pseudo-header for an L4 length.
uint32_t pseudo_sum(const Packet& p, size_t l4_len) {
    Bytes ph;
    if (is_v4(p)) {
        put_bytes(ph, p.src.bytes.data() + 12, 4);
        put_bytes(ph, p.dst.bytes.data() + 12, 4);
        put16(ph, p.proto);
        put16(ph, uint16_t(l4_len));
    } else {
        put_bytes(ph, p.src.bytes.data(), 16);
        put_bytes(ph, p.dst.bytes.data(), 16);
        put32(ph, uint32_t(l4_len));
        put32(ph, p.proto);
    }
    return sum16(ph.data(), ph.size());
}

// Lengths and checksums once the padded size is known. A first fragment's
// checksum covers only what this frame carries (the rest is not built).
void finish_l4(const Packet& p, Bytes& l4) {
    if (non_first_fragment(p)) return;
    size_t csum_off;
    switch (p.proto) {
        case IPPROTO_TCP:
            csum_off = 16;
            break;
        case IPPROTO_UDP:
            set16(l4, 4, uint16_t(l4.size()));
            csum_off = 6;
            break;
        case IPPROTO_ICMP:
            set16(l4, 2, fold(sum16(l4.data(), l4.size())));  // ICMPv4: no pseudo-header
            return;
        case IPPROTO_ICMPV6:
            csum_off = 2;
            break;
        default:
            return;
    }
    uint16_t csum = fold(sum16(l4.data(), l4.size(), pseudo_sum(p, l4.size())));
    if (p.proto == IPPROTO_UDP && csum == 0) csum = 0xffff;  // 0 means "no checksum"
    set16(l4, csum_off, csum);
}

void put_ethernet(Bytes& f, const Packet& p) {
    const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x02}, src[6] = {0x02, 0, 0, 0, 0, 0x01};
    put_bytes(f, dst, 6);
    put_bytes(f, src, 6);
    for (size_t i = 0; i < p.vlan_tags.size(); ++i) {
        // With two or more tags the outer one is the provider's (802.1ad).
        bool outer_of_stack = i == 0 && p.vlan_tags.size() >= 2;
        put16(f, outer_of_stack ? kTpid8021AD : kTpid8021Q);
        put16(f, p.vlan_tags[i]);
    }
    put16(f, is_v4(p) ? kEtherIPv4 : kEtherIPv6);
}

void put_ipv4(Bytes& f, const Packet& p, size_t l4_len) {
    size_t start = f.size();
    uint8_t words = std::min(p.ipv4_option_words, kMaxIPv4OptionWords);
    f.push_back(uint8_t(0x40 | (5 + words)));
    f.push_back(0);  // DSCP/ECN
    put16(f, uint16_t(20 + 4 * words + l4_len));
    put16(f, uint16_t(p.frag_id));
    uint16_t frag = 0;  // DF stays clear so fragments are plausible
    if (p.fragment) frag = uint16_t((p.more_fragments ? 0x2000 : 0) | (p.frag_offset & 0x1fff));
    put16(f, frag);
    f.push_back(64);  // TTL
    f.push_back(p.proto);
    put16(f, 0);  // checksum below
    put_bytes(f, p.src.bytes.data() + 12, 4);
    put_bytes(f, p.dst.bytes.data() + 12, 4);
    f.insert(f.end(), 4 * words, 0x01);  // NOP options
    set16(f, start + 10, fold(sum16(f.data() + start, f.size() - start)));
}

void put_ipv6_ext(Bytes& f, const Packet& p, uint8_t type, uint8_t next) {
    f.push_back(next);
    switch (type) {
        case kIPv6Frag:
            f.push_back(0);  // reserved
            put16(f, uint16_t((p.frag_offset & 0x1fff) << 3 | (p.more_fragments ? 1 : 0)));
            put32(f, p.frag_id);
            return;
        case kIPv6Routing:
            // Segment routing header (type 4) with no segments left: nodes skip it.
            f.insert(f.end(), {0, 4, 0, 0, 0, 0, 0});
            return;
        case kIPv6HopByHop:
        case kIPv6DestOpts:
            f.insert(f.end(), {0, 1, 4, 0, 0, 0, 0});  // PadN filling the 6 option bytes
            return;
        default:
            f.insert(f.end(), 7, 0);  // length 0: 8 bytes (also right for AH's units)
    }
}

void put_ipv6(Bytes& f, const Packet& p, size_t l4_len) {
    std::vector<uint8_t> chain = ipv6_chain(p);
    size_t emitted = ipv6_emitted(p, chain);
    put32(f, 0x60000000);  // version 6, traffic class and flow label 0
    put16(f, uint16_t(8 * emitted + l4_len));
    f.push_back(chain.empty() ? p.proto : chain[0]);
    f.push_back(64);  // hop limit
    put_bytes(f, p.src.bytes.data(), 16);
    put_bytes(f, p.dst.bytes.data(), 16);
    for (size_t i = 0; i < emitted; ++i) {
        put_ipv6_ext(f, p, chain[i], i + 1 < chain.size() ? chain[i + 1] : p.proto);
    }
}

}  // namespace

std::vector<uint8_t> build_frame(const Packet& p) {
    Bytes l4 = l4_segment(p);
    size_t headers = l2_len(p) + l3_len(p);
    if (p.frame_len > headers + l4.size()) l4.resize(p.frame_len - headers, 0);
    finish_l4(p, l4);

    Bytes f;
    f.reserve(headers + l4.size());
    put_ethernet(f, p);
    if (is_v4(p)) {
        put_ipv4(f, p, l4.size());
    } else {
        put_ipv6(f, p, l4.size());
    }
    f.insert(f.end(), l4.begin(), l4.end());
    return f;
}

}  // namespace packet
