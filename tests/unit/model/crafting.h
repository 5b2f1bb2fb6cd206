// Frame crafting for the model's unit tests: build_frame from a spec, then
// patch fields by byte offset (the model reads frames, so a test can say
// anything the wire can, including length fields that contradict each other).
#pragma once

#include <criterion/criterion.h>

#include <cstdint>
#include <string>
#include <vector>

#include "packet/packet.h"

namespace crafting {

using Bytes = std::vector<uint8_t>;

// Offsets for an untagged frame.
inline constexpr size_t kL3 = 14;
inline constexpr size_t kL4v4 = kL3 + 20;  // no IPv4 options
inline constexpr size_t kL4v6 = kL3 + 40;  // no extension headers

inline packet::Packet spec(const std::string& line) {
    packet::SpecError err;
    auto p = packet::parse_spec(line, packet::Dir::ingress, err);
    cr_assert(p.has_value(), "bad spec '%s': %s", line.c_str(), err.message.c_str());
    return *p;
}

inline packet::Addr addr(const std::string& text) {
    auto a = packet::parse_addr(text);
    cr_assert(a.has_value(), "bad address '%s'", text.c_str());
    return *a;
}

inline Bytes frame(const std::string& line) { return packet::build_frame(spec(line)); }

inline uint16_t get16(const Bytes& f, size_t off) { return uint16_t(f[off] << 8 | f[off + 1]); }
inline void set16(Bytes& f, size_t off, uint16_t v) {
    f[off] = uint8_t(v >> 8);
    f[off + 1] = uint8_t(v);
}

// Recomputes the IPv4 header checksum at l3 (so a patched header is one a
// sender could have written: only the field under test is wrong).
inline void ipv4_checksum(Bytes& f, size_t l3 = kL3) {
    size_t ihl = size_t(f[l3] & 0x0f) * 4;
    set16(f, l3 + 10, 0);
    uint32_t acc = 0;
    for (size_t i = 0; i + 1 < ihl; i += 2) acc += uint32_t(f[l3 + i]) << 8 | f[l3 + i + 1];
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    set16(f, l3 + 10, uint16_t(~acc));
}

inline void set_ipv4_total_length(Bytes& f, uint16_t total, size_t l3 = kL3) {
    set16(f, l3 + 2, total);
    ipv4_checksum(f, l3);
}

inline void set_ipv6_payload_length(Bytes& f, uint16_t len, size_t l3 = kL3) {
    set16(f, l3 + 4, len);
}

// An ICMP / ICMPv6 error from `outer` (a spec of proto icmp/icmp6 with its
// type and code) quoting packet `quoted` as a router would.
inline packet::Packet error_quoting(const std::string& outer, const packet::Packet& quoted) {
    packet::Packet e = spec(outer);
    e.icmp_quote = packet::quote_of(quoted);
    return e;
}

}  // namespace crafting
