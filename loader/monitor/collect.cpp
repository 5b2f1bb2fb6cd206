#include "monitor/collect.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <vector>

#include "kernel/dataplane.h"
#include "kernel/instance.h"
#include "lifecycle/lifecycle.h"
#include "lifecycle/shadow.h"

#ifndef EDGEFW_VERSION
#define EDGEFW_VERSION "0.1.0"
#endif

namespace monitor {

using nlohmann::json;

const char* version() { return EDGEFW_VERSION; }

namespace {

constexpr const char* kFillMaps[] = {"ef_ct",    "ef_ct_est", "ef_ct_dgram", "ef_ct_dgram_est",
                                     "ef_local", "ef_remote", "ef_sport",    "ef_frags"};

}  // namespace

json map_fill(const std::string& instance) {
    json out = json::object();
    const std::string dir = kernel::instance_dir(instance);
    for (const char* name : kFillMaps) {
        kernel::Fd fd(bpf_obj_get((dir + "/" + name).c_str()));
        if (fd.get() < 0) continue;
        bpf_map_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0 || info.key_size == 0) continue;
        size_t n = kernel::count_map_entries(fd.get());
        out[name] = {{"entries", n}, {"max", info.max_entries}};
    }
    return out;
}

json sample_instance(const std::string& instance) {
    json out = {{"instance_name", instance},
                {"up", false},
                {"status", nullptr},
                {"stats", nullptr},
                {"maps", json::object()}};
    try {
        auto st = lifecycle::status(instance);
        if (!st.empty() && st[0].meta) {
            out["status"] = st[0];
            out["up"] = st[0].state == "enforcing";
        }
    } catch (const std::exception&) {
    }
    if (out["status"].is_null()) return out;
    try {
        out["stats"] = lifecycle::stats(instance);
    } catch (const std::exception&) {
        out["up"] = false;
    }
    try {
        out["maps"] = map_fill(instance);
    } catch (const std::exception&) {
    }
    try {
        out["shadow"] = lifecycle::shadow_stats(instance);
    } catch (const std::exception&) {
        // No candidate (lifecycle::Refused), or one that cannot be read: no
        // shadow series this scrape.
    }
    return out;
}

json snapshot(const std::vector<std::string>& instances) {
    json out = {{"version", version()}, {"instances", json::array()}};
    for (const auto& i : instances) out["instances"].push_back(sample_instance(i));
    return out;
}

}  // namespace monitor
