// Each port class carries the hull of its rules' source ports (struct
// ef_port_class_value): the data plane skips the conntrack lookups for a
// packet whose destination port is outside the hull of its source port's class
// on the opposite hook, so a hull narrower than a rule's source ports would
// drop that rule's replies. Checked for every placement of the reference
// policy and of a synthetic one, and exactly on the reference's media rows.
#include <criterion/criterion.h>

#include <string>

#include "compile/compile.h"
#include "compile/placement.h"
#include "test_policies.h"

namespace {

// The image's range of `combo` holding destination port `port`, or nullptr.
const image::PortClassRange* range_at(const image::MapImage& img, uint32_t combo, uint32_t port) {
    for (const auto& r : img.port_classes)
        if (r.combo == combo && r.lo <= port && port <= r.hi) return &r;
    return nullptr;
}

// Every source port of every placement lies in the hull at each edge of each
// of its destination ranges. Returns the placements checked.
size_t hulls_cover_rules(const policy::Policy& p, const std::string& node) {
    const image::MapImage img = compile::compile_node(p, node);
    size_t checked = 0;
    for (const auto& e : compile::place(p, node)) {
        const uint32_t combo = EF_COMBO(e.role, e.dir, e.slot);
        for (const auto& d : e.dport)
            for (uint32_t port : {uint32_t{d.lo}, uint32_t{d.hi}, (d.lo + d.hi) / 2u}) {
                const image::PortClassRange* r = range_at(img, combo, port);
                cr_assert(r, "%s: %s has no port class at port %u", node.c_str(),
                          e.rule->id.c_str(), port);
                for (const auto& s : e.sport)
                    cr_assert(r->sport_lo <= s.lo && s.hi <= r->sport_hi,
                              "%s: %s names source ports %s outside its class's hull %u-%u",
                              node.c_str(), e.rule->id.c_str(), s.str().c_str(), r->sport_lo,
                              r->sport_hi);
            }
        ++checked;
    }
    return checked;
}

}  // namespace

Test(sport_hull, covers_every_rule_of_the_reference) {
    auto p = testpol::load("policies/lync2010-edge-hlb.yaml");
    for (const char* node : {"edge1", "edge2", "rproxy"})
        cr_assert_gt(hulls_cover_rules(p, node), 0u, "%s: no placements", node);
}

Test(sport_hull, covers_every_rule_of_a_synthetic_policy, .timeout = 60) {
    cr_assert_gt(hulls_cover_rules(testpol::synthetic(1000, 11), "syn1"), 900u);
}

// edge1's external egress UDP: RTP out leaves from 50000-59999 to any port, so
// a destination port no other row names has exactly that hull; DNS (53) and
// STUN (3478) go out from any port.
Test(sport_hull, reference_media_rows) {
    const image::MapImage img =
        compile::compile_node(testpol::load("policies/lync2010-edge-hlb.yaml"), "edge1");
    const uint32_t combo =
        EF_COMBO(uint32_t{EF_ROLE_EXTERNAL}, uint32_t{EF_DIR_EGRESS}, uint32_t{EF_PS_UDP});
    const image::PortClassRange* rtp = range_at(img, combo, 40000);
    cr_assert(rtp);
    cr_assert_eq(rtp->sport_lo, 50000);
    cr_assert_eq(rtp->sport_hi, 59999);
    for (uint32_t port : {53u, 3478u}) {
        const image::PortClassRange* r = range_at(img, combo, port);
        cr_assert(r);
        cr_assert_eq(r->sport_lo, 0, "port %u", port);
        cr_assert_eq(r->sport_hi, 65535, "port %u", port);
    }
}
