#include "cli/common.h"

#include <fmt/core.h>

#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "compile/compile.h"
#include "image/reasons.h"
#include "kernel/dataplane.h"
#include "util/input_file.h"

namespace cli {

std::optional<policy::Policy> load_policy(const PolicyArgs& a, bool json_errors) {
    policy::Diagnostics diags;
    auto p = policy::load(a.policy, a.site, diags, a.options);
    if (!json_errors)
        for (const auto& d : diags.all())
            if (d.severity == policy::Severity::error) std::cerr << "edgefw: " << d.str() << "\n";
    return p;
}

std::optional<uint32_t> parse_role(const std::string& s) {
    if (auto r = policy::role_of(s)) return r;
    std::cerr << "edgefw: --iface '" << s << "' is not a role: use external or internal\n";
    return std::nullopt;
}

std::optional<PacketTarget> packet_target(const PacketArgs& a, int& exit_code) {
    exit_code = kExitError;
    auto p = load_policy(a.policy);
    if (!p) return std::nullopt;
    if (!p->nodes.count(a.node)) {
        std::cerr << "edgefw: node '" << a.node << "' is not in " << a.policy.policy << "\n";
        return std::nullopt;
    }
    auto role = parse_role(a.iface);
    if (!role) {
        exit_code = kExitUsage;
        return std::nullopt;
    }
    return PacketTarget{std::move(*p), *role};
}

std::optional<PacketJob> packet_job(const PacketArgs& a, int& exit_code) {
    auto t = packet_target(a, exit_code);
    if (!t) return std::nullopt;
    auto specs = read_specs(a.packet, a.packets,
                            a.dir == "egress" ? packet::Dir::egress : packet::Dir::ingress);
    if (!specs) {
        exit_code = kExitError;
        return std::nullopt;
    }
    return PacketJob{std::move(*t), std::move(*specs)};
}

int with_kernel_errors(const std::function<int()>& f) {
    try {
        return f();
    } catch (const compile::Error& e) {
        std::cerr << "edgefw: compile: " << e.what() << "\n";
    } catch (const kernel::Error& e) {
        std::cerr << "edgefw: " << e.what() << "\n";
    }
    return kExitError;
}

std::unique_ptr<kernel::Dataplane> test_dataplane(const policy::Policy& p, const std::string& node,
                                                  uint32_t role) {
    image::MapImage img = compile::compile_node(p, node);
    kernel::Options opts = kernel::Options::from_image(img);
    opts.record_last = true;
    auto dp = std::make_unique<kernel::Dataplane>(opts);
    dp->write_image(img);
    dp->set_iface_role(kernel::Dataplane::kTestRunIfindex, role);
    return dp;
}

VerdictLine test_verdict(kernel::Dataplane& dp, packet::Dir dir, std::span<const uint8_t> frame,
                         const std::string& what) {
    auto r = dp.run(dir, frame);
    if (!r.counted)
        throw kernel::Error("test: no counter moved for " + what +
                            ": the program and the loader disagree on the ABI; rebuild both");
    return VerdictLine{r.pass, r.kind == EF_LAST_RULE, r.index};
}

std::optional<std::vector<SpecLine>> read_specs(const std::string& spec, const std::string& file,
                                                packet::Dir default_dir) {
    std::vector<SpecLine> out;
    bool ok = true;
    auto add = [&](const std::string& text, const std::string& where, int line) {
        packet::SpecError err;
        auto p = packet::parse_spec(text, default_dir, err);
        if (!p) {
            std::cerr << "edgefw: " << where << (line ? ":" + std::to_string(line) : "")
                      << ": bad packet spec: " << err.message << "\n";
            ok = false;
            return;
        }
        out.push_back({*p, text, line});
    };
    if (!spec.empty()) add(spec, "--packet", 0);
    if (!file.empty()) {
        std::string err;
        auto text = util::read_input(file, "packets file", util::kMaxInputBytes, err);
        if (!text) {
            std::cerr << "edgefw: " << err << "\n";
            return std::nullopt;
        }
        std::istringstream in(*text);
        std::string line;
        for (int n = 1; std::getline(in, line); n++) {
            auto hash = line.find('#');
            if (hash != std::string::npos) line.resize(hash);
            if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
            add(line, file, n);
        }
    }
    if (!ok) return std::nullopt;
    return out;
}

std::string verdict_name(const policy::Policy& p, const VerdictLine& v) {
    if (!v.by_rule) return image::reason_name(v.index);
    return v.index < p.rules.size() ? p.rules[v.index].id : "rule#" + std::to_string(v.index);
}

void print_verdict(const policy::Policy& p, uint32_t role, const SpecLine& s, const VerdictLine& v,
                   bool json) {
    std::string name = verdict_name(p, v);
    std::string spec = packet::to_spec(s.pkt);
    const char* dir = s.pkt.dir == packet::Dir::ingress ? "ingress" : "egress";
    if (json) {
        nlohmann::json j = {{"verdict", v.pass ? "pass" : "drop"},
                            {"rule", name},
                            {"kind", v.by_rule ? "rule" : "reason"},
                            {"iface", policy::role_name(role)},
                            {"dir", dir},
                            {"packet", spec}};
        if (v.by_rule && v.index < p.rules.size()) {
            j["app"] = p.rules[v.index].app;
            j["note"] = p.rules[v.index].note;
        }
        std::cout << j.dump() << "\n";
        return;
    }
    std::string detail;
    if (v.by_rule && v.index < p.rules.size()) detail = " (" + p.rules[v.index].app + ")";
    fmt::print("{:<4} {:<34} {} {:<8} {}\n", v.pass ? "pass" : "drop", name + detail,
               policy::role_name(role), dir, spec);
}

}  // namespace cli
