// Site files that would open more than the policy says are refused: target
// ranges that overlap, a node moved onto another node's address, duplicate
// keys, management entries wider than /16 (IPv4) or /48 (IPv6) or for every
// port (unless allow_wide_management). Each error names file:line:col.
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "model/model.h"
#include "policy/policy.h"

namespace {

const char* kPolicy = R"(edgefw: 1
name: s
features: {f: {}}
nodes:
  n1: {interfaces: {external: {addresses: [131.107.155.10]}, internal: {addresses: [172.25.33.10]}}}
  n2: {interfaces: {external: {addresses: [131.107.155.11]}, internal: {addresses: [172.25.33.11]}}}
vips:
  v: {address: 131.107.155.110, role: external, backends: {n1: 131.107.155.10, n2: 131.107.155.11}}
rules:
  - {id: r1, app: A, feature: f, proto: tcp, src: any, dst: v, dport: 443}
  - {id: r2, app: A, feature: f, proto: tcp, src: 192.168.10.0/24, dst: n1.internal, dport: 5061}
)";

const char* kGoodSite = R"(edgefw-site: 1
addresses:
  131.107.155.0/24: 198.18.155.0/24
  172.25.33.0/24: 198.19.33.0/24
management:
  - {src: 198.19.200.0/24, proto: tcp, dport: 22}
)";

struct Result {
    std::optional<policy::Policy> p;
    policy::Diagnostics d;
    std::string all;
};

Result load(const std::string& site, bool allow_wide = false, const std::string& pol = kPolicy) {
    Result r;
    r.p =
        policy::load_text(pol, "p.yaml", site, site.empty() ? "" : "site.yaml", r.d, {allow_wide});
    for (const auto& x : r.d.all()) r.all += x.str() + "\n";
    return r;
}

// The load fails with an error at file:line (column > 0) containing `text`.
void refused(const std::string& site, const char* file, int line, const std::string& text,
             bool allow_wide = false, const std::string& pol = kPolicy) {
    auto r = load(site, allow_wide, pol);
    cr_assert(!r.p.has_value(), "accepted:\n%s", site.c_str());
    bool found = false;
    for (const auto& x : r.d.all())
        found = found || (x.severity == policy::Severity::error && x.loc.file == file &&
                          x.loc.line == line && x.loc.column > 0 && !x.hint.empty() &&
                          x.message.find(text) != std::string::npos);
    cr_assert(found, "no error at %s:%d with '%s' for site:\n%s\ngot:\n%s", file, line,
              text.c_str(), site.c_str(), r.all.c_str());
}

void accepted(const std::string& site, bool allow_wide = false) {
    auto r = load(site, allow_wide);
    cr_assert(r.p.has_value(), "refused:\n%s\n%s", site.c_str(), r.all.c_str());
}

std::string with_addresses(const std::string& lines) {
    return "edgefw-site: 1\naddresses:\n" + lines;
}

std::string with_management(const std::string& entry) {
    return "edgefw-site: 1\nmanagement:\n  - " + entry + "\n";
}

}  // namespace

Test(policy_site_checks, good_site_loads) { accepted(kGoodSite); }

Test(policy_site_checks, overlapping_targets_are_refused) {
    // External and internal ranges mapped onto one /24.
    refused(with_addresses("  131.107.155.0/24: 198.18.0.0/24\n  172.25.33.0/24: 198.18.0.0/24\n"),
            "site.yaml", 4, "overlap in their targets");
    // A /25 inside another mapping's target.
    refused(
        with_addresses("  131.107.155.0/24: 198.18.0.0/24\n  172.25.33.0/25: 198.18.0.128/25\n"),
        "site.yaml", 4, "overlap in their targets");
    // Nested the other way round than the sources.
    refused(
        with_addresses("  131.107.155.0/24: 198.18.155.0/24\n  131.107.155.10: 198.18.155.99\n"),
        "site.yaml", 4, "overlap in their targets");
    // A carve-out that maps as the outer mapping would, or elsewhere, is fine.
    accepted(
        with_addresses("  131.107.155.0/24: 198.18.155.0/24\n  131.107.155.10: 198.18.155.10\n"));
    accepted(
        with_addresses("  131.107.155.0/24: 198.18.155.0/24\n  131.107.155.10: 198.18.7.10\n"));
}

Test(policy_site_checks, a_node_on_another_nodes_address_is_refused) {
    refused(with_addresses("  131.107.155.10: 131.107.155.11\n"), "site.yaml", 3,
            "puts node 'n1' interface 'external' address 131.107.155.10 (p.yaml:5) on "
            "131.107.155.11, which is node 'n2'");
    refused(with_addresses("  172.25.33.11: 172.25.33.10\n"), "site.yaml", 3,
            "which is node 'n1' interface 'internal' address");
    // Onto a VIP's address.
    refused(with_addresses("  131.107.155.10: 131.107.155.110\n"), "site.yaml", 3,
            "which is vip 'v' address");
    refused(with_addresses("  131.107.155.10: 198.18.0.1\n  131.107.155.11: 198.18.0.1\n"),
            "site.yaml", 4, "overlap in their targets");
}

Test(policy_site_checks, an_address_mapped_twice_is_refused) {
    refused(with_addresses("  131.107.155.10: 198.18.0.10\n  131.107.155.10/32: 198.18.0.99\n"),
            "site.yaml", 4, "mapped twice");
}

Test(policy_site_checks, duplicate_keys_are_refused) {
    refused(with_addresses("  131.107.155.10: 198.18.0.10\n  131.107.155.10: 198.18.0.99\n"),
            "site.yaml", 4, "duplicate key '131.107.155.10' (first at line 3");
    refused("edgefw-site: 1\nfeatures: {f: true, f: false}\n", "site.yaml", 2, "duplicate key 'f'");
    refused(std::string(kGoodSite) + "management: []\n", "site.yaml", 7,
            "duplicate key 'management'");
    // In the policy: a rule key, a node name.
    std::string pol = kPolicy;
    pol.replace(pol.find("dport: 443}"), 11, "dport: 443, dport: 22}");
    refused("", "p.yaml", 10, "duplicate key 'dport'", false, pol);
    pol = kPolicy;
    pol.replace(pol.find("vips:"), 5,
                "  n1: {interfaces: {external: {addresses: [131.107.155.12]}}}\nvips:");
    refused("", "p.yaml", 7, "duplicate key 'n1' (first at line 5", false, pol);
}

Test(policy_site_checks, wide_management_is_refused_unless_allowed) {
    struct {
        const char* entry;
        const char* text;
    } wide[] = {
        {"{src: 0.0.0.0/0, proto: tcp, dport: 22}", "wider than /16"},
        {"{src: 10.0.0.0/15, proto: tcp, dport: 22}", "wider than /16"},
        {"{src: \"::/0\", proto: tcp, dport: 22}", "wider than /48"},
        {"{src: \"2001:db8::/47\", proto: tcp, dport: 22}", "wider than /48"},
        {"{src: 198.19.200.0/24, proto: tcp, dport: any}", "covers every port"},
        {"{src: 198.19.200.0/24, proto: udp, dport: [0-30000, 30001-65535]}", "covers every port"},
    };
    for (auto& w : wide) {
        refused(with_management(w.entry), "site.yaml", 3, w.text);
        auto r = load(with_management(w.entry));
        cr_assert(r.all.find("--allow-wide-management") != std::string::npos, "%s", r.all.c_str());
        accepted(with_management(w.entry), true);
    }
    accepted(with_management("{src: 10.0.0.0/16, proto: tcp, dport: 22}"));
    accepted(with_management("{src: \"2001:db8::/48\", proto: tcp, dport: [22, 830]}"));
    accepted(with_management("{src: 198.19.200.7, proto: tcp, dport: 1-65535}"));
}

Test(policy_site_checks, management_from_ipv6_all_admits_ipv6_only) {
    auto r = load(with_management("{src: \"::/0\", proto: tcp, dport: 22}"), true);
    cr_assert(r.p.has_value(), "%s", r.all.c_str());
    model::Model m(*r.p, "n1");
    packet::Packet pkt;
    pkt.proto = IPPROTO_TCP;
    pkt.src = *packet::parse_addr("1.1.1.1");
    pkt.dst = *packet::parse_addr("172.25.33.10");
    pkt.sport = 40000;
    pkt.dport = 22;
    pkt.tcp_flags = packet::tcp_flag::SYN;
    cr_assert_null(m.classify(EF_ROLE_INTERNAL, pkt), "::/0 admits an IPv4 source");
    auto all = load(with_management("{src: 0.0.0.0/0, proto: tcp, dport: 22}"), true);
    model::Model m4(*all.p, "n1");
    cr_assert_not_null(m4.classify(EF_ROLE_INTERNAL, pkt));
}

Test(policy_site_checks, cli_refuses_wide_management_and_takes_the_option, .timeout = 60) {
    char dir[] = "/tmp/edgefw-site-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    std::string pol = std::string(dir) + "/p.yaml", site = std::string(dir) + "/site.yaml";
    std::ofstream(pol) << kPolicy;
    std::ofstream(site) << with_management("{src: 0.0.0.0/0, proto: tcp, dport: 22}");
    auto run = [&](const std::string& args, std::string& out) {
        FILE* f = popen(("build/edgefw " + args + " 2>&1").c_str(), "r");
        cr_assert_not_null(f);
        char buf[512];
        out.clear();
        while (fgets(buf, sizeof buf, f)) out += buf;
        return WEXITSTATUS(pclose(f));
    };
    std::string out;
    cr_assert_eq(run("check " + pol + " --site " + site, out), 1, "%s", out.c_str());
    cr_assert(out.find(site + ":3:") != std::string::npos, "%s", out.c_str());
    cr_assert(out.find("--allow-wide-management") != std::string::npos, "%s", out.c_str());
    cr_assert_eq(run("check " + pol + " --site " + site + " --allow-wide-management", out), 0, "%s",
                 out.c_str());
    cr_assert_eq(
        run("compile " + pol + " --node n1 --site " + site + " --allow-wide-management", out), 0,
        "%s", out.c_str());
    cr_assert_eq(run("explain " + pol + " --node n1 --iface internal --site " + site +
                         " --allow-wide-management --packet 'tcp 1.1.1.1:4000 > 172.25.33.10:22'",
                     out),
                 0, "%s", out.c_str());
    cr_assert(out.find("site-management-1") != std::string::npos, "%s", out.c_str());
    (void)system(("rm -rf " + std::string(dir)).c_str());
}

Test(policy_site_checks, many_mappings_are_checked_quickly, .timeout = 20) {
    // 60,000 disjoint /32 mappings, then one whose target lands inside them all.
    std::string site = "edgefw-site: 1\naddresses:\n";
    for (int i = 0; i < 60000; i++)
        site += "  10." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) +
                ".1: 198.18." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) +
                "\n";
    site += "  12.0.0.0/15: 198.18.0.0/15\n";
    auto t0 = std::chrono::steady_clock::now();
    auto r = load(site);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    cr_assert(!r.p.has_value());
    cr_assert(r.all.find("overlap in their targets") != std::string::npos);
    cr_assert_lt(s, 5.0, "took %.1f s", s);
}
