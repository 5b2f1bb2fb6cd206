#include <fmt/core.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.h"
#include "cli/registry.h"
#include "compile/compile.h"
#include "diff/diff.h"
#include "lifecycle/lifecycle.h"

namespace cli {

// Exit status like diff(1): 0 no verdict changes (and, with --instance, no
// tracked flow cut or moved), 1 some, 2 trouble.
int cmd_diff(const DiffArgs& a) {
    constexpr int kTrouble = 2;
    std::optional<uint32_t> role;
    if (!a.iface.empty()) {
        role = parse_role(a.iface);
        if (!role) return kTrouble;
    }
    PolicyArgs oa{a.old_policy, a.site, a.options}, na{a.new_policy, a.site, a.options};
    // The two policies load side by side (parsing dominates for large ones).
    policy::Diagnostics od, nd;
    std::optional<policy::Policy> np;
    std::thread t([&] { np = policy::load(na.policy, na.site, nd, na.options); });
    auto op = policy::load(oa.policy, oa.site, od, oa.options);
    t.join();
    for (const auto* d : {&od, &nd})
        for (const auto& x : d->all())
            if (x.severity == policy::Severity::error) std::cerr << "edgefw: " << x.str() << "\n";
    if (!op || !np) return kTrouble;
    for (const auto* pa : {&oa, &na}) {
        const auto& p = pa == &oa ? *op : *np;
        if (!p.nodes.count(a.node)) {
            std::cerr << "edgefw: diff: node '" << a.node << "' is not in " << pa->policy << "\n";
            return kTrouble;
        }
    }
    diff::Result r;
    try {
        r = diff::compute(*op, *np, a.node, diff::Options{role});
    } catch (const compile::Error& e) {
        std::cerr << "edgefw: diff: " << e.what() << "\n";
        return kTrouble;
    }
    // The loaded instance's tracked flows, judged by NEW as a reload would.
    std::optional<lifecycle::FlowsPreview> flows;
    if (!a.instance.empty()) {
        lifecycle::LoadArgs la;
        la.policy = a.new_policy;
        la.site = a.site;
        la.policy_options = a.options;
        la.node = a.node;
        la.instance = a.instance;
        try {
            flows = lifecycle::preview_flows(la);
        } catch (const std::exception& e) {
            std::cerr << "edgefw: diff: instance " << a.instance << ": " << e.what() << "\n";
            return kTrouble;
        }
    }
    const bool changes = r.verdict_changes() || (flows && (flows->cut || flows->moved));
    if (a.json) {
        nlohmann::ordered_json j;
        j["node"] = a.node;
        j["regions"] = nlohmann::ordered_json::array();
        for (const auto& g : r.regions) {
            bool icmp = g.slot == EF_PS_ICMP || g.slot == EF_PS_ICMP6;
            nlohmann::ordered_json except = nlohmann::ordered_json::array();
            for (const auto& x : g.except) except.push_back(diff::remote_str(x));
            nlohmann::ordered_json o = {
                {"change", diff::change_name(g.change)},
                {"iface", policy::role_name(g.role)},
                {"dir", policy::dir_name(g.dir)},
                {"proto", diff::slot_name(g.slot)},
                {"local", g.local.str()},
                {"remote", diff::remote_str(g.remote)},
                {"except", except},
                {"sport", icmp ? "any" : diff::ports_str(g.slot, g.sport, false)},
                {"dport", diff::ports_str(g.slot, g.dport, true)},
            };
            o["old_rule"] =
                g.old_rule.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(g.old_rule);
            o["new_rule"] =
                g.new_rule.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(g.new_rule);
            j["regions"].push_back(o);
        }
        j["renamed"] = nlohmann::ordered_json::array();
        for (const auto& [o, n] : r.renamed) j["renamed"].push_back({{"old", o}, {"new", n}});
        j["relabelled"] = r.relabelled;
        j["moved"] = r.moved;
        j["verdict_changes"] = r.verdict_changes();
        if (flows)
            j["flows"] = {{"instance", flows->instance}, {"generation", flows->generation},
                          {"open", flows->open},         {"kept", flows->kept},
                          {"moved", flows->moved},       {"cut", flows->cut}};
        std::cout << j.dump(2) << "\n";
    } else {
        for (const auto& g : r.regions) std::cout << diff::region_line(g) << "\n";
        for (const auto& [o, n] : r.renamed) fmt::print("= renamed {} -> {}\n", o, n);
        for (const auto& id : r.relabelled) fmt::print("= label changed {}\n", id);
        for (const auto& id : r.moved) fmt::print("= moved {}\n", id);
        if (flows)
            fmt::print(
                "# instance {}: {} tracked flows; NEW would cut {}, move {} to another rule, "
                "keep {}\n",
                flows->instance, flows->open, flows->cut, flows->moved, flows->kept);
    }
    return changes ? 1 : 0;
}

namespace {

[[maybe_unused]] const bool registered = register_subcommand(50, [](CLI::App& app) {
    auto a = std::make_shared<DiffArgs>();
    auto* cmd = app.add_subcommand(
        "diff", "the new flows whose verdict NEW changes against OLD, as regions");
    cmd->add_option("OLD", a->old_policy, "policy in force (YAML)")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("NEW", a->new_policy, "candidate policy (YAML)")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("--site", a->site, "site file applied to both")->check(CLI::ExistingFile);
    add_allow_wide(cmd, a->options);
    cmd->add_option("--node", a->node, "node to compare on")->required();
    cmd->add_option("--iface", a->iface, "only this interface role");
    cmd->add_option("--instance", a->instance,
                    "also count the tracked flows of this loaded instance that NEW would cut "
                    "or move (as reload would judge them; root)");
    cmd->add_flag("--json", a->json, "JSON regions");
    // diff exits like diff(1): 2 for any trouble, usage included.
    return Subcommand{cmd, [a] { return cmd_diff(*a); }, kExitUsage};
});

}  // namespace

}  // namespace cli
