#include <fmt/core.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/registry.h"
#include "lint/lint.h"

namespace cli {

int cmd_check(const PolicyArgs& a, bool json) {
    policy::Diagnostics diags;
    auto p = policy::load(a.policy, a.site, diags, a.options);
    if (p) lint::check(*p, diags);
    size_t errors = 0, warnings = 0;
    for (const auto& d : diags.all()) (d.severity == policy::Severity::error ? errors : warnings)++;
    if (json) {
        nlohmann::json out = {{"ok", errors == 0},
                              {"errors", nlohmann::json::array()},
                              {"warnings", nlohmann::json::array()}};
        for (const auto& d : diags.all())
            out[d.severity == policy::Severity::error ? "errors" : "warnings"].push_back(
                {{"file", d.loc.file},
                 {"line", d.loc.line},
                 {"column", d.loc.column},
                 {"message", d.message},
                 {"hint", d.hint}});
        if (p) {
            out["rules"] = p->rules.size();
            out["nodes"] = p->nodes.size();
            out["vips"] = p->vips.size();
            out["features"] = p->features.size();
        }
        std::cout << out.dump(2) << "\n";
        return errors ? kExitError : kExitOk;
    }
    for (const auto& d : diags.all()) std::cerr << d.str() << "\n";
    if (!p) {
        fmt::print(stderr, "{}: {} error(s), nothing compiled\n", a.policy, errors);
        return kExitError;
    }
    size_t enabled = 0;
    for (const auto& [n, f] : p->features) enabled += f.enabled;
    fmt::print(
        "{}: ok: {} rules, {} features ({} enabled), {} nodes, {} vips, {} summary rows; {} "
        "warning(s)\n",
        a.policy, p->rules.size(), p->features.size(), enabled, p->nodes.size(), p->vips.size(),
        p->summary.size(), warnings);
    return kExitOk;
}

namespace {

struct CheckArgs {
    PolicyArgs policy;
    bool json = false;
};

[[maybe_unused]] const bool registered = register_subcommand(10, [](CLI::App& app) {
    auto a = std::make_shared<CheckArgs>();
    auto* cmd = app.add_subcommand("check", "validate a policy; warn about shadowed or dead rules");
    add_policy(cmd, a->policy);
    cmd->add_flag("--json", a->json, "machine-readable result");
    return Subcommand{cmd, [a] { return cmd_check(a->policy, a->json); }};
});

}  // namespace

}  // namespace cli
