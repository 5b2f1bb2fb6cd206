// synth: a synthetic policy of N rules (tests, benchmarks).
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/registry.h"
#include "synth/synth.h"

namespace cli {

namespace {

[[maybe_unused]] const bool registered = register_subcommand(140, [](CLI::App& app) {
    auto o = std::make_shared<synth::Options>();
    auto* cmd = app.add_subcommand("synth", "print a synthetic policy (tests, benchmarks)");
    cmd->add_option("--rules", o->rules, "number of rules")->check(CLI::Range(1, 16384));
    cmd->add_option("--seed", o->seed, "random seed");
    return Subcommand{cmd, [o] {
                          fputs(synth::generate(*o).c_str(), stdout);
                          return kExitOk;
                      }};
});

}  // namespace

}  // namespace cli
