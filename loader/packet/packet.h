// A packet as the model and the kernel tests see it, the spec grammar that
// names one, and the Ethernet frame built from it.
//
// Spec grammar (DESIGN.md):
//   [ingress|egress] PROTO SRC[:PORT] > DST[:PORT] [flags F] [type T [code C]] [len N]
// PROTO: tcp, udp, icmp, icmp6 or a number 0-255. IPv6 addresses in brackets:
// [2001:db8::1]:443. flags: letters of S A F R P U E C (e.g. "S", "SA", "FA").
// len N: the whole Ethernet frame is padded to N bytes (minimum is the headers).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace packet {

enum class Dir { ingress, egress };

// 16 bytes; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d), as in maps/.
struct Addr {
    std::array<uint8_t, 16> bytes{};
    bool is_v4() const;
    std::string str() const;  // "192.0.2.1" or "2001:db8::1"
    bool operator==(const Addr&) const = default;
    auto operator<=>(const Addr&) const = default;
};

std::optional<Addr> parse_addr(std::string_view text);  // no brackets

namespace tcp_flag {
inline constexpr uint8_t FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10, URG = 0x20,
                         ECE = 0x40, CWR = 0x80;
}

struct Packet {
    Dir dir = Dir::ingress;
    uint8_t proto = 0;  // IPPROTO_*
    Addr src, dst;
    uint16_t sport = 0, dport = 0;         // tcp/udp only
    uint8_t tcp_flags = 0;                 // default for tcp specs: SYN
    uint8_t icmp_type = 0, icmp_code = 0;  // default icmp: echo request (8 / 128)
    uint32_t frame_len = 0;                // 0: just the headers

    // Frame shaping used by data-plane tests; specs leave them off.
    std::vector<uint16_t> vlan_tags;  // outermost first; 2 tags: 802.1ad then 802.1Q
    uint8_t ipv4_option_words = 0;    // IHL = 5 + this (NOP options)
    std::vector<uint8_t> ipv6_ext;    // extension header types before L4 (0, 43, 60)
    bool fragment = false;            // IPv4 MF/offset or IPv6 fragment header
    uint16_t frag_offset = 0;         // in 8-byte units
    bool more_fragments = false;
    uint32_t frag_id = 0;
    // ICMP error quoting another packet (type 3/11 or icmp6 1/2/3/4).
    std::optional<std::vector<uint8_t>> icmp_quote;  // L3 header + 8 bytes, built by quote_of()
};

struct SpecError {
    std::string message;  // names the token and what is expected
};

// Parses one spec line. On error returns nullopt and fills err.
std::optional<Packet> parse_spec(std::string_view line, Dir default_dir, SpecError& err);

// Canonical spec text of a packet (round-trips through parse_spec).
std::string to_spec(const Packet& p);

// Builds the Ethernet frame (with valid checksums) for a packet.
std::vector<uint8_t> build_frame(const Packet& p);

// The bytes an ICMP error quotes for packet q: its IP header and first 8 L4 bytes.
std::vector<uint8_t> quote_of(const Packet& q);

// Reads an Ethernet frame back into a Packet (for pcap replay). nullopt when
// the frame is not IPv4/IPv6 over Ethernet (optionally VLAN-tagged).
std::optional<Packet> parse_frame(const uint8_t* data, size_t len);

}  // namespace packet
