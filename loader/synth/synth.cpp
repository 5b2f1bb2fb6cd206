#include "synth/synth.h"

#include <fmt/core.h>

#include <random>

namespace synth {

namespace {

class Gen {
  public:
    explicit Gen(uint64_t seed) : rng_(seed) {}
    uint32_t below(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_); }
    bool chance(uint32_t percent) { return below(100) < percent; }

    std::string port_expr() {
        if (chance(2)) return "any";
        switch (below(4)) {
            case 0:
                return std::to_string(1 + below(1023));
            case 1:
                return std::to_string(1 + below(64999));
            case 2: {
                uint32_t lo = 1024 + below(60000), len = 1 + below(200);
                return fmt::format("{}-{}", lo, std::min<uint32_t>(64999, lo + len));
            }
            default: {
                uint32_t lo = 1024 + below(60000);
                return fmt::format("[{}, {}, {}-{}]", 1 + below(1023), 1 + below(1023), lo,
                                   lo + below(50));
            }
        }
    }

    std::string remote_expr(bool v6) {
        if (v6) {
            switch (below(3)) {
                case 0:
                    return "any";
                case 1:
                    return fmt::format("2001:db8:{:x}::/48", below(0xffff));
                default:
                    return fmt::format("2001:db8:1::{:x}", 1 + below(0xfffe));
            }
        }
        switch (below(5)) {
            case 0:
                return "any";
            case 1:
                return fmt::format("198.19.{}.0/24", below(256));
            case 2:
                return fmt::format("198.19.{}.{}", below(256), 1 + below(254));
            case 3:
                return fmt::format("198.18.{}.0/{}", below(256) & 0xf0, 20 + below(5));
            default:
                return fmt::format("set{}", below(kSets));
        }
    }

    static constexpr uint32_t kSets = 64;
    static constexpr uint32_t kExternal = 16;
    static constexpr uint32_t kInternal = 8;

  private:
    std::mt19937_64 rng_;
};

}  // namespace

std::string generate(const Options& o) {
    Gen g(o.seed);
    std::string y = fmt::format(
        "edgefw: 1\nname: synthetic-{}-{}\negress: enforce\nfeatures:\n  synthetic: "
        "{{}}\nobjects:\n",
        o.rules, o.seed);
    for (uint32_t s = 0; s < Gen::kSets; s++)
        y += fmt::format("  set{}: [198.19.{}.{}, 198.19.{}.{}, 198.19.{}.0/28]\n", s, s,
                         1 + g.below(200), s, 1 + g.below(200), 128 + s % 64);
    y += "nodes:\n  syn1:\n    interfaces:\n      external:\n        addresses: [";
    for (uint32_t i = 0; i < Gen::kExternal; i++)
        y += fmt::format("{}198.18.0.{}", i ? ", " : "", i + 1);
    y += ", 2001:db8::1]\n      internal:\n        addresses: [";
    for (uint32_t i = 0; i < Gen::kInternal; i++)
        y += fmt::format("{}198.18.1.{}", i ? ", " : "", i + 1);
    y += "]\nrules:\n";
    uint32_t n = o.known_last && o.rules > 0 ? o.rules - 1 : o.rules;
    for (uint32_t i = 0; i < n; i++) {
        bool v6 = g.chance(10);
        bool internal = !v6 && g.chance(30);
        std::string local = v6         ? "2001:db8::1"
                            : internal ? fmt::format("198.18.1.{}", 1 + g.below(Gen::kInternal))
                                       : fmt::format("198.18.0.{}", 1 + g.below(Gen::kExternal));
        if (!v6 && g.chance(2)) local = internal ? "syn1.internal" : "syn1.external";
        bool ingress = g.chance(70);
        bool icmp = g.chance(3);
        std::string proto = icmp ? (v6 ? "icmp6" : "icmp") : g.chance(50) ? "tcp" : "udp";
        std::string remote = g.remote_expr(v6);
        y += fmt::format(
            "  - {{id: syn-{:05}, app: SYN, feature: synthetic, proto: {}, src: {}, dst: {}", i,
            proto, ingress ? remote : local, ingress ? local : remote);
        if (icmp)
            y += fmt::format(", icmp_type: {}}}\n", g.chance(50) ? (v6 ? 128 : 8) : g.below(20));
        else
            y += fmt::format(", sport: {}, dport: {}}}\n", g.chance(5) ? g.port_expr() : "any",
                             g.port_expr());
    }
    if (o.known_last && o.rules > 0)
        y += "  - {id: synth-last, app: SYN, feature: synthetic, proto: udp, src: any, dst: "
             "198.18.0.1, "
             "dport: 65000}\n";
    return y;
}

}  // namespace synth
