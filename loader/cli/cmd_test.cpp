#include <iostream>

#include "cli/commands.h"
#include "compile/compile.h"
#include "kernel/dataplane.h"

namespace cli {

int cmd_test(const PacketArgs& a) {
    auto p = load_policy(a.policy);
    if (!p) return kExitError;
    auto role = parse_role(a.iface);
    if (!role) return kExitUsage;
    auto specs = read_specs(a.packet, a.packets,
                            a.dir == "egress" ? packet::Dir::egress : packet::Dir::ingress);
    if (!specs) return kExitError;
    try {
        image::MapImage img = compile::compile_node(*p, a.node);
        kernel::Options opts = kernel::Options::from_image(img);
        opts.record_last = true;
        kernel::Dataplane dp(opts);
        dp.write_image(img);
        dp.set_iface_role(kernel::Dataplane::kTestRunIfindex, *role);
        for (const auto& s : *specs) {
            auto frame = packet::build_frame(s.pkt);
            auto r = dp.run(s.pkt.dir, frame);
            if (!r.counted) {
                std::cerr << "edgefw: test: no counter moved for '" << s.text
                          << "': the program and the loader disagree on the ABI; rebuild both\n";
                return kExitError;
            }
            print_verdict(*p, *role, s, VerdictLine{r.pass, r.kind == EF_LAST_RULE, r.index},
                          a.json);
        }
    } catch (const compile::Error& e) {
        std::cerr << "edgefw: compile: " << e.what() << "\n";
        return kExitError;
    } catch (const kernel::Error& e) {
        std::cerr << "edgefw: " << e.what() << "\n";
        return kExitError;
    }
    return kExitOk;
}

}  // namespace cli
