#include "policy/cidr.h"

#include <charconv>

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

}  // namespace

bool Cidr::contains(const packet::Addr& a) const { return mask(a, plen) == addr; }

bool Cidr::contains(const Cidr& other) const {
    return other.plen >= plen && mask(other.addr, plen) == addr;
}

std::string Cidr::str() const {
    if (plen == 0) return "any";
    bool v4 = addr.is_v4() && plen >= 96;
    int shown = v4 ? plen - 96 : plen;
    std::string s = addr.str();
    if ((v4 && shown == 32) || (!v4 && shown == 128)) return s;
    return s + "/" + std::to_string(shown);
}

Cidr host_cidr(const packet::Addr& a) { return Cidr{a, 128}; }

std::optional<Cidr> parse_cidr(std::string_view text, std::string& err) {
    auto slash = text.find('/');
    std::string_view host = text.substr(0, slash);
    auto addr = packet::parse_addr(host);
    if (!addr) {
        err = "'" + std::string(text) + "' is not an IPv4/IPv6 address or CIDR";
        return std::nullopt;
    }
    int max = addr->is_v4() ? 32 : 128;
    int len = max;
    if (slash != std::string_view::npos) {
        std::string_view lenText = text.substr(slash + 1);
        auto [ptr, ec] = std::from_chars(lenText.data(), lenText.data() + lenText.size(), len);
        if (ec != std::errc() || ptr != lenText.data() + lenText.size() || lenText.empty() ||
            len < 0 || len > max) {
            err = "bad prefix length in '" + std::string(text) + "': expected 0-" +
                  std::to_string(max);
            return std::nullopt;
        }
    }
    int plen = addr->is_v4() ? 96 + len : len;
    Cidr c{mask(*addr, plen), plen};
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
