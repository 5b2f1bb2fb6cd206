#include <iostream>

#include "cli/commands.h"
#include "model/model.h"

namespace cli {

int cmd_explain(const PacketArgs& a) {
    auto p = load_policy(a.policy);
    if (!p) return kExitError;
    if (!p->nodes.count(a.node)) {
        std::cerr << "edgefw: node '" << a.node << "' is not in " << a.policy.policy << "\n";
        return kExitError;
    }
    auto role = parse_role(a.iface);
    if (!role) return kExitUsage;
    auto specs = read_specs(a.packet, a.packets,
                            a.dir == "egress" ? packet::Dir::egress : packet::Dir::ingress);
    if (!specs) return kExitError;
    model::Model m(*p, a.node);
    for (const auto& s : *specs) {
        auto v = m.run(*role, s.pkt);
        print_verdict(*p, *role, s, VerdictLine{v.pass, v.by_rule, v.index}, a.json);
    }
    return kExitOk;
}

}  // namespace cli
