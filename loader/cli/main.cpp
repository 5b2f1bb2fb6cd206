// edgefw: compile a published port policy into BPF maps and enforce it.
// Each subcommand registers itself (cli/registry.h); main parses and
// dispatches to the one given.
#include "cli/registry.h"
#include "kernel/dataplane.h"
#include "kernel/multiprog.h"

int main(int argc, char** argv) {
    CLI::App app{"edgefw: in-kernel port-policy enforcer for edge hosts"};
    app.require_subcommand(1);
    app.fallthrough();  // -v works after the subcommand too
    bool verbose = false;
    app.add_flag("-v,--verbose", verbose,
                 "print libbpf's messages (the verifier log when a program is rejected)");
    std::vector<cli::Subcommand> commands = cli::make_subcommands(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        for (const auto& c : commands)
            if (rc != 0 && *c.cmd && c.usage_exit >= 0) return c.usage_exit;
        return rc;
    }
    // Installed either way: libbpf's default printer would show its info
    // lines (libxdp's dispatcher object has a section libbpf skips) without -v.
    kernel::set_verbose(verbose);
    kernel::set_libxdp_verbose(verbose);
    for (const auto& c : commands)
        if (*c.cmd) return c.run();
    return cli::kExitUsage;
}
