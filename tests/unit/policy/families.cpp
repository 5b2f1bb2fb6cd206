// Address families: an IPv4 prefix matches IPv4 addresses only, an IPv6 prefix
// IPv6 addresses only (never an IPv4-mapped one, whatever its bits cover), and
// `any` both. The IPv4-mapped form of a prefix is refused, naming the IPv4 form.
#include <criterion/criterion.h>
#include <netinet/in.h>

#include <cmath>
#include <string>

#include "compile/placement.h"
#include "lint/lint.h"
#include "model/model.h"
#include "policy/policy.h"

namespace {

policy::Cidr cidr(const char* text) {
    std::string err;
    auto c = policy::parse_cidr(text, err);
    cr_assert(c.has_value(), "'%s' does not parse: %s", text, err.c_str());
    return *c;
}

packet::Addr addr(const char* text) {
    auto a = packet::parse_addr(text);
    cr_assert(a.has_value(), "'%s' is not an address", text);
    return *a;
}

// The IPv6 prefixes of issue 13 item 6: each covers ::ffff:0:0/96 bitwise.
const char* kWideV6[] = {"::/8", "::/1", "::/64", "::/80", "::fffe:0:0/95", "::/0"};
const char* kV4[] = {"1.1.1.1", "10.0.0.1", "0.0.0.0", "255.255.255.255", "198.51.100.10"};

std::string policy_with(const std::string& src, const std::string& dst) {
    return "edgefw: 1\nname: fam\nfeatures: {f: {}}\n"
           "nodes: {n1: {interfaces: {external: {addresses: [10.0.0.1, 2001:db8::1]}}}}\n"
           "rules:\n  - {id: r1, app: A, feature: f, proto: tcp, src: \"" +
           src + "\", dst: \"" + dst + "\", dport: 80}\n";
}

std::optional<policy::Policy> load(const std::string& text, policy::Diagnostics& d) {
    auto p = policy::load_text(text, "fam.yaml", "", "", d);
    for (const auto& x : d.all()) cr_log_info("%s", x.str().c_str());
    return p;
}

packet::Packet tcp(const char* src, uint16_t sport, const char* dst, uint16_t dport) {
    packet::Packet p;
    p.dir = packet::Dir::ingress;
    p.proto = IPPROTO_TCP;
    p.src = addr(src);
    p.dst = addr(dst);
    p.sport = sport;
    p.dport = dport;
    p.tcp_flags = packet::tcp_flag::SYN;
    return p;
}

bool has_error(const policy::Diagnostics& d, int line, const std::string& text) {
    for (const auto& x : d.all())
        if (x.severity == policy::Severity::error && x.loc.line == line && x.loc.column > 0 &&
            x.message.find(text) != std::string::npos)
            return true;
    return false;
}

}  // namespace

Test(policy_families, ipv6_prefixes_never_match_ipv4) {
    for (const char* p : kWideV6) {
        auto c = cidr(p);
        cr_assert(c.is_v6(), "%s", p);
        for (const char* a : kV4)
            cr_assert(!c.contains(addr(a)), "%s matches IPv4 address %s", p, a);
        cr_assert(!c.contains(cidr("10.0.0.0/8")), "%s contains 10.0.0.0/8", p);
        cr_assert(!c.contains(cidr("0.0.0.0/0")), "%s contains 0.0.0.0/0", p);
        cr_assert(!c.overlaps(cidr("0.0.0.0/0")), "%s overlaps 0.0.0.0/0", p);
        cr_assert(!c.contains(policy::Cidr{}), "%s contains any", p);
    }
    cr_assert(cidr("::/8").contains(addr("::1:0:0:5")));
    cr_assert(cidr("::/0").contains(addr("2001:db8::1")));
    cr_assert(cidr("::fffe:0:0/95").contains(addr("::fffe:1.2.3.4")));
}

Test(policy_families, ipv4_prefixes_never_match_ipv6) {
    auto all4 = cidr("0.0.0.0/0");
    cr_assert(all4.is_v4());
    cr_assert(all4.contains(addr("1.1.1.1")));
    for (const char* a : {"2001:db8::1", "::", "::1", "::fffe:1.2.3.4", "::1.2.3.4"})
        cr_assert(!all4.contains(addr(a)), "0.0.0.0/0 matches %s", a);
    cr_assert(!all4.contains(cidr("::/0")));
    cr_assert(!all4.overlaps(cidr("::/8")));
}

Test(policy_families, any_matches_both) {
    policy::Cidr any;
    cr_assert(any.is_any());
    cr_assert_eq(any.str(), "any");
    cr_assert(any.contains(addr("1.1.1.1")));
    cr_assert(any.contains(addr("2001:db8::1")));
    cr_assert(any.contains(cidr("::/0")) && any.contains(cidr("0.0.0.0/0")));
    // ::/0 is an IPv6 prefix, not `any`.
    cr_assert(!cidr("::/0").is_any());
    cr_assert_eq(cidr("::/0").str(), "::/0");
    cr_assert_eq(cidr("0.0.0.0/0").str(), "0.0.0.0/0");
    cr_assert_eq(cidr("10.0.0.0/24").str(), "10.0.0.0/24");
    cr_assert_eq(cidr("2001:db8::1").str(), "2001:db8::1");
}

Test(policy_families, containment_is_exact_across_the_mapped_range) {
    // ::fffe:0:0/95 holds ::fffe:0:0/96 and the mapped range, which it never matches.
    cr_assert(cidr("::fffe:0:0/96").contains(cidr("::fffe:0:0/95")));
    cr_assert(cidr("::fffe:0:0/95").contains(cidr("::fffe:0:0/96")));
    cr_assert(cidr("::/8").contains(cidr("::/80")));
    cr_assert(!cidr("::/80").contains(cidr("::/8")));
    cr_assert(!cidr("2001:db8::/32").overlaps(cidr("::/80")));
    cr_assert(cidr("::/80").overlaps(cidr("::/8")));
    cr_assert(cidr("10.0.0.0/8").contains(cidr("10.1.0.0/16")));
}

Test(policy_families, key_prefixes_leave_out_the_mapped_range) {
    const auto mapped = policy::mapped_space();
    struct {
        const char* p;
        size_t pieces;
    } cases[] = {{"::/0", 96},  {"::/1", 95},         {"::/8", 88},        {"::/64", 32},
                 {"::/80", 16}, {"::fffe:0:0/95", 1}, {"2001:db8::/32", 1}};
    for (auto& c : cases) {
        auto pieces = cidr(c.p).key_prefixes();
        cr_assert_eq(pieces.size(), c.pieces, "%s: %zu pieces", c.p, pieces.size());
        for (const auto& k : pieces) {
            cr_assert(!k.overlaps(mapped), "%s: a piece overlaps ::ffff:0:0/96", c.p);
            cr_assert(cidr(c.p).prefix().contains(k));
        }
        // Pieces are disjoint, and with the mapped range they fill the prefix.
        unsigned long double_cover = 0;
        for (size_t i = 0; i < pieces.size(); i++)
            for (size_t j = i + 1; j < pieces.size(); j++)
                double_cover += pieces[i].overlaps(pieces[j]);
        cr_assert_eq(double_cover, 0ul, "%s: pieces overlap", c.p);
        long double size = 0;
        for (const auto& k : pieces) size += std::pow(2.0L, 128 - k.plen);
        long double want = std::pow(2.0L, 128 - cidr(c.p).plen);
        if (cidr(c.p).prefix().contains(mapped)) want -= std::pow(2.0L, 32);
        cr_assert(size == want, "%s: pieces do not fill the prefix outside the mapped range", c.p);
    }
    cr_assert_eq(policy::Cidr{}.key_prefixes().size(), 1u);
    cr_assert_eq(policy::Cidr{}.key_prefixes()[0].plen, 0);
    cr_assert_eq(cidr("0.0.0.0/0").key_prefixes()[0].plen, 96);
}

Test(policy_families, mapped_form_is_refused_naming_the_ipv4_form) {
    struct {
        const char* text;
        const char* v4;
    } cases[] = {{"::ffff:10.0.0.0/120", "10.0.0.0/24"},
                 {"::ffff:1.2.3.4", "1.2.3.4"},
                 {"::ffff:0:0/96", "0.0.0.0/0"},
                 {"::ffff:a00:0/104", "10.0.0.0/8"},
                 {"::FFFF:1.2.3.4/128", "1.2.3.4"}};
    for (auto& c : cases) {
        std::string err;
        cr_assert(!policy::parse_cidr(c.text, err).has_value(), "%s was accepted", c.text);
        cr_assert(err.find("IPv4-mapped") != std::string::npos, "%s: %s", c.text, err.c_str());
        cr_assert(err.find(std::string("write ") + c.v4 + " ") != std::string::npos, "%s: %s",
                  c.text, err.c_str());
    }
    // In a policy: the rule's line and column, for a rule address and a node address.
    policy::Diagnostics d;
    cr_assert(!load(policy_with("::ffff:10.0.0.0/120", "10.0.0.1"), d));
    cr_assert(has_error(d, 6, "write 10.0.0.0/24 instead"));
    policy::Diagnostics d2;
    std::string text = policy_with("any", "10.0.0.1");
    text.replace(text.find("2001:db8::1"), 11, "::ffff:10.0.0.2");
    cr_assert(!load(text, d2));
    bool named = false;
    for (const auto& x : d2.all())
        named = named || (x.loc.line == 4 && x.message.find("IPv4-mapped") != std::string::npos &&
                          x.hint.find("10.0.0.2") != std::string::npos);
    cr_assert(named, "node address in mapped form not refused with its IPv4 form");
}

Test(policy_families, ipv6_source_prefix_does_not_admit_ipv4) {
    for (const char* p : kWideV6) {
        policy::Diagnostics d;
        auto pol = load(policy_with(p, "10.0.0.1"), d);
        cr_assert(pol.has_value(), "%s", p);
        model::Model m(*pol, "n1");
        const policy::Rule* r = m.classify(EF_ROLE_EXTERNAL, tcp("1.1.1.1", 5, "10.0.0.1", 80));
        cr_assert(r == nullptr, "src %s admits tcp 1.1.1.1:5 > 10.0.0.1:80 under %s", p,
                  r->id.c_str());
    }
    // An IPv6 source inside the prefix still matches (on the node's IPv6 address).
    policy::Diagnostics d;
    auto pol = load(policy_with("::/8", "2001:db8::1"), d);
    cr_assert(pol);
    model::Model m(*pol, "n1");
    cr_assert_not_null(m.classify(EF_ROLE_EXTERNAL, tcp("::1:0:0:5", 5, "2001:db8::1", 80)));
}

Test(policy_families, ipv6_destination_prefix_does_not_make_ipv4_local) {
    for (const char* p : kWideV6) {
        policy::Diagnostics d;
        auto pol = load(policy_with("any", p), d);
        cr_assert(pol.has_value(), "%s", p);
        auto entries = compile::place(*pol, "n1");
        for (const auto& e : entries)
            for (const auto& a : e.local)
                cr_assert(!a.is_v4(), "dst %s makes IPv4 address %s local", p, a.str().c_str());
        model::Model m(*pol, "n1");
        cr_assert_null(m.classify(EF_ROLE_EXTERNAL, tcp("1.1.1.1", 5, "10.0.0.1", 80)), "dst %s",
                       p);
    }
}

Test(policy_families, lint_does_not_call_ipv4_rules_shadowed_by_ipv6_prefixes) {
    std::string text =
        "edgefw: 1\nname: fam\nfeatures: {f: {}}\n"
        "nodes: {n1: {interfaces: {external: {addresses: [10.0.0.1, 2001:db8::1]}}}}\n"
        "rules:\n"
        "  - {id: v6-all, app: A, feature: f, proto: tcp, src: \"::/0\", dst: "
        "n1.external, dport: 80}\n"
        "  - {id: v6-wide, app: A, feature: f, proto: tcp, src: \"::/8\", dst: "
        "n1.external, dport: 80}\n"
        "  - {id: v4-net, app: A, feature: f, proto: tcp, src: 1.0.0.0/8, dst: "
        "10.0.0.1, dport: 80}\n"
        "  - {id: v4-all, app: A, feature: f, proto: tcp, src: 0.0.0.0/0, dst: "
        "10.0.0.1, dport: 80}\n"
        "  - {id: v4-host, app: A, feature: f, proto: tcp, src: 1.2.3.4, dst: "
        "10.0.0.1, dport: 80}\n";
    policy::Diagnostics d;
    auto p = load(text, d);
    cr_assert(p);
    lint::check(*p, d);
    std::string all;
    for (const auto& x : d.all()) all += x.str() + "\n";
    cr_assert(all.find("'v4-net' is shadowed") == std::string::npos, "%s", all.c_str());
    cr_assert(all.find("'v4-all' is shadowed") == std::string::npos, "%s", all.c_str());
    // Within one family the warnings stay.
    cr_assert(all.find("'v6-wide' is shadowed by earlier rule 'v6-all'") != std::string::npos, "%s",
              all.c_str());
    cr_assert(all.find("'v4-host' is shadowed by earlier rule 'v4-net'") != std::string::npos, "%s",
              all.c_str());
}

Test(policy_families, lint_warns_when_the_families_of_the_two_sides_never_meet) {
    policy::Diagnostics d;
    auto p = load(policy_with("::/0", "10.0.0.1"), d);
    cr_assert(p);
    lint::check(*p, d);
    bool warned = false;
    for (const auto& x : d.all())
        warned = warned || (x.severity == policy::Severity::warning && x.loc.line == 6 &&
                            x.message.find("'r1' can never match") != std::string::npos);
    cr_assert(warned, "no warning for src ::/0 with an IPv4 dst");
    for (const char* ok : {"any", "0.0.0.0/0"}) {
        policy::Diagnostics d2;
        auto q = load(policy_with(ok, "10.0.0.1"), d2);
        cr_assert(q);
        lint::check(*q, d2);
        for (const auto& x : d2.all())
            cr_assert(x.message.find("can never match") == std::string::npos, "%s: %s", ok,
                      x.message.c_str());
    }
}
