// Address prefixes and port ranges: the value types of the policy model.
// Addresses live in one 128-bit space with IPv4 stored IPv4-mapped (an IPv4 /n
// is a /(96+n) there), but every prefix carries its family: an IPv4 prefix
// matches IPv4 addresses only, an IPv6 prefix IPv6 addresses only (never an
// IPv4-mapped one, even when its bits cover ::ffff:0:0/96), and `any` both.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "packet/packet.h"

namespace policy {

enum class Family : uint8_t { any, v4, v6 };

// A bit prefix of the 128-bit space, as the kernel's LPM tries see it: no
// family, so ::/8 here does hold IPv4-mapped addresses.
struct Prefix {
    packet::Addr addr;  // host bits are zero
    int plen = 0;       // 0..128
    bool contains(const packet::Addr& a) const;
    bool contains(const Prefix& other) const;  // other is inside this
    bool overlaps(const Prefix& other) const { return contains(other) || other.contains(*this); }
    bool operator==(const Prefix&) const = default;
    auto operator<=>(const Prefix&) const = default;
};

// ::ffff:0:0/96, where IPv4 addresses live.
Prefix mapped_space();

struct Cidr {
    packet::Addr addr;  // host bits are zero; IPv4 stored mapped
    int plen = 0;       // 0..128 in the mapped space (IPv4: 96..128)
    Family family = Family::any;

    bool contains(const packet::Addr& a) const;
    bool contains(const Cidr& other) const;  // every address of other is in this
    bool overlaps(const Cidr& other) const;  // some address is in both
    bool is_any() const { return family == Family::any; }
    bool is_v4() const { return family == Family::v4; }
    bool is_v6() const { return family == Family::v6; }
    Prefix prefix() const { return Prefix{addr, plen}; }
    // The bit prefixes that hold exactly the addresses this prefix matches:
    // `any` is ::/0, an IPv4 prefix itself, an IPv6 prefix itself unless it
    // covers part of ::ffff:0:0/96, in which case the pieces of it outside
    // that range (at most 96).
    std::vector<Prefix> key_prefixes() const;
    // Prefix length in the family's own terms (IPv4: 0..32).
    int family_plen() const { return family == Family::v4 ? plen - 96 : plen; }
    std::string str() const;  // "192.0.2.0/24", "2001:db8::/32", "::/0", "any", "192.0.2.1"
    bool operator==(const Cidr&) const = default;
    auto operator<=>(const Cidr&) const = default;
};

// "192.0.2.1", "192.0.2.0/24", "2001:db8::/32". nullopt with a reason in err.
// The IPv4-mapped form ("::ffff:10.0.0.0/120", "::ffff:1.2.3.4": anything
// inside ::ffff:0:0/96) is refused with err naming the IPv4 form to write.
std::optional<Cidr> parse_cidr(std::string_view text, std::string& err);
// The prefix holding exactly address a, of a's family.
Cidr host_cidr(const packet::Addr& a);
// When `text` is an IPv6 literal of an IPv4-mapped address or prefix, the
// IPv4 form to write instead ("10.0.0.0/24"); nullopt otherwise.
std::optional<std::string> ipv4_form_of_mapped(std::string_view text);

struct PortRange {
    uint16_t lo = 0;
    uint16_t hi = 65535;
    bool contains(uint16_t p) const { return lo <= p && p <= hi; }
    bool contains(const PortRange& o) const { return lo <= o.lo && o.hi <= hi; }
    std::string str() const;  // "443", "50000-59999", "any"
    bool operator==(const PortRange&) const = default;
    auto operator<=>(const PortRange&) const = default;
};

}  // namespace policy
