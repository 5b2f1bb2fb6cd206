// `edgefw shadow start|stats|log|promote|stop`: a candidate policy judged
// beside the enforced one (loader/lifecycle/shadow.h).
#include <fmt/core.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/registry.h"
#include "lifecycle/shadow.h"
#include "monitor/collect.h"
#include "monitor/prometheus.h"

namespace cli {

namespace {

void print_candidate(const lifecycle::ShadowMeta& c) {
    fmt::print("candidate {} ({})  hash {}  since {}\n", c.policy, c.policy_name, c.policy_hash,
               c.started_at);
    fmt::print(
        "  self-test {} of {} boundary probes; open flows at start: {} taken, {} the "
        "candidate would not have admitted\n",
        c.self_test.probes, c.self_test.of, c.flows_taken, c.flows_refused);
}

void print_shadow_stats(const lifecycle::ShadowStats& s) {
    print_candidate(s.candidate);
    fmt::print("\n{:<32} {:>12} {:>14}\n", "candidate rule", "packets", "bytes");
    for (const auto& r : s.counters.rules)
        fmt::print("{:<32} {:>12} {:>14}\n", r.rule.id, r.packets, r.bytes);
    bool any = false;
    for (const auto& r : s.counters.reasons) {
        if (!r.packets) continue;
        if (!any)
            fmt::print("\n{:<32} {:<5} {:>12} {:>14}\n", "candidate reason", "", "packets",
                       "bytes");
        any = true;
        fmt::print("{:<32} {:<5} {:>12} {:>14}\n", r.name, r.passes ? "pass" : "drop", r.packets,
                   r.bytes);
    }
    fmt::print("\n{:<11} {:<32} {:>12} {:>14}\n", "disagrees", "rule or reason", "packets",
               "bytes");
    if (s.disagreements.empty()) fmt::print("(none: the candidate agrees on every packet)\n");
    for (const auto& d : s.disagreements)
        fmt::print("{:<11} {:<32} {:>12} {:>14}\n", d.kind, d.rule, d.packets, d.bytes);
}

struct ShadowCmd {
    lifecycle::LoadArgs args;
    lifecycle::LogArgs log;
    bool json = false, prometheus = false;
    double watch = 0;
};

int run_start(const ShadowCmd& c) {
    if (c.args.policy.empty() && c.args.bundle.empty()) {
        std::cerr << "edgefw: shadow start needs CANDIDATE or --bundle DIR/NODE\n";
        return kExitUsage;
    }
    return guarded("shadow start", [&] {
        auto sm = lifecycle::shadow_start(c.args);
        print_candidate(sm);
        fmt::print("judged beside the enforced policy of instance {}: 'edgefw shadow stats'\n",
                   c.args.instance);
        return kExitOk;
    });
}

int run_stats(const ShadowCmd& c) {
    return guarded("shadow stats", [&] {
        if (c.prometheus) {
            std::cout << monitor::to_prometheus(monitor::snapshot({c.args.instance}),
                                                monitor::Sections::shadow)
                      << std::flush;
            return kExitOk;
        }
        for (;;) {
            auto s = lifecycle::shadow_stats(c.args.instance);
            if (c.json) {
                std::cout << nlohmann::json(s).dump() << "\n";
            } else {
                if (c.watch > 0) std::fputs("\033[H\033[2J", stdout);
                print_shadow_stats(s);
            }
            std::fflush(stdout);
            if (c.watch <= 0) return kExitOk;
            std::this_thread::sleep_for(std::chrono::duration<double>(c.watch));
        }
    });
}

[[maybe_unused]] const bool shadow_registered = register_subcommand(105, [](CLI::App& app) {
    auto c = std::make_shared<ShadowCmd>();
    auto* cmd = app.add_subcommand(
        "shadow", "judge a candidate policy beside the enforced one on live traffic");
    cmd->require_subcommand(1);
    auto instance = [&](CLI::App* sub) {
        sub->add_option("--instance", c->args.instance, "instance name");
    };

    auto* start = cmd->add_subcommand("start", "load CANDIDATE beside the enforced policy");
    auto* policy_opt = start->add_option("CANDIDATE", c->args.policy, "candidate policy (YAML)")
                           ->check(CLI::ExistingFile);
    auto* site_opt =
        start->add_option("--site", c->args.site, "site file")->check(CLI::ExistingFile);
    start
        ->add_option("--bundle", c->args.bundle, "a node's bundle directory (instead of CANDIDATE)")
        ->excludes(policy_opt)
        ->excludes(site_opt);
    add_allow_wide(start, c->args.policy_options);
    start->add_option("--node", c->args.node, "must be the instance's node (the default)");
    instance(start);

    auto* stats = cmd->add_subcommand("stats", "the candidate's counters and disagreements");
    instance(stats);
    auto* json = stats->add_flag("--json", c->json, "JSON");
    auto* prom = stats->add_flag("--prometheus", c->prometheus, "Prometheus text exposition");
    auto* watch = stats->add_option("--watch", c->watch, "refresh every SECS")
                      ->check(CLI::Range(0.1, 3600.0));
    json->excludes(prom);
    prom->excludes(watch);

    auto* log = cmd->add_subcommand("log", "sampled disagreements (rate-limited like 'log')");
    log->add_option("--instance", c->log.instance, "instance name");
    log->add_flag("--json", c->log.json, "one JSON object an event");
    log->add_flag("--follow", c->log.follow, "keep printing until interrupted");

    auto* promote =
        cmd->add_subcommand("promote", "enforce the candidate (hitless reload), then stop it");
    instance(promote);
    promote
        ->add_option("--confirm", c->args.confirm_secs,
                     "roll back unless 'edgefw confirm' runs within SECS")
        ->check(CLI::Range(1, 86400));
    promote->add_flag("--force", c->args.force, "promote even if it would cut the SSH session");

    auto* stop = cmd->add_subcommand("stop", "remove the candidate (the enforced policy stays)");
    instance(stop);

    return Subcommand{
        cmd, [c, start, stats, log, promote, stop] {
            if (*start) return run_start(*c);
            if (*stats) return run_stats(*c);
            if (*log)
                return guarded("shadow log", [&] {
                    lifecycle::print_shadow_log(c->log);
                    return kExitOk;
                });
            if (*promote)
                return guarded("shadow promote", [&] {
                    lifecycle::shadow_promote(c->args);
                    fmt::print("candidate enforced on instance {}{}\n", c->args.instance,
                               c->args.confirm_secs > 0 ? "; run 'edgefw confirm' to keep it" : "");
                    return kExitOk;
                });
            (void)stop;
            return guarded("shadow stop", [&] {
                lifecycle::shadow_stop(c->args.instance);
                fmt::print("candidate removed from instance {}\n", c->args.instance);
                return kExitOk;
            });
        }};
});

}  // namespace

}  // namespace cli
