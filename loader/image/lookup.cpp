#include "image/lookup.h"

#include <arpa/inet.h>

#include <cstring>

namespace image {

namespace {

std::array<uint8_t, 16> masked(const std::array<uint8_t, 16>& a, int plen) {
    std::array<uint8_t, 16> out = a;
    for (int i = 0; i < 16; i++) {
        int bits = plen - i * 8;
        out[i] &= bits >= 8 ? 0xff : bits <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits));
    }
    return out;
}

}  // namespace

Lookup::Lookup(const MapImage& img) {
    for (const auto& p : img.port_classes) ports_[{p.combo, p.lo}] = {p.hi, p.port_class};
    for (const auto& l : img.locals) {
        std::array<uint8_t, 16> a;
        std::memcpy(a.data(), l.key.addr, 16);
        locals_[{l.key.port_class, a}] = l.bucket;
    }
    for (const auto& r : img.remotes) {
        std::array<uint8_t, 16> a;
        std::memcpy(a.data(), r.key.addr, 16);
        remotes_[{r.key.bucket, static_cast<int>(r.key.prefixlen) - 32}][a] = r.remote_class;
    }
    for (const auto& s : img.sports)
        sports_[{s.key.remote_class, static_cast<int>(s.key.prefixlen) - 32}]
               [ntohs(s.key.port_be)] = s.rule_plus_one;
}

std::optional<uint32_t> Lookup::classify(uint32_t combo, const std::array<uint8_t, 16>& local,
                                         const std::array<uint8_t, 16>& remote, uint16_t dport,
                                         uint16_t sport) const {
    auto p = ports_.upper_bound({combo, dport});
    if (p == ports_.begin()) return std::nullopt;
    --p;
    if (p->first.first != combo || dport > p->second.first) return std::nullopt;
    auto l = locals_.find({p->second.second, local});
    if (l == locals_.end()) return std::nullopt;
    if (l->second & EF_DIRECT_RULE) return l->second & ~EF_DIRECT_RULE;
    uint32_t remote_class = 0;
    for (int plen = 128; plen >= 0 && !remote_class; plen--) {
        auto r = remotes_.find({l->second, plen});
        if (r == remotes_.end()) continue;
        auto hit = r->second.find(masked(remote, plen));
        if (hit != r->second.end()) remote_class = hit->second;
    }
    if (!remote_class) return std::nullopt;
    if (remote_class & EF_DIRECT_RULE) return remote_class & ~EF_DIRECT_RULE;
    for (int plen = 16; plen >= 0; plen--) {
        auto s = sports_.find({remote_class, plen});
        if (s == sports_.end()) continue;
        uint16_t key = plen == 0 ? 0 : static_cast<uint16_t>(sport & (0xffff << (16 - plen)));
        auto hit = s->second.find(key);
        if (hit != s->second.end()) return hit->second - 1;
    }
    return std::nullopt;
}

}  // namespace image
