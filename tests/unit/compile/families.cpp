// The compiled image keeps families apart: an IPv6 remote prefix that covers
// part of ::ffff:0:0/96 is written as the pieces of it outside that range, so
// no LPM entry of it holds an IPv4-mapped key; `any` stays ::/0.
#include <criterion/criterion.h>
#include <netinet/in.h>

#include <cstring>
#include <map>
#include <set>
#include <string>

#include "compile/compile.h"
#include "image/lookup.h"

namespace {

constexpr uint32_t kIngressTcp =
    EF_COMBO(uint32_t{EF_ROLE_EXTERNAL}, uint32_t{EF_DIR_INGRESS}, uint32_t{EF_PS_TCP});

const char* kWideV6[] = {"::/8", "::/1", "::/64", "::/80", "::fffe:0:0/95", "::/0"};

policy::Policy load(const std::string& src, const std::string& dst) {
    std::string text =
        "edgefw: 1\nname: fam\nfeatures: {f: {}}\n"
        "nodes: {n1: {interfaces: {external: {addresses: [10.0.0.1, "
        "2001:db8::1]}}}}\n"
        "rules:\n  - {id: r1, app: A, feature: f, proto: tcp, src: \"" +
        src + "\", dst: \"" + dst + "\", dport: 80}\n";
    policy::Diagnostics d;
    auto p = policy::load_text(text, "fam.yaml", "", "", d);
    for (const auto& x : d.all()) cr_log_error("%s", x.str().c_str());
    cr_assert(p.has_value());
    return *p;
}

packet::Addr addr(const char* text) { return *packet::parse_addr(text); }

policy::Prefix key_prefix(const image::RemoteEntry& r) {
    policy::Prefix k;
    std::memcpy(k.addr.bytes.data(), r.key.addr, 16);
    k.plen = static_cast<int>(r.key.prefixlen) - 32;
    return k;
}

std::optional<uint32_t> classify(const image::MapImage& img, const char* local, const char* remote,
                                 uint16_t dport) {
    image::Lookup l(img);
    return l.classify(kIngressTcp, addr(local).bytes, addr(remote).bytes, dport, 5);
}

}  // namespace

Test(compile_families, ipv6_source_prefix_has_no_key_for_ipv4) {
    const auto mapped = policy::mapped_space();
    for (const char* p : kWideV6) {
        auto img = compile::compile_node(load(p, "n1.external"), "n1");
        cr_assert_gt(img.remotes.size(), 0u, "%s: no remote entries", p);
        std::map<uint32_t, size_t> per_bucket;
        for (const auto& r : img.remotes) per_bucket[r.key.bucket]++;
        for (auto [b, n] : per_bucket) cr_assert_leq(n, 96u + 2u, "%s: bucket %u", p, b);
        // The ingress buckets: those the rule's src prefix keys.
        std::set<uint32_t> pcs, buckets;
        for (const auto& pc : img.port_classes)
            if (pc.combo == kIngressTcp) pcs.insert(pc.port_class);
        for (const auto& l : img.locals)
            if (pcs.count(l.key.port_class)) buckets.insert(l.bucket);
        cr_assert_gt(buckets.size(), 0u);
        for (const auto& r : img.remotes) {
            if (!buckets.count(r.key.bucket)) continue;
            auto k = key_prefix(r);
            cr_assert(!k.contains(addr("1.1.1.1")), "%s: an LPM entry /%d covers ::ffff:1.1.1.1", p,
                      k.plen);
            cr_assert(!k.overlaps(mapped), "%s: an LPM entry overlaps ::ffff:0:0/96", p);
        }
        cr_assert(!classify(img, "10.0.0.1", "1.1.1.1", 80), "%s admits 1.1.1.1 > 10.0.0.1:80", p);
        cr_assert(!classify(img, "2001:db8::1", "::ffff:1.1.1.1", 80), "%s", p);
    }
    // IPv6 addresses inside the prefix still match.
    auto img = compile::compile_node(load("::/8", "n1.external"), "n1");
    cr_assert(classify(img, "2001:db8::1", "::1:0:0:5", 80));
    cr_assert(classify(img, "2001:db8::1", "::fffe:1.1.1.1", 80));
    cr_assert(!classify(img, "2001:db8::1", "2001:db8::7", 80));
}

Test(compile_families, ipv6_destination_prefix_makes_only_ipv6_local) {
    for (const char* p : kWideV6) {
        auto img = compile::compile_node(load("any", p), "n1");
        for (const auto& l : img.locals) {
            packet::Addr a;
            std::memcpy(a.bytes.data(), l.key.addr, 16);
            cr_assert(!a.is_v4(), "dst %s makes %s local", p, a.str().c_str());
        }
        cr_assert(!classify(img, "10.0.0.1", "1.1.1.1", 80), "dst %s", p);
        std::string err;
        bool holds = policy::parse_cidr(p, err)->contains(addr("2001:db8::1"));
        cr_assert_eq(classify(img, "2001:db8::1", "2001:db8::7", 80).has_value(), holds, "dst %s",
                     p);
    }
}

Test(compile_families, any_stays_one_entry_and_ipv4_all_stays_v4) {
    auto img = compile::compile_node(load("any", "n1.external"), "n1");
    cr_assert(classify(img, "10.0.0.1", "1.1.1.1", 80));
    cr_assert(classify(img, "2001:db8::1", "2001:db8::7", 80));
    // A rule with `any` on the remote side is decided at the local lookup.
    for (const auto& l : img.locals) cr_assert(l.bucket & EF_DIRECT_RULE);

    auto v4 = compile::compile_node(load("0.0.0.0/0", "n1.external"), "n1");
    cr_assert(classify(v4, "10.0.0.1", "1.1.1.1", 80));
    cr_assert(!classify(v4, "2001:db8::1", "2001:db8::7", 80));
    cr_assert(!classify(v4, "2001:db8::1", "::", 80));
    // Its one key is ::ffff:0:0/96: no IPv6 address falls in it.
    size_t wide = 0;
    for (const auto& r : v4.remotes)
        if (r.key.prefixlen < 32u + 128u) {
            cr_assert_eq(key_prefix(r), policy::mapped_space());
            wide++;
        }
    cr_assert_eq(wide, 1u);
}
