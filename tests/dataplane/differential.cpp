// The project's core correctness test: the userspace model and the kernel
// programs on 100,000 random and adversarial packets each, for the reference
// policy (every node) and for a 10,000-rule synthetic policy; conntrack state
// carries across the whole run in both. Then a second stream from empty state:
// every fourth packet again, each followed by a byte-level mutation of its
// frame (a length field edited, a flag, an address, an ICMP quote, a fragment
// field, a truncation, a byte flipped: testgen::FrameMutator) judged on its
// raw bytes by both sides (Model::run_frame against the program). Zero disagreements; the seed is
// printed so a failure can be replayed (EDGEFW_DIFF_SEED=N).
#include <criterion/criterion.h>

#include <cstdlib>
#include <deque>
#include <map>
#include <random>

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
    size_t disagreements = 0, mutated = 0, mutated_disagreements = 0, not_run = 0;
    uint32_t current_role = ~0u;
    testgen::FrameMutator mutator(p, node);
    std::mt19937_64 mrng(seed ^ 0x6d757461746521ull);
    std::deque<std::vector<uint8_t>> recent;  // earlier frames: quotes, fragment ids
    auto agree = [](const kernel::RunResult& got, const model::Verdict& want) {
        return got.counted && got.pass == want.pass && (got.kind == EF_LAST_RULE) == want.by_rule &&
               got.index == want.index;
    };
    auto log_disagreement = [&](const std::string& what, const kernel::RunResult& got,
                                const model::Verdict& want) {
        bool by_rule = got.kind == EF_LAST_RULE;
        cr_log_error("seed %llu %s: kernel %s %s %u, model %s %s %u",
                     static_cast<unsigned long long>(seed), what.c_str(),
                     got.pass ? "pass" : "drop", by_rule ? "rule" : "reason", got.index,
                     want.pass ? "pass" : "drop", want.by_rule ? "rule" : "reason", want.index);
    };
    struct Mutated {
        packet::Packet pkt;  // the packet it is a copy of
        uint32_t role;
        std::vector<uint8_t> frame;
        std::string edits;
    };
    std::vector<Mutated> copies;
    for (int i = 0; i < packets; i++) {
        packet::Packet pkt = gen.next();
        uint32_t role = gen.role();
        if (role != current_role)
            dp.set_iface_role(kernel::Dataplane::kTestRunIfindex, current_role = role);
        auto want = m.run(role, pkt);
        auto frame = packet::build_frame(pkt);
        auto got = dp.run(pkt.dir, frame);
        std::string name = want.by_rule ? "rule" : image::reason_name(want.index);
        classes[std::string(want.pass ? "pass " : "drop ") + name]++;
        if (!agree(got, want) && ++disagreements <= 10)
            log_disagreement("packet " + std::to_string(i) + " role " + std::to_string(role) + " " +
                                 packet::to_spec(pkt),
                             got, want);
        if (i % 4 == 0) {  // a mutated copy, judged on its raw bytes below
            Mutated c{pkt, role, frame, ""};
            std::vector<std::vector<uint8_t>> others(recent.begin(), recent.end());
            for (int n = 1 + int(mrng() % 3); n > 0; n--)
                c.edits += std::string(c.edits.empty() ? "" : "+") +
                           mutator.mutate(c.frame, mrng, others, 1514);
            recent.push_back(frame);
            if (recent.size() > 8) recent.pop_front();
            copies.push_back(std::move(c));
        }
    }
    // The mutated copies on a second stream, so that a copy one side admits
    // and the other does not cannot change the verdicts above: from empty
    // conntrack, each sampled packet again, then its mutated copy on raw bytes.
    dp.clear_conntrack();
    m.clear();
    for (size_t k = 0; k < copies.size(); k++) {
        const Mutated& c = copies[k];
        if (c.role != current_role)
            dp.set_iface_role(kernel::Dataplane::kTestRunIfindex, current_role = c.role);
        auto want = m.run(c.role, c.pkt);
        auto got = dp.run(c.pkt.dir, packet::build_frame(c.pkt));
        if (!agree(got, want) && ++mutated_disagreements <= 10)
            log_disagreement(
                "second stream, packet " + std::to_string(k * 4) + " " + packet::to_spec(c.pkt),
                got, want);
        if (c.frame.size() < 14) continue;
        kernel::RunResult mgot;
        try {
            mgot = dp.run(c.pkt.dir, c.frame);
        } catch (const kernel::Error&) {
            // The skb test run refuses an IP ethertype with less than an IP
            // header behind it; TC never sees such a frame.
            cr_assert(c.pkt.dir == packet::Dir::egress && c.frame.size() < 14 + 40,
                      "BPF_PROG_TEST_RUN refused a %zu-byte frame", c.frame.size());
            not_run++;
            continue;
        }
        auto mwant = m.run_frame(c.role, c.pkt.dir, c.frame);
        mutated++;
        if (!agree(mgot, mwant) && ++mutated_disagreements <= 10) {
            static const char* d = "0123456789abcdef";
            std::string hex;
            for (uint8_t x : c.frame) hex += d[x >> 4], hex += d[x & 15];
            log_disagreement("mutated copy of packet " + std::to_string(k * 4) + " (" + c.edits +
                                 ") role " + std::to_string(c.role) +
                                 (c.pkt.dir == packet::Dir::ingress ? " ingress " : " egress ") +
                                 hex,
                             mgot, mwant);
        }
    }
    std::string summary;
    for (auto& [k, n] : classes) summary += "  " + k + ": " + std::to_string(n) + "\n";
    fprintf(stderr,
            "differential %s node %s seed %llu: %d packets, %zu disagreements; %zu mutated "
            "frames, %zu disagreements (%zu short egress frames not run)\n%s",
            p.name.c_str(), node.c_str(), static_cast<unsigned long long>(seed), packets,
            disagreements, mutated, mutated_disagreements, not_run, summary.c_str());
    cr_assert_eq(disagreements, 0u, "model and kernel disagree (seed %llu)",
                 static_cast<unsigned long long>(seed));
    cr_assert_eq(mutated_disagreements, 0u,
                 "model and kernel disagree on mutated frames (seed %llu)",
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
