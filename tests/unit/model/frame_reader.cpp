// The model's frame reader, one length field at a time: each is read, each
// bounds what follows, and bytes past the datagram are never read.
#include "model/frame_reader.h"

#include <criterion/criterion.h>
#include <netinet/in.h>

#include <string>

#include "crafting.h"

using namespace crafting;
using model::FrameRead;
using model::L4State;
using model::QuoteState;
using packet::Packet;

namespace {

FrameRead read(const Bytes& f) { return model::read_frame(f); }

void expect_reason(const Bytes& f, uint32_t reason, const char* what) {
    FrameRead r = read(f);
    cr_expect(r.reason.has_value(), "%s: read as a packet, want reason %u", what, reason);
    if (r.reason)
        cr_expect_eq(*r.reason, reason, "%s: reason %u, want %u", what, *r.reason, reason);
}

model::FrameView expect_view(const Bytes& f, const char* what) {
    FrameRead r = read(f);
    cr_assert(!r.reason.has_value(), "%s: stopped with reason %u", what, r.reason.value_or(0));
    return r.view;
}

const char* const kUdp = "udp 203.0.113.7:40000 > 131.107.155.130:3478";
const char* const kTcp = "tcp 203.0.113.7:40000 > 131.107.155.130:443 flags SA";
const char* const kUdp6 = "udp [2001:db8::7]:40000 > [2001:db8::1]:3478";

}  // namespace

// ---- Layer 2 ----------------------------------------------------------------

Test(model_frame_reader, ethernet_and_tags) {
    expect_reason(Bytes(13, 0), EF_R_MALFORMED_L2, "13 bytes");
    Packet p = spec(kUdp);
    p.vlan_tags = {7};
    auto v = expect_view(packet::build_frame(p), "one tag");
    cr_expect_eq(v.vlan_tags, 1u);
    cr_expect_eq(v.l3_off, 18u);
    p.vlan_tags = {7, 8};
    v = expect_view(packet::build_frame(p), "two tags");
    cr_expect_eq(v.l3_off, 22u);
    cr_expect_eq(v.dport, 3478);
    p.vlan_tags = {7, 8, 9};
    expect_reason(packet::build_frame(p), EF_R_MALFORMED_L2, "three tags");
    // A tag cut short: TPID present, TCI and inner ethertype not.
    Bytes cut(16, 0);
    cut[12] = 0x81;
    expect_reason(cut, EF_R_MALFORMED_L2, "truncated tag");
    cut.resize(18);
    expect_reason(cut, EF_R_NON_IP_DROP, "complete tag, inner ethertype 0");
    cut[16] = 0x08;
    cut[17] = 0x06;
    expect_reason(cut, EF_R_ARP_PASS, "ARP inside a tag");
}

// ---- IPv4: version, IHL, total length ----------------------------------------

Test(model_frame_reader, ipv4_header_fields) {
    Bytes f = frame(kUdp);
    auto v = expect_view(f, "UDP");
    cr_expect(!v.v6);
    cr_expect_eq(v.src, addr("203.0.113.7"));
    cr_expect_eq(v.dst, addr("131.107.155.130"));
    cr_expect_eq(v.proto, IPPROTO_UDP);
    cr_expect_eq(v.l4_off, kL4v4);
    cr_expect_eq(v.datagram_end, f.size());

    Bytes g = f;
    g.resize(kL3 + 19);
    expect_reason(g, EF_R_MALFORMED_IPV4, "19 bytes of IPv4");
    g = f;
    g[kL3] = 0x65;
    expect_reason(g, EF_R_MALFORMED_IPV4, "version 6 under ethertype IPv4");
    g = f;
    g[kL3] = 0x44;
    ipv4_checksum(g);
    expect_reason(g, EF_R_MALFORMED_IPV4, "IHL 4");
    g = f;
    set_ipv4_total_length(g, 19);
    expect_reason(g, EF_R_MALFORMED_IPV4, "total length below IHL*4");
    g = f;
    set_ipv4_total_length(g, uint16_t(f.size() - kL3 + 1));
    expect_reason(g, EF_R_MALFORMED_IPV4, "total length past the frame");
}

Test(model_frame_reader, ipv4_options_move_layer_4) {
    Packet p = spec(kUdp);
    p.ipv4_option_words = 3;
    Bytes f = packet::build_frame(p);
    auto v = expect_view(f, "IHL 8");
    cr_expect_eq(v.l4_off, kL3 + 32);
    cr_expect_eq(v.dport, 3478);
    // IHL 8 but total length 28: the options end past the datagram.
    set_ipv4_total_length(f, 28);
    expect_reason(f, EF_R_MALFORMED_IPV4, "IHL*4 past the total length");
}

Test(model_frame_reader, padding_past_the_datagram_is_never_read) {
    Bytes f = frame(kUdp);
    size_t end = f.size();
    f.resize(end + 40, 0xee);  // padding that would look like anything
    auto v = expect_view(f, "padded frame");
    cr_expect_eq(v.datagram_end, end);
    cr_expect(v.l4 == L4State::ok);
    // Shrink the datagram so the UDP header is padding.
    set_ipv4_total_length(f, 24);
    v = expect_view(f, "UDP header half in padding");
    cr_expect(v.l4 == L4State::malformed);
}

Test(model_frame_reader, ipv4_fragment_fields) {
    Packet p = spec(kUdp);
    p.fragment = true;
    p.frag_id = 0xbeef;
    p.more_fragments = true;
    auto v = expect_view(packet::build_frame(p), "first fragment");
    cr_expect(v.first_fragment());
    cr_expect_eq(v.frag_id, 0xbeefu);
    p.frag_offset = 100;
    p.more_fragments = false;
    v = expect_view(packet::build_frame(p), "later fragment");
    cr_expect(v.later_fragment());
    cr_expect_eq(v.frag_offset, 100);
    cr_expect(v.l4 == L4State::not_read, "a later fragment has no transport header");
    // DF alone, offset 0: not a fragment.
    Bytes f = frame(kUdp);
    set16(f, kL3 + 6, 0x4000);
    ipv4_checksum(f);
    cr_expect(!expect_view(f, "DF").fragment);
}

// ---- IPv6: payload length, extension headers ---------------------------------

Test(model_frame_reader, ipv6_header_and_payload_length) {
    Bytes f = frame(kUdp6);
    auto v = expect_view(f, "IPv6 UDP");
    cr_expect(v.v6);
    cr_expect_eq(v.src, addr("2001:db8::7"));
    cr_expect_eq(v.l4_off, kL4v6);
    cr_expect_eq(v.datagram_end, f.size());

    Bytes g = f;
    g.resize(kL3 + 39);
    expect_reason(g, EF_R_MALFORMED_IPV6, "39 bytes of IPv6");
    g = f;
    g[kL3] = 0x45;
    expect_reason(g, EF_R_MALFORMED_IPV6, "version 4 under ethertype IPv6");
    g = f;
    set_ipv6_payload_length(g, 9);
    expect_reason(g, EF_R_MALFORMED_IPV6, "payload length past the frame");
    g = f;
    set_ipv6_payload_length(g, 0);
    v = expect_view(g, "payload length 0");
    cr_expect_eq(v.datagram_end, kL4v6);
    cr_expect(v.l4 == L4State::malformed);
}

Test(model_frame_reader, ipv6_extension_chain_bounds) {
    Packet p = spec(kUdp6);
    p.ipv6_ext = {0, 43, 60, 60, 60, 60, 60, 60};  // 8 headers: the bound
    auto v = expect_view(packet::build_frame(p), "8 extension headers");
    cr_expect_eq(v.ipv6_ext.size(), 8u);
    cr_expect_eq(v.proto, IPPROTO_UDP);
    cr_expect_eq(v.l4_off, kL4v6 + 64);
    p.ipv6_ext.push_back(60);
    expect_reason(packet::build_frame(p), EF_R_MALFORMED_IPV6, "9 extension headers");
    p.ipv6_ext = {60, 60, 60, 60, 60, 60, 60};
    p.fragment = true;
    p.more_fragments = true;
    expect_view(packet::build_frame(p), "7 + fragment header");
    p.ipv6_ext.push_back(60);
    expect_reason(packet::build_frame(p), EF_R_MALFORMED_IPV6, "8 + fragment header");
}

Test(model_frame_reader, ipv6_extension_header_lengths) {
    Packet p = spec(kUdp6);
    p.ipv6_ext = {60};
    Bytes f = packet::build_frame(p);
    // Hdr Ext Len 1: 16 bytes, so the UDP header is read 8 bytes later.
    Bytes g = f;
    g[kL4v6 + 1] = 1;
    auto v = expect_view(g, "16-byte destination options");
    cr_expect_eq(v.l4_off, kL4v6 + 16);
    cr_expect(v.l4 == L4State::malformed, "8 bytes left: no room past the options for UDP");
    g[kL4v6 + 1] = 2;  // 24 bytes: past the datagram's 16
    expect_reason(g, EF_R_MALFORMED_IPV6, "extension header past the datagram");
    // The datagram ends inside the extension header's first 8 bytes.
    g = f;
    set_ipv6_payload_length(g, 4);
    expect_reason(g, EF_R_MALFORMED_IPV6, "truncated extension header");
    // The last next header names an extension header the datagram does not hold.
    g = f;
    g[kL4v6] = 0;  // destination options -> hop-by-hop
    set_ipv6_payload_length(g, 8);
    expect_reason(g, EF_R_MALFORMED_IPV6, "chain ends on an extension header");
}

Test(model_frame_reader, ipv6_fragment_header) {
    Packet p = spec(kUdp6);
    p.fragment = true;
    p.frag_id = 0xdeadbeef;
    p.more_fragments = true;
    p.ipv6_ext = {44, 60};
    auto v = expect_view(packet::build_frame(p), "first fragment, options after it");
    cr_expect(v.first_fragment());
    cr_expect_eq(v.frag_id, 0xdeadbeefu);
    cr_expect_eq(v.proto, IPPROTO_UDP);
    p.frag_offset = 3;
    v = expect_view(packet::build_frame(p), "later fragment");
    cr_expect(v.later_fragment());
    cr_expect_eq(v.proto, 60, "the walk stops at a later fragment's fragment header");
    cr_expect_eq(v.l4_off, kL4v6 + 8);
    // Atomic fragment: offset 0, M clear; the chain continues to UDP.
    p.frag_offset = 0;
    p.more_fragments = false;
    v = expect_view(packet::build_frame(p), "atomic fragment");
    cr_expect(!v.fragment);
    cr_expect(v.l4 == L4State::ok);
}

// ---- Layer 4 -----------------------------------------------------------------

Test(model_frame_reader, tcp_data_offset) {
    Bytes f = frame(kTcp);
    auto v = expect_view(f, "TCP");
    cr_expect(v.l4 == L4State::ok);
    cr_expect_eq(v.tcp_flags, 0x12);
    cr_expect_eq(v.sport, 40000);
    Bytes g = f;
    g[kL4v4 + 12] = 4 << 4;
    cr_expect(expect_view(g, "doff 4").l4 == L4State::malformed);
    g[kL4v4 + 12] = 6 << 4;
    cr_expect(expect_view(g, "doff 6, 20 bytes").l4 == L4State::malformed);
    g = packet::build_frame(spec(std::string(kTcp) + " len 58"));
    g[kL4v4 + 12] = 6 << 4;
    cr_expect(expect_view(g, "doff 6, 24 bytes").l4 == L4State::ok);
    set_ipv4_total_length(g, 20 + 23);  // one option byte in padding
    cr_expect(expect_view(g, "doff 6, 23 bytes in the datagram").l4 == L4State::malformed);
    g = f;
    set_ipv4_total_length(g, 20 + 19);
    cr_expect(expect_view(g, "19 bytes of TCP").l4 == L4State::malformed);
}

Test(model_frame_reader, udp_length) {
    Bytes f = packet::build_frame(spec(std::string(kUdp) + " len 60"));  // 26 bytes of UDP
    auto v = expect_view(f, "UDP");
    cr_expect_eq(v.udp_len, 26);
    for (auto [len, ok] : {std::pair{0, false}, {7, false}, {8, true}, {26, true}, {27, false}}) {
        Bytes g = f;
        set16(g, kL4v4 + 4, uint16_t(len));
        cr_expect_eq(expect_view(g, "UDP length").l4 == L4State::ok, ok, "UDP length %d", len);
    }
    // A first fragment's UDP length counts the whole datagram.
    Packet p = spec(kUdp);
    p.fragment = p.more_fragments = true;
    Bytes g = packet::build_frame(p);
    set16(g, kL4v4 + 4, 4000);
    cr_expect(expect_view(g, "first fragment").l4 == L4State::ok);
    set16(g, kL4v4 + 4, 7);
    cr_expect(expect_view(g, "first fragment, length 7").l4 == L4State::malformed);
}

Test(model_frame_reader, icmp_header) {
    Bytes f = frame("icmp 203.0.113.7 > 131.107.155.130 type 8");
    auto v = expect_view(f, "echo");
    cr_expect_eq(v.icmp_type, 8);
    cr_expect(v.quote == QuoteState::none);
    set_ipv4_total_length(f, 20 + 7);
    cr_expect(expect_view(f, "7 bytes of ICMP").l4 == L4State::malformed);
    // ICMPv6 over IPv4 and ICMP over IPv6 are not read as ICMP.
    Packet p = spec(kUdp6);
    p.proto = IPPROTO_ICMP;
    cr_expect(expect_view(packet::build_frame(p), "ICMP over IPv6").l4 == L4State::not_read);
}

// ---- ICMP error quotes ---------------------------------------------------------

Test(model_frame_reader, ipv4_quote) {
    Packet quoted = spec("egress udp 131.107.155.130:3478 > 203.0.113.7:40000");
    Packet err = error_quoting("icmp 198.51.100.254 > 131.107.155.130 type 11", quoted);
    Bytes f = packet::build_frame(err);
    auto v = expect_view(f, "time exceeded");
    cr_assert(v.quote == QuoteState::ok);
    cr_expect_eq(v.quoted.src, addr("131.107.155.130"));
    cr_expect_eq(v.quoted.dst, addr("203.0.113.7"));
    cr_expect_eq(v.quoted.proto, IPPROTO_UDP);
    cr_expect_eq(v.quoted.sport, 3478);
    cr_expect_eq(v.quoted.dport, 40000);

    size_t q = kL4v4 + 8;
    Bytes g = f;
    g[q] = 0x44;
    cr_expect(expect_view(g, "quoted IHL 4").quote == QuoteState::malformed);
    g[q] = 0x65;
    cr_expect(expect_view(g, "quoted version 6").quote == QuoteState::malformed);
    // Quoted IHL 6: 24 + 8 bytes needed, 28 held.
    g = f;
    g[q] = 0x46;
    cr_expect(expect_view(g, "quoted IHL 6").quote == QuoteState::malformed);
    g.resize(g.size() + 4, 0);
    set_ipv4_total_length(g, uint16_t(20 + 8 + 32));
    v = expect_view(g, "quoted IHL 6 with 32 bytes");
    cr_expect(v.quote == QuoteState::ok);
    // The quote's last byte in padding.
    g = f;
    g.push_back(0);
    set_ipv4_total_length(g, uint16_t(20 + 8 + 27));
    cr_expect(expect_view(g, "27 quote bytes").quote == QuoteState::malformed);
    // Redirect and source quench: the quote is not read.
    g = f;
    g[kL4v4] = 5;
    cr_expect(expect_view(g, "redirect").quote == QuoteState::none);
}

Test(model_frame_reader, ipv6_quote) {
    Packet quoted = spec("udp [2001:db8::1]:3478 > [2001:db8::7]:40000");
    Packet err = error_quoting("icmp6 [2001:db8::fe] > [2001:db8::1] type 3", quoted);
    Bytes f = packet::build_frame(err);
    auto v = expect_view(f, "ICMPv6 time exceeded");
    cr_assert(v.quote == QuoteState::ok);
    cr_expect_eq(v.quoted.src, addr("2001:db8::1"));
    cr_expect_eq(v.quoted.sport, 3478);
    Bytes g = f;
    set_ipv6_payload_length(g, uint16_t(8 + 47));
    cr_expect(expect_view(g, "47 quote bytes").quote == QuoteState::malformed);
    g = f;
    g[kL4v6 + 8] = 0x45;
    cr_expect(expect_view(g, "quoted version 4").quote == QuoteState::malformed);
    // ICMPv6 types 1-4 carry quotes; 128 does not.
    g = f;
    g[kL4v6] = 128;
    cr_expect(expect_view(g, "echo request").quote == QuoteState::none);
}

Test(model_frame_reader, mapped_and_compatible_addresses) {
    cr_expect(model::ipv6_mapped_or_compatible(addr("::ffff:1.2.3.4")));
    cr_expect(model::ipv6_mapped_or_compatible(addr("::1.2.3.4")));
    cr_expect(model::ipv6_mapped_or_compatible(addr("::2")));
    cr_expect(model::ipv6_mapped_or_compatible(addr("::0.0.1.0")));
    cr_expect(!model::ipv6_mapped_or_compatible(addr("::")));
    cr_expect(!model::ipv6_mapped_or_compatible(addr("::1")));
    cr_expect(!model::ipv6_mapped_or_compatible(addr("::1:0:0:0")));
    cr_expect(!model::ipv6_mapped_or_compatible(addr("::fffe:1.2.3.4")));
    cr_expect(!model::ipv6_mapped_or_compatible(addr("2001:db8::1")));
}
