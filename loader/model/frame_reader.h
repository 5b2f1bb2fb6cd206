// The model's frame reader: an Ethernet frame's bytes -> the fields the
// verdict of docs/dataplane.md needs, reading every length field on the way
// (IHL, total length, IPv6 payload length, extension header lengths, TCP data
// offset, UDP length, ICMP error quotes). Written from docs/dataplane.md and
// the RFCs (791, 8200, 768, 9293, 792, 4443), on its own: it shares no code
// with the BPF programs nor with packet::parse_frame.
//
// The datagram ends where the IP header's own length says; every header must
// lie inside it, and bytes past it (Ethernet padding) are never read.
//
// The reader is a pure function of the bytes. It stops with a reason at the
// first malformed layer 2/3 (or at ARP / a non-IP ethertype). Layer 4 and the
// ICMP quote are read too when they apply, but their outcome is reported in
// the view rather than as a reason: the model checks them later (steps 4-5),
// after the family, anti-spoofing and fragment steps that come first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "packet/packet.h"

extern "C" {
#include "edgefw_abi.h"
}

namespace model {

// The packet an ICMP error quotes: its IP header and first 8 L4 bytes.
struct QuotedTuple {
    packet::Addr src, dst;          // IPv4 stored IPv4-mapped
    uint8_t proto = 0;              // IPv4 protocol field; IPv6 next header of the fixed header
    uint16_t sport = 0, dport = 0;  // TCP/UDP only (else 0)
};

enum class L4State {
    not_read,   // a later fragment, or a protocol the family does not have
    ok,         // header complete inside the datagram
    malformed,  // truncated or inconsistent: malformed_l4 (step 4)
};

enum class QuoteState {
    none,       // not an ICMP error that can refer to a flow (or L4 not ok)
    ok,         // quote complete inside the datagram
    malformed,  // too short, wrong version, IHL < 5: malformed_l4 (step 5)
};

struct FrameView {
    // Layer 2.
    unsigned vlan_tags = 0;
    size_t l3_off = 0;

    // Layer 3.
    bool v6 = false;
    packet::Addr src, dst;    // IPv4 stored IPv4-mapped; IPv6 exactly as on the wire
    size_t datagram_end = 0;  // L3 offset + datagram length: the frame holds it
    // IPv4: the protocol field. IPv6: the next header that ended the chain
    // (for a later fragment, the fragment header's next header).
    uint8_t proto = 0;
    size_t l4_off = 0;              // first byte after the IP headers
    std::vector<uint8_t> ipv6_ext;  // extension headers walked, in order

    // Fragments (an atomic fragment, offset 0 and MF clear, is not one).
    bool fragment = false;
    uint16_t frag_offset = 0;  // 8-byte units
    bool more_fragments = false;
    uint32_t frag_id = 0;  // IPv4: 16 bits; IPv6: 32 bits
    bool first_fragment() const { return fragment && frag_offset == 0; }
    bool later_fragment() const { return fragment && frag_offset != 0; }

    // Layer 4: read only for TCP, UDP, ICMP over IPv4 and ICMPv6 over IPv6,
    // and never for a later fragment.
    L4State l4 = L4State::not_read;
    uint16_t sport = 0, dport = 0;  // TCP/UDP
    uint8_t tcp_flags = 0;
    uint8_t tcp_doff = 0;  // words
    uint16_t udp_len = 0;  // the UDP length field
    uint8_t icmp_type = 0, icmp_code = 0;

    // ICMP error quote: read for IPv4 types 3, 11, 12 and ICMPv6 types 1-4
    // (source quench and redirect never relate: their quote is not read).
    QuoteState quote = QuoteState::none;
    QuotedTuple quoted;
};

struct FrameRead {
    // Set when layers 2-3 end the packet: arp_pass, non_ip_drop,
    // malformed_l2, malformed_ipv4 or malformed_ipv6 (enum ef_reason).
    std::optional<uint32_t> reason;
    FrameView view;  // valid when reason is empty
};

FrameRead read_frame(std::span<const uint8_t> frame);

// Whether the protocol is one the packet's family has: TCP, UDP, and ICMP
// over IPv4 or ICMPv6 over IPv6.
bool family_protocol(bool v6, uint8_t proto);

// An IPv4-mapped (::ffff:0:0/96) or IPv4-compatible (::/96 except :: and
// ::1) address, for an address read from an IPv6 header.
bool ipv6_mapped_or_compatible(const packet::Addr& a);

}  // namespace model
