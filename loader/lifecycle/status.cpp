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
#include "lifecycle/shadow.h"
#include "lifecycle/steps.h"

namespace lifecycle {

namespace {

uint32_t pinned_prog_id(const std::string& path) {
    kernel::Fd fd(bpf_obj_get(path.c_str()));
    if (!fd) return 0;
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    return bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0 ? info.id : 0;
}

}  // namespace

ef_counter sum_counter(int fd, uint32_t slot) {
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
Conntrack read_conntrack(const std::string& dir) {
    Conntrack out;
    const kernel::PinnedCtTables tables = kernel::open_ct_tables(dir);
    const auto& fds = tables.fds;
    kernel::Fd stats(bpf_obj_get((dir + "/ef_ct_stats").c_str()));
    auto per = kernel::read_ct_stats(stats.get(), fds);
    for (uint32_t t = 0; t < EF_CT_TABLES; t++) {
        if (fds[t] < 0) continue;
        const kernel::CtTableStats& c = per[t];
        out.tables[kernel::kCtTableNames[t]] = {c.entries, c.max, c.inserts,        c.removed,
                                                c.refused, c.rst, c.evicted_bound()};
        out.entries += c.entries;
        out.max += c.max;
    }
    return out;
}

namespace {

double mono_to_unix(uint64_t mono_ns) {
    timespec mono{}, real{};
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    double now_mono = static_cast<double>(mono.tv_sec) + mono.tv_nsec / 1e9;
    double now_real = static_cast<double>(real.tv_sec) + real.tv_nsec / 1e9;
    return now_real - (now_mono - static_cast<double>(mono_ns) / 1e9);
}

// Under libxdp's dispatcher: edgefw's program there (0 if none; *ifindex set
// when there is one) and every program the dispatcher runs, in order. Needs
// the NIC's namespace.
uint32_t dispatcher_fill(const kernel::InstanceDir& d, IfaceStatus& i, uint32_t* ifindex) {
    auto hook =
        kernel::xdp_hook(i.meta.ifindex, kernel::pinned_map_id(d.path() + "/ef_rule_counters"));
    DispatcherStatus disp;
    disp.id = hook.kind == kernel::XdpHook::Kind::dispatcher ? hook.id : 0;
    disp.mode = kernel::xdp_mode_name(hook.mode);
    uint32_t prog = 0;
    *ifindex = 0;
    for (const auto& p : hook.programs) {
        disp.programs.push_back({p.name, p.id, p.priority, p.chain_call, p.edgefw});
        if (p.edgefw) {
            prog = p.id;
            *ifindex = i.meta.ifindex;
        }
    }
    i.xdp_dispatcher = std::move(disp);
    return prog;
}

// What the kernel runs on one NIC. in_ns: false when the NIC's namespace is
// gone from /run/netns, so its netlink filter and libxdp's dispatcher cannot
// be seen from here.
IfaceStatus iface_status(const kernel::InstanceDir& d, const IfaceMeta& m, const Status& s,
                         bool in_ns) {
    IfaceStatus i;
    i.meta = m;
    uint32_t xdp_ifindex = 0, tc_ifindex = 0;
    if (!m.in_dispatcher())
        i.xdp_prog_id =
            kernel::link_prog_id(d.path() + "/" + pin_name(m.xdp_link.value_or("")), &xdp_ifindex);
    else if (in_ns)
        i.xdp_prog_id = dispatcher_fill(d, i, &xdp_ifindex);
    bool tc_known = in_ns;
    if (m.tc_hook == "tcx") {
        i.tc_prog_id =
            kernel::link_prog_id(d.path() + "/" + pin_name(m.tc_link.value_or("")), &tc_ifindex);
        tc_known = true;
    } else if (tc_known) {
        i.tc_prog_id = kernel::tc_prog_id(m.ifindex);
        tc_ifindex = m.ifindex;
    }
    i.xdp_attached = i.xdp_prog_id != 0 && xdp_ifindex == m.ifindex;
    if (m.in_dispatcher() && !in_ns) {
        // The dispatcher is only seen from inside the NIC's namespace.
        i.attached = false;
        i.attachment = "unknown";
        i.current = false;
        return i;
    }
    if (!tc_known && i.xdp_attached) {
        // XDP is; TC cannot be seen from here. "attached" stays a bool
        // (false: not known to be); "attachment" says which.
        i.attached = false;
        i.attachment = "unknown";
        i.current = i.xdp_prog_id == s.prog_xdp_id;
        return i;
    }
    i.attached = i.xdp_attached && i.tc_prog_id != 0 && tc_ifindex == m.ifindex;
    i.attachment = i.attached ? "attached" : "not attached";
    // Both directions must run the pinned (current) programs: anything
    // else is a reload that did not finish.
    i.current = i.xdp_prog_id == s.prog_xdp_id && i.tc_prog_id == s.prog_tc_id;
    return i;
}

// A confirm timer that could not even look at the instance leaves its error
// beside the instance's lock (root only: skipped otherwise).
std::optional<std::string> timer_error(const std::string& instance) {
    if (geteuid() != 0) return std::nullopt;
    try {
        kernel::Fd run = open_run_dir(instance, false);
        std::string err;
        if (!run || !read_run_file(run.get(), "timer.error", err) || err.empty())
            return std::nullopt;
        while (!err.empty() && err.back() == '\n') err.pop_back();
        return "confirm timer: " + err;
    } catch (const std::exception& e) {
        return std::string("confirm timer state unreadable: ") + e.what();
    }
}

Status one_status(const kernel::InstanceDir& d, const std::string& instance) {
    auto text = kernel::read_meta(d.path());
    if (!text) throw Refused("instance '" + instance + "' has pins but no description (ef_meta)");
    Status s;
    s.meta = parse_meta(*text);
    const InstanceMeta& meta = *s.meta;
    std::string dir = d.path();
    s.instance = meta.instance;
    s.rule_count = meta.rules.size();
    s.prog_xdp_id = pinned_prog_id(dir + "/prog_xdp");
    s.prog_tc_id = pinned_prog_id(dir + "/prog_tc");
    s.conntrack = read_conntrack(dir);
    // Links (XDP, tcx) answer from anywhere; a netlink TC filter only from
    // inside its namespace. A namespace that is gone from /run/netns (but
    // still held, so its NICs live on) leaves that unknown, not "not attached".
    std::unique_ptr<kernel::NetnsGuard> ns;
    try {
        ns = std::make_unique<kernel::NetnsGuard>(meta.netns);
    } catch (const kernel::Error& e) {
        s.error = e.what();
    }
    bool healthy = true, mixed = false, unknown = false;
    for (const auto& m : meta.ifaces) {
        const IfaceStatus& i = s.ifaces.emplace_back(iface_status(d, m, s, !s.error));
        if (i.attachment == "unknown") {
            unknown = true;
            continue;
        }
        healthy = healthy && i.attached;
        mixed = mixed || (i.attached && !i.current);
    }
    ns.reset();
    if (auto e = timer_error(instance)) s.meta->confirm.error = *e;
    s.features = kernel::features();
    try {
        s.shadow = read_shadow(d.path());
    } catch (const std::exception&) {
        // An unreadable candidate description: status shows none.
    }
    s.state = !healthy ? "degraded" : unknown ? "unknown" : mixed ? "mixed" : "enforcing";
    if (!healthy)
        s.hint =
            "not attached everywhere: 'edgefw unload' then load, or load again (it clears this)";
    else if (unknown)
        s.hint = "network namespace '" + meta.netns +
                 "' is not in /run/netns (deleted while something still holds it): XDP is "
                 "still attached there; the TC egress filter cannot be checked from here";
    else if (mixed)
        s.hint = "a reload did not finish: run 'edgefw reload' again";
    return s;
}

Status damaged(const std::string& instance, const std::string& error) {
    Status s;
    s.instance = instance;
    s.state = "damaged";
    s.error = error;
    return s;
}

}  // namespace

std::vector<Status> status(const std::string& instance) {
    std::vector<Status> out;
    std::vector<std::string> names =
        instance.empty() ? kernel::list_instances() : std::vector{instance};
    for (const auto& n : names) {
        std::optional<kernel::InstanceDir> d;
        try {
            d = kernel::InstanceDir::open(n);
        } catch (const kernel::Unreadable&) {
            throw;
        } catch (const std::exception& e) {
            out.push_back(damaged(n, e.what()));
            continue;
        }
        if (!d) continue;  // not loaded at all
        try {
            out.push_back(one_status(*d, n));
        } catch (const std::exception& e) {
            out.push_back(damaged(n, e.what()));
        }
    }
    return out;
}

Stats stats(const std::string& instance) {
    auto d = kernel::InstanceDir::open(instance);
    auto text = d ? kernel::read_meta(d->path()) : std::nullopt;
    if (!text) throw Refused("instance '" + instance + "' is not loaded (see 'edgefw status')");
    InstanceMeta meta = parse_meta(*text);
    std::string dir = d->path();
    Stats out{instance, meta.node, meta.policy_hash, {}, {}, {}};
    read_counters(dir, "", instance, meta.rules, out);
    out.conntrack = read_conntrack(dir);
    return out;
}

void read_counters(const std::string& dir, const std::string& prefix, const std::string& instance,
                   const std::vector<RuleMeta>& rules, Stats& out) {
    kernel::Fd rule_fd(bpf_obj_get((dir + "/" + prefix + "ef_rule_counters").c_str()));
    kernel::Fd reason_fd(bpf_obj_get((dir + "/" + prefix + "ef_reason_counters").c_str()));
    if (!rule_fd || !reason_fd)
        throw kernel::Error("kernel: counters of instance '" + instance + "' (" + prefix +
                            "ef_rule_counters) are not pinned -- 'edgefw unload' and load again");
    for (const auto& r : rules) {
        ef_counter c = sum_counter(rule_fd.get(), r.slot);
        // The kernel stamps CLOCK_MONOTONIC(_COARSE); shown as wall-clock seconds.
        out.rules.push_back({r, c.packets, c.bytes, c.last_ns ? mono_to_unix(c.last_ns) : 0.0});
    }
    for (uint32_t i = 0; i < EF_R_COUNT; i++) {
        ef_counter c = sum_counter(reason_fd.get(), i);
        out.reasons.push_back({image::reason_name(i), c.packets, c.bytes, image::reason_passes(i)});
    }
}

}  // namespace lifecycle
