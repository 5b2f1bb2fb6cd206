#include <iostream>

#include "cli/commands.h"
#include "cli/registry.h"
#include "model/model.h"

namespace cli {

int cmd_explain(const PacketArgs& a) {
    int exit_code;
    auto job = packet_job(a, exit_code);
    if (!job) return exit_code;
    const policy::Policy& p = job->policy;
    const uint32_t role = job->role;
    model::Model m(p, a.node);
    for (const auto& s : job->specs) {
        // Specs become frames, and the model judges the frame.
        auto frame = packet::build_frame(s.pkt);
        auto v = m.run_frame(role, s.pkt.dir, frame);
        print_verdict(p, role, s, VerdictLine{v.pass, v.by_rule, v.index}, a.json);
    }
    return kExitOk;
}

namespace {

[[maybe_unused]] const bool registered = register_subcommand(30, [](CLI::App& app) {
    return packet_subcommand(app, "explain", "the userspace model's verdict for packets",
                             cmd_explain, false);
});

}  // namespace

}  // namespace cli
