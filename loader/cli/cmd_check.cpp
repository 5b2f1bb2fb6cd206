#include <fmt/core.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
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

}  // namespace cli
