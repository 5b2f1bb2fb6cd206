// edgefw: compile a published port policy into BPF maps and enforce it.
#include <CLI/CLI.hpp>
#include <functional>

#include "cli/commands.h"
#include "kernel/dataplane.h"
#include "synth/synth.h"

namespace {

void add_allow_wide(CLI::App* cmd, policy::LoadOptions& o) {
    cmd->add_flag("--allow-wide-management", o.allow_wide_management,
                  "accept site management entries wider than /16 (IPv4) or /48 (IPv6), or for "
                  "every port");
}

void add_policy(CLI::App* cmd, cli::PolicyArgs& a) {
    cmd->add_option("POLICY", a.policy, "policy file (YAML)")->required()->check(CLI::ExistingFile);
    cmd->add_option("--site", a.site, "site file overriding addresses and features")
        ->check(CLI::ExistingFile);
    add_allow_wide(cmd, a.options);
}

void add_packets(CLI::App* cmd, cli::PacketArgs& a) {
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

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"edgefw: in-kernel port-policy enforcer for edge hosts"};
    app.require_subcommand(1);
    app.fallthrough();  // -v works after the subcommand too
    bool verbose = false;
    app.add_flag("-v,--verbose", verbose,
                 "print libbpf's messages (the verifier log when a program is rejected)");

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

    cli::DiffArgs diff_args;
    auto* diff_cmd = app.add_subcommand(
        "diff", "the new flows whose verdict NEW changes against OLD, as regions");
    diff_cmd->add_option("OLD", diff_args.old_policy, "policy in force (YAML)")
        ->required()
        ->check(CLI::ExistingFile);
    diff_cmd->add_option("NEW", diff_args.new_policy, "candidate policy (YAML)")
        ->required()
        ->check(CLI::ExistingFile);
    diff_cmd->add_option("--site", diff_args.site, "site file applied to both")
        ->check(CLI::ExistingFile);
    add_allow_wide(diff_cmd, diff_args.options);
    diff_cmd->add_option("--node", diff_args.node, "node to compare on")->required();
    diff_cmd->add_option("--iface", diff_args.iface, "only this interface role");
    diff_cmd->add_flag("--json", diff_args.json, "JSON regions");

    // Lifecycle: load, reload, unload, status, stats, confirm.
    std::function<void(CLI::App*)> load_cmd_log_rate;
    lifecycle::LoadArgs load_args;
    std::vector<std::string> load_ifaces;
    auto add_lifecycle = [&](CLI::App* cmd, bool with_ifaces) {
        auto* policy_opt = cmd->add_option("POLICY", load_args.policy, "policy file (YAML)")
                               ->check(CLI::ExistingFile);
        auto* site_opt =
            cmd->add_option("--site", load_args.site, "site file")->check(CLI::ExistingFile);
        // --bundle DIR/NODE: policy and site from a checked bundle (loader/bundle).
        cmd->add_option("--bundle", load_args.bundle,
                        "a node's bundle directory from 'edgefw bundle' (instead of POLICY)")
            ->excludes(policy_opt)
            ->excludes(site_opt);
        add_allow_wide(cmd, load_args.policy_options);
        cmd->add_option("--node", load_args.node, "node this host is")->required(with_ifaces);
        cmd->add_option("--instance", load_args.instance,
                        "instance name (pins under /sys/fs/bpf/edgefw/NAME)");
        cmd->add_option("--confirm", load_args.confirm_secs,
                        "roll back unless 'edgefw confirm' runs within SECS")
            ->check(CLI::Range(1, 86400));
        cmd->add_flag("--force", load_args.force, "load even if it would cut the SSH session");
        if (!with_ifaces) return;
        cmd->add_option("--iface", load_ifaces, "ROLE=DEV, e.g. external=eth0 (repeat)")
            ->required();
        cmd->add_option("--mode", load_args.mode,
                        "XDP attach mode (auto: native if the driver has it, else generic)")
            ->check(CLI::IsMember({"auto", "native", "generic"}));
        cmd->add_option("--tc", load_args.tc,
                        "TC egress hook (auto: tcx link when the kernel has it, else netlink)")
            ->check(CLI::IsMember({"auto", "tcx", "netlink"}));
        cmd->add_option(
            "--netns", load_args.netns,
            "network namespace of the NICs: a name under /run/netns (ip netns list), not a path");
        cmd->add_option("--ct-size", load_args.ct_size, "conntrack table entries")
            ->check(CLI::Range(1024, 1 << 24));
    };
    load_cmd_log_rate = [&](CLI::App* cmd) {
        cmd->add_option("--log-rate", load_args.log_rate,
                        "drop log events per second and CPU (0: off; load default 100)")
            ->check(CLI::Range(0, 1000000));
    };
    auto* load_cmd = app.add_subcommand("load", "compile, self-test and attach to the NICs");
    add_lifecycle(load_cmd, true);
    auto* reload_cmd =
        app.add_subcommand("reload", "swap the policy hitlessly (counters and flows kept)");
    add_lifecycle(reload_cmd, false);
    reload_cmd->add_flag("--keep-flows", load_args.keep_flows,
                         "open flows keep their rule (default: the new policy judges them)");
    load_cmd_log_rate(load_cmd);
    load_cmd_log_rate(reload_cmd);
    std::string instance = "default";
    bool json_out = false;
    auto* unload_cmd = app.add_subcommand("unload", "detach and remove everything edgefw created");
    auto* status_cmd =
        app.add_subcommand("status", "what is loaded, where, and whether it is attached");
    auto* stats_cmd = app.add_subcommand("stats", "per-rule and per-reason counters");
    auto* confirm_cmd = app.add_subcommand("confirm", "keep the policy loaded with --confirm");
    for (auto* c : {unload_cmd, status_cmd, stats_cmd, confirm_cmd})
        c->add_option("--instance", instance, "instance name");
    status_cmd->add_flag("--json", json_out, "JSON");
    lifecycle::LogArgs log_args;
    auto* log_cmd =
        app.add_subcommand("log", "drop events (rate-limited in the kernel) with the nearest rule");
    log_cmd->add_option("--instance", log_args.instance, "instance name");
    log_cmd->add_flag("--json", log_args.json, "one JSON object an event");
    log_cmd->add_flag("--follow", log_args.follow, "keep printing until interrupted");
    stats_cmd->add_flag("--json", json_out, "JSON");
    // monitor: stats --prometheus / --watch SECS, exporter (cmd_monitor.cpp).
    bool stats_prometheus = false;
    double stats_watch = 0;
    auto* stats_prom_opt =
        stats_cmd->add_flag("--prometheus", stats_prometheus, "Prometheus text exposition");
    auto* stats_watch_opt =
        stats_cmd->add_option("--watch", stats_watch, "refresh every SECS with per-rule rates")
            ->check(CLI::Range(0.1, 3600.0));
    stats_prom_opt->excludes(stats_watch_opt);
    stats_cmd->get_option("--json")->excludes(stats_prom_opt)->excludes(stats_watch_opt);
    std::string exporter_listen = "127.0.0.1:9839", exporter_instance;
    auto* exporter_cmd =
        app.add_subcommand("exporter", "serve /metrics (Prometheus) and / read-only over HTTP");
    exporter_cmd->add_option("--listen", exporter_listen, "HOST:PORT (default 127.0.0.1:9839)");
    exporter_cmd->add_option("--instance", exporter_instance,
                             "instance name (default: every instance)");
    // end monitor

    // Fleet: per-node bundles and an Ansible inventory (cmd_bundle.cpp).
    cli::PolicyArgs bundle_args;
    std::string bundle_out;
    auto* bundle_cmd = app.add_subcommand(
        "bundle", "per node: policy, site, image, self-test results and a manifest of hashes");
    add_policy(bundle_cmd, bundle_args);
    bundle_cmd->add_option("--out", bundle_out, "directory to write DIR/NODE/ into")->required();
    cli::PolicyArgs inventory_args;
    auto* inventory_cmd = app.add_subcommand(
        "inventory", "an Ansible inventory (YAML) of the nodes and their management addresses");
    add_policy(inventory_cmd, inventory_args);

    synth::Options synth_opts;
    auto* synth_cmd = app.add_subcommand("synth", "print a synthetic policy (tests, benchmarks)");
    synth_cmd->add_option("--rules", synth_opts.rules, "number of rules")
        ->check(CLI::Range(1, 16384));
    synth_cmd->add_option("--seed", synth_opts.seed, "random seed");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        // diff exits like diff(1): 2 for any trouble, usage included.
        return rc != 0 && *diff_cmd ? 2 : rc;
    }
    if (verbose) kernel::set_verbose(true);
    if (*synth_cmd) {
        fputs(synth::generate(synth_opts).c_str(), stdout);
        return cli::kExitOk;
    }
    if (*check) return cli::cmd_check(check_args, check_json);
    if (*diff_cmd) return cli::cmd_diff(diff_args);
    if (*bundle_cmd) return cli::cmd_bundle(bundle_args, bundle_out);
    if (*inventory_cmd) return cli::cmd_inventory(inventory_args);
    if (*load_cmd || *reload_cmd) {
        if (load_args.policy.empty() && load_args.bundle.empty()) {
            fprintf(stderr, "edgefw: %s needs POLICY or --bundle DIR/NODE\n",
                    load_cmd->parsed() ? "load" : "reload");
            return cli::kExitUsage;
        }
        for (const auto& spec : load_ifaces) {
            auto eq = spec.find('=');
            if (eq == std::string::npos) {
                fprintf(stderr, "edgefw: --iface '%s': expected ROLE=DEV, e.g. external=eth0\n",
                        spec.c_str());
                return cli::kExitUsage;
            }
            load_args.ifaces.push_back({spec.substr(0, eq), spec.substr(eq + 1)});
        }
        return cli::cmd_load(load_args, reload_cmd->parsed());
    }
    if (*unload_cmd) return cli::cmd_unload(instance);
    if (*log_cmd) return cli::cmd_log(log_args);
    if (*status_cmd)
        return cli::cmd_status(
            instance == "default" && !status_cmd->count("--instance") ? "" : instance, json_out);
    // monitor: stats --prometheus / --watch, exporter.
    if (*stats_cmd && stats_prometheus) return cli::cmd_stats_prometheus(instance);
    if (*stats_cmd && *stats_watch_opt) return cli::cmd_stats_watch(instance, stats_watch);
    if (*exporter_cmd) return cli::cmd_exporter(exporter_listen, exporter_instance);
    // end monitor
    if (*stats_cmd) return cli::cmd_stats(instance, json_out);
    if (*confirm_cmd) return cli::cmd_confirm(instance);
    if (*compile) return cli::cmd_compile(compile_args, compile_node, compile_json);
    if (*explain) {
        if (!explain_args.pcap.empty()) return cli::cmd_pcap(explain_args, false);  // --pcap
        if (explain_args.packet.empty() && explain_args.packets.empty()) {
            fprintf(stderr, "edgefw: explain needs --packet SPEC, --packets FILE or --pcap FILE\n");
            return cli::kExitUsage;
        }
        return cli::cmd_explain(explain_args);
    }
    if (*test) {
        if (!test_args.pcap.empty()) return cli::cmd_pcap(test_args, true);  // --pcap
        if (test_args.packet.empty() && test_args.packets.empty()) {
            fprintf(stderr, "edgefw: test needs --packet SPEC, --packets FILE or --pcap FILE\n");
            return cli::kExitUsage;
        }
        return cli::cmd_test(test_args);
    }
    return cli::kExitUsage;
}
