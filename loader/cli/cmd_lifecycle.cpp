#include <fmt/core.h>

#include <ctime>
#include <iostream>

#include "cli/commands.h"
#include "cli/registry.h"
#include "kernel/dataplane.h"
#include "kernel/features.h"
#include "kernel/instance.h"
#include "lifecycle/lifecycle.h"

namespace cli {

namespace {

// What this kernel offers: the attach paths `load --mode auto --tc auto` picks.
void print_features() {
    const auto& f = kernel::features();
    fmt::print("  kernel {}  libbpf {}  tc egress links (tcx) {}\n", f.kernel, f.libbpf,
               f.tc_link ? "yes" : "no (netlink filters; tcx needs Linux 6.6)");
}

// The programs libxdp's dispatcher runs on a NIC, in order: a pass goes on
// to the next one when its chain-call actions include XDP_PASS.
void print_dispatcher(const lifecycle::IfaceStatus& i) {
    if (!i.xdp_dispatcher) return;
    const auto& disp = *i.xdp_dispatcher;
    fmt::print("           libxdp dispatcher id {} ({}), edgefw at priority {}:\n", disp.id,
               disp.mode, i.meta.xdp_priority.value_or(0));
    if (disp.programs.empty()) fmt::print("             (no programs: edgefw is not in it)\n");
    for (const auto& p : disp.programs) {
        std::string chain;
        for (const auto& a : p.chain_call) chain += (chain.empty() ? "" : ",") + a;
        fmt::print("             prio {:<5} {:<16} id {:<6} chain-call {}{}\n", p.priority, p.name,
                   p.id, chain.empty() ? "none" : chain, p.edgefw ? "  (edgefw)" : "");
    }
}

void print_iface(const lifecycle::IfaceStatus& i) {
    fmt::print("  {:<8} {:<16} ifindex {:<4} xdp {} {} prog {}  tc {} prog {}  {}\n", i.meta.role,
               i.meta.dev, i.meta.ifindex, i.meta.xdp_mode,
               i.meta.in_dispatcher() ? "libxdp" : "link", i.xdp_prog_id,
               i.meta.tc_hook == "tcx" ? "tcx link" : "netlink filter", i.tc_prog_id,
               i.attachment == "unknown" ? "attachment unknown (see hint)"
               : i.attached              ? "attached"
                                         : "NOT ATTACHED");
    if (i.meta.in_dispatcher()) print_dispatcher(i);
}

void print_last_reload(const lifecycle::InstanceMeta& m) {
    if (m.reload_ms) {
        auto ms = [&](const char* phase) {
            auto it = m.reload_ms->find(phase);
            return it == m.reload_ms->end() ? 0.0 : it->second;
        };
        fmt::print(
            "  last reload: parse+compile {:.0f} ms, self-test {:.0f} ms ({} of {} boundary "
            "probes), programs+maps {:.0f} ms, swap {:.1f} ms\n",
            ms("parse_compile"), ms("self_test"), m.self_test.probes, m.self_test.of,
            ms("programs_maps"), ms("swap"));
    }
    if (m.reload_flows) {
        const auto& f = *m.reload_flows;
        if (f.error)
            fmt::print("  last reload: open flows not judged again ({}); they keep their rules\n",
                       *f.error);
        else if (f.skipped)
            fmt::print("  last reload: open flows kept their rules (--keep-flows)\n");
        else
            fmt::print("  last reload: open flows kept {}, moved {}, closed {} ({:.1f} ms)\n",
                       f.kept.value_or(0), f.moved.value_or(0), f.closed.value_or(0),
                       m.reload_ms && m.reload_ms->count("flows") ? m.reload_ms->at("flows") : 0.0);
    }
}

void print_status(const lifecycle::Status& s) {
    fmt::print("instance {}: {}\n", s.meta ? s.meta->instance : s.instance, s.state);
    if (s.error) fmt::print("  error: {}\n", *s.error);
    if (s.hint) fmt::print("  {}\n", *s.hint);
    if (!s.meta) return;
    const auto& m = *s.meta;
    fmt::print("  node {}  policy {} ({})  hash {}\n", m.node, m.policy, m.policy_name,
               m.policy_hash);
    if (m.bundle)  // --bundle: the fleet-wide policy hash and where it came from
        fmt::print("  bundle {}  policy sha256 {}\n", m.bundle->value("dir", "?"),
                   m.policy_sha256.value_or("?"));
    fmt::print("  loaded {}  reloaded {}  generation {}  egress {}\n", m.loaded_at,
               m.reloaded_at ? *m.reloaded_at : "never", m.generation, m.egress);
    fmt::print("  rules {}  conntrack {}/{}{}  programs xdp id {} tc id {}\n", s.rule_count,
               s.conntrack.entries, s.conntrack.max,
               m.ct_lru.value_or("shared") == "per-cpu" ? " (new tables: per-CPU LRU)" : "",
               s.prog_xdp_id, s.prog_tc_id);
    for (const auto& i : s.ifaces) print_iface(i);
    print_features();
    print_last_reload(m);
    if (!m.netns.empty()) fmt::print("  netns {}\n", m.netns);
    if (m.confirm.pending) fmt::print("  waiting for 'edgefw confirm'\n");
    if (m.confirm.error) fmt::print("  confirm: {}\n", *m.confirm.error);
    if (s.shadow)
        fmt::print("  shadow candidate {} ({}) hash {} since {}: 'edgefw shadow stats'\n",
                   s.shadow->policy, s.shadow->policy_name, s.shadow->policy_hash,
                   s.shadow->started_at);
}

}  // namespace

int cmd_load(const lifecycle::LoadArgs& a, bool reload) {
    return guarded(reload ? "reload" : "load", [&] {
        if (reload)
            lifecycle::reload(a);
        else
            lifecycle::load(a);
        auto s = lifecycle::status(a.instance);
        print_status(s.at(0));
        if (a.confirm_secs > 0)
            fmt::print(
                "run 'edgefw confirm --instance {}' within {} s or the previous state returns\n",
                a.instance, a.confirm_secs);
        return kExitOk;
    });
}

int cmd_unload(const std::string& instance) {
    return guarded("unload", [&] {
        lifecycle::unload(instance);
        fmt::print("instance {} unloaded\n", instance);
        return kExitOk;
    });
}

int cmd_log(const lifecycle::LogArgs& a) {
    return guarded("log", [&] {
        lifecycle::print_log(a);
        return kExitOk;
    });
}

int cmd_confirm(const std::string& instance) {
    return guarded("confirm", [&] {
        lifecycle::confirm(instance);
        fmt::print("instance {} confirmed\n", instance);
        return kExitOk;
    });
}

// Exit codes as `systemctl status` (LSB): 0 every instance asked about is
// enforcing; 3 not loaded, or loaded but not enforcing everywhere (degraded,
// mixed, damaged); 4 no such instance (an invalid name) or the state cannot
// be read (not root, bpffs hidden by `ip netns exec`, a NIC's namespace gone).
constexpr int kStatusNotRunning = 3;
constexpr int kStatusUnknown = 4;

int cmd_status(const std::string& instance, bool json) {
    std::vector<lifecycle::Status> s;
    try {
        if (!instance.empty()) kernel::check_instance_name(instance);
        s = lifecycle::status(instance);
    } catch (const std::exception& e) {  // kernel::Unreadable, an invalid name
        std::cerr << "edgefw: status: " << e.what() << "\n";
        return kStatusUnknown;
    }
    if (json) {
        std::cout << nlohmann::json(s).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                  << "\n";
    } else if (s.empty()) {
        if (instance.empty())
            fmt::print("no edgefw instance is loaded\n");
        else
            fmt::print("instance {} is not loaded\n", instance);
        print_features();
    } else {
        for (const auto& one : s) print_status(one);
    }
    if (s.empty()) return kStatusNotRunning;
    int rc = kExitOk;
    for (const auto& one : s) {
        if (one.state == "unknown")
            rc = kStatusUnknown;
        else if (one.state != "enforcing" && rc == kExitOk)
            rc = kStatusNotRunning;
    }
    return rc;
}

void print_stats(const lifecycle::Stats& s) {
    fmt::print("{:<32} {:<14} {:<18} {:>12} {:>14}  {}\n", "rule", "app", "where", "packets",
               "bytes", "last hit");
    double now = static_cast<double>(time(nullptr));
    for (const auto& r : s.rules) {
        std::string where;
        for (const auto& p : r.rule.placements)
            where += (where.empty() ? "" : ",") + p.iface.substr(0, 3) + "/" + p.dir.substr(0, 2);
        double last = r.last_hit_unix;
        std::string ago =
            last > 0 ? fmt::format("{:.0f} s ago", std::max(0.0, now - last)) : "never";
        fmt::print("{:<32} {:<14} {:<18} {:>12} {:>14}  {}\n", r.rule.id, r.rule.app, where,
                   r.packets, r.bytes, ago);
    }
    fmt::print("\n{:<32} {:<5} {:>12} {:>14}\n", "reason", "", "packets", "bytes");
    for (const auto& r : s.reasons)
        if (r.packets > 0)
            fmt::print("{:<32} {:<5} {:>12} {:>14}\n", r.name, r.passes ? "pass" : "drop",
                       r.packets, r.bytes);
    fmt::print("\nconntrack {}/{}\n", s.conntrack.entries, s.conntrack.max);
}

int cmd_stats(const std::string& instance, bool json) {
    return guarded("stats", [&] {
        auto s = lifecycle::stats(instance);
        if (json)
            std::cout << nlohmann::json(s).dump() << "\n";
        else
            print_stats(s);
        return kExitOk;
    });
}

namespace {

// load and reload: --iface ROLE=DEV (load only) parsed before the run.
struct LoadCmd {
    lifecycle::LoadArgs args;
    std::vector<std::string> ifaces;
    int run(bool reload) {
        if (args.policy.empty() && args.bundle.empty()) {
            fprintf(stderr, "edgefw: %s needs POLICY or --bundle DIR/NODE\n",
                    reload ? "reload" : "load");
            return kExitUsage;
        }
        for (const auto& spec : ifaces) {
            auto i = lifecycle::parse_iface(spec);
            if (!i) {
                fprintf(stderr, "edgefw: --iface '%s': expected ROLE=DEV, e.g. external=eth0\n",
                        spec.c_str());
                return kExitUsage;
            }
            args.ifaces.push_back(*i);
        }
        return cmd_load(args, reload);
    }
};

void add_lifecycle(CLI::App* cmd, LoadCmd& c, bool with_ifaces) {
    lifecycle::LoadArgs& a = c.args;
    auto* policy_opt =
        cmd->add_option("POLICY", a.policy, "policy file (YAML)")->check(CLI::ExistingFile);
    auto* site_opt = cmd->add_option("--site", a.site, "site file")->check(CLI::ExistingFile);
    // --bundle DIR/NODE: policy and site from a checked bundle (loader/bundle).
    cmd->add_option("--bundle", a.bundle,
                    "a node's bundle directory from 'edgefw bundle' (instead of POLICY)")
        ->excludes(policy_opt)
        ->excludes(site_opt);
    add_allow_wide(cmd, a.policy_options);
    cmd->add_option("--node", a.node, "node this host is")->required(with_ifaces);
    cmd->add_option("--instance", a.instance, "instance name (pins under /sys/fs/bpf/edgefw/NAME)");
    cmd->add_option("--confirm", a.confirm_secs,
                    "roll back unless 'edgefw confirm' runs within SECS")
        ->check(CLI::Range(1, 86400));
    cmd->add_flag("--force", a.force, "load even if it would cut the SSH session");
    if (!with_ifaces) return;
    cmd->add_option("--iface", c.ifaces, "ROLE=DEV, e.g. external=eth0 (repeat)")->required();
    cmd->add_option("--mode", a.mode,
                    "XDP attach mode (auto: native if the driver has it, else generic)")
        ->check(CLI::IsMember({"auto", "native", "generic"}));
    cmd->add_option("--tc", a.tc,
                    "TC egress hook (auto: tcx link when the kernel has it, else netlink)")
        ->check(CLI::IsMember({"auto", "tcx", "netlink"}));
    cmd->add_flag("--xdp-multiprog", a.xdp_multiprog,
                  "attach XDP through libxdp's dispatcher, beside other XDP programs (taken "
                  "anyway on a NIC that runs one)");
    cmd->add_option("--xdp-priority", a.xdp_priority,
                    "run priority in libxdp's dispatcher, lower runs first (default 50; "
                    "implies --xdp-multiprog)")
        ->check(CLI::Range(0, 65535));
    cmd->add_option(
        "--netns", a.netns,
        "network namespace of the NICs: a name under /run/netns (ip netns list), not a path");
    cmd->add_option("--ct-size", a.ct_size, "conntrack table entries")
        ->check(CLI::Range(1024, 1 << 24));
    cmd->add_option("--ct-lru", a.ct_lru,
                    "LRU lists of the new-flow conntrack tables: shared (one per table) or "
                    "per-cpu (inserts take no table-wide lock; each CPU evicts from its own "
                    "share of --ct-size)")
        ->check(CLI::IsMember({"shared", "per-cpu"}));
}

void add_log_rate(CLI::App* cmd, lifecycle::LoadArgs& a) {
    cmd->add_option("--log-rate", a.log_rate,
                    "drop log events per second and CPU (0: off; load default 100)")
        ->check(CLI::Range(0, 1000000));
}

[[maybe_unused]] const bool load_registered = register_subcommand(60, [](CLI::App& app) {
    auto c = std::make_shared<LoadCmd>();
    auto* cmd = app.add_subcommand("load", "compile, self-test and attach to the NICs");
    add_lifecycle(cmd, *c, true);
    add_log_rate(cmd, c->args);
    return Subcommand{cmd, [c] { return c->run(false); }};
});

[[maybe_unused]] const bool reload_registered = register_subcommand(70, [](CLI::App& app) {
    auto c = std::make_shared<LoadCmd>();
    auto* cmd = app.add_subcommand("reload", "swap the policy hitlessly (counters and flows kept)");
    add_lifecycle(cmd, *c, false);
    cmd->add_flag("--keep-flows", c->args.keep_flows,
                  "open flows keep their rule (default: the new policy judges them)");
    add_log_rate(cmd, c->args);
    return Subcommand{cmd, [c] { return c->run(true); }};
});

// unload, status and confirm: one instance (status: every instance unless named).
template <class Run>
Subcommand instance_command(CLI::App& app, const char* name, const char* what, Run run) {
    auto instance = std::make_shared<std::string>("default");
    auto* cmd = app.add_subcommand(name, what);
    cmd->add_option("--instance", *instance, "instance name");
    return Subcommand{cmd, [instance, cmd, run] { return run(*instance, cmd); }};
}

[[maybe_unused]] const bool unload_registered = register_subcommand(80, [](CLI::App& app) {
    return instance_command(app, "unload", "detach and remove everything edgefw created",
                            [](const std::string& i, CLI::App*) { return cmd_unload(i); });
});

[[maybe_unused]] const bool status_registered = register_subcommand(90, [](CLI::App& app) {
    auto json = std::make_shared<bool>(false);
    auto s = instance_command(app, "status", "what is loaded, where, and whether it is attached",
                              [json](const std::string& i, CLI::App* cmd) {
                                  return cmd_status(
                                      i == "default" && !cmd->count("--instance") ? "" : i, *json);
                              });
    s.cmd->add_flag("--json", *json, "JSON");
    return s;
});

[[maybe_unused]] const bool confirm_registered = register_subcommand(110, [](CLI::App& app) {
    return instance_command(app, "confirm", "keep the policy loaded with --confirm",
                            [](const std::string& i, CLI::App*) { return cmd_confirm(i); });
});

[[maybe_unused]] const bool log_registered = register_subcommand(120, [](CLI::App& app) {
    auto a = std::make_shared<lifecycle::LogArgs>();
    auto* cmd =
        app.add_subcommand("log", "drop events (rate-limited in the kernel) with the nearest rule");
    cmd->add_option("--instance", a->instance, "instance name");
    cmd->add_flag("--json", a->json, "one JSON object an event");
    cmd->add_flag("--follow", a->follow, "keep printing until interrupted");
    return Subcommand{cmd, [a] { return cmd_log(*a); }};
});

}  // namespace

}  // namespace cli
