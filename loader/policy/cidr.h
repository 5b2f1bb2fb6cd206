// Address prefixes and port ranges: the value types of the policy model.
// Addresses live in one 128-bit space; IPv4 is IPv4-mapped, so an IPv4 /n is
// a /(96+n) here and `any` is ::/0, which holds both families.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "packet/packet.h"

namespace policy {

struct Cidr {
    packet::Addr addr;  // host bits are zero
    int plen = 0;       // 0..128 in the mapped space

    bool contains(const packet::Addr& a) const;
    bool contains(const Cidr& other) const;  // other is inside this
    bool is_any() const { return plen == 0; }
    std::string str() const;  // "192.0.2.0/24", "2001:db8::/32", "any", "192.0.2.1"
    bool operator==(const Cidr&) const = default;
    auto operator<=>(const Cidr&) const = default;
};

// "192.0.2.1", "192.0.2.0/24", "2001:db8::/32". nullopt with a reason in err.
std::optional<Cidr> parse_cidr(std::string_view text, std::string& err);
Cidr host_cidr(const packet::Addr& a);

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
