#include "lifecycle/lifecycle.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <map>
#include <sstream>
#include <thread>

#include "compile/compile.h"
#include "kernel/attach.h"
#include "kernel/dataplane.h"
#include "kernel/features.h"
#include "kernel/instance.h"
#include "lifecycle/selftest.h"
#include "model/model.h"

namespace lifecycle {

using nlohmann::json;

namespace {

struct Prepared {
    policy::Policy policy;
    image::MapImage img;
};

Prepared prepare(const LoadArgs& a) {
    policy::Diagnostics diags;
    auto p = policy::load(a.policy, a.site, diags, a.policy_options);
    if (!p) {
        std::string msg = "policy " + a.policy + " has errors, nothing changed:";
        for (const auto& d : diags.all())
            if (d.severity == policy::Severity::error) msg += "\n  " + d.str();
        throw Refused(msg);
    }
    Prepared out{*p, {}};
    try {
        out.img = compile::compile_node(out.policy, a.node);
    } catch (const compile::Error& e) {
        throw Refused(std::string("compile: ") + e.what() + "; nothing changed");
    }
    return out;
}

// Refuses a policy that would cut the operator's own SSH session.
void check_lockout(const Prepared& pr, const std::string& node, bool force) {
    const char* env = getenv("SSH_CONNECTION");
    if (!env || force) return;
    std::istringstream in(env);
    std::string client, cport, server, sport;
    if (!(in >> client >> cport >> server >> sport)) return;
    packet::SpecError err;
    auto pkt = packet::parse_spec(
        "tcp " + client + ":" + cport + " > " + server + ":" + sport + " flags A",
        packet::Dir::ingress, err);
    if (!pkt) return;  // IPv6 SSH_CONNECTION addresses come without brackets: retry bracketed
    for (uint32_t role : {EF_ROLE_EXTERNAL, EF_ROLE_INTERNAL}) {
        auto local = pr.policy.local_addresses(node, role);
        if (std::find(local.begin(), local.end(), pkt->dst) == local.end()) continue;
        model::Model m(pr.policy, node);
        if (m.run(role, *pkt).pass) return;
        throw Refused("this policy would drop your SSH session " + client + ":" + cport + " -> " +
                      server + ":" + sport + " on the " + policy::role_name(role) +
                      " NIC: no rule allows it. Add a site file management entry, e.g.\n"
                      "  management:\n    - {src: " +
                      client + "/32, proto: tcp, dport: " + sport +
                      "}\nor use --force if you have another way in. Nothing changed.");
    }
}

SelfTest run_self_test(const Prepared& pr, const std::string& node) {
    auto st = self_test(pr.policy, node, pr.img);
    if (st.mismatches.empty()) return st;
    std::string msg = "self-test failed: " + std::to_string(st.mismatches.size()) + " of " +
                      std::to_string(st.probes) +
                      " boundary packets disagree with the policy model; nothing attached:";
    for (size_t i = 0; i < st.mismatches.size() && i < 10; i++) msg += "\n  " + st.mismatches[i];
    throw Refused(msg);
}

// The TC egress hook: tcx links where the kernel has them (probed), else the
// netlink filter. Asking for tcx on a kernel without it is refused up front.
std::string choose_tc_hook(const std::string& wanted) {
    const auto& f = kernel::features();
    if (wanted == "netlink") return "netlink";
    if (f.tc_link) return "tcx";
    if (wanted == "tcx")
        throw Refused("--tc tcx: kernel " + f.kernel +
                      " has no TC bpf_link (tcx, Linux 6.6); use --tc netlink or auto");
    return "netlink";
}

kernel::XdpMode xdp_mode_of(const std::string& m) {
    if (m == "native") return kernel::XdpMode::native;
    if (m == "generic") return kernel::XdpMode::generic;
    return kernel::XdpMode::auto_;
}

// Milliseconds since a start, for the phase times reload records.
struct Phases {
    std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
    json ms = json::object();
    void mark(const char* phase) {
        auto now = std::chrono::steady_clock::now();
        ms[phase] = std::chrono::duration<double, std::milli>(now - last).count();
        last = now;
    }
};

uint32_t role_of(const std::string& r) {
    if (r == "external") return EF_ROLE_EXTERNAL;
    if (r == "internal") return EF_ROLE_INTERNAL;
    throw Refused("--iface role '" + r + "' is not external or internal");
}

std::string now_text() {
    time_t t = time(nullptr);
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    return buf;
}

json rules_json(const image::MapImage& img, const std::map<uint32_t, uint32_t>& slot_of) {
    json rules = json::array();
    for (const auto& r : img.rules) {
        json pl = json::array();
        for (auto [role, dir] : r.placements)
            pl.push_back({{"iface", policy::role_name(role)}, {"dir", policy::dir_name(dir)}});
        rules.push_back({{"id", r.id},
                         {"slot", slot_of.at(r.index)},
                         {"app", r.app},
                         {"feature", r.feature},
                         {"proto", r.proto},
                         {"placements", pl}});
    }
    return rules;
}

// Rewrites rule indices into counter slots (stable per rule id across reloads).
void remap(image::MapImage& img, const std::map<uint32_t, uint32_t>& slot_of) {
    for (auto& s : img.sports) s.rule_plus_one = slot_of.at(s.rule_plus_one - 1) + 1;
    auto direct = [&](uint32_t& v) {
        if (v & EF_DIRECT_RULE) v = EF_DIRECT_RULE | slot_of.at(v & ~EF_DIRECT_RULE);
    };
    for (auto& l : img.locals) direct(l.bucket);
    for (auto& r : img.remotes) direct(r.remote_class);
}

void zero_counter(int fd, uint32_t slot) {
    int n = libbpf_num_possible_cpus();
    std::vector<ef_counter> zero(static_cast<size_t>(n > 0 ? n : 1));
    bpf_map_update_elem(fd, &slot, zero.data(), BPF_ANY);
}

int open_pin(const std::string& dir, const char* name) {
    std::string path = dir + "/" + name;
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0)
        throw kernel::Error("kernel: open " + path + ": " + std::strerror(errno) +
                            " -- the instance is damaged: 'edgefw unload' and load again");
    return fd;
}

// A detached process that restores the previous state unless `edgefw confirm`
// runs in time; it does not depend on the operator's shell surviving.
void arm_confirm(const LoadArgs& a, uint64_t generation, const json& previous) {
    pid_t pid = fork();
    if (pid < 0)
        throw kernel::Error(std::string("kernel: fork confirm timer: ") + std::strerror(errno));
    if (pid > 0) return;
    setsid();
    if (fork() != 0) _exit(0);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
    }
    std::this_thread::sleep_for(std::chrono::seconds(a.confirm_secs));
    try {
        json meta = read_instance(a.instance);
        if (!meta["confirm"].value("pending", false) ||
            meta.value("generation", 0ull) != generation)
            _exit(0);
        if (previous.is_null()) {
            unload(a.instance);
        } else {
            LoadArgs back;
            back.policy = previous["policy"];
            back.site = previous["site"];
            back.policy_options.allow_wide_management = true;  // it was running
            back.node = previous["node"];
            back.instance = a.instance;
            back.force = true;
            reload(back);
        }
    } catch (...) {
    }
    _exit(0);
}

}  // namespace

json read_instance(const std::string& instance) {
    kernel::check_instance_name(instance);
    auto text = kernel::read_meta(kernel::instance_dir(instance));
    if (!text) throw Refused("instance '" + instance + "' is not loaded (see 'edgefw status')");
    return json::parse(*text);
}

void load(const LoadArgs& a) {
    kernel::check_instance_name(a.instance);
    std::string dir = kernel::instance_dir(a.instance);
    struct stat st {};
    if (stat(dir.c_str(), &st) == 0) {
        // A load or unload that died half-way leaves pins but no enforcing
        // instance: clear it rather than ask for manual cleanup.
        auto s = status(a.instance);
        if (!s.empty() && s[0].value("state", "") == "enforcing")
            throw Refused("instance '" + a.instance +
                          "' is already loaded: use 'edgefw reload' or 'edgefw unload --instance " +
                          a.instance + "'");
        unload(a.instance);
    }
    if (a.ifaces.empty()) throw Refused("load needs --iface ROLE=DEV for each protected NIC");
    Prepared pr = prepare(a);
    check_lockout(pr, a.node, a.force);
    auto probed = run_self_test(pr, a.node);

    struct Nic {
        uint32_t role;
        std::string dev;
        uint32_t ifindex;
    };
    std::vector<Nic> nics;
    {
        kernel::NetnsGuard ns(a.netns);
        for (const auto& i : a.ifaces) {
            uint32_t role = role_of(i.role);
            if (!pr.policy.nodes.at(a.node).interfaces.count(role))
                throw Refused("node '" + a.node + "' has no " + i.role +
                              " interface in the policy");
            nics.push_back({role, i.dev, kernel::ifindex_of(i.dev)});
        }
    }

    std::map<uint32_t, uint32_t> slot_of;
    for (const auto& r : pr.img.rules) slot_of[r.index] = r.index;
    image::MapImage img = pr.img;
    remap(img, slot_of);

    kernel::Options opts = kernel::Options::from_image(img);
    if (a.ct_size) opts.ct_size = a.ct_size;
    opts.log_per_sec_per_cpu = a.log_rate >= 0 ? static_cast<uint32_t>(a.log_rate) : 100;
    kernel::Dataplane dp(opts);
    dp.write_image(img);
    for (const auto& n : nics) dp.set_iface_role(n.ifindex, n.role);

    std::string tc_hook = choose_tc_hook(a.tc);
    kernel::make_instance_dir(dir);
    const auto& feat = kernel::features();
    json meta = {{"instance", a.instance},
                 {"node", a.node},
                 {"policy", a.policy},
                 {"site", a.site},
                 {"policy_name", img.policy_name},
                 {"policy_hash", img.policy_hash},
                 {"loaded_at", now_text()},
                 {"reloaded_at", nullptr},
                 {"generation", 1},
                 {"mode", a.mode},
                 {"tc", a.tc},
                 {"kernel", feat.kernel},
                 {"libbpf", feat.libbpf},
                 {"netns", a.netns},
                 {"ct_size", opts.ct_size},
                 {"egress", img.egress_mode[0] == EF_EGRESS_ENFORCE ? "enforce" : "track-only"},
                 {"rules", rules_json(pr.img, slot_of)},
                 {"ifaces", json::array()},
                 {"self_test", {{"probes", probed.probes}, {"of", probed.of}}},
                 {"confirm", {{"pending", a.confirm_secs > 0}}}};
    for (const auto& n : nics) {
        std::string role = policy::role_name(n.role);
        json iface = {{"role", role},         {"dev", n.dev},
                      {"ifindex", n.ifindex}, {"xdp_link", dir + "/link_xdp_" + role},
                      {"xdp_mode", a.mode},   {"tc_hook", tc_hook}};
        if (tc_hook == "tcx") iface["tc_link"] = dir + "/link_tc_" + role;
        meta["ifaces"].push_back(iface);
    }
    try {
        dp.pin(dir);
        // Written before attaching: a load that dies half-way leaves a
        // description that the next load or unload uses to clean up.
        kernel::write_meta(dir, meta.dump());
        kernel::NetnsGuard ns(a.netns);
        for (size_t k = 0; k < nics.size(); k++) {
            const auto& n = nics[k];
            json& iface = meta["ifaces"][k];
            if (tc_hook == "tcx")
                kernel::tc_link_attach(dp.prog_fd(packet::Dir::egress), n.ifindex, n.dev,
                                       iface["tc_link"]);
            else
                kernel::tc_attach(dp.prog_fd(packet::Dir::egress), n.ifindex, n.dev, false);
            auto got = kernel::xdp_attach(dp.prog_fd(packet::Dir::ingress), n.ifindex, n.dev,
                                          xdp_mode_of(a.mode), iface["xdp_link"]);
            iface["xdp_mode"] = kernel::xdp_mode_name(got);
        }
        kernel::write_meta(dir, meta.dump());
    } catch (...) {
        // Nothing half-applied: undo what this call attached and pinned
        // (unpinning the links detaches them).
        {
            kernel::NetnsGuard ns(a.netns);
            if (tc_hook == "netlink")
                for (const auto& n : nics) kernel::tc_detach(n.ifindex);
        }
        kernel::remove_instance_dir(dir);
        throw;
    }
    if (a.confirm_secs > 0) arm_confirm(a, 1, nullptr);
}

void reload(const LoadArgs& a_in) {
    json meta = read_instance(a_in.instance);
    LoadArgs a = a_in;
    if (a.node.empty()) a.node = meta["node"];
    if (a.node != meta["node"])
        throw Refused("instance '" + a.instance + "' enforces node " +
                      meta["node"].get<std::string>() + ", not " + a.node +
                      ": unload it to change node");
    std::string dir = kernel::instance_dir(a.instance);
    Phases phases;
    Prepared pr = prepare(a);
    check_lockout(pr, a.node, a.force);
    phases.mark("parse_compile");
    auto st = run_self_test(pr, a.node);
    phases.mark("self_test");

    // Counter slots stay with rule ids: kept rules keep their counts.
    std::map<std::string, uint32_t> old_slot;
    std::vector<bool> used(EF_MAX_RULES, false);
    for (const auto& r : meta["rules"]) {
        old_slot[r["id"]] = r["slot"];
        used[r["slot"].get<uint32_t>()] = true;
    }
    std::map<uint32_t, uint32_t> slot_of;
    std::vector<uint32_t> fresh;
    uint32_t next = 0;
    for (const auto& r : pr.img.rules) {
        if (auto it = old_slot.find(r.id); it != old_slot.end()) {
            slot_of[r.index] = it->second;
            continue;
        }
        while (next < EF_MAX_RULES && used[next]) next++;
        if (next >= EF_MAX_RULES) throw Refused("no free counter slot: unload and load again");
        used[next] = true;
        slot_of[r.index] = next;
        fresh.push_back(next);
    }
    image::MapImage img = pr.img;
    remap(img, slot_of);

    kernel::Options opts = kernel::Options::from_image(img);
    opts.ct_size = meta.value("ct_size", uint32_t{EF_CT_DEFAULT_SIZE});
    opts.log_per_sec_per_cpu =
        a.log_rate >= 0 ? static_cast<uint32_t>(a.log_rate) : meta.value("log_rate", 100u);
    meta["log_rate"] = opts.log_per_sec_per_cpu;
    std::vector<int> fds;
    opts.shared.ifaces = open_pin(dir, "ef_ifaces");
    opts.shared.rule_counters = open_pin(dir, "ef_rule_counters");
    opts.shared.reason_counters = open_pin(dir, "ef_reason_counters");
    opts.shared.ct = open_pin(dir, "ef_ct");
    // Conntrack maps an instance loaded by an earlier edgefw may not have:
    // absent, they are created (and pinned) with this object.
    auto open_pin_new = [&](const char* name) {
        int fd = bpf_obj_get((dir + "/" + name).c_str());
        return fd >= 0 || errno != ENOENT ? (fd >= 0 ? fd : open_pin(dir, name)) : -1;
    };
    opts.shared.ct_est = open_pin_new("ef_ct_est");
    opts.shared.ct_dgram = open_pin(dir, "ef_ct_dgram");
    opts.shared.ct_dgram_est = open_pin_new("ef_ct_dgram_est");
    opts.shared.ct_stats = open_pin_new("ef_ct_stats");
    opts.shared.frags = open_pin(dir, "ef_frags");
    opts.shared.log = open_pin(dir, "ef_log");
    opts.shared.log_counters = open_pin(dir, "ef_log_counters");
    kernel::Dataplane dp(opts);
    for (int fd :
         {opts.shared.ifaces, opts.shared.rule_counters, opts.shared.reason_counters,
          opts.shared.ct, opts.shared.ct_est, opts.shared.ct_dgram, opts.shared.ct_dgram_est,
          opts.shared.ct_stats, opts.shared.frags, opts.shared.log, opts.shared.log_counters})
        close(fd);
    dp.write_image(img);
    for (uint32_t slot : fresh) zero_counter(dp.shared_maps().rule_counters, slot);

    // Pins first: if this process dies during the swap, status sees attached
    // programs that differ from the pinned ones and says so; reload again
    // finishes the job.
    dp.pin(dir);
    phases.mark("programs_maps");
    // The swap: one link update per NIC and hook (XDP, tcx), or an in-place
    // filter replacement for netlink TC. Every packet sees either the old or
    // the new maps.
    {
        kernel::NetnsGuard ns(meta.value("netns", ""));
        for (const auto& i : meta["ifaces"]) {
            kernel::link_replace(i["xdp_link"], dp.prog_fd(packet::Dir::ingress));
            if (i.value("tc_hook", "netlink") == "tcx")
                kernel::link_replace(i["tc_link"], dp.prog_fd(packet::Dir::egress));
            else
                kernel::tc_attach(dp.prog_fd(packet::Dir::egress), i["ifindex"], i["dev"], true);
        }
    }
    phases.mark("swap");
    // Nothing evicts an established conntrack entry: the ones that expired
    // without their flow showing up again go now.
    dp.sweep_conntrack();
    phases.mark("ct_sweep");
    meta["self_test"] = {{"probes", st.probes}, {"of", st.of}};
    meta["reload_ms"] = phases.ms;
    json previous = {{"policy", meta["policy"]}, {"site", meta["site"]}, {"node", meta["node"]}};
    uint64_t generation = meta.value("generation", 1ull) + 1;
    meta["policy"] = a.policy;
    meta["site"] = a.site;
    meta["policy_name"] = img.policy_name;
    meta["policy_hash"] = img.policy_hash;
    meta["reloaded_at"] = now_text();
    meta["generation"] = generation;
    meta["egress"] = img.egress_mode[0] == EF_EGRESS_ENFORCE ? "enforce" : "track-only";
    meta["rules"] = rules_json(pr.img, slot_of);
    meta["confirm"] = {{"pending", a.confirm_secs > 0}};
    kernel::write_meta(dir, meta.dump());
    if (a.confirm_secs > 0) arm_confirm(a, generation, previous);
}

void confirm(const std::string& instance) {
    json meta = read_instance(instance);
    if (!meta["confirm"].value("pending", false))
        throw Refused("instance '" + instance + "' has nothing to confirm");
    meta["confirm"] = {{"pending", false}, {"confirmed_at", now_text()}};
    kernel::write_meta(kernel::instance_dir(instance), meta.dump());
}

void unload(const std::string& instance) {
    kernel::check_instance_name(instance);
    std::string dir = kernel::instance_dir(instance);
    auto text = kernel::read_meta(dir);
    struct stat st {};
    if (!text && stat(dir.c_str(), &st) != 0)
        throw Refused("instance '" + instance + "' is not loaded (see 'edgefw status')");
    if (text) {
        json meta = json::parse(*text);
        try {
            kernel::NetnsGuard ns(meta.value("netns", ""));
            for (const auto& i : meta["ifaces"])
                if (i.value("tc_hook", "netlink") == "netlink") kernel::tc_detach(i["ifindex"]);
        } catch (const kernel::Error&) {
            // The namespace is gone, and its NICs with it: nothing left to detach.
        }
    }
    // Unpinning the links detaches XDP and tcx: edgefw holds no other reference.
    kernel::remove_instance_dir(dir);
}

}  // namespace lifecycle
