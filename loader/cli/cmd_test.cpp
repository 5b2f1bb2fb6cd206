#include <iostream>

#include "cli/commands.h"
#include "cli/registry.h"
#include "compile/compile.h"
#include "kernel/dataplane.h"

namespace cli {

int cmd_test(const PacketArgs& a) {
    int exit_code;
    auto job = packet_job(a, exit_code);
    if (!job) return exit_code;
    const policy::Policy& p = job->policy;
    const uint32_t role = job->role;
    return with_kernel_errors([&] {
        auto dp_owner = test_dataplane(p, a.node, role);
        kernel::Dataplane& dp = *dp_owner;
        for (const auto& s : job->specs) {
            auto frame = packet::build_frame(s.pkt);
            print_verdict(p, role, s, test_verdict(dp, s.pkt.dir, frame, "'" + s.text + "'"),
                          a.json);
        }
        return kExitOk;
    });
}

namespace {

[[maybe_unused]] const bool registered = register_subcommand(40, [](CLI::App& app) {
    return packet_subcommand(app, "test", "run packets through the real BPF programs", cmd_test,
                             true);
});

}  // namespace

}  // namespace cli
