// Monitoring: `edgefw stats --prometheus`, `edgefw stats --watch SECS` and
// `edgefw exporter` (loader/monitor/).
#include <fmt/core.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <thread>

#include "cli/commands.h"
#include "cli/registry.h"
#include "lifecycle/lifecycle.h"
#include "monitor/collect.h"
#include "monitor/exporter.h"
#include "monitor/prometheus.h"
#include "monitor/watch.h"

namespace cli {

// The exposition of one instance on stdout (e.g. for node_exporter's textfile
// collector). An instance that is not loaded still prints, with edgefw_up 0.
int cmd_stats_prometheus(const std::string& instance) {
    try {
        auto snap = monitor::snapshot({instance});
        std::cout << monitor::to_prometheus(snap) << std::flush;
        if (!snap["instances"][0].value("up", false))
            std::cerr << "edgefw: stats: instance '" << instance
                      << "' is not loaded and enforcing (edgefw_up 0)\n";
        return kExitOk;
    } catch (const std::exception& e) {
        std::cerr << "edgefw: stats: " << e.what() << "\n";
        return kExitError;
    }
}

int cmd_stats_watch(const std::string& instance, double secs) {
    using clock = std::chrono::steady_clock;
    std::optional<nlohmann::json> prev;
    clock::time_point prev_at{};
    for (;;) {
        std::string screen;
        try {
            nlohmann::json cur =
                lifecycle::stats(instance);  // JSON: the watch screen is pure over it
            auto at = clock::now();
            // A reload keeps counters (slots follow rule ids); an unload and load resets
            // them, which the rates show as "-" for one interval.
            monitor::WatchFrame f;
            f.current = &cur;
            f.previous = prev ? &*prev : nullptr;
            f.elapsed_secs = prev ? std::chrono::duration<double>(at - prev_at).count() : 0;
            f.now_unix = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
            f.interval_secs = secs;
            screen = monitor::render_watch(f);
            prev = std::move(cur);
            prev_at = at;
        } catch (const std::exception& e) {
            screen = fmt::format("edgefw stats  instance {}  every {:g} s\n\n{}\n(retrying)\n",
                                 instance, secs, e.what());
            prev.reset();
        }
        std::fputs(monitor::kClearHome, stdout);
        std::fputs(screen.c_str(), stdout);
        std::fflush(stdout);
        std::this_thread::sleep_for(std::chrono::duration<double>(secs));
    }
}

int cmd_exporter(const std::string& listen, const std::string& instance) {
    monitor::ExporterArgs a;
    a.listen = listen;
    a.instance = instance;
    return monitor::run_exporter(a);
}

namespace {

struct StatsArgs {
    std::string instance = "default";
    bool json = false, prometheus = false;
    double watch = 0;
};

[[maybe_unused]] const bool stats_registered = register_subcommand(100, [](CLI::App& app) {
    auto a = std::make_shared<StatsArgs>();
    auto* cmd = app.add_subcommand("stats", "per-rule and per-reason counters");
    cmd->add_option("--instance", a->instance, "instance name");
    auto* json = cmd->add_flag("--json", a->json, "JSON");
    auto* prom = cmd->add_flag("--prometheus", a->prometheus, "Prometheus text exposition");
    auto* watch = cmd->add_option("--watch", a->watch, "refresh every SECS with per-rule rates")
                      ->check(CLI::Range(0.1, 3600.0));
    prom->excludes(watch);
    json->excludes(prom)->excludes(watch);
    return Subcommand{cmd, [a, watch] {
                          if (a->prometheus) return cmd_stats_prometheus(a->instance);
                          if (*watch) return cmd_stats_watch(a->instance, a->watch);
                          return cmd_stats(a->instance, a->json);
                      }};
});

[[maybe_unused]] const bool exporter_registered = register_subcommand(130, [](CLI::App& app) {
    auto listen = std::make_shared<std::string>("127.0.0.1:9839");
    auto instance = std::make_shared<std::string>();
    auto* cmd =
        app.add_subcommand("exporter", "serve /metrics (Prometheus) and / read-only over HTTP");
    cmd->add_option("--listen", *listen, "HOST:PORT (default 127.0.0.1:9839)");
    cmd->add_option("--instance", *instance, "instance name (default: every instance)");
    return Subcommand{cmd, [listen, instance] { return cmd_exporter(*listen, *instance); }};
});

}  // namespace

}  // namespace cli
