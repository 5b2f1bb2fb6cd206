// build_frame, quote_of and parse_frame: field offsets, lengths and checksums
// are checked field by field (checksums are recomputed here independently).
#include <criterion/criterion.h>
#include <netinet/in.h>

#include <string>
#include <vector>

#include "packet/packet.h"

using packet::Dir;
using packet::Packet;
using Bytes = std::vector<uint8_t>;

namespace {

constexpr size_t kEth = 14, kIPv4 = 20, kIPv6 = 40;

Packet spec(const std::string& line) {
    packet::SpecError err;
    auto p = packet::parse_spec(line, Dir::ingress, err);
    cr_assert(p.has_value(), "'%s': %s", line.c_str(), err.message.c_str());
    return *p;
}

uint16_t be16(const Bytes& f, size_t off) { return uint16_t(f[off] << 8 | f[off + 1]); }
uint32_t be32(const Bytes& f, size_t off) {
    return uint32_t(be16(f, off)) << 16 | be16(f, off + 2);
}

// One's-complement sum folded to 16 bits; data carrying a correct checksum sums to 0xffff.
uint16_t ones_sum(const uint8_t* d, size_t n, uint32_t acc = 0) {
    for (size_t i = 0; i < n; ++i) acc += (i % 2 == 0) ? uint32_t(d[i]) << 8 : d[i];
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return uint16_t(acc);
}

bool ipv4_header_ok(const Bytes& f, size_t l3) {
    return ones_sum(f.data() + l3, size_t(f[l3] & 0x0f) * 4) == 0xffff;
}

// Verifies a TCP/UDP/ICMPv6 checksum from l4 to the frame end, pseudo-header
// built from the addresses in the IP header at l3.
bool l4_checksum_ok(const Bytes& f, size_t l3, size_t l4, uint8_t proto) {
    size_t len = f.size() - l4;
    Bytes ph;
    bool v4 = f[l3] >> 4 == 4;
    ph.insert(ph.end(), f.begin() + long(l3 + (v4 ? 12 : 8)),
              f.begin() + long(l3 + (v4 ? 20 : 40)));
    if (v4) {
        ph.insert(ph.end(), {0, proto, uint8_t(len >> 8), uint8_t(len)});
    } else {
        ph.insert(ph.end(), {0, 0, uint8_t(len >> 8), uint8_t(len), 0, 0, 0, proto});
    }
    uint32_t acc = ones_sum(ph.data(), ph.size());
    return ones_sum(f.data() + l4, len, acc) == 0xffff;
}

}  // namespace

Test(packet_frame, ipv4_udp_layout_and_checksums) {
    Bytes f = packet::build_frame(spec("udp 203.0.113.7:40000 > 131.107.155.30:3478"));
    cr_assert_eq(f.size(), kEth + kIPv4 + 8);
    cr_assert_eq(f[0], 0x02);
    cr_assert_eq(f[5], 0x02);   // dst 02:00:00:00:00:02
    cr_assert_eq(f[11], 0x01);  // src 02:00:00:00:00:01
    cr_assert_eq(be16(f, 12), 0x0800);
    cr_assert_eq(f[14], 0x45);  // version 4, IHL 5
    cr_assert_eq(be16(f, 16), kIPv4 + 8);
    cr_assert_eq(be16(f, 20), 0);  // no DF, no MF, offset 0
    cr_assert_eq(f[22], 64);
    cr_assert_eq(f[23], IPPROTO_UDP);
    cr_assert_eq(f[26], 203);
    cr_assert_eq(f[33], 30);
    cr_assert(ipv4_header_ok(f, kEth));
    size_t l4 = kEth + kIPv4;
    cr_assert_eq(be16(f, l4), 40000);
    cr_assert_eq(be16(f, l4 + 2), 3478);
    cr_assert_eq(be16(f, l4 + 4), 8);
    cr_assert_neq(be16(f, l4 + 6), 0);
    cr_assert(l4_checksum_ok(f, kEth, l4, IPPROTO_UDP));
}

Test(packet_frame, ipv4_options_set_ihl_with_nops) {
    Packet p = spec("udp 192.0.2.1:1 > 192.0.2.2:2");
    p.ipv4_option_words = 3;
    Bytes f = packet::build_frame(p);
    cr_assert_eq(f[14], 0x48);
    for (size_t i = 0; i < 12; ++i) cr_assert_eq(f[kEth + kIPv4 + i], 0x01);
    cr_assert_eq(be16(f, 16), 32 + 8);
    cr_assert(ipv4_header_ok(f, kEth));
    cr_assert_eq(be16(f, kEth + 32), 1);  // UDP source port after the options
    cr_assert(l4_checksum_ok(f, kEth, kEth + 32, IPPROTO_UDP));
}

Test(packet_frame, tcp_v4_header_fields) {
    Bytes f = packet::build_frame(spec("tcp 192.0.2.1:40000 > 192.0.2.2:443"));
    size_t l4 = kEth + kIPv4;
    cr_assert_eq(f.size(), l4 + 20);
    cr_assert_eq(be32(f, l4 + 4), 1u);  // seq
    cr_assert_eq(be32(f, l4 + 8), 0u);  // no ACK: ack 0
    cr_assert_eq(f[l4 + 12], 0x50);
    cr_assert_eq(f[l4 + 13], packet::tcp_flag::SYN);
    cr_assert_eq(be16(f, l4 + 14), 65535);
    cr_assert(l4_checksum_ok(f, kEth, l4, IPPROTO_TCP));

    Bytes sa = packet::build_frame(spec("tcp 192.0.2.2:443 > 192.0.2.1:40000 flags SA"));
    cr_assert_eq(be32(sa, l4 + 8), 1u);
    cr_assert_eq(sa[l4 + 13], packet::tcp_flag::SYN | packet::tcp_flag::ACK);
    cr_assert(l4_checksum_ok(sa, kEth, l4, IPPROTO_TCP));
}

Test(packet_frame, ipv6_tcp_and_udp_checksums) {
    for (const char* s : {"tcp [2001:db8::2]:50000 > [2001:db8::1]:443 flags PA",
                          "udp [2001:db8::2]:3478 > [2001:db8::1]:3478"}) {
        Packet p = spec(s);
        Bytes f = packet::build_frame(p);
        size_t l4 = kEth + kIPv6;
        cr_assert_eq(be16(f, 12), 0x86dd);
        cr_assert_eq(f[14] >> 4, 6);
        cr_assert_eq(be16(f, 18), f.size() - l4);  // payload length
        cr_assert_eq(f[20], p.proto);
        cr_assert_eq(f[21], 64);
        cr_assert_eq(f[22 + 15], 2);  // last byte of the source address
        cr_assert(l4_checksum_ok(f, kEth, l4, p.proto), "%s", s);
    }
}

Test(packet_frame, icmp_echo_checksums) {
    Bytes f4 = packet::build_frame(spec("icmp 192.0.2.1 > 192.0.2.2"));
    size_t l4 = kEth + kIPv4;
    cr_assert_eq(f4.size(), l4 + 8);
    cr_assert_eq(f4[l4], 8);
    cr_assert_eq(be16(f4, l4 + 4), 0x1234);
    cr_assert_eq(be16(f4, l4 + 6), 1);
    cr_assert_eq(ones_sum(f4.data() + l4, 8), 0xffff);  // ICMPv4: no pseudo-header

    Bytes f6 = packet::build_frame(spec("icmp6 2001:db8::1 > 2001:db8::2"));
    cr_assert_eq(f6[kEth + kIPv6], 128);
    cr_assert(l4_checksum_ok(f6, kEth, kEth + kIPv6, IPPROTO_ICMPV6));
}

Test(packet_frame, one_vlan_tag) {
    Packet p = spec("udp 192.0.2.1:1 > 192.0.2.2:2");
    p.vlan_tags = {100};
    Bytes f = packet::build_frame(p);
    cr_assert_eq(be16(f, 12), 0x8100);
    cr_assert_eq(be16(f, 14), 100);
    cr_assert_eq(be16(f, 16), 0x0800);
    cr_assert_eq(f[18], 0x45);
    cr_assert(ipv4_header_ok(f, 18));
    cr_assert(l4_checksum_ok(f, 18, 18 + kIPv4, IPPROTO_UDP));
}

Test(packet_frame, two_vlan_tags_are_qinq) {
    Packet p = spec("tcp [2001:db8::1]:1 > [2001:db8::2]:2");
    p.vlan_tags = {10, 200};
    Bytes f = packet::build_frame(p);
    cr_assert_eq(be16(f, 12), 0x88a8);
    cr_assert_eq(be16(f, 14), 10);
    cr_assert_eq(be16(f, 16), 0x8100);
    cr_assert_eq(be16(f, 18), 200);
    cr_assert_eq(be16(f, 20), 0x86dd);
    cr_assert_eq(f[22] >> 4, 6);
    cr_assert(l4_checksum_ok(f, 22, 22 + kIPv6, IPPROTO_TCP));
}

Test(packet_frame, ipv6_extension_chain) {
    Packet p = spec("udp [2001:db8::1]:1 > [2001:db8::2]:2");
    p.ipv6_ext = {0, 43, 60};
    Bytes f = packet::build_frame(p);
    size_t ext = kEth + kIPv6;
    cr_assert_eq(f[20], 0);  // IPv6 next header: hop-by-hop
    cr_assert_eq(be16(f, 18), 3 * 8 + 8);
    cr_assert_eq(f[ext], 43);  // hop-by-hop -> routing
    cr_assert_eq(f[ext + 1], 0);
    cr_assert_eq(f[ext + 2], 1);  // PadN
    cr_assert_eq(f[ext + 3], 4);
    cr_assert_eq(f[ext + 8], 60);  // routing -> destination options
    cr_assert_eq(f[ext + 10], 4);  // segment routing header
    cr_assert_eq(f[ext + 11], 0);  // segments left
    cr_assert_eq(f[ext + 16], IPPROTO_UDP);
    size_t l4 = ext + 24;
    cr_assert_eq(be16(f, l4 + 2), 2);
    cr_assert(l4_checksum_ok(f, kEth, l4, IPPROTO_UDP));
}

Test(packet_frame, ipv4_fragment_bits) {
    Packet first = spec("udp 192.0.2.1:1 > 192.0.2.2:2");
    first.fragment = true;
    first.more_fragments = true;
    first.frag_id = 0x12345;
    Bytes f = packet::build_frame(first);
    cr_assert_eq(be16(f, 18), 0x2345);           // id: low 16 bits
    cr_assert_eq(be16(f, 20), 0x2000);           // MF, offset 0
    cr_assert_eq(be16(f, kEth + kIPv4 + 2), 2);  // first fragment keeps the UDP header
    cr_assert(ipv4_header_ok(f, kEth));

    Packet later = first;
    later.frag_offset = 185;
    later.more_fragments = false;
    Bytes g = packet::build_frame(later);
    cr_assert_eq(be16(g, 20), 185);
    cr_assert_eq(be16(g, 16), kIPv4 + 8);  // 8 bytes of raw continuation data
    cr_assert_eq(g.size(), kEth + kIPv4 + 8);
    for (size_t i = kEth + kIPv4; i < g.size(); ++i) cr_assert_eq(g[i], 0);
    cr_assert(ipv4_header_ok(g, kEth));
}

Test(packet_frame, ipv6_fragment_header) {
    Packet p = spec("udp [2001:db8::1]:1 > [2001:db8::2]:2");
    p.ipv6_ext = {0};
    p.fragment = true;
    p.frag_offset = 100;
    p.more_fragments = true;
    p.frag_id = 0xdeadbeef;
    Bytes f = packet::build_frame(p);
    size_t frag = kEth + kIPv6 + 8;
    cr_assert_eq(f[kEth + kIPv6], 44);  // hop-by-hop -> fragment
    cr_assert_eq(f[frag], IPPROTO_UDP);
    cr_assert_eq(be16(f, frag + 2), (100 << 3) | 1);
    cr_assert_eq(be32(f, frag + 4), 0xdeadbeefu);
    cr_assert_eq(f.size(), frag + 8 + 8);  // non-first: 8 raw bytes, no UDP header
}

Test(packet_frame, len_pads_payload_and_lengths) {
    Bytes u = packet::build_frame(spec("udp 192.0.2.1:1 > 192.0.2.2:2 len 200"));
    cr_assert_eq(u.size(), 200);
    cr_assert_eq(be16(u, 16), 200 - kEth);
    cr_assert_eq(be16(u, kEth + kIPv4 + 4), 200 - kEth - kIPv4);
    cr_assert(ipv4_header_ok(u, kEth));
    cr_assert(l4_checksum_ok(u, kEth, kEth + kIPv4, IPPROTO_UDP));

    Bytes t = packet::build_frame(spec("tcp [2001:db8::1]:1 > [2001:db8::2]:2 len 1000"));
    cr_assert_eq(t.size(), 1000);
    cr_assert_eq(be16(t, 18), 1000 - kEth - kIPv6);
    cr_assert_eq(t[999], 0);
    cr_assert(l4_checksum_ok(t, kEth, kEth + kIPv6, IPPROTO_TCP));

    Bytes i = packet::build_frame(spec("icmp 192.0.2.1 > 192.0.2.2 len 98"));
    cr_assert_eq(i.size(), 98);
    cr_assert_eq(ones_sum(i.data() + kEth + kIPv4, 98 - kEth - kIPv4), 0xffff);
}

Test(packet_frame, other_protocol_gets_eight_zero_bytes) {
    Bytes f = packet::build_frame(spec("47 192.0.2.1 > 192.0.2.2"));
    cr_assert_eq(f.size(), kEth + kIPv4 + 8);
    cr_assert_eq(f[23], 47);
}

Test(packet_frame, quote_is_ip_header_and_eight_bytes) {
    Packet q4 = spec("udp 192.0.2.1:5000 > 198.51.100.1:53 len 300");
    Bytes quote = packet::quote_of(q4);
    cr_assert_eq(quote.size(), kIPv4 + 8);
    cr_assert_eq(quote[0], 0x45);
    cr_assert_eq(quote[2] << 8 | quote[3], 300 - kEth);  // the original total length
    cr_assert_eq(quote[20] << 8 | quote[21], 5000);

    Packet q6 = spec("tcp [2001:db8::1]:1234 > [2001:db8::2]:443");
    q6.ipv6_ext = {60};
    q6.fragment = true;
    Bytes quote6 = packet::quote_of(q6);
    cr_assert_eq(quote6.size(), kIPv6 + 16 + 8);
    cr_assert_eq(quote6[kIPv6 + 16] << 8 | quote6[kIPv6 + 17], 1234);

    q6.frag_offset = 4;  // later fragment: the chain stops at the fragment header
    q6.ipv6_ext = {44, 60};
    cr_assert_eq(packet::quote_of(q6).size(), kIPv6 + 8 + 8);

    // Protocol 60 with no chain looks like an extension header: stay in bounds.
    cr_assert_eq(packet::quote_of(spec("60 2001:db8::1 > 2001:db8::2")).size(), kIPv6 + 8);
}

Test(packet_frame, icmp_error_carries_mtu_and_quote) {
    Packet q = spec("udp 192.0.2.1:5000 > 198.51.100.1:53");
    Packet e = spec("icmp 203.0.113.1 > 192.0.2.1 type 3 code 4");
    e.icmp_quote = packet::quote_of(q);
    Bytes f = packet::build_frame(e);
    size_t l4 = kEth + kIPv4;
    cr_assert_eq(f.size(), l4 + 8 + kIPv4 + 8);
    cr_assert_eq(be16(f, l4 + 6), 1400);  // next-hop MTU
    cr_assert(Bytes(f.begin() + long(l4 + 8), f.end()) == *e.icmp_quote);
    cr_assert_eq(ones_sum(f.data() + l4, f.size() - l4), 0xffff);

    Packet q6 = spec("udp [2001:db8::1]:5000 > [2001:db8::2]:53");
    Packet e6 = spec("icmp6 2001:db8::ff > 2001:db8::1 type 2");
    e6.icmp_quote = packet::quote_of(q6);
    Bytes g = packet::build_frame(e6);
    size_t l4v6 = kEth + kIPv6;
    cr_assert_eq(be32(g, l4v6 + 4), 1280u);
    cr_assert_eq(g.size(), l4v6 + 8 + kIPv6 + 8);
    cr_assert(l4_checksum_ok(g, kEth, l4v6, IPPROTO_ICMPV6));
}

namespace {

void assert_round_trip(const Packet& p, const char* what) {
    Bytes f = packet::build_frame(p);
    auto r = packet::parse_frame(f.data(), f.size());
    cr_assert(r.has_value(), "%s: parse_frame failed", what);
    cr_assert(r->dir == Dir::ingress, "%s: dir", what);
    cr_assert(r->proto == p.proto && r->src == p.src && r->dst == p.dst, "%s: L3", what);
    cr_assert(r->sport == p.sport && r->dport == p.dport, "%s: ports", what);
    cr_assert(r->tcp_flags == p.tcp_flags, "%s: flags", what);
    cr_assert(r->icmp_type == p.icmp_type && r->icmp_code == p.icmp_code, "%s: icmp", what);
    cr_assert_eq(r->frame_len, f.size(), "%s: frame_len", what);
    cr_assert(r->vlan_tags == p.vlan_tags, "%s: vlan", what);
    cr_assert_eq(r->ipv4_option_words, p.ipv4_option_words, "%s: options", what);
    cr_assert(r->ipv6_ext == p.ipv6_ext, "%s: ext", what);
    cr_assert(r->fragment == p.fragment && r->frag_offset == p.frag_offset &&
                  r->more_fragments == p.more_fragments,
              "%s: fragment", what);
    uint32_t id = p.src.is_v4() ? p.frag_id & 0xffff : p.frag_id;
    cr_assert(!p.fragment || r->frag_id == id, "%s: frag id", what);
    cr_assert(r->icmp_quote == p.icmp_quote, "%s: quote", what);
    cr_assert(packet::build_frame(*r) == f, "%s: rebuild differs", what);
}

}  // namespace

Test(packet_frame, parse_frame_inverts_build_frame) {
    const char* specs[] = {
        "udp 203.0.113.7:40000 > 131.107.155.30:3478",
        "tcp 131.107.155.10:40000 > 192.0.2.1:80 flags FA len 300",
        "tcp [2001:db8::2]:50000 > [2001:db8::1]:443 flags SA",
        "udp [2001:db8::2]:1 > [2001:db8::1]:2 len 1500",
        "icmp 192.0.2.1 > 192.0.2.2 type 0",
        "icmp6 2001:db8::1 > 2001:db8::2 type 135",
        "47 192.0.2.1 > 192.0.2.2",
    };
    for (const char* s : specs) assert_round_trip(spec(s), s);

    Packet shaped = spec("udp 192.0.2.1:1 > 192.0.2.2:2");
    shaped.vlan_tags = {10, 20};
    shaped.ipv4_option_words = 2;
    shaped.fragment = true;
    shaped.more_fragments = true;
    shaped.frag_id = 77;
    assert_round_trip(shaped, "v4 qinq options first fragment");
    shaped.frag_offset = 3;
    shaped.sport = shaped.dport = 0;  // non-first fragments carry no ports
    assert_round_trip(shaped, "v4 later fragment");

    Packet v6 = spec("tcp [2001:db8::1]:1 > [2001:db8::2]:2");
    v6.vlan_tags = {5};
    v6.ipv6_ext = {0, 43, 60};
    v6.fragment = true;
    v6.frag_id = 0x01020304;
    assert_round_trip(v6, "v6 ext chain first fragment");
    v6.ipv6_ext = {0, 44, 60};  // a fragment header placed mid-chain stays listed
    assert_round_trip(v6, "v6 fragment mid-chain");

    Packet err = spec("icmp 203.0.113.1 > 192.0.2.1 type 11");
    err.icmp_quote = packet::quote_of(spec("tcp 192.0.2.1:1 > 198.51.100.1:2"));
    assert_round_trip(err, "icmp error with quote");
}

Test(packet_frame, parse_frame_rejects_non_ip) {
    Bytes f = packet::build_frame(spec("udp 192.0.2.1:1 > 192.0.2.2:2"));
    cr_assert_not(packet::parse_frame(f.data(), 13).has_value());
    cr_assert_not(packet::parse_frame(f.data(), kEth + 19).has_value());  // truncated IPv4
    Bytes arp = f;
    arp[12] = 0x08;
    arp[13] = 0x06;
    cr_assert_not(packet::parse_frame(arp.data(), arp.size()).has_value());
}

// The model, not parse_frame, judges stacks and chains the kernel calls malformed.
Test(packet_frame, parse_frame_reports_deep_vlan_stack) {
    Packet three = spec("udp 192.0.2.1:1 > 192.0.2.2:2");
    three.vlan_tags = {1, 2, 3};
    Bytes t = packet::build_frame(three);
    cr_assert_eq(be16(t, 16), 0x8100);
    auto r = packet::parse_frame(t.data(), t.size());
    cr_assert(r.has_value());
    cr_assert(r->vlan_tags == three.vlan_tags);
    cr_assert_eq(r->dport, 2);
}

Test(packet_frame, ipv6_later_fragment_chain_ends_at_fragment_header) {
    Packet p = spec("udp [2001:db8::1]:1 > [2001:db8::2]:2");
    p.ipv6_ext = {0, 44, 60};
    p.fragment = true;
    p.frag_offset = 2;
    Bytes f = packet::build_frame(p);
    size_t frag = kEth + kIPv6 + 8;
    cr_assert_eq(f[kEth + kIPv6], 44);
    cr_assert_eq(f[frag], 60);  // names the fragmentable part's first header
    cr_assert_eq(f.size(), frag + 8 + 8);
    auto r = packet::parse_frame(f.data(), f.size());
    cr_assert(r.has_value());
    cr_assert_eq(r->proto, 60);  // as bpf/ef_parse.h reads it
    cr_assert(r->ipv6_ext == std::vector<uint8_t>{0});
    cr_assert(r->fragment && r->frag_offset == 2);
}
