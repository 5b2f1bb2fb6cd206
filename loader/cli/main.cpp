// edgefw: compile a published port policy into BPF maps and enforce it.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "synth/synth.h"

namespace {

void add_policy(CLI::App* cmd, cli::PolicyArgs& a) {
    cmd->add_option("POLICY", a.policy, "policy file (YAML)")->required()->check(CLI::ExistingFile);
    cmd->add_option("--site", a.site, "site file overriding addresses and features")
        ->check(CLI::ExistingFile);
}

void add_packets(CLI::App* cmd, cli::PacketArgs& a) {
    add_policy(cmd, a.policy);
    cmd->add_option("--node", a.node, "node to compile for (e.g. edge1)")->required();
    cmd->add_option("--iface", a.iface, "interface role: external or internal")->required();
    auto* one = cmd->add_option("--packet", a.packet, "one packet spec");
    auto* many = cmd->add_option("--packets", a.packets, "file with one spec a line")
                     ->check(CLI::ExistingFile);
    one->excludes(many);
    cmd->add_option("--dir", a.dir, "default direction of specs")
        ->check(CLI::IsMember({"ingress", "egress"}));
    cmd->add_flag("--json", a.json, "one JSON object a packet");
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"edgefw: in-kernel port-policy enforcer for edge hosts"};
    app.require_subcommand(1);

    cli::PolicyArgs check_args;
    bool check_json = false;
    auto* check =
        app.add_subcommand("check", "validate a policy; warn about shadowed or dead rules");
    add_policy(check, check_args);
    check->add_flag("--json", check_json, "machine-readable result");

    cli::PolicyArgs compile_args;
    std::string compile_node;
    bool compile_json = false;
    auto* compile = app.add_subcommand("compile", "show the map image for one node");
    add_policy(compile, compile_args);
    compile->add_option("--node", compile_node, "node to compile for")->required();
    compile->add_flag("--json", compile_json, "JSON map image");

    cli::PacketArgs explain_args;
    auto* explain = app.add_subcommand("explain", "the userspace model's verdict for packets");
    add_packets(explain, explain_args);

    cli::PacketArgs test_args;
    auto* test = app.add_subcommand("test", "run packets through the real BPF programs");
    add_packets(test, test_args);

    synth::Options synth_opts;
    auto* synth_cmd = app.add_subcommand("synth", "print a synthetic policy (tests, benchmarks)");
    synth_cmd->add_option("--rules", synth_opts.rules, "number of rules")
        ->check(CLI::Range(1, 16384));
    synth_cmd->add_option("--seed", synth_opts.seed, "random seed");

    CLI11_PARSE(app, argc, argv);
    if (*synth_cmd) {
        fputs(synth::generate(synth_opts).c_str(), stdout);
        return cli::kExitOk;
    }
    if (*check) return cli::cmd_check(check_args, check_json);
    if (*compile) return cli::cmd_compile(compile_args, compile_node, compile_json);
    if (*explain) {
        if (explain_args.packet.empty() && explain_args.packets.empty()) {
            fprintf(stderr, "edgefw: explain needs --packet SPEC or --packets FILE\n");
            return cli::kExitUsage;
        }
        return cli::cmd_explain(explain_args);
    }
    if (*test) {
        if (test_args.packet.empty() && test_args.packets.empty()) {
            fprintf(stderr, "edgefw: test needs --packet SPEC or --packets FILE\n");
            return cli::kExitUsage;
        }
        return cli::cmd_test(test_args);
    }
    return cli::kExitUsage;
}
