// Prometheus text exposition (format 0.0.4) of edgefw's counters: a pure
// function from a snapshot (see monitor/collect.h) to text, so it is unit-tested
// without a kernel.
//
// Snapshot: {"version": "...",
//            "instances": [{"instance_name": "...", "up": bool,
//                           "status": <one lifecycle::status() entry> | null,
//                           "stats":  <lifecycle::stats()> | null,
//                           "maps":   {"ef_ct": {"entries": N, "max": M}, ...},
//                           "shadow": <lifecycle::shadow_stats()>, when a candidate is loaded}]}
//
// Series (every one carries instance_name; all but edgefw_up/build_info carry node):
//   edgefw_build_info{version} 1
//   edgefw_up{instance_name}                        1 loaded and enforcing, else 0
//   edgefw_policy_info{hash,policy,generation} 1
//   edgefw_rule_packets_total / edgefw_rule_bytes_total{rule,app,feature,proto,iface,dir}
//   edgefw_rule_last_hit_timestamp_seconds{...same}  when stats carry last_hit_unix (0 = never)
//   edgefw_drops_total{reason} / edgefw_passes_total{reason}   packets per reason
//   edgefw_conntrack_entries / edgefw_conntrack_entries_max
//   edgefw_map_entries{map} / edgefw_map_entries_max{map}
//   edgefw_shadow_info{hash,policy,since} 1                    a candidate is loaded
//   edgefw_shadow_rule_packets_total / edgefw_shadow_rule_bytes_total{rule}   its rules
//   edgefw_shadow_disagreements_total{kind,rule}   packets: would_drop (by enforced rule or
//                                                  reason), would_pass (by candidate's)
//
// One series per rule (its counter slot), not per placement: a rule placed on
// several NICs has one counter. iface and dir then list the placements in the
// same order, comma-separated ("external,internal" / "ingress,egress").
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace monitor {

// Label value escaping: backslash, double quote and line feed.
std::string escape_label_value(std::string_view v);
// HELP text escaping: backslash and line feed.
std::string escape_help(std::string_view v);

// Which families: every one, or only the shadow candidate's (`shadow stats --prometheus`).
enum class Sections { all, shadow };
std::string to_prometheus(const nlohmann::json& snapshot, Sections sections = Sections::all);

// Content-Type of to_prometheus's text.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace monitor
