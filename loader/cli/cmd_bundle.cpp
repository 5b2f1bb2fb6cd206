// bundle and inventory: the fleet's deployment artifacts (loader/bundle/).
#include <fmt/core.h>

#include <iostream>
#include <memory>

#include "bundle/bundle.h"
#include "cli/commands.h"
#include "cli/registry.h"

namespace cli {

int cmd_bundle(const PolicyArgs& a, const std::string& out) {
    try {
        auto r = bundle::write({a.policy, a.site, out, a.options});
        fmt::print("policy hash {} ({}{})\n", r.policy_hash, a.policy,
                   a.site.empty() ? "" : " + " + a.site);
        for (const auto& n : r.nodes)
            fmt::print("  {:<10} pool {:<10} image {}  self-test {}/{} probes passed  {}\n", n.node,
                       n.pool, n.image_hash, n.passed, n.probes, n.dir);
        return kExitOk;
    } catch (const std::exception& e) {
        std::cerr << "edgefw: bundle: " << e.what() << "\n";
        return kExitError;
    }
}

int cmd_inventory(const PolicyArgs& a) {
    auto p = load_policy(a);
    if (!p) return kExitError;
    std::cout << bundle::inventory(*p, a.policy, a.site);
    return kExitOk;
}

namespace {

[[maybe_unused]] const bool bundle_registered = register_subcommand(133, [](CLI::App& app) {
    struct Args {
        PolicyArgs policy;
        std::string out;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = app.add_subcommand(
        "bundle", "per node: policy, site, image, self-test results and a manifest of hashes");
    add_policy(cmd, a->policy);
    cmd->add_option("--out", a->out, "directory to write DIR/NODE/ into")->required();
    return Subcommand{cmd, [a] { return cmd_bundle(a->policy, a->out); }};
});

[[maybe_unused]] const bool inventory_registered = register_subcommand(136, [](CLI::App& app) {
    auto a = std::make_shared<PolicyArgs>();
    auto* cmd = app.add_subcommand(
        "inventory", "an Ansible inventory (YAML) of the nodes and their management addresses");
    add_policy(cmd, *a);
    return Subcommand{cmd, [a] { return cmd_inventory(*a); }};
});

}  // namespace

}  // namespace cli
