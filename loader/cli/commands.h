// One function per subcommand; each returns the process exit status.
#pragma once

#include <string>

#include "cli/common.h"

namespace cli {

int cmd_check(const PolicyArgs& a, bool json);
int cmd_compile(const PolicyArgs& a, const std::string& node, bool json);

struct PacketArgs {
    PolicyArgs policy;
    std::string node;
    std::string iface;
    std::string packet;
    std::string packets;
    std::string dir = "ingress";
    bool json = false;
};
int cmd_explain(const PacketArgs& a);
int cmd_test(const PacketArgs& a);

}  // namespace cli
