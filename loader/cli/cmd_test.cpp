#include <iostream>

#include "cli/commands.h"
#include "cli/registry.h"
#include "compile/compile.h"
#include "kernel/dataplane.h"

namespace cli {

int cmd_test(const PacketArgs& a) {
    int exit_code;
    auto t = packet_target(a, exit_code);
    if (!t) return exit_code;
    const policy::Policy& p = t->policy;
    const uint32_t role = t->role;
    auto specs = read_specs(a.packet, a.packets,
                            a.dir == "egress" ? packet::Dir::egress : packet::Dir::ingress);
    if (!specs) return kExitError;
    try {
        auto dp_owner = test_dataplane(p, a.node, role);
        kernel::Dataplane& dp = *dp_owner;
        for (const auto& s : *specs) {
            auto frame = packet::build_frame(s.pkt);
            print_verdict(p, role, s, test_verdict(dp, s.pkt.dir, frame, "'" + s.text + "'"),
                          a.json);
        }
    } catch (const compile::Error& e) {
        std::cerr << "edgefw: compile: " << e.what() << "\n";
        return kExitError;
    } catch (const kernel::Error& e) {
        std::cerr << "edgefw: " << e.what() << "\n";
        return kExitError;
    }
    return kExitOk;
}

namespace {

[[maybe_unused]] const bool registered = register_subcommand(40, [](CLI::App& app) {
    return packet_subcommand(app, "test", "run packets through the real BPF programs", cmd_test,
                             true);
});

}  // namespace

}  // namespace cli
