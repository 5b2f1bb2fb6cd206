#include "cli/registry.h"

#include <algorithm>
#include <utility>

#include "cli/commands.h"

namespace cli {

namespace {

std::vector<std::pair<int, MakeSubcommand>>& registry() {
    static std::vector<std::pair<int, MakeSubcommand>> r;  // built before main, read after
    return r;
}

}  // namespace

bool register_subcommand(int order, MakeSubcommand make) {
    registry().emplace_back(order, make);
    return true;
}

std::vector<Subcommand> make_subcommands(CLI::App& app) {
    auto r = registry();
    std::stable_sort(r.begin(), r.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<Subcommand> out;
    for (const auto& [order, make] : r) out.push_back(make(app));
    return out;
}

void add_allow_wide(CLI::App* cmd, policy::LoadOptions& o) {
    cmd->add_flag("--allow-wide-management", o.allow_wide_management,
                  "accept site management entries wider than /16 (IPv4) or /48 (IPv6), or for "
                  "every port");
}

void add_policy(CLI::App* cmd, PolicyArgs& a) {
    cmd->add_option("POLICY", a.policy, "policy file (YAML)")->required()->check(CLI::ExistingFile);
    cmd->add_option("--site", a.site, "site file overriding addresses and features")
        ->check(CLI::ExistingFile);
    add_allow_wide(cmd, a.options);
}

void add_packets(CLI::App* cmd, PacketArgs& a) {
    add_policy(cmd, a.policy);
    cmd->add_option("--node", a.node, "node to compile for (e.g. edge1)")->required();
    cmd->add_option("--iface", a.iface, "interface role: external or internal")->required();
    auto* one = cmd->add_option("--packet", a.packet, "one packet spec");
    auto* many = cmd->add_option("--packets", a.packets, "file with one spec a line")
                     ->check(CLI::ExistingFile);
    one->excludes(many);
    // --pcap FILE: replay a capture (cmd_pcap.cpp).
    cmd->add_option("--pcap", a.pcap, "capture to replay (pcap or pcapng, Ethernet)")
        ->check(CLI::ExistingFile)
        ->excludes(one)
        ->excludes(many);
    cmd->add_option("--dir", a.dir, "default direction of specs")
        ->check(CLI::IsMember({"ingress", "egress"}));
    cmd->add_flag("--json", a.json, "one JSON object a packet");
}

Subcommand packet_subcommand(CLI::App& app, const char* name, const char* what,
                             int (*run)(const PacketArgs&), bool kernel_side) {
    auto a = std::make_shared<PacketArgs>();
    auto* cmd = app.add_subcommand(name, what);
    add_packets(cmd, *a);
    return Subcommand{cmd, [a, name, run, kernel_side] {
                          if (!a->pcap.empty()) return cmd_pcap(*a, kernel_side);
                          if (a->packet.empty() && a->packets.empty()) {
                              fprintf(stderr,
                                      "edgefw: %s needs --packet SPEC, --packets FILE or --pcap "
                                      "FILE\n",
                                      name);
                              return kExitUsage;
                          }
                          return run(*a);
                      }};
}

}  // namespace cli
