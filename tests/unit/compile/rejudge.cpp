// A reload judges open flows again (image::rejudge_flow): the opening packet,
// rebuilt from the conntrack key and value, goes through the new policy's
// lookups; the answer keeps the entry, moves it to another rule or closes it.
#include "image/rejudge.h"

#include <criterion/criterion.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include "compile/compile.h"
#include "image/lookup.h"

namespace {

const char* kRules =
    "  - {id: web-partner, app: A, feature: f, proto: tcp, src: 192.0.2.0/24, dst: n1.external, "
    "dport: 443}\n"
    "  - {id: web, app: A, feature: f, proto: tcp, src: any, dst: n1.external, dport: 443}\n"
    "  - {id: stun, app: A, feature: f, proto: udp, src: any, dst: n1.external, dport: 3478}\n"
    "  - {id: ping, app: A, feature: f, proto: icmp, icmp_type: 8, src: any, dst: n1.external}\n"
    "  - {id: dns-out, app: A, feature: f, proto: udp, src: n1.external, dst: 198.51.100.53, "
    "dport: 53}\n";

image::MapImage compile_rules(const std::string& rules) {
    std::string text =
        "edgefw: 1\nname: rj\nfeatures: {f: {}}\n"
        "nodes: {n1: {interfaces: {external: {addresses: [10.0.0.1, 2001:db8::1]}}}}\n"
        "rules:\n" +
        rules;
    policy::Diagnostics d;
    auto p = policy::load_text(text, "rj.yaml", "", "", d);
    for (const auto& x : d.all()) cr_log_error("%s", x.str().c_str());
    cr_assert(p.has_value());
    return compile::compile_node(*p, "n1");
}

uint32_t index_of(const image::MapImage& img, const char* id) {
    for (const auto& r : img.rules)
        if (r.id == id) return r.index;
    cr_assert_fail("no rule %s", id);
    return 0;
}

// The entry step 9 writes for a flow opened by src:sport -> dst:dport on dir.
struct Entry {
    ef_ct_key k{};
    ef_ct_value v{};
};
Entry flow(uint8_t proto, const char* src, uint16_t sport, const char* dst, uint16_t dport,
           uint32_t dir, uint32_t rule) {
    auto s = packet::parse_addr(src)->bytes, t = packet::parse_addr(dst)->bytes;
    Entry e;
    bool src_first = image::ct_key_of(e.k, s, sport, t, dport, proto, EF_ROLE_EXTERNAL);
    e.v.rule = rule;
    e.v.opened_dir = static_cast<uint8_t>(dir);
    e.v.opener_is_a = src_first;
    return e;
}

image::FlowVerdict judge(const image::MapImage& img, const Entry& e) {
    image::Lookup l(img);
    return image::rejudge_flow(l, e.k, e.v);
}

}  // namespace

Test(rejudge, same_policy_keeps_every_flow) {
    auto img = compile_rules(kRules);
    const Entry flows[] = {
        flow(IPPROTO_TCP, "192.0.2.7", 40000, "10.0.0.1", 443, EF_DIR_INGRESS,
             index_of(img, "web-partner")),
        flow(IPPROTO_TCP, "203.0.113.9", 40000, "10.0.0.1", 443, EF_DIR_INGRESS,
             index_of(img, "web")),
        flow(IPPROTO_UDP, "203.0.113.9", 50000, "10.0.0.1", 3478, EF_DIR_INGRESS,
             index_of(img, "stun")),
        flow(IPPROTO_UDP, "2001:db8:ff::9", 50000, "2001:db8::1", 3478, EF_DIR_INGRESS,
             index_of(img, "stun")),
        flow(IPPROTO_ICMP, "203.0.113.9", 0, "10.0.0.1", 0, EF_DIR_INGRESS, index_of(img, "ping")),
        // Egress: the local side is the source.
        flow(IPPROTO_UDP, "10.0.0.1", 33333, "198.51.100.53", 53, EF_DIR_EGRESS,
             index_of(img, "dns-out")),
    };
    for (const auto& e : flows) {
        auto v = judge(img, e);
        cr_assert_eq(v.kind, image::FlowVerdict::keep, "rule %u: kind %d", e.v.rule, v.kind);
        cr_assert_eq(v.rule, e.v.rule);
    }
}

Test(rejudge, removed_rule_closes_its_flows) {
    auto old_img = compile_rules(kRules);
    std::string rules = kRules;
    rules.erase(rules.find("  - {id: stun"),
                rules.find("  - {id: ping") - rules.find("  - {id: stun"));
    auto img = compile_rules(rules);
    auto e = flow(IPPROTO_UDP, "203.0.113.9", 50000, "10.0.0.1", 3478, EF_DIR_INGRESS,
                  index_of(old_img, "stun"));
    cr_assert_eq(judge(img, e).kind, image::FlowVerdict::close);
    // The reply direction's tuple is not a flow the policy admits: judging
    // goes by the opener, not by which endpoint is a.
    auto reply = flow(IPPROTO_UDP, "10.0.0.1", 3478, "203.0.113.9", 50000, EF_DIR_EGRESS, 0);
    cr_assert_eq(judge(old_img, reply).kind, image::FlowVerdict::close);
    // An egress flow the ingress rule would admit the other way round: closed.
    auto out = flow(IPPROTO_UDP, "10.0.0.1", 33333, "198.51.100.53", 53, EF_DIR_INGRESS, 0);
    cr_assert_eq(judge(old_img, out).kind, image::FlowVerdict::close);
}

Test(rejudge, flow_moves_to_the_rule_that_now_admits_it) {
    auto old_img = compile_rules(kRules);
    // Without web-partner, its flows fall to web.
    std::string rules = kRules;
    rules.erase(0, rules.find("  - {id: web,"));
    auto img = compile_rules(rules);
    // Entries hold counter slots, which stay with rule ids across reloads;
    // web-partner's slot (say 42) is not web's.
    auto e = flow(IPPROTO_TCP, "192.0.2.7", 40000, "10.0.0.1", 443, EF_DIR_INGRESS, 42);
    cr_assert_eq(judge(old_img, e).rule, index_of(old_img, "web-partner"));
    auto v = judge(img, e);
    cr_assert_eq(v.kind, image::FlowVerdict::move);
    cr_assert_eq(v.rule, index_of(img, "web"));
    cr_assert_neq(v.rule, e.v.rule);
}

Test(rejudge, icmp_echo_judged_as_echo_request) {
    auto img = compile_rules(kRules);
    auto e = flow(IPPROTO_ICMP, "203.0.113.9", 0, "10.0.0.1", 0, EF_DIR_INGRESS, 99);
    auto v = judge(img, e);
    cr_assert_eq(v.kind, image::FlowVerdict::move);
    cr_assert_eq(v.rule, index_of(img, "ping"));
    std::string rules = kRules;
    rules.replace(rules.find("icmp_type: 8"), 12, "icmp_type: 13");
    cr_assert_eq(judge(compile_rules(rules), e).kind, image::FlowVerdict::close);
    // Opened by the node: no egress echo rule.
    auto out = flow(IPPROTO_ICMP, "10.0.0.1", 0, "203.0.113.9", 0, EF_DIR_EGRESS, 3);
    cr_assert_eq(judge(img, out).kind, image::FlowVerdict::close);
}
