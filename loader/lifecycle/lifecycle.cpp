#include "lifecycle/lifecycle.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include "bundle/bundle.h"
#include "compile/compile.h"
#include "kernel/adopt.h"
#include "kernel/attach.h"
#include "kernel/dataplane.h"
#include "kernel/features.h"
#include "kernel/instance.h"
#include "kernel/multiprog.h"
#include "lifecycle/lock.h"
#include "lifecycle/selftest.h"
#include "lifecycle/steps.h"
#include "model/model.h"
#include "util/input_file.h"

namespace lifecycle {

using nlohmann::json;

namespace {

std::string absolute(const std::string& p) {
    if (p.empty() || p[0] == '/') return p;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return p;
    return std::string(cwd) + "/" + (p.rfind("./", 0) == 0 ? p.substr(2) : p);
}

std::string read_input(const std::string& path, const char* what) {
    std::string err;
    auto text = util::read_input(path, what, util::kMaxInputBytes, err);
    if (!text) throw Refused(err + "; nothing changed");
    return *text;
}

}  // namespace

Inputs read_inputs(const LoadArgs& a) {
    Inputs in;
    in.options = a.policy_options;
    if (!a.bundle.empty()) {
        try {
            auto b = bundle::open(a.bundle, a.node, a.policy_options);
            in.policy_name = in.policy_path = b.policy_path;
            in.policy_text = b.policy_text;
            in.site_name = in.site_path = b.site_path;
            in.site_text = b.site_text;
            in.bundle = b.summary();
        } catch (const bundle::Error& e) {
            throw Refused(e.what());
        }
        return in;
    }
    in.policy_name = a.policy;
    in.policy_path = absolute(a.policy);
    in.policy_text = read_input(a.policy, "policy");
    if (!a.site.empty()) {
        in.site_name = a.site;
        in.site_path = absolute(a.site);
        in.site_text = read_input(a.site, "site file");
    }
    return in;
}

Prepared prepare(const Inputs& in, const std::string& node) {
    policy::Diagnostics diags;
    auto p = policy::load_text(in.policy_text, in.policy_name, in.site_text, in.site_name, diags,
                               in.options);
    if (!p) {
        std::string msg = "policy " + in.policy_name + " has errors, nothing changed:";
        for (const auto& d : diags.all())
            if (d.severity == policy::Severity::error) msg += "\n  " + d.str();
        throw Refused(msg);
    }
    Prepared out{*p, {}};
    try {
        out.img = compile::compile_node(out.policy, node);
    } catch (const compile::Error& e) {
        throw Refused(std::string("compile: ") + e.what() + "; nothing changed");
    }
    return out;
}

namespace {

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

// Refuses the policy when the self-test found a disagreement.
SelfTest checked(SelfTest st) {
    if (st.mismatches.empty()) return st;
    std::string msg = "self-test failed: " + std::to_string(st.mismatches.size()) + " of " +
                      std::to_string(st.probes) +
                      " boundary packets disagree with the policy model; nothing attached:";
    for (size_t i = 0; i < st.mismatches.size() && i < 10; i++) msg += "\n  " + st.mismatches[i];
    throw Refused(msg);
}

}  // namespace

SelfTest run_self_test(const Prepared& pr, const std::string& node) {
    return checked(self_test(pr.policy, node, pr.img));
}

namespace {

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
    std::map<std::string, double> ms;
    void mark(const char* phase) {
        auto now = std::chrono::steady_clock::now();
        ms[phase] = std::chrono::duration<double, std::milli>(now - last).count();
        last = now;
    }
};

uint32_t role_of(const std::string& r) {
    if (auto role = policy::role_of(r)) return *role;
    throw Refused("--iface role '" + r + "' is not external or internal");
}

}  // namespace

std::string now_text() {
    time_t t = time(nullptr);
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    return buf;
}

std::vector<RuleMeta> rules_meta(const image::MapImage& img,
                                 const std::map<uint32_t, uint32_t>& slot_of) {
    std::vector<RuleMeta> rules;
    for (const auto& r : img.rules) {
        RuleMeta m{r.id, slot_of.at(r.index), r.app, r.feature, r.proto, {}};
        for (auto [role, dir] : r.placements)
            m.placements.push_back({policy::role_name(role), policy::dir_name(dir)});
        rules.push_back(std::move(m));
    }
    return rules;
}

namespace {

// Counter slots stay with rule ids: a rule the instance had keeps its slot
// (and its counts); a new one takes its own index when that is free, else
// the lowest free slot, and is listed in `fresh` (to be zeroed).
struct Slots {
    std::map<uint32_t, uint32_t> of;  // rule index -> counter slot
    std::vector<uint32_t> fresh;
};

Slots allocate_slots(const image::MapImage& img, const std::vector<RuleMeta>& had) {
    Slots out;
    std::map<std::string, uint32_t> old_slot;
    std::vector<bool> used(EF_MAX_RULES, false);
    for (const auto& r : had) {
        old_slot[r.id] = r.slot;
        used.at(r.slot) = true;
    }
    uint32_t next = 0;
    for (const auto& r : img.rules) {
        if (auto it = old_slot.find(r.id); it != old_slot.end()) {
            out.of[r.index] = it->second;
            continue;
        }
        uint32_t slot = r.index;
        if (slot >= EF_MAX_RULES || used[slot]) {
            while (next < EF_MAX_RULES && used[next]) next++;
            if (next >= EF_MAX_RULES) throw Refused("no free counter slot: unload and load again");
            slot = next;
        }
        used[slot] = true;
        out.of[r.index] = slot;
        out.fresh.push_back(slot);
    }
    return out;
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

// The kept maps of a loaded instance, opened from their pins: what a reload's
// new object reuses. The fds close when this goes, whatever step throws.
struct KeptPins {
    std::vector<kernel::Fd> fds;
    kernel::SharedMaps shared;
};

KeptPins open_kept(const std::string& dir, const std::string& shown) {
    KeptPins out;
    for (const kernel::KeptMap& k : kernel::kKeptMaps) {
        kernel::Fd fd(bpf_obj_get((dir + "/" + k.name).c_str()));
        // A map an earlier edgefw did not make is created (and pinned) with the new object.
        if (!fd && !(k.optional && errno == ENOENT))
            throw kernel::Error("kernel: open " + shown + "/" + k.name + ": " +
                                std::strerror(errno) +
                                " -- the instance is damaged: 'edgefw unload' and load again");
        out.shared.*k.fd = fd.get();
        out.fds.push_back(std::move(fd));
    }
    return out;
}

// The description as stored. Text that is not UTF-8 (an app label holding
// byte 0xFF) cannot be encoded: refused here, before anything changes.
std::string encode(const InstanceMeta& m) {
    const json meta = m;
    try {
        return meta.dump();
    } catch (const json::type_error&) {
    }
    std::string where;
    for (const auto& r : meta.value("rules", json::array())) {
        try {
            (void)r.dump();
        } catch (const json::type_error&) {
            where = "rule " + r["id"].dump(-1, ' ', false, json::error_handler_t::replace);
            for (const char* k : {"app", "feature", "id"})
                if (r.contains(k)) try {
                        (void)r[k].dump();
                    } catch (const json::type_error&) {
                        where += std::string(" (its ") + k + ")";
                        break;
                    }
            break;
        }
    }
    if (where.empty()) where = "a name or path";
    throw Refused(where +
                  " holds text that is not valid UTF-8; edgefw keeps its description as UTF-8 "
                  "JSON -- fix the file's encoding. Nothing changed");
}

std::string random_id() {
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != sizeof b) {
        auto t = std::chrono::steady_clock::now().time_since_epoch().count();
        std::memcpy(b, &t, sizeof t);
        pid_t p = getpid();
        std::memcpy(b + 8, &p, sizeof p);
    }
    std::string out;
    char h[3];
    for (unsigned char c : b) {
        snprintf(h, sizeof h, "%02x", c);
        out += h;
    }
    return out;
}

// The pins a reload replaces (dataplane.cpp's Dataplane::pin) and the
// description: held open so a failed swap can put them back.
struct PinSnapshot {
    std::vector<std::pair<std::string, kernel::Fd>> fds;
    std::optional<std::string> meta;
    void take(const std::string& dir) {
        for (const char* n : kernel::kPolicyPins) {
            kernel::Fd fd(bpf_obj_get((dir + "/" + n).c_str()));
            if (fd) fds.emplace_back(n, std::move(fd));
        }
        meta = kernel::read_meta(dir);
    }
    int fd(const char* name) const {
        for (const auto& [n, f] : fds)
            if (n == name) return f.get();
        return -1;
    }
    // Best effort: what cannot be put back shows in status as "mixed".
    void restore(const std::string& dir) const {
        for (const auto& [n, f] : fds) {
            std::string path = dir + "/" + n;
            unlink(path.c_str());
            (void)bpf_obj_pin(f.get(), path.c_str());
        }
        if (meta) try {
                kernel::write_meta(dir, *meta);
            } catch (const kernel::Error&) {
            }
    }
};

std::string pin_of(const kernel::InstanceDir& d, const std::string& shown) {
    return d.path() + "/" + pin_name(shown);
}

}  // namespace

std::pair<kernel::InstanceDir, InstanceMeta> open_loaded(const std::string& instance) {
    auto d = kernel::InstanceDir::open(instance);
    auto text = d ? kernel::read_meta(d->path()) : std::nullopt;
    if (!text) throw Refused("instance '" + instance + "' is not loaded (see 'edgefw status')");
    return {std::move(*d), parse_meta(*text)};
}

namespace {

// What marks edgefw's program in a libxdp dispatcher: the map every
// generation of the instance uses (kernel/multiprog.h).
uint32_t marker_of(const kernel::InstanceDir& d) {
    return kernel::pinned_map_id(d.path() + "/ef_rule_counters");
}

// A NIC's XDP program: its pinned link swapped in place, or under libxdp's
// dispatcher a new dispatcher with the new program in the old one's slot,
// swapped in one step (the programs beside edgefw keep running throughout).
void swap_xdp(const kernel::InstanceDir& d, const IfaceMeta& iface, int prog_fd) {
    if (iface.in_dispatcher())
        kernel::xdp_mp_replace(prog_fd, marker_of(d), iface.ifindex, iface.dev);
    else
        kernel::link_replace(pin_of(d, iface.xdp_link.value_or("")), prog_fd);
}

// ---- kept policy content and the confirm timer, in /run/edgefw/<instance>/

std::string content_name(const char* what, uint64_t generation) {
    return std::string(what) + "." + std::to_string(generation);
}

void save_content(int run, uint64_t generation, const Inputs& in) {
    write_run_file(run, content_name("policy", generation), in.policy_text);
    if (!in.site_path.empty()) write_run_file(run, content_name("site", generation), in.site_text);
}

// Removes kept files: every one (keep empty) or those of other generations.
void prune_content(int run, const std::vector<uint64_t>& keep) {
    int dup_fd = fcntl(run, F_DUPFD_CLOEXEC, 0);
    DIR* d = dup_fd >= 0 ? fdopendir(dup_fd) : nullptr;
    if (!d) {
        if (dup_fd >= 0) close(dup_fd);
        return;
    }
    std::vector<std::string> drop;
    while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        auto dot = n.find('.');
        if (dot == std::string::npos || dot == 0) continue;
        std::string kind = n.substr(0, dot);
        if (kind != "policy" && kind != "site") continue;
        uint64_t g = strtoull(n.c_str() + dot + 1, nullptr, 10);
        if (std::find(keep.begin(), keep.end(), g) == keep.end()) drop.push_back(n);
    }
    closedir(d);
    for (const auto& n : drop) (void)unlinkat(run, n.c_str(), 0);
}

unsigned long long start_time_of(pid_t pid) {
    std::string stat;
    int fd = open(("/proc/" + std::to_string(pid) + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    stat.assign(buf, static_cast<size_t>(n));
    auto k = stat.rfind(')');
    if (k == std::string::npos) return 0;
    std::istringstream f(stat.substr(k + 2));
    std::string field;
    for (int i = 0; i < 20 && (f >> field); i++) {
    }
    return strtoull(field.c_str(), nullptr, 10);  // field 22: starttime
}

// Ends the recorded timer process if it is still the one we started (same
// pid and start time): confirm, unload and a newer reload make it moot.
void kill_recorded(const std::string& record) {
    std::istringstream f(record);
    long pid = 0;
    unsigned long long started = 0;
    f >> pid >> started;
    if (pid > 1 && pid != getpid() && started && start_time_of(static_cast<pid_t>(pid)) == started)
        kill(static_cast<pid_t>(pid), SIGTERM);
}

void kill_timer(int run) {
    std::string text;
    if (!read_run_file(run, "timer", text)) return;
    kill_recorded(text);
    (void)unlinkat(run, "timer", 0);
}

void load_locked(const LoadArgs& a);
void reload_locked(const LoadArgs& a, const Inputs& in, bool by_timer);
void unload_locked(const std::string& instance);

[[noreturn]] void timer_main(const std::string& instance, const std::string& token, int secs);

// A detached process (double fork: reparented, never a zombie of ours) that
// restores the previous state unless `edgefw confirm` runs in time. It acts
// only on the description that names its token (so only on this instance's
// generation, not on a later load or reload of the same name), takes the
// instance's lock like any operation, and records a failure in the
// description, where status shows it. Returns after the timer's pid is
// recorded in /run/edgefw/<instance>/timer.
void arm_confirm(const std::string& instance, int run, const std::string& token, int secs) {
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC))
        throw kernel::Error(std::string("kernel: confirm timer: ") + std::strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        throw kernel::Error(std::string("kernel: fork confirm timer: ") + std::strerror(e));
    }
    if (pid == 0) {
        setsid();
        pid_t g = fork();
        if (g != 0) _exit(g < 0 ? 1 : 0);
        pid_t me = getpid();
        (void)!write(pipefd[1], &me, sizeof me);
        timer_main(instance, token, secs);
    }
    close(pipefd[1]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    pid_t timer = 0;
    ssize_t n = read(pipefd[0], &timer, sizeof timer);
    close(pipefd[0]);
    if (n != sizeof timer || timer <= 0)
        throw kernel::Error("kernel: the confirm timer did not start");
    write_run_file(
        run, "timer",
        std::to_string(timer) + " " + std::to_string(start_time_of(timer)) + " " + token + "\n");
}

// Puts back what ran before the unconfirmed load or reload: the kept bytes of
// the previous generation, or nothing (unload) after a load.
void roll_back(const std::string& instance, int run, const InstanceMeta& meta) {
    const auto& prev = meta.confirm.previous;
    if (!prev) {
        unload_locked(instance);
        return;
    }
    Inputs in;
    in.options.allow_wide_management = true;  // it was running
    in.policy_name = in.policy_path = prev->policy;
    in.site_name = in.site_path = prev->site;
    if (!read_run_file(run, content_name("policy", prev->generation), in.policy_text) ||
        (!in.site_path.empty() &&
         !read_run_file(run, content_name("site", prev->generation), in.site_text)))
        throw Refused("the kept copy of generation " + std::to_string(prev->generation) +
                      "'s policy is missing from " + run_root() + "/" + instance);
    LoadArgs back;
    back.policy = in.policy_path;
    back.site = in.site_path;
    back.node = meta.node;
    back.instance = instance;
    back.force = true;
    reload_locked(back, in, true);
}

// Where status shows a timer's failure when the description cannot say it:
// beside the instance's lock, else the system log.
void record_timer_error(const std::string& instance, const std::string& what) {
    try {
        kernel::Fd run = open_run_dir(instance);
        write_run_file(run.get(), "timer.error", now_text() + " " + what + "\n");
    } catch (const std::exception& e2) {
        // The run directory itself is unusable: the system log is left.
        syslog(LOG_ERR, "confirm timer of instance %s: %s (and recording it failed: %s)",
               instance.c_str(), what.c_str(), e2.what());
    }
}

void timer_main(const std::string& instance, const std::string& token, int secs) {
    close_inherited_fds();
    signal(SIGHUP, SIG_IGN);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2) close(null);
    }
    std::this_thread::sleep_for(std::chrono::seconds(secs));
    try {
        Lock lock(instance, "confirm rollback", 120);
        auto d = kernel::InstanceDir::open(instance);
        if (!d) _exit(0);
        auto text = kernel::read_meta(d->path());
        if (!text) _exit(0);
        InstanceMeta meta = parse_meta(*text);
        if (!meta.confirm.pending || meta.confirm.timer_id.value_or("") != token) _exit(0);
        kernel::Fd run = open_run_dir(instance);
        try {
            roll_back(instance, run.get(), meta);
            (void)unlinkat(run.get(), "timer", 0);
        } catch (const std::exception& e) {
            // The unconfirmed policy stays; say so where status shows it.
            meta.confirm.pending = false;
            meta.confirm.error = std::string("rollback failed at ") + now_text() + ": " + e.what() +
                                 " -- the unconfirmed policy is still enforcing";
            kernel::write_meta(d->path(),
                               json(meta).dump(-1, ' ', false, json::error_handler_t::replace));
            (void)unlinkat(run.get(), "timer", 0);
        }
    } catch (const std::exception& e) {
        // Could not even look: leave a trace beside the lock.
        record_timer_error(instance, e.what());
    } catch (...) {
        record_timer_error(instance, "an error that is not a std::exception");
    }
    _exit(0);
}

// ---- load, in the stages it runs

// A load or unload that died half-way leaves pins but no enforcing instance:
// cleared rather than left for manual cleanup. An enforcing one is refused.
void clear_leftovers(const std::string& instance) {
    auto existing = kernel::InstanceDir::open(instance);
    if (!existing) return;
    auto s = status(instance);
    if (!s.empty() && s[0].state == "enforcing")
        throw Refused("instance '" + instance +
                      "' is already loaded: use 'edgefw reload' or 'edgefw unload --instance " +
                      instance + "'");
    existing.reset();
    unload_locked(instance);
}

struct Nic {
    uint32_t role;
    std::string dev;
    uint32_t ifindex;
    bool has_dispatcher;  // its XDP program is a libxdp dispatcher already
};

std::vector<Nic> resolve_nics(const LoadArgs& a, const policy::Policy& p) {
    std::vector<Nic> nics;
    kernel::NetnsGuard ns(a.netns);
    for (const auto& i : a.ifaces) {
        uint32_t role = role_of(i.role);
        if (!p.nodes.at(a.node).interfaces.count(role))
            throw Refused("node '" + a.node + "' has no " + i.role + " interface in the policy");
        uint32_t ifindex = kernel::ifindex_of(i.dev);
        bool dispatcher = kernel::xdp_hook(ifindex).kind == kernel::XdpHook::Kind::dispatcher;
        nics.push_back({role, i.dev, ifindex, dispatcher});
    }
    return nics;
}

const char* egress_name(const image::MapImage& img) {
    return img.egress_mode[0] == EF_EGRESS_ENFORCE ? "enforce" : "track-only";
}

ConfirmMeta confirm_meta(int secs, const std::string& token) {
    ConfirmMeta c;
    c.pending = secs > 0;
    if (secs > 0) {
        c.timer_id = token;
        c.seconds = secs;
    }
    return c;
}

// The description of a new instance, before anything is made.
InstanceMeta describe_load(const LoadArgs& a, const Inputs& in, const Prepared& pr,
                           const Slots& slots, const SelfTest& probed, const std::vector<Nic>& nics,
                           const std::string& tc_hook, const std::string& token, uint32_t ct_size,
                           bool multiprog) {
    const auto& feat = kernel::features();
    std::string shown = kernel::instance_dir(a.instance);
    InstanceMeta m;
    m.instance = a.instance;
    m.instance_id = random_id();
    m.node = a.node;
    m.policy = in.policy_path;
    m.site = in.site_path;
    m.policy_name = pr.img.policy_name;
    m.policy_hash = pr.img.policy_hash;
    m.policy_sha256 = bundle::policy_hash(in.policy_text, in.site_text);
    if (in.bundle.is_object()) m.bundle = in.bundle;
    m.loaded_at = now_text();
    m.generation = 1;
    m.mode = a.mode;
    m.tc = a.tc;
    m.kernel = feat.kernel;
    m.libbpf = feat.libbpf;
    m.netns = a.netns;
    m.ct_size = ct_size;
    m.ct_lru = a.ct_lru;
    m.egress = egress_name(pr.img);
    m.rules = rules_meta(pr.img, slots.of);
    m.self_test = {probed.probes, probed.of};
    m.confirm = confirm_meta(a.confirm_secs, token);
    for (const auto& n : nics) {
        std::string role = policy::role_name(n.role);
        IfaceMeta i;
        i.role = role;
        i.dev = n.dev;
        i.ifindex = n.ifindex;
        i.xdp_mode = a.mode;
        i.tc_hook = tc_hook;
        if (tc_hook == "tcx") i.tc_link = shown + "/link_tc_" + role;
        if (!multiprog) {
            i.xdp_link = shown + "/link_xdp_" + role;
        } else {
            i.xdp_attach = "dispatcher";
            i.xdp_priority = a.xdp_priority >= 0 ? static_cast<unsigned>(a.xdp_priority)
                                                 : kernel::kXdpDefaultPriority;
        }
        m.ifaces.push_back(std::move(i));
    }
    return m;
}

// TC egress first, then XDP, on every NIC; records the XDP mode each got.
void attach_nics(const kernel::InstanceDir& d, const kernel::Dataplane& dp,
                 const std::vector<Nic>& nics, InstanceMeta& meta, const LoadArgs& a) {
    kernel::NetnsGuard ns(a.netns);
    for (size_t k = 0; k < nics.size(); k++) {
        const auto& n = nics[k];
        IfaceMeta& iface = meta.ifaces[k];
        if (iface.tc_hook == "tcx")
            kernel::tc_link_attach(dp.prog_fd(packet::Dir::egress), n.ifindex, n.dev,
                                   pin_of(d, iface.tc_link.value_or("")));
        else
            kernel::tc_attach(dp.prog_fd(packet::Dir::egress), n.ifindex, n.dev, false);
        const int xdp_fd = dp.prog_fd(packet::Dir::ingress);
        auto got =
            iface.in_dispatcher()
                ? kernel::xdp_mp_attach(xdp_fd, n.ifindex, n.dev, xdp_mode_of(a.mode),
                                        iface.xdp_priority.value_or(kernel::kXdpDefaultPriority))
                : kernel::xdp_attach(xdp_fd, n.ifindex, n.dev, xdp_mode_of(a.mode),
                                     pin_of(d, iface.xdp_link.value_or("")));
        iface.xdp_mode = kernel::xdp_mode_name(got);
    }
}

void load_locked(const LoadArgs& a) {
    kernel::check_instance_name(a.instance);
    clear_leftovers(a.instance);
    if (a.ifaces.empty()) throw Refused("load needs --iface ROLE=DEV for each protected NIC");
    // Parse, compile, self-test: nothing in the kernel yet.
    Inputs in = read_inputs(a);
    Prepared pr = prepare(in, a.node);
    check_lockout(pr, a.node, a.force);
    auto probed = run_self_test(pr, a.node);
    std::vector<Nic> nics = resolve_nics(a, pr.policy);

    // XDP through libxdp's dispatcher (kernel/multiprog.h) on every NIC: asked
    // for, or because a NIC runs a dispatcher already (the program is then
    // loaded as freplace, so the other NICs get a dispatcher too).
    bool multiprog =
        a.xdp_multiprog || a.xdp_priority >= 0 ||
        std::any_of(nics.begin(), nics.end(), [](const Nic& n) { return n.has_dispatcher; });

    // Programs and maps, loaded and written but not pinned or attached.
    Slots slots = allocate_slots(pr.img, {});
    image::MapImage img = pr.img;
    remap(img, slots.of);
    kernel::Options opts = kernel::Options::from_image(img);
    if (a.ct_size) opts.ct_size = a.ct_size;
    opts.ct_lru_per_cpu = a.ct_lru == "per-cpu";
    opts.policy_gen = EF_CT_GEN(1);  // the generation a load starts
    opts.log_per_sec_per_cpu = a.log_rate >= 0 ? static_cast<uint32_t>(a.log_rate) : 100;
    std::optional<kernel::ScratchDispatcher> scratch;
    if (multiprog) opts.xdp_ext_target = scratch.emplace().fd();
    kernel::Dataplane dp(opts);
    dp.write_image(img);
    for (const auto& n : nics) dp.set_iface_role(n.ifindex, n.role);
    // Connections already open (the operator's SSH session) get the entry
    // their SYN would have made, before the programs go live (kernel/adopt.h).
    std::vector<kernel::Adopted> adopted;
    {
        kernel::NetnsGuard ns(a.netns);
        std::vector<uint32_t> roles;
        for (const auto& n : nics) roles.push_back(n.role);
        adopted = kernel::adopt_connections(dp, img, roles, kernel::established_tcp());
    }

    std::string tc_hook = choose_tc_hook(a.tc);
    std::string token = a.confirm_secs > 0 ? random_id() : "";
    InstanceMeta meta =
        describe_load(a, in, pr, slots, probed, nics, tc_hook, token, opts.ct_size, multiprog);
    meta.adopted_connections = adopted.size();
    (void)encode(meta);  // refuses text that is not UTF-8 before anything is made

    // Pin, describe, attach.
    kernel::Fd run = open_run_dir(a.instance);
    std::optional<kernel::InstanceDir> d;
    {
        Lock root("", "load");
        d = kernel::InstanceDir::create(a.instance);
    }
    try {
        save_content(run.get(), 1, in);
        dp.pin(d->path());
        // Written before attaching: a load that dies half-way leaves a
        // description that the next load or unload uses to clean up.
        kernel::write_meta(d->path(), encode(meta));
        attach_nics(*d, dp, nics, meta, a);
        if (a.confirm_secs > 0) arm_confirm(a.instance, run.get(), token, a.confirm_secs);
        kernel::write_meta(d->path(), encode(meta));
    } catch (...) {
        // Nothing half-applied: undo what this call attached and pinned
        // (unpinning the links detaches them). The lock makes sure these are
        // this call's pins, never another load's.
        if (a.confirm_secs > 0) kill_timer(run.get());
        try {
            kernel::NetnsGuard ns(a.netns);
            // Unpinning cannot take edgefw out of a dispatcher: its pins hold it.
            if (multiprog)
                for (const auto& n : nics) kernel::xdp_mp_detach(marker_of(*d), n.ifindex, n.dev);
            if (tc_hook == "netlink")
                for (const auto& n : nics) kernel::tc_detach(n.ifindex);
        } catch (const kernel::Error&) {
            // The namespace went away meanwhile: its NICs with it.
        }
        {
            Lock root("", "load (undo)", 30);
            d->remove();
        }
        prune_content(run.get(), {});
        throw;
    }
}

// ---- reload, in the stages it runs

// The confirm record of a reload: what its timer rolls back to.
ConfirmMeta confirm_for_reload(const LoadArgs& a, const InstanceMeta& meta, int run,
                               const std::string& token) {
    ConfirmMeta c = confirm_meta(a.confirm_secs, token);
    if (a.confirm_secs <= 0) return c;
    // The rollback restores what runs now: its bytes as they were loaded,
    // kept under /run/edgefw/<instance>, not its path.
    std::string probe;
    if (!read_run_file(run, content_name("policy", meta.generation), probe))
        throw Refused("no copy of the running policy (generation " +
                      std::to_string(meta.generation) +
                      ") is kept, so there is nothing to roll back to: reload once without "
                      "--confirm, then again with it. Nothing changed");
    c.previous = ConfirmPrevious{meta.generation, meta.policy, meta.site, meta.policy_hash};
    return c;
}

// Points every NIC's XDP and TC egress at the given programs (-1: that hook
// stays). Throws on the first refusal.
void swap_nic(const kernel::InstanceDir& d, const IfaceMeta& i, int xdp_fd, int tc_fd) {
    if (xdp_fd >= 0) swap_xdp(d, i, xdp_fd);
    if (tc_fd < 0) return;
    if (i.tc_hook == "tcx")
        kernel::link_replace(pin_of(d, i.tc_link.value_or("")), tc_fd);
    else
        kernel::tc_attach(tc_fd, i.ifindex, i.dev, true);
}

// After a refused swap: the old programs on every NIC, as far as the kernel
// lets us (what stays shows in status as "mixed").
void swap_back(const kernel::InstanceDir& d, const InstanceMeta& meta, const PinSnapshot& before) {
    try {
        kernel::NetnsGuard ns(meta.netns);
        for (const auto& i : meta.ifaces) {
            try {
                swap_nic(d, i, before.fd("prog_xdp"), before.fd("prog_tc"));
            } catch (const kernel::Error&) {
                // Left as it is: status compares and reports "mixed".
            }
        }
    } catch (const kernel::Error&) {
    }
}

// Judges open flows again by the new policy (unless --keep-flows): a flow no
// rule admits any more is closed, one another rule admits moves there. The
// lookups are built from the image as written (counter slots, the numbering
// of the entries). A failure leaves the flows unjudged and is reported; the
// new policy runs either way.
ReloadFlows rejudge_flows(kernel::Dataplane& dp, const image::MapImage& img, bool keep_flows) {
    ReloadFlows r;
    if (keep_flows) {
        r.skipped = "--keep-flows";
        return r;
    }
    try {
        auto f = dp.rejudge_conntrack(image::Lookup(img));
        r.kept = f.kept;
        r.moved = f.moved;
        r.closed = f.closed;
    } catch (const std::exception& e) {
        r.error = e.what();
    }
    return r;
}

// The description after a reload: the new policy, its rules and slots, its
// generation and confirm record (the NICs and settings stay).
// (The self-test's counts are added once it has passed.)
void describe_reload(InstanceMeta& meta, const Inputs& in, const Prepared& pr, const Slots& slots,
                     const ConfirmMeta& confirm, uint64_t generation) {
    meta.policy = in.policy_path;
    meta.site = in.site_path;
    meta.policy_name = pr.img.policy_name;
    meta.policy_hash = pr.img.policy_hash;
    meta.policy_sha256 = bundle::policy_hash(in.policy_text, in.site_text);
    if (in.bundle.is_object())
        meta.bundle = in.bundle;
    else
        meta.bundle.reset();
    meta.reloaded_at = now_text();
    meta.generation = generation;
    meta.egress = egress_name(pr.img);
    meta.rules = rules_meta(pr.img, slots.of);
    meta.confirm = confirm;
}

// The swap: pins and description first (if this process dies during the
// swap, status sees attached programs that differ from the pinned ones and
// says "mixed"; reload again finishes the job), then one link update per NIC
// and hook (XDP, tcx), or an in-place filter replacement for netlink TC.
// Every packet sees either the old or the new maps.
void swap_programs(const kernel::InstanceDir& d, const InstanceMeta& meta,
                   const kernel::Dataplane& dp) {
    dp.pin(d.path());
    kernel::write_meta(d.path(), encode(meta));
    kernel::NetnsGuard ns(meta.netns);
    const char* fault = getenv("EDGEFW_FAULT_SWAP");  // tests: fail after N swaps
    int budget = fault && *fault ? atoi(fault) : -1;
    for (const auto& i : meta.ifaces) {
        if (budget-- == 0)
            throw kernel::Error("kernel: swap refused (EDGEFW_FAULT_SWAP fault injection)");
        swap_nic(d, i, dp.prog_fd(packet::Dir::ingress), dp.prog_fd(packet::Dir::egress));
    }
}

// A pending confirm's timer when a reload starts: ended once the reload has
// taken over, kept (and its record with it) if the reload fails.
struct Timers {
    std::string old_record;
    bool had_old = false;
    bool armed = false;  // this reload's own (--confirm)
};

// After a refused swap (or any failure from the swap on): the old programs,
// pins and description, the old timer's record, and none of this reload's
// kept copies (a pending confirm still needs its own).
void undo_swap(const kernel::InstanceDir& d, const InstanceMeta& meta, const PinSnapshot& before,
               int run, const Timers& timers, uint64_t generation) {
    swap_back(d, meta, before);
    before.restore(d.path());
    if (timers.armed) kill_timer(run);
    if (timers.had_old) try {
            write_run_file(run, "timer", timers.old_record);
        } catch (const std::exception&) {
            // Without its record the old timer still acts; only confirm cannot end it early.
        }
    for (const char* k : {"policy", "site"})
        (void)unlinkat(run, content_name(k, generation).c_str(), 0);
}

// The node a reload compiles for: the instance's (a.node, when given, must be it).
void check_node(LoadArgs& a, const InstanceMeta& meta, const Inputs& in) {
    if (a.node.empty()) a.node = meta.node;
    if (a.node != meta.node)
        throw Refused("instance '" + a.instance + "' enforces node " + meta.node + ", not " +
                      a.node + ": unload it to change node");
    if (in.bundle.is_object() && in.bundle["node"] != a.node)
        throw Refused(bundle::wrong_node(in.bundle["dir"], in.bundle["node"], a.node,
                                         "the node instance " + a.instance + " enforces"));
}

// The new object's options: the image's sizes, the instance's conntrack size
// and log rate (or --log-rate, kept in the description), the kept maps, and
// freplace against a scratch dispatcher where the instance runs under libxdp's.
kernel::Options reload_options(const LoadArgs& a, const image::MapImage& img, InstanceMeta& meta,
                               const KeptPins& kept,
                               std::optional<kernel::ScratchDispatcher>& scratch) {
    kernel::Options opts = kernel::Options::from_image(img);
    opts.ct_size = meta.ct_size;
    opts.ct_lru_per_cpu = meta.ct_lru.value_or("shared") == "per-cpu";
    opts.ct_lookup_all = a.keep_flows;
    // The generation this reload makes (the description still holds the running one's).
    opts.policy_gen = EF_CT_GEN(meta.generation + 1);
    opts.log_per_sec_per_cpu =
        a.log_rate >= 0 ? static_cast<uint32_t>(a.log_rate) : meta.log_rate.value_or(100);
    meta.log_rate = opts.log_per_sec_per_cpu;
    opts.shared = kept.shared;
    if (std::any_of(meta.ifaces.begin(), meta.ifaces.end(),
                    [](const IfaceMeta& i) { return i.in_dispatcher(); }))
        opts.xdp_ext_target = scratch.emplace().fd();
    return opts;
}

// After the swap only steps that cannot fail (or whose failure changes
// nothing the kernel runs): the conntrack sweep, the open flows judged again,
// the phase times. Nothing evicts an established conntrack entry: the ones
// that expired without their flow showing up again go now.
void after_swap(const kernel::InstanceDir& d, InstanceMeta& meta, kernel::Dataplane& dp,
                const image::MapImage& img, bool keep_flows, Phases& phases) {
    try {
        dp.sweep_conntrack();
    } catch (const std::exception&) {
        // Expired entries stay until their flow's next packet or the next reload.
    }
    phases.mark("ct_sweep");
    meta.reload_flows = rejudge_flows(dp, img, keep_flows);
    phases.mark("flows");
    meta.reload_ms = phases.ms;
    try {
        kernel::write_meta(d.path(), encode(meta));
    } catch (const std::exception&) {
        // The description written before the swap stands; only the swap's time is missing.
    }
}

void reload_locked(const LoadArgs& a_in, const Inputs& in, bool by_timer) {
    auto [d, meta] = open_loaded(a_in.instance);
    LoadArgs a = a_in;
    check_node(a, meta, in);
    std::string dir = d.path(), shown = d.shown();
    Phases phases;
    Prepared pr = prepare(in, a.node);
    check_lockout(pr, a.node, a.force);
    phases.mark("parse_compile");
    // The self-test runs beside the new programs' load and map writes; nothing
    // is pinned, saved or swapped before it has passed. Its phase time is the
    // wait for it once the maps are written.
    auto testing =
        std::async(std::launch::async, [&] { return self_test(pr.policy, a.node, pr.img); });

    Slots slots = allocate_slots(pr.img, meta.rules);
    image::MapImage img = pr.img;
    remap(img, slots.of);

    // The new description, complete and encoded, before anything changes.
    uint64_t old_generation = meta.generation;
    uint64_t generation = old_generation + 1;
    kernel::Fd run = open_run_dir(a.instance);
    std::string token = a.confirm_secs > 0 ? random_id() : "";
    ConfirmMeta confirm = confirm_for_reload(a, meta, run.get(), token);

    KeptPins kept = open_kept(dir, shown);  // the new object reuses them (its own fds)
    std::optional<kernel::ScratchDispatcher> scratch;
    kernel::Dataplane dp(reload_options(a, img, meta, kept, scratch));
    dp.write_image(img);

    describe_reload(meta, in, pr, slots, confirm, generation);
    phases.mark("programs_maps");
    auto st = checked(testing.get());
    meta.self_test = {st.probes, st.of};
    (void)encode(meta);
    save_content(run.get(), generation, in);
    phases.mark("self_test");

    // Everything that can fail has happened: the swap. Should the kernel
    // refuse any of it, everything goes back to the old programs, pins and
    // description.
    PinSnapshot before;
    before.take(dir);
    Timers timers;
    timers.had_old = read_run_file(run.get(), "timer", timers.old_record);
    try {
        if (a.confirm_secs > 0) {
            arm_confirm(a.instance, run.get(), token, a.confirm_secs);
            timers.armed = true;
        }
        for (uint32_t slot : slots.fresh) zero_counter(dp.shared_maps().rule_counters, slot);
        meta.reload_flows.reset();  // the previous reload's, until this one's judgment
        meta.reload_ms = phases.ms;
        swap_programs(d, meta, dp);
    } catch (...) {
        undo_swap(d, meta, before, run.get(), timers, generation);
        throw;
    }
    phases.mark("swap");
    after_swap(d, meta, dp, img, a.keep_flows, phases);
    // A pending confirm is superseded (its timer would find its token gone
    // and do nothing; ending it is tidiness).
    if (!by_timer && !timers.armed) kill_timer(run.get());
    if (timers.armed && timers.had_old) kill_recorded(timers.old_record);
    std::vector<uint64_t> keep = {generation};
    if (a.confirm_secs > 0) keep.push_back(old_generation);
    prune_content(run.get(), keep);
}

FlowsPreview preview_flows_locked(const LoadArgs& a) {
    auto [d, meta] = open_loaded(a.instance);
    if (!a.node.empty() && a.node != meta.node)
        throw Refused("instance '" + a.instance + "' enforces node " + meta.node + ", not " +
                      a.node + ": compare on --node " + meta.node);
    LoadArgs args = a;
    args.node = meta.node;
    Prepared pr = prepare(read_inputs(args), meta.node);
    // The numbering the reload would give the entries: kept rule ids keep
    // their counter slots.
    Slots slots = allocate_slots(pr.img, meta.rules);
    image::MapImage img = pr.img;
    remap(img, slots.of);
    const kernel::PinnedCtTables tables = kernel::open_ct_tables(d.path());
    auto f = kernel::rejudge_conntrack(tables.fds, image::Lookup(img), false);
    FlowsPreview out;
    out.instance = a.instance;
    out.node = meta.node;
    out.generation = meta.generation;
    out.kept = f.kept;
    out.moved = f.moved;
    out.cut = f.closed;
    out.open = f.kept + f.moved + f.closed;
    return out;
}

void unload_locked(const std::string& instance) {
    kernel::check_instance_name(instance);
    kernel::Fd run = open_run_dir(instance);
    kill_timer(run.get());
    auto d = kernel::InstanceDir::open(instance);
    if (!d) {
        prune_content(run.get(), {});
        throw Refused("instance '" + instance + "' is not loaded (see 'edgefw status')");
    }
    if (auto text = kernel::read_meta(d->path())) {
        InstanceMeta meta = parse_meta(*text);
        std::unique_ptr<kernel::NetnsGuard> ns;
        try {
            ns = std::make_unique<kernel::NetnsGuard>(meta.netns);
        } catch (const kernel::Error&) {
            // The namespace is gone, and its NICs with it: nothing left to detach.
        }
        if (ns) {
            // In a dispatcher edgefw's program is held by libxdp's pins, not
            // ours: libxdp takes it out and the other programs keep running. A
            // failure stops here, the instance still loaded, rather than leave
            // edgefw enforcing unseen.
            for (const auto& i : meta.ifaces)
                if (i.in_dispatcher()) kernel::xdp_mp_detach(marker_of(*d), i.ifindex, i.dev);
            try {
                for (const auto& i : meta.ifaces)
                    if (i.tc_hook == "netlink") kernel::tc_detach(i.ifindex);
            } catch (const kernel::Error&) {
                // The NIC is gone: nothing left to detach.
            }
        }
    }
    // Unpinning the links detaches XDP and tcx: edgefw holds no other reference.
    {
        Lock root("", "unload");
        d->remove();
    }
    prune_content(run.get(), {});
    for (const char* f : {"timer.error", "shadow-policy", "shadow-site"})
        (void)unlinkat(run.get(), f, 0);
}

}  // namespace

std::optional<IfaceArg> parse_iface(const std::string& spec) {
    auto eq = spec.find('=');
    if (eq == std::string::npos) return std::nullopt;
    return IfaceArg{spec.substr(0, eq), spec.substr(eq + 1)};
}

InstanceMeta read_instance(const std::string& instance) {
    kernel::check_instance_name(instance);
    return open_loaded(instance).second;
}

void load(const LoadArgs& a) {
    kernel::check_instance_name(a.instance);
    Lock lock(a.instance, "load");
    load_locked(a);
}

void reload(const LoadArgs& a) {
    kernel::check_instance_name(a.instance);
    Lock lock(a.instance, "reload");
    Inputs in = read_inputs(a);
    reload_locked(a, in, false);
}

void reload_inputs_locked(const LoadArgs& a, const Inputs& in) { reload_locked(a, in, false); }

FlowsPreview preview_flows(const LoadArgs& a) {
    kernel::check_instance_name(a.instance);
    // Waits for a reload in progress: the slots in the description are then
    // those of the pinned tables' entries.
    Lock lock(a.instance, "diff");
    return preview_flows_locked(a);
}

void confirm(const std::string& instance) {
    kernel::check_instance_name(instance);
    Lock lock(instance, "confirm");
    auto [d, meta] = open_loaded(instance);
    if (!meta.confirm.pending) throw Refused("instance '" + instance + "' has nothing to confirm");
    meta.confirm = ConfirmMeta{};
    meta.confirm.confirmed_at = now_text();
    kernel::write_meta(d.path(), encode(meta));
    kernel::Fd run = open_run_dir(instance);
    kill_timer(run.get());
    (void)unlinkat(run.get(), "timer.error", 0);
    prune_content(run.get(), {meta.generation});
}

void unload(const std::string& instance) {
    kernel::check_instance_name(instance);
    Lock lock(instance, "unload");
    unload_locked(instance);
}

}  // namespace lifecycle
