#include "policy/cidr.h"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstring>

namespace policy {

namespace {

packet::Addr mask(const packet::Addr& a, int plen) {
    packet::Addr out = a;
    for (int i = 0; i < 16; i++) {
        int bits = plen - i * 8;
        uint8_t m = bits >= 8 ? 0xff : bits <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits));
        out.bytes[i] &= m;
    }
    return out;
}

// mask(a, plen) == net, without building the masked copy: the model asks it
// for every candidate rule of every packet. The masks of every plen in two
// 64-bit words (plen is clamped as mask() reads it).
bool masked_equals(const packet::Addr& a, int plen, const packet::Addr& net) {
    struct Words {
        uint64_t w[2];
    };
    static const std::array<Words, 129> masks = [] {
        std::array<Words, 129> t{};
        packet::Addr ones;
        ones.bytes.fill(0xff);
        for (int p = 0; p <= 128; p++) std::memcpy(t[p].w, mask(ones, p).bytes.data(), 16);
        return t;
    }();
    const Words& m = masks[plen < 0 ? 0 : plen > 128 ? 128 : plen];
    uint64_t x[2], n[2];
    std::memcpy(x, a.bytes.data(), 16);
    std::memcpy(n, net.bytes.data(), 16);
    return (x[0] & m.w[0]) == n[0] && (x[1] & m.w[1]) == n[1];
}

bool bit(const packet::Addr& a, int i) { return (a.bytes[i / 8] >> (7 - i % 8)) & 1; }

void set_bit(packet::Addr& a, int i, bool v) {
    uint8_t m = static_cast<uint8_t>(0x80 >> (i % 8));
    a.bytes[i / 8] = static_cast<uint8_t>(v ? a.bytes[i / 8] | m : a.bytes[i / 8] & ~m);
}

std::string v6_text(const packet::Addr& a) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, a.bytes.data(), buf, sizeof buf);
    return buf;
}

std::string v4_text(const packet::Addr& a) {
    char buf[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, a.bytes.data() + 12, buf, sizeof buf);
    return buf;
}

}  // namespace

bool Prefix::contains(const packet::Addr& a) const { return masked_equals(a, plen, addr); }

bool Prefix::contains(const Prefix& other) const {
    return other.plen >= plen && masked_equals(other.addr, plen, addr);
}

Prefix mapped_space() {
    Prefix m;
    m.addr.bytes[10] = m.addr.bytes[11] = 0xff;
    m.plen = 96;
    return m;
}

std::vector<Prefix> Cidr::key_prefixes() const {
    if (family != Family::v6) return {prefix()};
    const Prefix m = mapped_space();
    if (m.contains(prefix())) return {};  // holds IPv4-mapped addresses only
    if (!prefix().contains(m)) return {prefix()};
    // The siblings of the path from this prefix down to ::ffff:0:0/96.
    std::vector<Prefix> out;
    for (int i = plen; i < m.plen; i++) {
        Prefix piece{mask(m.addr, i), i + 1};
        set_bit(piece.addr, i, !bit(m.addr, i));
        out.push_back(piece);
    }
    return out;
}

bool Cidr::contains(const packet::Addr& a) const {
    switch (family) {
        case Family::any:
            return true;
        case Family::v4:
            return a.is_v4() && masked_equals(a, plen, addr);
        case Family::v6:
            return !a.is_v4() && masked_equals(a, plen, addr);
    }
    return false;
}

bool Cidr::contains(const Cidr& other) const {
    if (is_any()) return true;
    if (other.family != family) return false;
    if (family == Family::v4) return prefix().contains(other.prefix());
    // IPv6: every piece of other outside the mapped range lies inside this.
    if (prefix().contains(other.prefix())) return true;
    for (const auto& p : other.key_prefixes())
        if (!prefix().contains(p)) return false;
    return true;
}

bool Cidr::overlaps(const Cidr& other) const {
    if (is_any() || other.is_any()) return true;
    if (other.family != family) return false;
    if (!prefix().overlaps(other.prefix())) return false;
    if (family == Family::v4) return true;
    for (const auto& p : key_prefixes())
        for (const auto& q : other.key_prefixes())
            if (p.overlaps(q)) return true;
    return false;
}

std::string Cidr::str() const {
    switch (family) {
        case Family::any:
            return "any";
        case Family::v4:
            return plen == 128 ? v4_text(addr) : v4_text(addr) + "/" + std::to_string(plen - 96);
        case Family::v6:
            return plen == 128 ? v6_text(addr) : v6_text(addr) + "/" + std::to_string(plen);
    }
    return "?";
}

Cidr host_cidr(const packet::Addr& a) { return Cidr{a, 128, a.is_v4() ? Family::v4 : Family::v6}; }

namespace {

// Splits "ADDR[/LEN]"; len = -1 when absent, -2 when not a number.
std::optional<packet::Addr> split(std::string_view text, int& len) {
    auto slash = text.find('/');
    auto addr = packet::parse_addr(text.substr(0, slash));
    len = -1;
    if (slash != std::string_view::npos) {
        std::string_view t = text.substr(slash + 1);
        int v = 0;
        auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
        len = ec != std::errc() || ptr != t.data() + t.size() || t.empty() ? -2 : v;
    }
    return addr;
}

}  // namespace

std::optional<std::string> ipv4_form_of_mapped(std::string_view text) {
    int len = 0;
    auto addr = split(text, len);
    if (!addr || text.substr(0, text.find('/')).find(':') == std::string_view::npos ||
        !addr->is_v4() || len == -2 || (len >= 0 && (len < 96 || len > 128)))
        return std::nullopt;
    if (len < 0 || len == 128) return v4_text(*addr);
    return v4_text(mask(*addr, len)) + "/" + std::to_string(len - 96);
}

std::optional<Cidr> parse_cidr(std::string_view text, std::string& err) {
    if (auto v4 = ipv4_form_of_mapped(text)) {
        err = "'" + std::string(text) +
              "' is an IPv4-mapped IPv6 address: IPv4 is written as IPv4 here, write " + *v4 +
              " instead (an IPv6 prefix never matches an IPv4 address)";
        return std::nullopt;
    }
    int len = 0;
    auto addr = split(text, len);
    if (!addr) {
        err = "'" + std::string(text) + "' is not an IPv4/IPv6 address or CIDR";
        return std::nullopt;
    }
    // Written with a colon it is IPv6, whatever its bits (the mapped form is refused above).
    bool v4 = addr->is_v4() && text.substr(0, text.find('/')).find(':') == std::string_view::npos;
    int max = v4 ? 32 : 128;
    if (len == -1) len = max;
    if (len < 0 || len > max) {
        err = "bad prefix length in '" + std::string(text) + "': expected 0-" + std::to_string(max);
        return std::nullopt;
    }
    int plen = v4 ? 96 + len : len;
    Cidr c{mask(*addr, plen), plen, v4 ? Family::v4 : Family::v6};
    if (c.addr != *addr) {
        err = "'" + std::string(text) + "' has host bits set: did you mean " + c.str() + "?";
        return std::nullopt;
    }
    return c;
}

std::string PortRange::str() const {
    if (lo == 0 && hi == 65535) return "any";
    if (lo == hi) return std::to_string(lo);
    return std::to_string(lo) + "-" + std::to_string(hi);
}

}  // namespace policy
