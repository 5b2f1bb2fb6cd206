// The reference policy through the real programs: every seed row on both NICs
// of edge1 and edge2 and on the reverse proxy, at its port edges and just
// outside them, must get the model's verdict and move the model's counter.
#include <criterion/criterion.h>
#include <netinet/in.h>

#include "compile/compile.h"
#include "compile/placement.h"
#include "fixture.h"
#include "image/reasons.h"
#include "model/model.h"
#include "seed_rows.h"

namespace {

policy::Policy reference() {
    policy::Diagnostics d;
    auto p = policy::load("policies/lync2010-edge-hlb.yaml", "policies/site-test.yaml", d);
    cr_assert(p.has_value());
    return *p;
}

std::unique_ptr<kernel::Dataplane> load_node(const policy::Policy& p, const std::string& node) {
    dptest::require_root();
    auto img = compile::compile_node(p, node);
    auto opts = kernel::Options::from_image(img);
    opts.record_last = true;
    auto dp = std::make_unique<kernel::Dataplane>(opts);
    dp->write_image(img);
    return dp;
}

std::string name_of(const policy::Policy& p, bool by_rule, uint32_t index) {
    return by_rule ? p.rules[index].id : image::reason_name(index);
}

// Runs one packet through kernel and model (fresh conntrack in both) and
// compares verdict and counter. Returns the model's verdict.
model::Verdict same(kernel::Dataplane& dp, model::Model& m, const policy::Policy& p, uint32_t role,
                    const packet::Packet& pkt) {
    dp.clear_conntrack();
    m.clear();
    dp.set_iface_role(kernel::Dataplane::kTestRunIfindex, role);
    auto want = m.run(role, pkt);
    auto got = dp.run(pkt.dir, packet::build_frame(pkt));
    cr_assert(got.counted, "no counter moved for %s", packet::to_spec(pkt).c_str());
    bool by_rule = got.kind == EF_LAST_RULE;
    cr_expect(got.pass == want.pass && by_rule == want.by_rule && got.index == want.index,
              "%s role %u: kernel %s %s, model %s %s", packet::to_spec(pkt).c_str(), role,
              got.pass ? "pass" : "drop", name_of(p, by_rule, got.index).c_str(),
              want.pass ? "pass" : "drop", name_of(p, want.by_rule, want.index).c_str());
    return want;
}

}  // namespace

Test(dataplane_reference, seed_row_table_on_literal_addresses) {
    policy::Diagnostics d;
    auto p = policy::load("policies/lync2010-edge-hlb.yaml", "", d);
    cr_assert(p.has_value());
    for (const char* node : {"edge1", "edge2", "rproxy"}) {
        auto dp = load_node(*p, node);
        for (unsigned i = 0; i < seedrows::kRowCount; i++) {
            const auto& row = seedrows::kRows[i];
            if (std::string(row.node) != node) continue;
            uint32_t role =
                std::string(row.iface) == "external" ? EF_ROLE_EXTERNAL : EF_ROLE_INTERNAL;
            dp->clear_conntrack();
            dp->set_iface_role(kernel::Dataplane::kTestRunIfindex, role);
            auto pkt = dptest::spec(row.spec);
            auto got = dp->run(pkt.dir, packet::build_frame(pkt));
            cr_expect_eq(name_of(*p, got.kind == EF_LAST_RULE, got.index), std::string(row.want),
                         "%s %s '%s'", row.node, row.iface, row.spec);
        }
    }
}

Test(dataplane_reference, every_rule_at_its_edges_on_every_node) {
    auto p = reference();
    auto any_remote = *packet::parse_addr("203.0.113.7");
    size_t passed = 0, checked = 0;
    for (const char* node : {"edge1", "edge2", "rproxy"}) {
        auto dp = load_node(p, node);
        model::Model m(p, node);
        for (const auto& e : compile::place(p, node)) {
            bool in = e.dir == EF_DIR_INGRESS;
            packet::Packet pkt;
            pkt.dir = in ? packet::Dir::ingress : packet::Dir::egress;
            pkt.proto = policy::proto_number(e.rule->proto);
            const policy::Cidr& r = e.remote.front();
            packet::Addr remote = r.is_any() ? any_remote : r.addr;
            if (!r.is_any() && r.plen < 128) remote.bytes[15] |= 1;
            for (const auto& local : e.local) {
                pkt.src = in ? remote : local;
                pkt.dst = in ? local : remote;
                for (const auto& range : e.dport)
                    for (int port : {range.lo - 1, int{range.lo}, int{range.hi}, range.hi + 1}) {
                        if (port < 0 || port > 65535) continue;
                        if (pkt.proto == IPPROTO_ICMP || pkt.proto == IPPROTO_ICMPV6) {
                            pkt.icmp_type = static_cast<uint8_t>(port >> 8);
                            pkt.icmp_code = static_cast<uint8_t>(port & 0xff);
                        } else {
                            pkt.dport = static_cast<uint16_t>(port);
                            pkt.sport = e.sport.front().lo == 0 ? 40000 : e.sport.front().lo;
                        }
                        auto v = same(*dp, m, p, e.role, pkt);
                        checked++;
                        passed += v.pass;
                        if (port >= range.lo && port <= range.hi)
                            cr_expect(v.pass, "rule %s does not pass its own packet %s on %s",
                                      e.rule->id.c_str(), packet::to_spec(pkt).c_str(), node);
                    }
            }
        }
    }
    cr_log_info("%zu packets checked, %zu passed", checked, passed);
    cr_assert_gt(checked, 250u);
}
