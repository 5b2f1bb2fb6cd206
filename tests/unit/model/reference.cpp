// Seed rows -> the model's verdicts on the reference policy: both NICs of an
// Edge node, the reverse proxy, VIP versus backend destinations, range edges,
// wrong protocol, wrong source, and stateful replies.
#include <criterion/criterion.h>

#include "image/reasons.h"
#include "model/model.h"
#include "seed_rows.h"

namespace {

std::string name_of(const policy::Policy& p, const model::Verdict& v) {
    return v.by_rule ? p.rules[v.index].id : image::reason_name(v.index);
}

policy::Policy reference() {
    policy::Diagnostics d;
    auto p = policy::load("policies/lync2010-edge-hlb.yaml", "", d);
    cr_assert(p.has_value());
    return *p;
}

model::Verdict run(model::Model& m, uint32_t role, const char* spec) {
    packet::SpecError err;
    auto pkt = packet::parse_spec(spec, packet::Dir::ingress, err);
    cr_assert(pkt.has_value(), "bad spec '%s': %s", spec, err.message.c_str());
    return m.run(role, *pkt);
}

}  // namespace

Test(model_reference, seed_rows) {
    auto p = reference();
    for (unsigned i = 0; i < seedrows::kRowCount; i++) {
        const auto& row = seedrows::kRows[i];
        model::Model m(p, row.node);
        uint32_t role = std::string(row.iface) == "external" ? EF_ROLE_EXTERNAL : EF_ROLE_INTERNAL;
        auto v = run(m, role, row.spec);
        std::string got = name_of(p, v);
        cr_expect_eq(got, std::string(row.want), "%s %s '%s': got %s, want %s", row.node, row.iface,
                     row.spec, got.c_str(), row.want);
        cr_expect_eq(v.pass, v.by_rule || image::reason_passes(v.index));
    }
}

Test(model_reference, reply_passes_only_after_the_request) {
    auto p = reference();
    model::Model m(p, "edge1");
    // DNS reply before any query: dropped; after the query: passes under the query's rule.
    auto before = run(m, EF_ROLE_EXTERNAL, "udp 192.0.2.53:53 > 131.107.155.10:40000");
    cr_assert(!before.pass);
    cr_assert(run(m, EF_ROLE_EXTERNAL, "egress udp 131.107.155.10:40000 > 192.0.2.53:53").pass);
    auto reply = run(m, EF_ROLE_EXTERNAL, "udp 192.0.2.53:53 > 131.107.155.10:40000");
    cr_assert(reply.pass && reply.by_rule);
    cr_assert_eq(p.rules[reply.index].id, "edge1-ext-dns");
    // The reply from another peer is not the same flow.
    cr_assert(!run(m, EF_ROLE_EXTERNAL, "udp 192.0.2.54:53 > 131.107.155.10:40000").pass);
}

Test(model_reference, tcp_handshake_and_synack_without_syn) {
    auto p = reference();
    model::Model m(p, "edge1");
    auto synack = run(m, EF_ROLE_EXTERNAL, "tcp 192.0.2.1:80 > 131.107.155.10:40001 flags SA");
    cr_assert_eq(std::string(name_of(p, synack)), "tcp_synack_untracked");
    cr_assert(
        run(m, EF_ROLE_EXTERNAL, "egress tcp 131.107.155.10:40001 > 192.0.2.1:80 flags S").pass);
    auto ok = run(m, EF_ROLE_EXTERNAL, "tcp 192.0.2.1:80 > 131.107.155.10:40001 flags SA");
    cr_assert(ok.pass);
    cr_assert_eq(p.rules[ok.index].id, "edge1-ext-crl-http");
    cr_assert(run(m, EF_ROLE_EXTERNAL, "tcp 192.0.2.1:80 > 131.107.155.10:40001 flags R").pass);
    cr_assert_eq(m.conntrack_entries(), 1u, "a RST (it may be blind) keeps the flow");
    cr_assert(run(m, EF_ROLE_EXTERNAL, "tcp 192.0.2.1:80 > 131.107.155.10:40001 flags A").pass);
    cr_assert(
        run(m, EF_ROLE_EXTERNAL, "egress tcp 131.107.155.10:40001 > 192.0.2.1:80 flags A").pass);
    // A RST never creates a flow.
    cr_assert(
        run(m, EF_ROLE_EXTERNAL, "egress tcp 131.107.155.10:40002 > 192.0.2.1:80 flags R").pass);
    cr_assert_eq(m.conntrack_entries(), 1u);
}

Test(model_reference, track_only_egress_passes_unmatched) {
    auto p = reference();
    p.egress_mode = EF_EGRESS_TRACK_ONLY;
    model::Model m(p, "edge1");
    auto v = run(m, EF_ROLE_EXTERNAL, "egress tcp 131.107.155.10:40000 > 192.0.2.1:22");
    cr_assert(v.pass && !v.by_rule);
    cr_assert_eq(v.index, static_cast<uint32_t>(EF_R_DEFAULT_EXTERNAL_EGRESS));
    cr_assert_eq(m.conntrack_entries(), 0u, "track-only does not create flows");
}
