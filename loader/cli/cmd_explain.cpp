#include <iostream>

#include "cli/commands.h"
#include "cli/registry.h"
#include "model/model.h"

namespace cli {

int cmd_explain(const PacketArgs& a) {
    int exit_code;
    auto t = packet_target(a, exit_code);
    if (!t) return exit_code;
    const policy::Policy& p = t->policy;
    const uint32_t role = t->role;
    auto specs = read_specs(a.packet, a.packets,
                            a.dir == "egress" ? packet::Dir::egress : packet::Dir::ingress);
    if (!specs) return kExitError;
    model::Model m(p, a.node);
    for (const auto& s : *specs) {
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
