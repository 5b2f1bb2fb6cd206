// Every kind of bad input is an error that names the right line and says what
// is wrong; nothing is returned from a broken file, and `edgefw check` exits 1.
#include <criterion/criterion.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "policy/policy.h"

namespace {

// A small valid policy; each case replaces one marked line.
const char* kBase = R"(edgefw: 1
name: t
features:
  web: {description: web}
objects:
  pool: [192.0.2.10, 192.0.2.11]
nodes:
  n1:
    interfaces:
      external: {addresses: [198.51.100.10]}
      internal: {addresses: [192.0.2.1]}
vips:
  web-vip: {address: 198.51.100.100, role: external, backends: {n1: 198.51.100.10}}
rules:
  - id: web-in
    app: HTTPS
    feature: web
    proto: tcp
    src: any
    dst: web-vip
    dport: 443
  - id: pool-in
    app: HTTPS
    feature: web
    proto: tcp
    src: pool
    dst: 192.0.2.1
    dport: 4443
)";

struct Case {
    const char* name;
    const char* from;  // text of kBase to replace (first occurrence)
    const char* to;
    int line;             // line the error must name
    const char* message;  // substring of the message
};

const Case kCases[] = {
    {"unknown top key", "name: t\n", "name: t\nnmae: x\n", 3, "unknown key 'nmae'"},
    {"unknown rule key", "    app: HTTPS\n    feature: web\n    proto: tcp\n    src: any",
     "    app: HTTPS\n    feature: web\n    proto: tcp\n    scr: any\n    src: any", 19,
     "unknown key 'scr'"},
    {"port above 65535", "dport: 443", "dport: 70000", 21, "outside 0-65535"},
    {"negative port", "dport: 443", "dport: -1", 21, "not a port"},
    {"inverted range", "dport: 443", "dport: 600-500", 21, "inverted"},
    {"port not a number", "dport: 443", "dport: https", 21, "not a port or range"},
    {"range above 65535", "dport: 443", "dport: 65000-65536", 21, "outside 0-65535"},
    {"bad address in rule", "src: any\n    dst: web-vip", "src: 300.1.1.1\n    dst: web-vip", 19,
     "not an IPv4/IPv6 address"},
    {"bad prefix length", "src: any\n    dst: web-vip", "src: 10.0.0.0/33\n    dst: web-vip", 19,
     "bad prefix length"},
    {"host bits in cidr", "src: any\n    dst: web-vip", "src: 10.0.0.1/8\n    dst: web-vip", 19,
     "host bits"},
    {"undefined object", "src: pool", "src: pools", 26, "undefined object 'pools'"},
    {"undefined feature", "feature: web\n    proto: tcp\n    src: any",
     "feature: mail\n    proto: tcp\n    src: any", 17, "undefined feature 'mail'"},
    {"duplicate rule id", "id: pool-in", "id: web-in", 22, "duplicate rule id 'web-in'"},
    {"bad rule id", "id: pool-in", "id: Pool_In", 22, "characters ids cannot hold"},
    {"unknown proto", "proto: tcp\n    src: pool", "proto: sctp\n    src: pool", 25,
     "proto 'sctp'"},
    {"missing app", "    app: HTTPS\n    feature: web\n    proto: tcp\n    src: pool",
     "    feature: web\n    proto: tcp\n    src: pool", 22, "has no 'app'"},
    {"bad node address", "[198.51.100.10]", "[198.51.100.300]", 10, "not an IPv4 or IPv6 address"},
    {"bad role", "      internal: {addresses", "      dmz: {addresses", 11, "not a role"},
    {"vip backend on undefined node", "backends: {n1:", "backends: {n9:", 13,
     "undefined node 'n9'"},
    {"vip backend not on node", "n1: 198.51.100.10}", "n1: 198.51.100.11}", 13,
     "is not an address of n1"},
    {"bad vip role", "role: external, backends", "role: edge, backends", 13, "not a role"},
    {"object cycle", "pool: [192.0.2.10, 192.0.2.11]", "pool: [pool]", 6, "refers to itself"},
    {"bad bool", "web: {description: web}", "web: {description: web, enabled: maybe}", 4,
     "true or false"},
    {"bad egress mode", "name: t\n", "name: t\negress: sometimes\n", 3, "not a mode"},
    {"bad version", "edgefw: 1", "edgefw: 2", 1, "out of range"},
    {"yaml syntax", "  - id: web-in", "  - id: [web-in", 16, "YAML syntax error"},
    {"icmp with ports", "proto: tcp\n    src: pool\n    dst: 192.0.2.1\n    dport: 4443",
     "proto: icmp\n    src: pool\n    dst: 192.0.2.1\n    dport: 4443", 28, "meaningless for icmp"},
    {"icmp_type on tcp", "dport: 4443", "dport: 4443\n    icmp_type: 8", 29, "needs proto icmp"},
    {"rules not a list", "rules:\n  - id: web-in", "rules: {}\nx:\n  - id: web-in", 14,
     "rules must be a list"},
    {"bad conntrack timeout", "name: t\n", "name: t\nconntrack: {udp: 0}\n", 3, "out of range"},
};

std::string apply(const Case& c) {
    std::string text = kBase;
    auto at = text.find(c.from);
    cr_assert(at != std::string::npos, "case '%s': marker not found", c.name);
    text.replace(at, std::string(c.from).size(), c.to);
    return text;
}

}  // namespace

Test(policy_bad_input, base_policy_is_valid) {
    policy::Diagnostics d;
    auto p = policy::load_text(kBase, "base.yaml", "", "", d);
    for (const auto& x : d.all()) cr_log_info("%s", x.str().c_str());
    cr_assert(p.has_value());
    cr_assert_eq(p->rules.size(), 2u);
}

Test(policy_bad_input, every_case_names_line_and_problem) {
    cr_assert_geq(sizeof(kCases) / sizeof(kCases[0]), 25u);
    for (const auto& c : kCases) {
        policy::Diagnostics d;
        auto p = policy::load_text(apply(c), "bad.yaml", "", "", d);
        cr_expect(!p.has_value(), "case '%s': a broken policy was accepted", c.name);
        bool found = false;
        std::string all;
        for (const auto& x : d.all()) {
            all += x.str() + "\n";
            found = found ||
                    (x.severity == policy::Severity::error && x.loc.line == c.line &&
                     x.loc.file == "bad.yaml" && x.message.find(c.message) != std::string::npos);
        }
        cr_expect(found, "case '%s': no error at line %d containing '%s'; got:\n%s", c.name, c.line,
                  c.message, all.c_str());
    }
}

Test(policy_bad_input, errors_are_collected_not_just_the_first) {
    std::string text = kBase;
    text.replace(text.find("dport: 443"), 10, "dport: 70000");
    text.replace(text.find("src: pool"), 9, "src: nowhere");
    policy::Diagnostics d;
    cr_assert(!policy::load_text(text, "bad.yaml", "", "", d));
    int errors = 0;
    for (const auto& x : d.all()) errors += x.severity == policy::Severity::error;
    cr_assert_geq(errors, 2);
}

Test(policy_bad_input, cli_check_exits_nonzero_and_names_file_and_line) {
    char path[] = "/tmp/edgefw-bad-XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    cr_assert_geq(fd, 0);
    close(fd);
    std::string text = apply(kCases[2]);
    std::ofstream(path) << text;
    std::string cmd = std::string("build/edgefw check ") + path + " 2>&1";
    FILE* f = popen(cmd.c_str(), "r");
    cr_assert(f);
    std::string out;
    char buf[512];
    while (fgets(buf, sizeof buf, f)) out += buf;
    int status = pclose(f);
    unlink(path);
    cr_assert_eq(WEXITSTATUS(status), 1, "exit status %d, output:\n%s", WEXITSTATUS(status),
                 out.c_str());
    cr_assert(out.find(std::string(path) + ":21:") != std::string::npos, "output:\n%s",
              out.c_str());
}
