// status and stats: read the pins and the kernel's link/program info.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <vector>

#include "image/reasons.h"
#include "kernel/attach.h"
#include "kernel/dataplane.h"
#include "kernel/features.h"
#include "kernel/instance.h"
#include "kernel/multiprog.h"
#include "lifecycle/lifecycle.h"
#include "lifecycle/lock.h"

namespace lifecycle {

using nlohmann::json;

namespace {

uint32_t pinned_prog_id(const std::string& path) {
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) return 0;
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    uint32_t id = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
    close(fd);
    return id;
}

struct PinnedMap {
    int fd = -1;
    uint32_t max_entries = 0;
    explicit PinnedMap(const std::string& path) {
        fd = bpf_obj_get(path.c_str());
        if (fd < 0) return;
        bpf_map_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) max_entries = info.max_entries;
    }
    ~PinnedMap() {
        if (fd >= 0) close(fd);
    }
};

ef_counter sum(int fd, uint32_t slot) {
    int n = libbpf_num_possible_cpus();
    std::vector<ef_counter> per(static_cast<size_t>(n > 0 ? n : 1));
    ef_counter s{};
    if (bpf_map_lookup_elem(fd, &slot, per.data())) return s;
    for (const auto& c : per) {
        s.packets += c.packets;
        s.bytes += c.bytes;
        s.last_ns = std::max(s.last_ns, c.last_ns);
    }
    return s;
}

// The conntrack tables (TCP and datagram, new and established): the sum, and
// each on its own with its counters (ef_ct_stats) so a flood shows which table
// is under pressure and what it evicted or refused.
void conntrack_fill(const std::string& dir, json& out) {
    size_t entries = 0, max = 0;
    std::array<int, EF_CT_TABLES> fds{};
    for (uint32_t t = 0; t < EF_CT_TABLES; t++)
        fds[t] = bpf_obj_get((dir + "/" + kernel::kCtTableNames[t]).c_str());
    PinnedMap stats(dir + "/ef_ct_stats");
    auto per = kernel::read_ct_stats(stats.fd, fds);
    for (uint32_t t = 0; t < EF_CT_TABLES; t++) {
        if (fds[t] < 0) continue;
        close(fds[t]);
        const kernel::CtTableStats& c = per[t];
        out["conntrack_tables"][kernel::kCtTableNames[t]] = {{"entries", c.entries},
                                                             {"max", c.max},
                                                             {"inserts", c.inserts},
                                                             {"removed", c.removed},
                                                             {"refused", c.refused},
                                                             {"rst", c.rst},
                                                             {"evicted_bound", c.evicted_bound()}};
        entries += c.entries;
        max += c.max;
    }
    out["conntrack_entries"] = entries;
    out["conntrack_max"] = max;
}

double mono_to_unix(uint64_t mono_ns) {
    timespec mono{}, real{};
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    double now_mono = static_cast<double>(mono.tv_sec) + mono.tv_nsec / 1e9;
    double now_real = static_cast<double>(real.tv_sec) + real.tv_nsec / 1e9;
    return now_real - (now_mono - static_cast<double>(mono_ns) / 1e9);
}

std::string pin_in(const kernel::InstanceDir& d, const json& path_in_meta) {
    std::string p = path_in_meta.get<std::string>();
    return d.path() + "/" + p.substr(p.rfind('/') + 1);
}

// Under libxdp's dispatcher: edgefw's program there (0 if none; ifindex set
// when there is one) and every program the dispatcher runs, in order. Needs
// the NIC's namespace.
uint32_t dispatcher_fill(const kernel::InstanceDir& d, json& i, uint32_t* ifindex) {
    auto hook =
        kernel::xdp_hook(i["ifindex"], kernel::pinned_map_id(d.path() + "/ef_rule_counters"));
    json chain = json::array();
    uint32_t prog = 0;
    *ifindex = 0;
    for (const auto& p : hook.programs) {
        chain.push_back({{"name", p.name},
                         {"id", p.id},
                         {"priority", p.priority},
                         {"chain_call", p.chain_call},
                         {"edgefw", p.edgefw}});
        if (p.edgefw) {
            prog = p.id;
            *ifindex = i["ifindex"];
        }
    }
    i["xdp_dispatcher"] = {{"id", hook.kind == kernel::XdpHook::Kind::dispatcher ? hook.id : 0},
                           {"mode", kernel::xdp_mode_name(hook.mode)},
                           {"programs", chain}};
    return prog;
}

json one_status(const kernel::InstanceDir& d, const std::string& instance) {
    auto text = kernel::read_meta(d.path());
    if (!text) throw Refused("instance '" + instance + "' has pins but no description (ef_meta)");
    json meta = json::parse(*text);
    std::string dir = d.path();
    json out = meta;
    out.erase("rules");
    out["rule_count"] = meta["rules"].size();
    out["prog_xdp_id"] = pinned_prog_id(dir + "/prog_xdp");
    out["prog_tc_id"] = pinned_prog_id(dir + "/prog_tc");
    conntrack_fill(dir, out);
    // Links (XDP, tcx) answer from anywhere; a netlink TC filter only from
    // inside its namespace. A namespace that is gone from /run/netns (but
    // still held, so its NICs live on) leaves that unknown, not "not attached".
    std::unique_ptr<kernel::NetnsGuard> ns;
    std::string ns_error;
    try {
        ns = std::make_unique<kernel::NetnsGuard>(meta.value("netns", ""));
    } catch (const kernel::Error& e) {
        ns_error = e.what();
    }
    bool healthy = true, mixed = false, unknown = false;
    for (auto& i : out["ifaces"]) {
        uint32_t xdp_ifindex = 0, tc_ifindex = 0;
        bool dispatcher = i.value("xdp_attach", "link") == "dispatcher";
        uint32_t xdp = 0;
        if (!dispatcher)
            xdp = kernel::link_prog_id(pin_in(d, i["xdp_link"]), &xdp_ifindex);
        else if (ns_error.empty())
            xdp = dispatcher_fill(d, i, &xdp_ifindex);
        uint32_t tc = 0;
        bool tc_known = true;
        if (i.value("tc_hook", "netlink") == "tcx") {
            tc = kernel::link_prog_id(pin_in(d, i["tc_link"]), &tc_ifindex);
        } else if (ns_error.empty()) {
            tc = kernel::tc_prog_id(i["ifindex"]);
            tc_ifindex = i["ifindex"];
        } else {
            tc_known = false;
        }
        i["xdp_prog_id"] = xdp;
        i["tc_prog_id"] = tc;
        bool xdp_on = xdp != 0 && xdp_ifindex == i["ifindex"];
        i["xdp_attached"] = xdp_on;
        if (dispatcher && !ns_error.empty()) {
            // The dispatcher is only seen from inside the NIC's namespace.
            i["attached"] = false;
            i["attachment"] = "unknown";
            i["current"] = false;
            unknown = true;
            continue;
        }
        if (!tc_known && xdp_on) {
            // XDP is; TC cannot be seen from here. "attached" stays a bool
            // (false: not known to be); "attachment" says which.
            i["attached"] = false;
            i["attachment"] = "unknown";
            i["current"] = xdp == out["prog_xdp_id"];
            unknown = true;
            continue;
        }
        i["attached"] = xdp_on && tc != 0 && tc_ifindex == i["ifindex"];
        i["attachment"] = i["attached"].get<bool>() ? "attached" : "not attached";
        // Both directions must run the pinned (current) programs: anything
        // else is a reload that did not finish.
        i["current"] = xdp == out["prog_xdp_id"] && tc == out["prog_tc_id"];
        healthy = healthy && i["attached"].get<bool>();
        mixed = mixed || (i["attached"].get<bool>() && !i["current"].get<bool>());
    }
    ns.reset();
    if (!ns_error.empty()) out["error"] = ns_error;
    // A confirm timer that could not even look at the instance leaves its
    // error beside the instance's lock (root only: skipped otherwise).
    if (geteuid() == 0) {
        try {
            kernel::Fd run = open_run_dir(instance, false);
            std::string err;
            if (run && read_run_file(run.get(), "timer.error", err) && !err.empty()) {
                while (!err.empty() && err.back() == '\n') err.pop_back();
                out["confirm"]["error"] = "confirm timer: " + err;
            }
        } catch (const std::exception& e) {
            out["confirm"]["error"] = std::string("confirm timer state unreadable: ") + e.what();
        }
    }
    // What this kernel offers now (the instance may have been loaded on another boot).
    const auto& f = kernel::features();
    out["features"] = {{"kernel", f.kernel},
                       {"libbpf", f.libbpf},
                       {"tc_link", f.tc_link},
                       {"btf_vmlinux", f.btf_vmlinux}};
    out["state"] = !healthy ? "degraded" : unknown ? "unknown" : mixed ? "mixed" : "enforcing";
    if (!healthy)
        out["hint"] =
            "not attached everywhere: 'edgefw unload' then load, or load again (it clears this)";
    else if (unknown)
        out["hint"] = "network namespace '" + meta.value("netns", "") +
                      "' is not in /run/netns (deleted while something still holds it): XDP is "
                      "still attached there; the TC egress filter cannot be checked from here";
    else if (mixed)
        out["hint"] = "a reload did not finish: run 'edgefw reload' again";
    return out;
}

}  // namespace

json status(const std::string& instance) {
    json out = json::array();
    std::vector<std::string> names =
        instance.empty() ? kernel::list_instances() : std::vector{instance};
    for (const auto& n : names) {
        std::optional<kernel::InstanceDir> d;
        try {
            d = kernel::InstanceDir::open(n);
        } catch (const kernel::Unreadable&) {
            throw;
        } catch (const std::exception& e) {
            out.push_back({{"instance", n}, {"state", "damaged"}, {"error", e.what()}});
            continue;
        }
        if (!d) continue;  // not loaded at all
        try {
            out.push_back(one_status(*d, n));
        } catch (const std::exception& e) {
            out.push_back({{"instance", n}, {"state", "damaged"}, {"error", e.what()}});
        }
    }
    return out;
}

json stats(const std::string& instance) {
    auto d = kernel::InstanceDir::open(instance);
    auto text = d ? kernel::read_meta(d->path()) : std::nullopt;
    if (!text) throw Refused("instance '" + instance + "' is not loaded (see 'edgefw status')");
    json meta = json::parse(*text);
    std::string dir = d->path();
    PinnedMap rules(dir + "/ef_rule_counters"), reasons(dir + "/ef_reason_counters");
    if (rules.fd < 0 || reasons.fd < 0)
        throw kernel::Error("kernel: counters of instance '" + instance +
                            "' are not pinned -- 'edgefw unload' and load again");
    json out = {{"instance", instance},
                {"node", meta["node"]},
                {"policy_hash", meta["policy_hash"]},
                {"rules", json::array()},
                {"reasons", json::array()}};
    for (const auto& r : meta["rules"]) {
        ef_counter c = sum(rules.fd, r["slot"]);
        json row = r;
        row["packets"] = c.packets;
        row["bytes"] = c.bytes;
        // The kernel stamps CLOCK_MONOTONIC(_COARSE); shown as wall-clock seconds.
        row["last_hit_unix"] = c.last_ns ? mono_to_unix(c.last_ns) : 0.0;
        out["rules"].push_back(row);
    }
    for (uint32_t i = 0; i < EF_R_COUNT; i++) {
        ef_counter c = sum(reasons.fd, i);
        out["reasons"].push_back({{"name", image::reason_name(i)},
                                  {"packets", c.packets},
                                  {"bytes", c.bytes},
                                  {"passes", image::reason_passes(i)}});
    }
    conntrack_fill(dir, out);
    return out;
}

}  // namespace lifecycle
