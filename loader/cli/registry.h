// Subcommands register themselves: each cmd_*.cpp adds its own CLI11
// subcommand, options and run function, and main only parses and dispatches.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <vector>

#include "cli/common.h"

namespace cli {

struct PacketArgs;

// One subcommand as made on the app: `run` is called when it was given.
struct Subcommand {
    CLI::App* cmd = nullptr;
    std::function<int()> run;
    int usage_exit = -1;  // exit status for a usage error (diff: 2, like diff(1)); -1: CLI11's
};

using MakeSubcommand = Subcommand (*)(CLI::App& app);

// Registers a subcommand (at static initialization, from its cmd_*.cpp).
// `order` places it in --help, and so in the completion and the man page.
bool register_subcommand(int order, MakeSubcommand make);

// Every registered subcommand, made on app in their order.
std::vector<Subcommand> make_subcommands(CLI::App& app);

// Options several subcommands share.
void add_allow_wide(CLI::App* cmd, policy::LoadOptions& o);
void add_policy(CLI::App* cmd, PolicyArgs& a);   // POLICY, --site, --allow-wide-management
void add_packets(CLI::App* cmd, PacketArgs& a);  // explain and test

// explain and test: packets from --packet/--packets through `run`, a capture
// (--pcap) through cmd_pcap on the model's or the kernel's side.
Subcommand packet_subcommand(CLI::App& app, const char* name, const char* what,
                             int (*run)(const PacketArgs&), bool kernel_side);

}  // namespace cli
