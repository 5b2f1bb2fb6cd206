#include <fmt/core.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/registry.h"
#include "compile/compile.h"
#include "image/print.h"

namespace cli {

int cmd_compile(const PolicyArgs& a, const std::string& node, bool json) {
    auto p = load_policy(a);
    if (!p) return kExitError;
    compile::Report report;
    image::MapImage img;
    try {
        img = compile::compile_node(*p, node, &report);
    } catch (const compile::Error& e) {
        std::cerr << "edgefw: compile: " << e.what() << "\n";
        return kExitError;
    }
    if (json) {
        auto j = image::to_json(img);
        for (const auto& [feature, ids] : report.disabled) j["disabled_features"][feature] = ids;
        j["not_on_node"] = report.not_on_node;
        std::cout << j.dump(2) << "\n";
        return kExitOk;
    }
    std::cout << image::to_text(img);
    for (const auto& [feature, ids] : report.disabled) {
        std::string list;
        for (const auto& id : ids) list += " " + id;
        fmt::print("\nfeature {} disabled: removed{}\n", feature, list);
    }
    fmt::print("\n{} enabled rule(s) do not apply to node {}\n", report.not_on_node.size(), node);
    return kExitOk;
}

namespace {

struct CompileArgs {
    PolicyArgs policy;
    std::string node;
    bool json = false;
};

[[maybe_unused]] const bool registered = register_subcommand(20, [](CLI::App& app) {
    auto a = std::make_shared<CompileArgs>();
    auto* cmd = app.add_subcommand("compile", "show the map image for one node");
    add_policy(cmd, a->policy);
    cmd->add_option("--node", a->node, "node to compile for")->required();
    cmd->add_flag("--json", a->json, "JSON map image");
    return Subcommand{cmd, [a] { return cmd_compile(a->policy, a->node, a->json); }};
});

}  // namespace

}  // namespace cli
