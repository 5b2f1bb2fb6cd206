// An instance's state as types: the description `load` and `reload` keep in
// ef_meta (InstanceMeta), what `status` reads from the kernel beside it
// (Status) and the counters `stats` sums (Stats). They become JSON only at
// the edges: the description stored in the kernel, the CLI's --json and the
// exporter. The JSON keys are the ones edgefw has always written, so a
// description stored by an earlier edgefw reads back (a key it lacks keeps
// the default below).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "edgefw_abi.h"
#include "kernel/features.h"

namespace lifecycle {

// JSON for structs with keys that may be absent: NLOHMANN_DEFINE_TYPE_*'s
// member list, but a std::optional member is written only when set, and any
// member is read only when its key is there (else it keeps its default).
namespace json_fields {
template <class T>
void put(nlohmann::json& j, const char* key, const T& v) {
    j[key] = v;
}
template <class T>
void put(nlohmann::json& j, const char* key, const std::optional<T>& v) {
    if (v) j[key] = *v;
}
template <class T>
void get(const nlohmann::json& j, const char* key, T& v) {
    auto it = j.find(key);
    if (it != j.end() && !it->is_null()) it->get_to(v);
}
template <class T>
void get(const nlohmann::json& j, const char* key, std::optional<T>& v) {
    auto it = j.find(key);
    if (it != j.end() && !it->is_null()) v = it->template get<T>();
}
}  // namespace json_fields

#define EF_JSON_PUT(m) ::lifecycle::json_fields::put(nlohmann_json_j, #m, nlohmann_json_t.m);
#define EF_JSON_GET(m) ::lifecycle::json_fields::get(nlohmann_json_j, #m, nlohmann_json_t.m);
#define EF_DEFINE_JSON_OPTIONAL(Type, ...)                                                \
    inline void to_json(nlohmann::json& nlohmann_json_j, const Type& nlohmann_json_t) {   \
        nlohmann_json_j = nlohmann::json::object();                                       \
        NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(EF_JSON_PUT, __VA_ARGS__))               \
    }                                                                                     \
    inline void from_json(const nlohmann::json& nlohmann_json_j, Type& nlohmann_json_t) { \
        NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(EF_JSON_GET, __VA_ARGS__))               \
    }

// A value written as null when unset (reloaded_at before the first reload).
template <class T>
struct OrNull : std::optional<T> {
    using std::optional<T>::optional;
    using std::optional<T>::operator=;
};
template <class T>
void to_json(nlohmann::json& j, const OrNull<T>& v) {
    j = v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}
template <class T>
void from_json(const nlohmann::json& j, OrNull<T>& v) {
    if (j.is_null())
        v.reset();
    else
        v = j.get<T>();
}

// ---- the description (ef_meta)

struct Placement {
    std::string iface;  // external | internal
    std::string dir;    // ingress | egress
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Placement, iface, dir)

struct RuleMeta {
    std::string id;
    uint32_t slot = 0;  // counter slot: stays with the id across reloads
    std::string app, feature, proto;
    std::vector<Placement> placements;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(RuleMeta, id, slot, app, feature, proto, placements)

struct IfaceMeta {
    std::string role, dev;
    uint32_t ifindex = 0;
    // Pin paths as shown (the directory's name, not the fd). No XDP link under
    // libxdp's dispatcher: libxdp's own pins hold edgefw's program there.
    std::optional<std::string> xdp_link;
    std::string xdp_mode;
    std::string tc_hook = "netlink";     // tcx | netlink
    std::optional<std::string> tc_link;  // tcx only
    // "dispatcher": XDP through libxdp's dispatcher at xdp_priority (absent: a link).
    std::optional<std::string> xdp_attach;
    std::optional<unsigned> xdp_priority;
    bool in_dispatcher() const { return xdp_attach.value_or("link") == "dispatcher"; }
};
EF_DEFINE_JSON_OPTIONAL(IfaceMeta, role, dev, ifindex, xdp_link, xdp_mode, tc_hook, tc_link,
                        xdp_attach, xdp_priority)

struct SelfTestMeta {
    size_t probes = 0, of = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SelfTestMeta, probes, of)

// What a confirm timer rolls back to.
struct ConfirmPrevious {
    uint64_t generation = 1;
    std::string policy, site, policy_hash;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ConfirmPrevious, generation, policy, site,
                                                policy_hash)

struct ConfirmMeta {
    bool pending = false;
    std::optional<std::string> timer_id;  // the timer acts only on the description naming it
    std::optional<int> seconds;
    std::optional<ConfirmPrevious> previous;  // absent: the rollback unloads
    std::optional<std::string> confirmed_at;
    std::optional<std::string> error;  // a rollback (or the timer itself) failed
};
EF_DEFINE_JSON_OPTIONAL(ConfirmMeta, pending, timer_id, seconds, previous, confirmed_at, error)

// The last reload's judgment of open flows: counts, or why there are none.
struct ReloadFlows {
    std::optional<size_t> kept, moved, closed;
    std::optional<std::string> skipped;  // --keep-flows
    std::optional<std::string> error;
};
EF_DEFINE_JSON_OPTIONAL(ReloadFlows, kept, moved, closed, skipped, error)

struct InstanceMeta {
    std::string instance, instance_id, node;
    std::string policy, site;  // absolute paths as loaded
    std::string policy_name, policy_hash;
    // sha256 of the policy and site files: the same on every node of a pool
    // (the per-node image hash is policy_hash).
    std::optional<std::string> policy_sha256;
    std::optional<nlohmann::json> bundle;  // --bundle: the checked bundle's summary
    std::string loaded_at;
    OrNull<std::string> reloaded_at;
    uint64_t generation = 1;
    std::string mode = "auto", tc = "auto";
    std::string kernel, libbpf;
    std::string netns;
    uint32_t ct_size = EF_CT_DEFAULT_SIZE;
    std::optional<std::string>
        ct_lru;  // the new tables' LRU lists: shared | per-cpu (absent: shared)
    std::optional<uint32_t> log_rate;  // written by reload; load's is 100 unless --log-rate
    std::string egress;                // enforce | track-only
    std::vector<RuleMeta> rules;
    std::vector<IfaceMeta> ifaces;
    SelfTestMeta self_test;
    std::optional<size_t> adopted_connections;  // established TCP given entries by load
    ConfirmMeta confirm;
    std::optional<std::map<std::string, double>> reload_ms;  // per phase
    std::optional<ReloadFlows> reload_flows;
};
EF_DEFINE_JSON_OPTIONAL(InstanceMeta, instance, instance_id, node, policy, site, policy_name,
                        policy_hash, policy_sha256, bundle, loaded_at, reloaded_at, generation,
                        mode, tc, kernel, libbpf, netns, ct_size, ct_lru, log_rate, egress, rules,
                        ifaces, self_test, adopted_connections, confirm, reload_ms, reload_flows)

// The candidate's description, pinned beside the instance's as shadow_meta.
struct ShadowMeta {
    std::string policy, site;  // absolute paths as given
    std::string policy_name, policy_hash;
    std::string policy_sha256;
    std::string started_at;
    uint64_t enforced_generation = 0;  // the instance's generation at start
    std::vector<RuleMeta> rules;       // slot = the candidate's rule index
    SelfTestMeta self_test;
    // Open flows at start: taken into the candidate's own conntrack under its
    // rule, or refused (the candidate would not have admitted them).
    size_t flows_taken = 0, flows_refused = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ShadowMeta, policy, site, policy_name, policy_hash,
                                                policy_sha256, started_at, enforced_generation,
                                                rules, self_test, flows_taken, flows_refused)

// Parses a stored description; throws nlohmann::json::exception when it is not one.
InstanceMeta parse_meta(const std::string& text);

// A pin path as the description shows it (/sys/fs/bpf/edgefw/NAME/link_xdp_external):
// its last component, to open under the checked directory (InstanceDir::path()).
inline std::string pin_name(const std::string& shown) { return shown.substr(shown.rfind('/') + 1); }

// ---- what status and stats read from the kernel

struct CtTable {
    size_t entries = 0, max = 0;
    uint64_t inserts = 0, removed = 0, refused = 0, rst = 0, evicted_bound = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CtTable, entries, max, inserts, removed, refused,
                                                rst, evicted_bound)

// The conntrack tables that are pinned, and their sums.
struct Conntrack {
    std::map<std::string, CtTable> tables;
    size_t entries = 0, max = 0;
};

// A program libxdp's dispatcher runs on a NIC, in run order.
struct DispatchedProgram {
    std::string name;
    uint32_t id = 0, priority = 0;
    std::vector<std::string> chain_call;  // the actions that go on to the next program
    bool edgefw = false;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DispatchedProgram, name, id, priority, chain_call,
                                                edgefw)

struct DispatcherStatus {
    uint32_t id = 0;  // 0: the NIC runs no dispatcher
    std::string mode;
    std::vector<DispatchedProgram> programs;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DispatcherStatus, id, mode, programs)

// One NIC: its description and what the kernel runs there now.
struct IfaceStatus {
    IfaceMeta meta;
    std::optional<DispatcherStatus> xdp_dispatcher;  // under libxdp's dispatcher, when seen
    uint32_t xdp_prog_id = 0, tc_prog_id = 0;
    bool xdp_attached = false;
    bool attached = false;                // false also when not known (see attachment)
    std::string attachment = "attached";  // attached | not attached | unknown
    bool current = false;                 // runs the pinned programs
};

struct Status {
    std::string instance;
    std::string state;  // enforcing | degraded | mixed | unknown | damaged
    std::optional<std::string> error, hint;
    // Absent when damaged: then only instance, state and error say anything.
    std::optional<InstanceMeta> meta;
    std::vector<IfaceStatus> ifaces;
    size_t rule_count = 0;
    uint32_t prog_xdp_id = 0, prog_tc_id = 0;
    Conntrack conntrack;
    kernel::Features features;         // what this kernel offers now
    std::optional<ShadowMeta> shadow;  // a candidate judged beside the policy (shadow.h)
};

struct RuleStats {
    RuleMeta rule;
    uint64_t packets = 0, bytes = 0;
    double last_hit_unix = 0;  // 0: never
};

struct ReasonStats {
    std::string name;
    uint64_t packets = 0, bytes = 0;
    bool passes = false;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ReasonStats, name, packets, bytes, passes)

struct Stats {
    std::string instance, node, policy_hash;
    std::vector<RuleStats> rules;
    std::vector<ReasonStats> reasons;
    Conntrack conntrack;
};

// Flat JSON, as status --json, stats --json and the exporter have always shown it.
void to_json(nlohmann::json& j, const IfaceStatus& s);
void to_json(nlohmann::json& j, const Status& s);
void to_json(nlohmann::json& j, const RuleStats& s);
void to_json(nlohmann::json& j, const Stats& s);

}  // namespace lifecycle

namespace kernel {
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Features, kernel, libbpf, tc_link, btf_vmlinux)
}  // namespace kernel
