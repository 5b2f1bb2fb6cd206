// bundle and inventory: the fleet's deployment artifacts (loader/bundle/).
#include <fmt/core.h>

#include <iostream>

#include "bundle/bundle.h"
#include "cli/commands.h"

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

}  // namespace cli
