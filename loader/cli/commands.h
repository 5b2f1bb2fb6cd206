// One function per subcommand; each returns the process exit status.
#pragma once

#include <string>

#include "cli/common.h"
#include "lifecycle/lifecycle.h"

namespace cli {

int cmd_check(const PolicyArgs& a, bool json);
int cmd_compile(const PolicyArgs& a, const std::string& node, bool json);

struct PacketArgs {
    PolicyArgs policy;
    std::string node;
    std::string iface;
    std::string packet;
    std::string packets;
    std::string pcap;  // --pcap FILE (cmd_pcap.cpp)
    std::string dir = "ingress";
    bool json = false;
};
int cmd_explain(const PacketArgs& a);
int cmd_test(const PacketArgs& a);
// --pcap: replay a capture through the model (explain) or the kernel (test).
int cmd_pcap(const PacketArgs& a, bool kernel_side);

// diff (cmd_diff.cpp): what NEW opens, closes and moves against OLD.
struct DiffArgs {
    std::string old_policy, new_policy, site, node, iface;
    std::string instance;  // --instance: also judge that loaded instance's tracked flows
    policy::LoadOptions options;
    bool json = false;
};
int cmd_diff(const DiffArgs& a);

// bundle, inventory (cmd_bundle.cpp): per-node bundles and an Ansible inventory.
int cmd_bundle(const PolicyArgs& a, const std::string& out);
int cmd_inventory(const PolicyArgs& a);

int cmd_load(const lifecycle::LoadArgs& a, bool reload);
int cmd_unload(const std::string& instance);
int cmd_log(const lifecycle::LogArgs& a);
int cmd_confirm(const std::string& instance);
int cmd_status(const std::string& instance, bool json);
int cmd_stats(const std::string& instance, bool json);

// monitor (cmd_monitor.cpp): stats --prometheus / --watch SECS, exporter.
int cmd_stats_prometheus(const std::string& instance);
int cmd_stats_watch(const std::string& instance, double secs);
int cmd_exporter(const std::string& listen, const std::string& instance);
// end monitor

}  // namespace cli
