// The flattened steps 3 and 4 (image/flat.h) against the compiler's prefixes:
// for every bucket and remote class of the reference policy's nodes and of
// synthetic policies up to 10,000 rules, the range found for an address or a
// port holds the value of the longest prefix that contains it. Probes sit on
// every prefix's first and last value and one past each, plus random values.
// No kernel needed.
#include "image/flat.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>

#include <array>
#include <map>
#include <random>

#include "compile/compile.h"
#include "policy/policy.h"
#include "synth/synth.h"

namespace {

using Addr = std::array<uint8_t, 16>;

bool in_prefix(const Addr& a, const uint8_t* p, int plen) {
    for (int bit = 0; bit < plen; bit++) {
        int byte = bit / 8, shift = 7 - bit % 8;
        if (((a[byte] >> shift) & 1) != ((p[byte] >> shift) & 1)) return false;
    }
    return true;
}

// The longest-prefix answer, by scanning the group.
uint32_t lpm_remote(const std::vector<const image::RemoteEntry*>& group, const Addr& a) {
    int best = -1;
    uint32_t value = 0;
    for (const auto* r : group) {
        int plen = static_cast<int>(r->key.prefixlen) - 32;
        if (plen > best && in_prefix(a, r->key.addr, plen)) {
            best = plen;
            value = r->remote_class;
        }
    }
    return value;
}

uint32_t lpm_sport(const std::vector<const image::SportEntry*>& group, uint16_t port) {
    int best = -1;
    uint32_t value = 0;
    for (const auto* s : group) {
        int plen = static_cast<int>(s->key.prefixlen) - 32;
        uint16_t p = ntohs(s->key.port_be);
        uint16_t mask = plen == 0 ? 0 : static_cast<uint16_t>(0xffff << (16 - plen));
        if (plen > best && (port & mask) == (p & mask)) {
            best = plen;
            value = s->rule_plus_one;
        }
    }
    return value;
}

Addr add(Addr a, int delta) {  // a + delta (delta = -1 or +1), wrapping
    for (int i = 15; i >= 0; i--) {
        int v = a[i] + delta;
        a[i] = static_cast<uint8_t>(v);
        if (v >= 0 && v <= 255) break;
    }
    return a;
}

Addr last_of(const uint8_t* p, int plen) {
    Addr a;
    std::copy(p, p + 16, a.begin());
    for (int bit = plen; bit < 128; bit++) a[bit / 8] |= static_cast<uint8_t>(1 << (7 - bit % 8));
    return a;
}

// Returns how many probes found a match (so the test cannot pass on empty images).
size_t check_image(const image::MapImage& img, uint64_t seed) {
    const image::FlatImage flat = image::flatten(img);
    std::map<uint32_t, std::vector<const image::RemoteEntry*>> remotes;
    for (const auto& r : img.remotes) remotes[r.key.bucket].push_back(&r);
    std::map<uint32_t, std::vector<const image::SportEntry*>> sports;
    for (const auto& s : img.sports) sports[s.key.remote_class].push_back(&s);
    std::mt19937_64 rng(seed);
    size_t matched = 0;

    for (const auto& [bucket, group] : remotes) {
        std::vector<Addr> probes;
        for (const auto* r : group) {
            Addr first;
            std::copy(r->key.addr, r->key.addr + 16, first.begin());
            Addr last = last_of(r->key.addr, static_cast<int>(r->key.prefixlen) - 32);
            for (const Addr& a : {first, add(first, -1), last, add(last, 1)}) probes.push_back(a);
        }
        for (int i = 0; i < 64; i++) {
            Addr a;
            for (auto& b : a) b = static_cast<uint8_t>(rng());
            if (i % 2) {  // an IPv4-mapped address
                std::fill(a.begin(), a.begin() + 10, 0);
                a[10] = a[11] = 0xff;
            }
            probes.push_back(a);
        }
        for (const Addr& a : probes) {
            uint32_t want = lpm_remote(group, a);
            uint32_t got = image::flat_remote(flat, bucket, a.data());
            cr_assert_eq(got, want, "bucket %u: flattened remote class %#x, longest prefix %#x",
                         bucket, got, want);
            matched += want != 0;
        }
    }
    for (const auto& [rc, group] : sports) {
        std::vector<uint32_t> probes;
        for (const auto* s : group) {
            uint32_t p = ntohs(s->key.port_be);
            int plen = static_cast<int>(s->key.prefixlen) - 32;
            uint32_t last = p | (plen >= 16 ? 0u : (1u << (16 - plen)) - 1);
            for (uint32_t v : {p, p - 1, last, last + 1})
                if (v <= 0xffff) probes.push_back(v);
        }
        for (int i = 0; i < 32; i++) probes.push_back(static_cast<uint32_t>(rng() & 0xffff));
        for (uint32_t port : probes) {
            uint32_t want = lpm_sport(group, static_cast<uint16_t>(port));
            uint32_t got = image::flat_sport(flat, rc, static_cast<uint16_t>(port));
            cr_assert_eq(got, want, "remote class %u port %u: flattened rule+1 %u, longest %u", rc,
                         port, got, want);
            matched += want != 0;
        }
    }
    // Groups start at 0 and are sorted: what the programs' binary search assumes.
    for (const auto& ix : flat.remote_index) {
        if (!ix.count) continue;
        cr_assert(flat.remote_ranges[ix.offset].start_hi == 0 &&
                  flat.remote_ranges[ix.offset].start_lo == 0);
        for (uint32_t i = ix.offset + 1; i < ix.offset + ix.count; i++) {
            const auto &a = flat.remote_ranges[i - 1], &b = flat.remote_ranges[i];
            cr_assert(a.start_hi < b.start_hi ||
                      (a.start_hi == b.start_hi && a.start_lo < b.start_lo));
        }
    }
    for (const auto& ix : flat.sport_index) {
        if (!ix.count) continue;
        cr_assert_eq(flat.sport_ranges[ix.offset].start, 0u);
        for (uint32_t i = ix.offset + 1; i < ix.offset + ix.count; i++)
            cr_assert_lt(flat.sport_ranges[i - 1].start, flat.sport_ranges[i].start);
    }
    return matched;
}

}  // namespace

Test(flat, reference_policy_every_node) {
    policy::Diagnostics d;
    auto p = policy::load("policies/lync2010-edge-hlb.yaml", "policies/site-test.yaml", d);
    cr_assert(p.has_value());
    size_t matched = 0;
    for (const auto& [name, node] : p->nodes)
        matched += check_image(compile::compile_node(*p, name), 1);
    cr_assert_gt(matched, 100u);
}

Test(flat, synthetic_policies, .timeout = 120) {
    for (uint32_t rules : {100u, 1000u, 10000u}) {
        policy::Diagnostics d;
        auto p = policy::load_text(synth::generate({rules, 7, true}), "synthetic.yaml", "", "", d);
        cr_assert(p.has_value());
        size_t matched = 0;
        for (const auto& [name, node] : p->nodes)
            matched += check_image(compile::compile_node(*p, name), rules);
        cr_assert_gt(matched, 0u, "%u rules: no probe matched", rules);
    }
}
