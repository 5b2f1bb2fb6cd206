// Addresses: 16 bytes, IPv4 stored IPv4-mapped so one key shape serves both
// families (maps/edgefw_abi.h does the same).
#include <arpa/inet.h>

#include <algorithm>
#include <string>

#include "packet/packet.h"

namespace packet {

namespace {

constexpr std::array<uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// Strict dotted quad: exactly four decimal octets, no signs, no leading zeros
// (inet_aton would read "010" as octal and "1.2.3" as 1.2.0.3: both surprise).
std::optional<std::array<uint8_t, 4>> parse_quad(std::string_view text) {
    std::array<uint8_t, 4> out{};
    size_t pos = 0;
    for (int i = 0; i < 4; ++i) {
        if (i > 0) {
            if (pos >= text.size() || text[pos] != '.') return std::nullopt;
            ++pos;
        }
        size_t start = pos;
        unsigned value = 0;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && pos - start < 3) {
            value = value * 10 + unsigned(text[pos] - '0');
            ++pos;
        }
        size_t digits = pos - start;
        if (digits == 0 || value > 255 || (digits > 1 && text[start] == '0')) return std::nullopt;
        out[i] = uint8_t(value);
    }
    if (pos != text.size()) return std::nullopt;
    return out;
}

}  // namespace

bool Addr::is_v4() const {
    return std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), bytes.begin());
}

std::string Addr::str() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (is_v4()) {
        inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof buf);
    } else {
        inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
    }
    return buf;
}

std::optional<Addr> parse_addr(std::string_view text) {
    Addr a;
    if (text.find(':') == std::string_view::npos) {
        auto quad = parse_quad(text);
        if (!quad) return std::nullopt;
        std::copy(kMappedPrefix.begin(), kMappedPrefix.end(), a.bytes.begin());
        std::copy(quad->begin(), quad->end(), a.bytes.begin() + 12);
        return a;
    }
    // inet_pton needs a NUL-terminated string; it rejects zone ids ("%eth0").
    std::string copy(text);
    if (inet_pton(AF_INET6, copy.c_str(), a.bytes.data()) != 1) return std::nullopt;
    return a;
}

}  // namespace packet
