// The project's core correctness test: the userspace model and the kernel
// programs on 100,000 random and adversarial packets each, for the reference
// policy (every node) and for a 10,000-rule synthetic policy. Conntrack state
// carries across the whole run in both. Zero disagreements; the seed is
// printed so a failure can be replayed (EDGEFW_DIFF_SEED=N).
#include <criterion/criterion.h>

#include <cstdlib>
#include <map>

#include "compile/compile.h"
#include "fixture.h"
#include "image/reasons.h"
#include "model/model.h"
#include "packet_gen.h"
#include "synth/synth.h"

namespace {

// EDGEFW_DIFF_PACKETS scales every run to that many packets (the VM matrix
// runs a reduced size under emulation).
int packets_or(int n) {
    const char* s = getenv("EDGEFW_DIFF_PACKETS");
    return s ? atoi(s) : n;
}

uint64_t base_seed() {
    const char* s = getenv("EDGEFW_DIFF_SEED");
    return s ? strtoull(s, nullptr, 10) : 20261125;
}

void differential(const policy::Policy& p, const std::string& node, uint64_t seed, int packets) {
    dptest::require_root();
    auto img = compile::compile_node(p, node);
    auto opts = kernel::Options::from_image(img);
    opts.record_last = true;
    opts.ct_size = 1 << 20;  // larger than the run: the LRU must not forget flows the model keeps
    // The model has no clock: no flow may time out during the run (closing is 10 s by default).
    opts.timeouts = {86400, 86400, 86400, 86400};
    kernel::Dataplane dp(opts);
    dp.write_image(img);
    model::Model m(p, node);
    testgen::PacketGen gen(p, node, seed);
    std::map<std::string, size_t> classes;
    size_t disagreements = 0;
    uint32_t current_role = ~0u;
    for (int i = 0; i < packets; i++) {
        packet::Packet pkt = gen.next();
        uint32_t role = gen.role();
        if (role != current_role)
            dp.set_iface_role(kernel::Dataplane::kTestRunIfindex, current_role = role);
        auto want = m.run(role, pkt);
        auto got = dp.run(pkt.dir, packet::build_frame(pkt));
        bool by_rule = got.kind == EF_LAST_RULE;
        std::string name = want.by_rule ? "rule" : image::reason_name(want.index);
        classes[std::string(want.pass ? "pass " : "drop ") + name]++;
        if (got.counted && got.pass == want.pass && by_rule == want.by_rule &&
            got.index == want.index)
            continue;
        if (++disagreements <= 10)
            cr_log_error("seed %llu packet %d role %u %s: kernel %s %s %u, model %s %s %u",
                         static_cast<unsigned long long>(seed), i, role,
                         packet::to_spec(pkt).c_str(), got.pass ? "pass" : "drop",
                         by_rule ? "rule" : "reason", got.index, want.pass ? "pass" : "drop",
                         want.by_rule ? "rule" : "reason", want.index);
    }
    std::string summary;
    for (auto& [k, n] : classes) summary += "  " + k + ": " + std::to_string(n) + "\n";
    fprintf(stderr, "differential %s node %s seed %llu: %d packets, %zu disagreements\n%s",
            p.name.c_str(), node.c_str(), static_cast<unsigned long long>(seed), packets,
            disagreements, summary.c_str());
    cr_assert_eq(disagreements, 0u, "model and kernel disagree (seed %llu)",
                 static_cast<unsigned long long>(seed));
    cr_assert_gt(classes["pass rule"], static_cast<size_t>(packets / 40),
                 "too few packets matched a rule");
}

}  // namespace

Test(differential, reference_policy_every_node, .timeout = 600) {
    policy::Diagnostics d;
    auto p = policy::load("policies/lync2010-edge-hlb.yaml", "policies/site-test.yaml", d);
    cr_assert(p.has_value());
    uint64_t seed = base_seed();
    differential(*p, "edge1", seed, packets_or(50000));
    differential(*p, "edge2", seed + 1, packets_or(30000));
    differential(*p, "rproxy", seed + 2, packets_or(20000));
}

Test(differential, synthetic_10000_rules, .timeout = 600) {
    policy::Diagnostics d;
    auto p = policy::load_text(synth::generate({10000, 99, true}), "synthetic.yaml", "", "", d);
    cr_assert(p.has_value());
    differential(*p, "syn1", base_seed() + 10, packets_or(100000));
}
