// Packet spec grammar: parse_spec, to_spec, parse_addr, Addr::str.
#include <criterion/criterion.h>
#include <netinet/in.h>

#include <string>

#include "packet/packet.h"

using packet::Dir;
using packet::Packet;

namespace {

Packet must_parse(const std::string& line, Dir dir = Dir::ingress) {
    packet::SpecError err;
    auto p = packet::parse_spec(line, dir, err);
    cr_assert(p.has_value(), "'%s' should parse: %s", line.c_str(), err.message.c_str());
    return *p;
}

packet::Addr addr(const char* text) {
    auto a = packet::parse_addr(text);
    cr_assert(a.has_value(), "address %s", text);
    return *a;
}

}  // namespace

Test(packet_addr, ipv4_is_mapped_and_prints_back) {
    auto a = addr("192.0.2.1");
    cr_assert(a.is_v4());
    cr_assert_eq(a.bytes[10], 0xff);
    cr_assert_eq(a.bytes[11], 0xff);
    cr_assert_eq(a.bytes[12], 192);
    cr_assert_eq(a.bytes[15], 1);
    cr_assert_eq(a.str(), "192.0.2.1");
}

Test(packet_addr, ipv6_prints_compressed) {
    auto a = addr("2001:0db8:0:0::1");
    cr_assert_not(a.is_v4());
    cr_assert_eq(a.str(), "2001:db8::1");
    cr_assert(addr("::ffff:192.0.2.1") == addr("192.0.2.1"));
}

Test(packet_addr, strict_dotted_quad) {
    for (const char* bad :
         {"1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", "+1.2.3.4", "1..2.3", "",
          "a.b.c.d", "1.2.3.1000", "fe80::1%eth0", "2001:db8:::1"}) {
        cr_assert_not(packet::parse_addr(bad).has_value(), "'%s' must be rejected", bad);
    }
    cr_assert(packet::parse_addr("0.0.0.0").has_value());
    cr_assert(packet::parse_addr("255.255.255.255").has_value());
}

Test(packet_spec, design_udp_example) {
    auto p = must_parse("udp 203.0.113.7:40000 > 131.107.155.30:3478");
    cr_assert(p.dir == Dir::ingress);
    cr_assert_eq(p.proto, IPPROTO_UDP);
    cr_assert(p.src == addr("203.0.113.7"));
    cr_assert(p.dst == addr("131.107.155.30"));
    cr_assert_eq(p.sport, 40000);
    cr_assert_eq(p.dport, 3478);
    cr_assert_eq(p.frame_len, 0u);
}

Test(packet_spec, design_egress_tcp_example) {
    auto p = must_parse("egress tcp 131.107.155.10:40000 > 192.0.2.1:80 flags S");
    cr_assert(p.dir == Dir::egress);
    cr_assert_eq(p.proto, IPPROTO_TCP);
    cr_assert_eq(p.tcp_flags, packet::tcp_flag::SYN);
    cr_assert_eq(p.dport, 80);
}

Test(packet_spec, design_ipv6_bracket_example) {
    auto p = must_parse("tcp [2001:db8::2]:50000 > [2001:db8::1]:443");
    cr_assert_not(p.src.is_v4());
    cr_assert(p.dst == addr("2001:db8::1"));
    cr_assert_eq(p.sport, 50000);
    cr_assert_eq(p.dport, 443);
}

Test(packet_spec, default_direction_and_override) {
    cr_assert(must_parse("udp 192.0.2.1:1 > 192.0.2.2:2", Dir::egress).dir == Dir::egress);
    cr_assert(must_parse("ingress udp 192.0.2.1:1 > 192.0.2.2:2", Dir::egress).dir == Dir::ingress);
}

Test(packet_spec, tcp_defaults_to_syn_and_takes_flag_letters) {
    cr_assert_eq(must_parse("tcp 192.0.2.1:1 > 192.0.2.2:2").tcp_flags, packet::tcp_flag::SYN);
    using namespace packet::tcp_flag;
    cr_assert_eq(must_parse("tcp 192.0.2.1:1 > 192.0.2.2:2 flags SA").tcp_flags, SYN | ACK);
    cr_assert_eq(must_parse("tcp 192.0.2.1:1 > 192.0.2.2:2 flags AF").tcp_flags, FIN | ACK);
    cr_assert_eq(must_parse("tcp 192.0.2.1:1 > 192.0.2.2:2 flags SAFRPUEC").tcp_flags, 0xff);
    cr_assert_eq(must_parse("tcp 192.0.2.1:1 > 192.0.2.2:2 flags none").tcp_flags, 0);
}

Test(packet_spec, icmp_defaults_to_echo_request) {
    auto p4 = must_parse("icmp 192.0.2.1 > 192.0.2.2");
    cr_assert_eq(p4.proto, IPPROTO_ICMP);
    cr_assert_eq(p4.icmp_type, 8);
    cr_assert_eq(p4.icmp_code, 0);
    auto p6 = must_parse("icmp6 2001:db8::1 > [2001:db8::2]");
    cr_assert_eq(p6.proto, IPPROTO_ICMPV6);
    cr_assert_eq(p6.icmp_type, 128);
    auto unreach = must_parse("icmp 192.0.2.1 > 192.0.2.2 type 3 code 4");
    cr_assert_eq(unreach.icmp_type, 3);
    cr_assert_eq(unreach.icmp_code, 4);
    cr_assert_eq(must_parse("icmp 192.0.2.1 > 192.0.2.2 type 11").icmp_code, 0);
}

Test(packet_spec, numeric_protocol_and_options_in_any_order) {
    auto gre = must_parse("47 192.0.2.1 > 192.0.2.2 len 100");
    cr_assert_eq(gre.proto, 47);
    cr_assert_eq(gre.frame_len, 100u);
    cr_assert_eq(must_parse("6 192.0.2.1:1 > 192.0.2.2:2").proto, IPPROTO_TCP);
    auto p = must_parse("tcp 192.0.2.1:1 > 192.0.2.2:2 len 200 flags A");
    cr_assert_eq(p.frame_len, 200u);
    cr_assert_eq(p.tcp_flags, packet::tcp_flag::ACK);
}

Test(packet_spec, extra_whitespace_and_glued_arrow) {
    auto p = must_parse("  udp\t192.0.2.1:53>192.0.2.2:5353  ");
    cr_assert_eq(p.sport, 53);
    cr_assert_eq(p.dport, 5353);
}

Test(packet_spec, len_bounds) {
    cr_assert_eq(must_parse("udp 192.0.2.1:1 > 192.0.2.2:2 len 42").frame_len, 42u);
    cr_assert_eq(must_parse("udp 192.0.2.1:1 > 192.0.2.2:2 len 3520").frame_len, 3520u);
}

// Each bad spec must fail with a message that quotes the offending token.
Test(packet_spec, bad_specs_name_the_token) {
    struct Case {
        const char* spec;
        const char* token;
    };
    const Case cases[] = {
        {"", "empty"},
        {"egress", "missing protocol"},
        {"sctp 192.0.2.1:1 > 192.0.2.2:2", "'sctp'"},
        {"256 192.0.2.1 > 192.0.2.2", "'256'"},
        {"udp 192.0.2.1:1", "'192.0.2.1:1'"},
        {"udp 192.0.2.1:1 to 192.0.2.2:2", "'to'"},
        {"udp 203.0.113.7:70000 > 192.0.2.2:2", "bad port '70000' in '203.0.113.7:70000'"},
        {"udp 192.0.2.1:-1 > 192.0.2.2:2", "'-1'"},
        {"udp 192.0.2.1: > 192.0.2.2:2", "bad port '' in '192.0.2.1:'"},
        {"udp 192.0.2.300:1 > 192.0.2.2:2", "'192.0.2.300'"},
        {"udp 192.0.2.1:1 > example.com:2", "'example.com'"},
        {"tcp 192.0.2.1 > 192.0.2.2:2", "missing port in '192.0.2.1'"},
        {"tcp 2001:db8::1:443 > [2001:db8::2]:2", "missing port in '2001:db8::1:443'"},
        {"icmp 192.0.2.1:5 > 192.0.2.2", "unexpected port in '192.0.2.1:5'"},
        {"tcp [2001:db8::1:443 > [2001:db8::2]:2", "'[2001:db8::1:443'"},
        {"tcp [2001:db8::1]443 > [2001:db8::2]:2", "'[2001:db8::1]443'"},
        {"tcp [192.0.2.1]:1 > 192.0.2.2:2", "'[192.0.2.1]:1'"},
        {"udp 192.0.2.1:1 > [2001:db8::2]:2", "'[2001:db8::2]:2' is IPv6"},
        {"icmp 2001:db8::1 > 2001:db8::2", "'icmp' needs IPv4"},
        {"icmp6 192.0.2.1 > 192.0.2.2", "'icmp6' needs IPv6"},
        {"tcp 192.0.2.1:1 > 192.0.2.2:2 flags SX", "'SX'"},
        {"tcp 192.0.2.1:1 > 192.0.2.2:2 flags SS", "'SS'"},
        {"udp 192.0.2.1:1 > 192.0.2.2:2 flags S", "'flags' does not apply to udp"},
        {"tcp 192.0.2.1:1 > 192.0.2.2:2 type 3", "'type' does not apply to tcp"},
        {"icmp 192.0.2.1 > 192.0.2.2 type 300", "bad type '300'"},
        {"icmp 192.0.2.1 > 192.0.2.2 code 1", "'code' without 'type'"},
        {"icmp 192.0.2.1 > 192.0.2.2 type 3 code x", "bad code 'x'"},
        {"udp 192.0.2.1:1 > 192.0.2.2:2 len 3521", "bad len '3521'"},
        {"udp 192.0.2.1:1 > 192.0.2.2:2 len 41", "bad len '41'"},
        {"udp 192.0.2.1:1 > 192.0.2.2:2 len", "after 'len'"},
        {"udp 192.0.2.1:1 > 192.0.2.2:2 len 60 len 70", "repeated 'len'"},
        {"udp 192.0.2.1:1 > 192.0.2.2:2 ttl 3", "unexpected 'ttl'"},
        {"ingress egress udp 192.0.2.1:1 > 192.0.2.2:2", "'egress'"},
        {"udp 192.0.2.1:1 >> 192.0.2.2:2", "unexpected '>'"},
    };
    for (const auto& c : cases) {
        packet::SpecError err;
        auto p = packet::parse_spec(c.spec, Dir::ingress, err);
        cr_assert_not(p.has_value(), "'%s' should be rejected", c.spec);
        cr_assert(err.message.find(c.token) != std::string::npos,
                  "error for '%s' should contain \"%s\", got \"%s\"", c.spec, c.token,
                  err.message.c_str());
    }
}

Test(packet_spec, error_message_matches_contract_example) {
    packet::SpecError err;
    packet::parse_spec("udp 203.0.113.7:70000 > 192.0.2.2:2", Dir::ingress, err);
    cr_assert_eq(err.message, "bad port '70000' in '203.0.113.7:70000': expected 0-65535");
}

Test(packet_spec, to_spec_is_canonical) {
    cr_assert_eq(packet::to_spec(must_parse("udp 203.0.113.7:40000 > 131.107.155.30:3478")),
                 "udp 203.0.113.7:40000 > 131.107.155.30:3478");
    cr_assert_eq(packet::to_spec(must_parse("egress tcp 10.0.0.1:1 > 10.0.0.2:2")),
                 "egress tcp 10.0.0.1:1 > 10.0.0.2:2 flags S");
    cr_assert_eq(packet::to_spec(must_parse("tcp 10.0.0.1:1 > 10.0.0.2:2 flags AS")),
                 "tcp 10.0.0.1:1 > 10.0.0.2:2 flags SA");
    cr_assert_eq(packet::to_spec(must_parse("icmp6 [2001:db8::1] > 2001:db8::2")),
                 "icmp6 2001:db8::1 > 2001:db8::2 type 128 code 0");
    cr_assert_eq(packet::to_spec(must_parse("tcp [2001:db8::1]:1 > [2001:db8::2]:2 len 99")),
                 "tcp [2001:db8::1]:1 > [2001:db8::2]:2 flags S len 99");
}

Test(packet_spec, to_spec_round_trips) {
    const char* specs[] = {
        "udp 203.0.113.7:40000 > 131.107.155.30:3478",
        "egress tcp 131.107.155.10:40000 > 192.0.2.1:80 flags FA",
        "tcp [2001:db8::2]:0 > [2001:db8::1]:65535 flags none",
        "tcp 192.0.2.1:1 > 192.0.2.2:2 flags SAFRPUEC len 1500",
        "icmp 192.0.2.1 > 192.0.2.2 type 11 code 1",
        "egress icmp6 fe80::1 > ff02::1 type 135 code 0 len 200",
        "17 192.0.2.1:5060 > 192.0.2.2:5061",
        "132 [2001:db8::1] > 2001:db8::2 len 80",
    };
    for (const char* s : specs) {
        Packet p = must_parse(s);
        Packet q = must_parse(packet::to_spec(p));
        cr_assert(q.dir == p.dir && q.proto == p.proto && q.src == p.src && q.dst == p.dst &&
                      q.sport == p.sport && q.dport == p.dport && q.tcp_flags == p.tcp_flags &&
                      q.icmp_type == p.icmp_type && q.icmp_code == p.icmp_code &&
                      q.frame_len == p.frame_len,
                  "round trip of '%s' via '%s'", s, packet::to_spec(p).c_str());
        cr_assert_eq(packet::to_spec(q), packet::to_spec(p));
    }
}
