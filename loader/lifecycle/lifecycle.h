// What an operator runs on a host: load, reload (hitless), unload, status,
// confirm. Every step reads the kernel's state (pins, links, ef_meta).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lifecycle/meta.h"
#include "policy/policy.h"

namespace lifecycle {

struct IfaceArg {
    std::string role;  // external | internal (policy::role_of; checked by load)
    std::string dev;
};
// --iface ROLE=DEV, e.g. external=eth0; nullopt without the '='.
std::optional<IfaceArg> parse_iface(const std::string& spec);

struct LoadArgs {
    std::string policy;
    std::string site;
    std::string bundle;  // --bundle DIR/NODE instead of policy and site (loader/bundle)
    policy::LoadOptions policy_options;  // --allow-wide-management
    std::string node;
    std::vector<IfaceArg> ifaces;  // load only; reload keeps the instance's
    std::string mode = "auto";     // XDP: auto (native, else generic) | native | generic
    std::string tc = "auto";       // TC egress: auto (tcx when the kernel has it) | tcx | netlink
    // XDP through libxdp's multi-program dispatcher: asked for, or taken on a
    // NIC whose XDP program is a libxdp dispatcher already. Priority: the run
    // priority there (-1: libxdp's default, 50; given, it implies multiprog).
    bool xdp_multiprog = false;
    int xdp_priority = -1;
    std::string instance = "default";
    std::string netns;
    uint32_t ct_size = 0;  // 0: default
    // load: the new conntrack tables' LRU lists, "shared" (one per table) or
    // "per-cpu" (kernel::Options::ct_lru_per_cpu). Reload keeps the instance's.
    std::string ct_lru = "shared";
    int log_rate = -1;  // drop log events per second and CPU; -1: keep (reload) or 100 (load)
    int confirm_secs = 0;
    bool force = false;
    bool keep_flows = false;  // reload: open flows keep their rule (no judgment by the new policy)
    bool verbose = false;
};

// Each returns normally on success and throws kernel::Error (or
// lifecycle::Refused) with a message saying what, where and how to fix.
struct Refused : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void load(const LoadArgs& a);
void reload(const LoadArgs& a);
void unload(const std::string& instance);
void confirm(const std::string& instance);

std::vector<Status> status(const std::string& instance);  // all instances when empty
Stats stats(const std::string& instance);

// The drop log: prints events as they arrive (follow) or what is queued.
struct LogArgs {
    std::string instance = "default";
    bool json = false;
    bool follow = false;
};
void print_log(const LogArgs& a);

// What reloading a loaded instance with a.policy and a.site (or a.bundle)
// would do to its tracked flows, judged as reload judges them, without
// changing anything (`diff --instance`). a.instance names the instance; its
// node is used (a.node, when given, must be the same).
struct FlowsPreview {
    std::string instance, node;
    uint64_t generation = 0;  // of the policy the flows were judged against
    size_t open = 0, kept = 0, moved = 0, cut = 0;
};
FlowsPreview preview_flows(const LoadArgs& a);

// The instance's description as stored in ef_meta; throws when not loaded.
InstanceMeta read_instance(const std::string& instance);

}  // namespace lifecycle
