// The steps of load and reload that `edgefw shadow` takes too: reading a
// policy once, compiling it for a node, the self-test, the loaded instance.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "image/map_image.h"
#include "kernel/instance.h"
#include "lifecycle/lifecycle.h"
#include "lifecycle/selftest.h"
#include "policy/policy.h"

namespace lifecycle {

struct Prepared {
    policy::Policy policy;
    image::MapImage img;
};

// The policy and site file as read once: their bytes are what is parsed,
// what is kept for the confirm rollback, and what `edgefw log` reads back.
struct Inputs {
    std::string policy_name, policy_path, policy_text;  // name as given, absolute path, bytes
    std::string site_name, site_path, site_text;
    policy::LoadOptions options;  // --allow-wide-management
    nlohmann::json bundle;        // --bundle: the checked bundle's summary; null otherwise
};

// a.policy and a.site, or a.bundle (checked); Refused when unreadable.
Inputs read_inputs(const LoadArgs& a);
// Parsed and compiled for node; Refused with every error.
Prepared prepare(const Inputs& in, const std::string& node);
// Refused when a probe disagrees with the model.
SelfTest run_self_test(const Prepared& pr, const std::string& node);
// The instance and its description; Refused when it is not loaded.
std::pair<kernel::InstanceDir, InstanceMeta> open_loaded(const std::string& instance);
// The image's rules as the description lists them, slot_of: rule index -> counter slot.
std::vector<RuleMeta> rules_meta(const image::MapImage& img,
                                 const std::map<uint32_t, uint32_t>& slot_of);
std::string now_text();  // UTC, ISO 8601
// A per-CPU ef_counter summed over CPUs (zero when it cannot be read).
ef_counter sum_counter(int map_fd, uint32_t slot);
// The rule and reason counters pinned as dir/<prefix>ef_rule_counters and
// dir/<prefix>ef_reason_counters, appended to out.rules and out.reasons.
void read_counters(const std::string& dir, const std::string& prefix, const std::string& instance,
                   const std::vector<RuleMeta>& rules, Stats& out);
// What the drop log and the shadow log print alike for an event: the
// protocol's name (tcp, udp, icmp, icmp6, else ip), an address, the NIC's
// name (else "ifindex N"), the seconds to add to a CLOCK_MONOTONIC stamp for
// wall-clock time, and that time as local HH:MM:SS.
const char* event_proto(uint8_t proto);
std::string event_addr(const uint8_t addr[16]);
std::string event_iface(const InstanceMeta& meta, uint32_t ifindex);
double mono_to_wall();
std::string event_clock(double unix_secs);

// Calls on_record for each record of the ring buffer pinned at path: what is
// queued, or (follow) as records arrive, until SIGINT or SIGTERM.
void read_ring(const std::string& path, int (*on_record)(void*, void*, size_t), void* ctx,
               bool follow);
// reload, for a caller that holds the instance's lock and has read the inputs.
void reload_inputs_locked(const LoadArgs& a, const Inputs& in);

}  // namespace lifecycle
