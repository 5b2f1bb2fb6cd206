// Reads what the monitor shows from the kernel: lifecycle::status/stats and the
// fill level of the pinned maps in /sys/fs/bpf/edgefw/<instance>/. Read only;
// never throws for an instance that is not (or no longer) loaded.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace monitor {

// edgefw's version, as reported in edgefw_build_info.
const char* version();

// {"ef_ct": {"entries": N, "max": M}, "ef_local": ..., "ef_remote": ..., "ef_sport": ...,
//  "ef_frags": ...}: keys counted with bpf_map_get_next_key, max from the map info.
// Maps that are not pinned are left out.
nlohmann::json map_fill(const std::string& instance);

// One instance as in the snapshot of monitor/prometheus.h: {"instance_name", "up",
// "status", "stats", "maps"}; status/stats null and up false when not loaded.
nlohmann::json sample_instance(const std::string& instance);

// {"version", "instances": [...]} for the named instances.
nlohmann::json snapshot(const std::vector<std::string>& instances);

}  // namespace monitor
