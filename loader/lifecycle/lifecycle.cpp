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
#include "model/model.h"
#include "util/input_file.h"

namespace lifecycle {

using nlohmann::json;

namespace {

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
    json bundle;                  // --bundle: the checked bundle's summary; null otherwise
};

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

SelfTest run_self_test(const Prepared& pr, const std::string& node) {
    return checked(self_test(pr.policy, node, pr.img));
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

int open_pin(const std::string& dir, const std::string& shown, const char* name) {
    std::string path = dir + "/" + name;
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0)
        throw kernel::Error("kernel: open " + shown + "/" + name + ": " + std::strerror(errno) +
                            " -- the instance is damaged: 'edgefw unload' and load again");
    return fd;
}

// The description as stored. Text that is not UTF-8 (an app label holding
// byte 0xFF) cannot be encoded: refused here, before anything changes.
std::string encode(const json& meta) {
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
    std::vector<std::pair<std::string, int>> fds;
    std::optional<std::string> meta;
    void take(const std::string& dir) {
        for (const char* n : {"ef_port_class", "ef_local", "ef_remote", "ef_sport", "ef_ct_sweep",
                              "prog_xdp", "prog_tc"}) {
            int fd = bpf_obj_get((dir + "/" + n).c_str());
            if (fd >= 0) fds.emplace_back(n, fd);
        }
        meta = kernel::read_meta(dir);
    }
    int fd(const char* name) const {
        for (const auto& [n, f] : fds)
            if (n == name) return f;
        return -1;
    }
    // Best effort: what cannot be put back shows in status as "mixed".
    void restore(const std::string& dir) const {
        for (const auto& [n, f] : fds) {
            std::string path = dir + "/" + n;
            unlink(path.c_str());
            (void)bpf_obj_pin(f, path.c_str());
        }
        if (meta) try {
                kernel::write_meta(dir, *meta);
            } catch (const kernel::Error&) {
            }
    }
    ~PinSnapshot() {
        for (const auto& [n, f] : fds) close(f);
    }
};

std::string pin_of(const kernel::InstanceDir& d, const json& path_in_meta) {
    std::string p = path_in_meta.get<std::string>();
    return d.path() + "/" + p.substr(p.rfind('/') + 1);
}

// What marks edgefw's program in a libxdp dispatcher: the map every
// generation of the instance uses (kernel/multiprog.h).
uint32_t marker_of(const kernel::InstanceDir& d) {
    return kernel::pinned_map_id(d.path() + "/ef_rule_counters");
}

// A NIC's XDP program: its pinned link swapped in place, or under libxdp's
// dispatcher a new dispatcher with the new program in the old one's slot,
// swapped in one step (the programs beside edgefw keep running throughout).
void swap_xdp(const kernel::InstanceDir& d, const json& iface, int prog_fd) {
    if (iface.value("xdp_attach", "link") == "dispatcher")
        kernel::xdp_mp_replace(prog_fd, marker_of(d), iface["ifindex"], iface["dev"]);
    else
        kernel::link_replace(pin_of(d, iface["xdp_link"]), prog_fd);
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
        json meta = json::parse(*text);
        const json& c = meta["confirm"];
        if (!c.value("pending", false) || c.value("timer_id", "") != token) _exit(0);
        kernel::Fd run = open_run_dir(instance);
        try {
            if (!c.contains("previous")) {
                unload_locked(instance);
            } else {
                const json& prev = c["previous"];
                uint64_t g = prev["generation"];
                Inputs in;
                in.options.allow_wide_management = true;  // it was running
                in.policy_name = in.policy_path = prev["policy"];
                in.site_name = in.site_path = prev["site"];
                if (!read_run_file(run.get(), content_name("policy", g), in.policy_text) ||
                    (!in.site_path.empty() &&
                     !read_run_file(run.get(), content_name("site", g), in.site_text)))
                    throw Refused("the kept copy of generation " + std::to_string(g) +
                                  "'s policy is missing from " + run_root() + "/" + instance);
                LoadArgs back;
                back.policy = in.policy_path;
                back.site = in.site_path;
                back.node = meta["node"];
                back.instance = instance;
                back.force = true;
                reload_locked(back, in, true);
            }
            (void)unlinkat(run.get(), "timer", 0);
        } catch (const std::exception& e) {
            // The unconfirmed policy stays; say so where status shows it.
            meta["confirm"]["pending"] = false;
            meta["confirm"]["error"] = std::string("rollback failed at ") + now_text() + ": " +
                                       e.what() + " -- the unconfirmed policy is still enforcing";
            kernel::write_meta(d->path(),
                               meta.dump(-1, ' ', false, json::error_handler_t::replace));
            (void)unlinkat(run.get(), "timer", 0);
        }
    } catch (const std::exception& e) {
        // Could not even look: leave a trace beside the lock.
        try {
            kernel::Fd run = open_run_dir(instance);
            write_run_file(run.get(), "timer.error", now_text() + " " + e.what() + "\n");
        } catch (const std::exception& e2) {
            // The run directory itself is unusable: the system log is left.
            syslog(LOG_ERR, "confirm timer of instance %s: %s (and recording it failed: %s)",
                   instance.c_str(), e.what(), e2.what());
        }
    }
    _exit(0);
}

void load_locked(const LoadArgs& a) {
    kernel::check_instance_name(a.instance);
    if (auto existing = kernel::InstanceDir::open(a.instance)) {
        // A load or unload that died half-way leaves pins but no enforcing
        // instance: clear it rather than ask for manual cleanup.
        auto s = status(a.instance);
        if (!s.empty() && s[0].value("state", "") == "enforcing")
            throw Refused("instance '" + a.instance +
                          "' is already loaded: use 'edgefw reload' or 'edgefw unload --instance " +
                          a.instance + "'");
        existing.reset();
        unload_locked(a.instance);
    }
    if (a.ifaces.empty()) throw Refused("load needs --iface ROLE=DEV for each protected NIC");
    Inputs in = read_inputs(a);
    Prepared pr = prepare(in, a.node);
    check_lockout(pr, a.node, a.force);
    auto probed = run_self_test(pr, a.node);

    struct Nic {
        uint32_t role;
        std::string dev;
        uint32_t ifindex;
    };
    std::vector<Nic> nics;
    // XDP through libxdp's dispatcher (kernel/multiprog.h) on every NIC: asked
    // for, or because a NIC runs a dispatcher already (the program is then
    // loaded as freplace, so the other NICs get a dispatcher too).
    bool multiprog = a.xdp_multiprog || a.xdp_priority >= 0;
    {
        kernel::NetnsGuard ns(a.netns);
        for (const auto& i : a.ifaces) {
            uint32_t role = role_of(i.role);
            if (!pr.policy.nodes.at(a.node).interfaces.count(role))
                throw Refused("node '" + a.node + "' has no " + i.role +
                              " interface in the policy");
            uint32_t ifindex = kernel::ifindex_of(i.dev);
            multiprog =
                multiprog || kernel::xdp_hook(ifindex).kind == kernel::XdpHook::Kind::dispatcher;
            nics.push_back({role, i.dev, ifindex});
        }
    }

    std::map<uint32_t, uint32_t> slot_of;
    for (const auto& r : pr.img.rules) slot_of[r.index] = r.index;
    image::MapImage img = pr.img;
    remap(img, slot_of);

    kernel::Options opts = kernel::Options::from_image(img);
    if (a.ct_size) opts.ct_size = a.ct_size;
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
    std::string shown = kernel::instance_dir(a.instance);
    const auto& feat = kernel::features();
    std::string token = a.confirm_secs > 0 ? random_id() : "";
    json meta = {{"instance", a.instance},
                 {"instance_id", random_id()},
                 {"node", a.node},
                 {"policy", in.policy_path},
                 {"site", in.site_path},
                 {"policy_name", img.policy_name},
                 {"policy_hash", img.policy_hash},
                 {"policy_sha256", bundle::policy_hash(in.policy_text, in.site_text)},
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
                 {"adopted_connections", adopted.size()},
                 {"confirm", {{"pending", a.confirm_secs > 0}}}};
    if (in.bundle.is_object()) meta["bundle"] = in.bundle;
    if (a.confirm_secs > 0) {
        meta["confirm"]["timer_id"] = token;
        meta["confirm"]["seconds"] = a.confirm_secs;
    }
    for (const auto& n : nics) {
        std::string role = policy::role_name(n.role);
        json iface = {{"role", role},         {"dev", n.dev},
                      {"ifindex", n.ifindex}, {"xdp_link", shown + "/link_xdp_" + role},
                      {"xdp_mode", a.mode},   {"tc_hook", tc_hook}};
        if (tc_hook == "tcx") iface["tc_link"] = shown + "/link_tc_" + role;
        if (multiprog) {
            iface.erase("xdp_link");
            iface["xdp_attach"] = "dispatcher";
            iface["xdp_priority"] = a.xdp_priority >= 0 ? static_cast<unsigned>(a.xdp_priority)
                                                        : kernel::kXdpDefaultPriority;
        }
        meta["ifaces"].push_back(iface);
    }
    (void)encode(meta);  // refuses text that is not UTF-8 before anything is made

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
        {
            kernel::NetnsGuard ns(a.netns);
            for (size_t k = 0; k < nics.size(); k++) {
                const auto& n = nics[k];
                json& iface = meta["ifaces"][k];
                if (tc_hook == "tcx")
                    kernel::tc_link_attach(dp.prog_fd(packet::Dir::egress), n.ifindex, n.dev,
                                           pin_of(*d, iface["tc_link"]));
                else
                    kernel::tc_attach(dp.prog_fd(packet::Dir::egress), n.ifindex, n.dev, false);
                auto got =
                    multiprog
                        ? kernel::xdp_mp_attach(dp.prog_fd(packet::Dir::ingress), n.ifindex, n.dev,
                                                xdp_mode_of(a.mode), iface["xdp_priority"])
                        : kernel::xdp_attach(dp.prog_fd(packet::Dir::ingress), n.ifindex, n.dev,
                                             xdp_mode_of(a.mode), pin_of(*d, iface["xdp_link"]));
                iface["xdp_mode"] = kernel::xdp_mode_name(got);
            }
        }
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

void reload_locked(const LoadArgs& a_in, const Inputs& in, bool by_timer) {
    auto d = kernel::InstanceDir::open(a_in.instance);
    auto text = d ? kernel::read_meta(d->path()) : std::nullopt;
    if (!text)
        throw Refused("instance '" + a_in.instance + "' is not loaded (see 'edgefw status')");
    json meta = json::parse(*text);
    const json old_meta = meta;
    LoadArgs a = a_in;
    if (a.node.empty()) a.node = meta["node"];
    if (a.node != meta["node"])
        throw Refused("instance '" + a.instance + "' enforces node " +
                      meta["node"].get<std::string>() + ", not " + a.node +
                      ": unload it to change node");
    if (in.bundle.is_object() && in.bundle["node"] != a.node)
        throw Refused(bundle::wrong_node(in.bundle["dir"], in.bundle["node"], a.node,
                                         "the node instance " + a.instance + " enforces"));
    std::string dir = d->path(), shown = d->shown();
    Phases phases;
    Prepared pr = prepare(in, a.node);
    check_lockout(pr, a.node, a.force);
    phases.mark("parse_compile");
    // The self-test runs beside the new programs' load and map writes; nothing
    // is pinned, saved or swapped before it has passed. Its phase time is the
    // wait for it once the maps are written.
    auto testing =
        std::async(std::launch::async, [&] { return self_test(pr.policy, a.node, pr.img); });

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

    // The new description, complete and encoded, before anything changes.
    uint64_t old_generation = meta.value("generation", 1ull);
    uint64_t generation = old_generation + 1;
    kernel::Fd run = open_run_dir(a.instance);
    std::string token = a.confirm_secs > 0 ? random_id() : "";
    json confirm = {{"pending", a.confirm_secs > 0}};
    if (a.confirm_secs > 0) {
        // The rollback restores what runs now: its bytes as they were loaded,
        // kept under /run/edgefw/<instance>, not its path.
        std::string probe;
        if (!read_run_file(run.get(), content_name("policy", old_generation), probe))
            throw Refused("no copy of the running policy (generation " +
                          std::to_string(old_generation) +
                          ") is kept, so there is nothing to roll back to: reload once without "
                          "--confirm, then again with it. Nothing changed");
        confirm["timer_id"] = token;
        confirm["seconds"] = a.confirm_secs;
        confirm["previous"] = {{"generation", old_generation},
                               {"policy", meta["policy"]},
                               {"site", meta["site"]},
                               {"policy_hash", meta["policy_hash"]}};
    }

    kernel::Options opts = kernel::Options::from_image(img);
    opts.ct_size = meta.value("ct_size", uint32_t{EF_CT_DEFAULT_SIZE});
    opts.ct_lookup_all = a.keep_flows;
    opts.log_per_sec_per_cpu =
        a.log_rate >= 0 ? static_cast<uint32_t>(a.log_rate) : meta.value("log_rate", 100u);
    meta["log_rate"] = opts.log_per_sec_per_cpu;
    opts.shared.ifaces = open_pin(dir, shown, "ef_ifaces");
    opts.shared.rule_counters = open_pin(dir, shown, "ef_rule_counters");
    opts.shared.reason_counters = open_pin(dir, shown, "ef_reason_counters");
    opts.shared.ct = open_pin(dir, shown, "ef_ct");
    // Conntrack maps an instance loaded by an earlier edgefw may not have:
    // absent, they are created (and pinned) with this object.
    auto open_pin_new = [&](const char* name) {
        int fd = bpf_obj_get((dir + "/" + name).c_str());
        return fd >= 0 || errno != ENOENT ? (fd >= 0 ? fd : open_pin(dir, shown, name)) : -1;
    };
    opts.shared.ct_est = open_pin_new("ef_ct_est");
    opts.shared.ct_dgram = open_pin(dir, shown, "ef_ct_dgram");
    opts.shared.ct_dgram_est = open_pin_new("ef_ct_dgram_est");
    opts.shared.ct_stats = open_pin_new("ef_ct_stats");
    opts.shared.frags = open_pin(dir, shown, "ef_frags");
    opts.shared.log = open_pin(dir, shown, "ef_log");
    opts.shared.log_counters = open_pin(dir, shown, "ef_log_counters");
    std::optional<kernel::ScratchDispatcher> scratch;
    for (const auto& i : meta["ifaces"])
        if (i.value("xdp_attach", "link") == "dispatcher" && !scratch)
            opts.xdp_ext_target = scratch.emplace().fd();
    kernel::Dataplane dp(opts);
    for (int fd :
         {opts.shared.ifaces, opts.shared.rule_counters, opts.shared.reason_counters,
          opts.shared.ct, opts.shared.ct_est, opts.shared.ct_dgram, opts.shared.ct_dgram_est,
          opts.shared.ct_stats, opts.shared.frags, opts.shared.log, opts.shared.log_counters})
        close(fd);
    dp.write_image(img);

    meta["policy"] = in.policy_path;
    meta["site"] = in.site_path;
    meta["policy_name"] = img.policy_name;
    meta["policy_hash"] = img.policy_hash;
    meta["policy_sha256"] = bundle::policy_hash(in.policy_text, in.site_text);
    if (in.bundle.is_object())
        meta["bundle"] = in.bundle;
    else
        meta.erase("bundle");
    meta["reloaded_at"] = now_text();
    meta["generation"] = generation;
    meta["egress"] = img.egress_mode[0] == EF_EGRESS_ENFORCE ? "enforce" : "track-only";
    meta["rules"] = rules_json(pr.img, slot_of);
    meta["confirm"] = confirm;
    phases.mark("programs_maps");
    auto st = checked(testing.get());
    meta["self_test"] = {{"probes", st.probes}, {"of", st.of}};
    (void)encode(meta);
    save_content(run.get(), generation, in);
    phases.mark("self_test");

    // Everything that can fail has happened. The swap: pins and description
    // first (if this process dies during the swap, status sees attached
    // programs that differ from the pinned ones and says "mixed"; reload
    // again finishes the job), then one link update per NIC and hook (XDP,
    // tcx), or an in-place filter replacement for netlink TC. Every packet
    // sees either the old or the new maps. Should the kernel refuse one of
    // them, everything goes back to the old programs, pins and description.
    PinSnapshot before;
    before.take(dir);
    bool armed = false;
    // A pending confirm's timer: ended once this reload has taken over, kept
    // (and its record with it) if this reload fails.
    std::string old_timer;
    bool had_timer = read_run_file(run.get(), "timer", old_timer);
    try {
        if (a.confirm_secs > 0) {
            arm_confirm(a.instance, run.get(), token, a.confirm_secs);
            armed = true;
        }
        for (uint32_t slot : fresh) zero_counter(dp.shared_maps().rule_counters, slot);
        dp.pin(dir);
        meta.erase("reload_flows");  // the previous reload's, until this one's judgment
        meta["reload_ms"] = phases.ms;
        kernel::write_meta(dir, encode(meta));
        kernel::NetnsGuard ns(meta.value("netns", ""));
        const char* fault = getenv("EDGEFW_FAULT_SWAP");  // tests: fail after N swaps
        int budget = fault && *fault ? atoi(fault) : -1;
        for (const auto& i : meta["ifaces"]) {
            if (budget-- == 0)
                throw kernel::Error("kernel: swap refused (EDGEFW_FAULT_SWAP fault injection)");
            swap_xdp(*d, i, dp.prog_fd(packet::Dir::ingress));
            if (i.value("tc_hook", "netlink") == "tcx")
                kernel::link_replace(pin_of(*d, i["tc_link"]), dp.prog_fd(packet::Dir::egress));
            else
                kernel::tc_attach(dp.prog_fd(packet::Dir::egress), i["ifindex"], i["dev"], true);
        }
    } catch (...) {
        int old_xdp = before.fd("prog_xdp"), old_tc = before.fd("prog_tc");
        try {
            kernel::NetnsGuard ns(meta.value("netns", ""));
            for (const auto& i : meta["ifaces"]) {
                try {
                    if (old_xdp >= 0) swap_xdp(*d, i, old_xdp);
                    if (old_tc < 0) continue;
                    if (i.value("tc_hook", "netlink") == "tcx")
                        kernel::link_replace(pin_of(*d, i["tc_link"]), old_tc);
                    else
                        kernel::tc_attach(old_tc, i["ifindex"], i["dev"], true);
                } catch (const kernel::Error&) {
                    // Left as it is: status compares and reports "mixed".
                }
            }
        } catch (const kernel::Error&) {
        }
        before.restore(dir);
        if (armed) kill_timer(run.get());
        if (had_timer) try {
                write_run_file(run.get(), "timer", old_timer);
            } catch (const std::exception&) {
                // Without its record the old timer still acts; only confirm cannot end it early.
            }
        // Only this reload's copies go: a pending confirm still needs its own.
        for (const char* k : {"policy", "site"})
            (void)unlinkat(run.get(), content_name(k, generation).c_str(), 0);
        throw;
    }
    phases.mark("swap");
    // Only steps that cannot fail (or whose failure changes nothing the
    // kernel runs) from here: the conntrack sweep, the phase times and
    // tidying kept copies. Nothing evicts an established conntrack entry: the
    // ones that expired without their flow showing up again go now.
    try {
        dp.sweep_conntrack();
    } catch (const std::exception&) {
        // Expired entries stay until their flow's next packet or the next reload.
    }
    phases.mark("ct_sweep");
    // Open flows are judged again by the new policy (unless --keep-flows): a
    // flow no rule admits any more is closed, one another rule admits moves
    // there. The lookups are built from the image as written (counter slots,
    // the numbering of the entries). A failure leaves the flows unjudged and
    // is reported; the new policy runs either way.
    if (a.keep_flows) {
        meta["reload_flows"] = {{"skipped", "--keep-flows"}};
    } else {
        try {
            auto f = dp.rejudge_conntrack(image::Lookup(img));
            meta["reload_flows"] = {{"kept", f.kept}, {"moved", f.moved}, {"closed", f.closed}};
        } catch (const std::exception& e) {
            meta["reload_flows"] = {{"error", e.what()}};
        }
    }
    phases.mark("flows");
    meta["reload_ms"] = phases.ms;
    try {
        kernel::write_meta(dir, encode(meta));
    } catch (const std::exception&) {
        // The description written before the swap stands; only the swap's time is missing.
    }
    // A pending confirm is superseded (its timer would find its token gone
    // and do nothing; ending it is tidiness).
    if (!by_timer && !armed) kill_timer(run.get());
    if (armed && had_timer) kill_recorded(old_timer);
    std::vector<uint64_t> keep = {generation};
    if (a.confirm_secs > 0) keep.push_back(old_generation);
    prune_content(run.get(), keep);
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
        json meta = json::parse(*text);
        std::unique_ptr<kernel::NetnsGuard> ns;
        try {
            ns = std::make_unique<kernel::NetnsGuard>(meta.value("netns", ""));
        } catch (const kernel::Error&) {
            // The namespace is gone, and its NICs with it: nothing left to detach.
        }
        if (ns) {
            // In a dispatcher edgefw's program is held by libxdp's pins, not
            // ours: libxdp takes it out and the other programs keep running. A
            // failure stops here, the instance still loaded, rather than leave
            // edgefw enforcing unseen.
            for (const auto& i : meta["ifaces"])
                if (i.value("xdp_attach", "link") == "dispatcher")
                    kernel::xdp_mp_detach(marker_of(*d), i["ifindex"], i["dev"]);
            try {
                for (const auto& i : meta["ifaces"])
                    if (i.value("tc_hook", "netlink") == "netlink") kernel::tc_detach(i["ifindex"]);
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
    (void)unlinkat(run.get(), "timer.error", 0);
}

}  // namespace

json read_instance(const std::string& instance) {
    kernel::check_instance_name(instance);
    auto d = kernel::InstanceDir::open(instance);
    auto text = d ? kernel::read_meta(d->path()) : std::nullopt;
    if (!text) throw Refused("instance '" + instance + "' is not loaded (see 'edgefw status')");
    return json::parse(*text);
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

void confirm(const std::string& instance) {
    kernel::check_instance_name(instance);
    Lock lock(instance, "confirm");
    auto d = kernel::InstanceDir::open(instance);
    auto text = d ? kernel::read_meta(d->path()) : std::nullopt;
    if (!text) throw Refused("instance '" + instance + "' is not loaded (see 'edgefw status')");
    json meta = json::parse(*text);
    if (!meta["confirm"].value("pending", false))
        throw Refused("instance '" + instance + "' has nothing to confirm");
    meta["confirm"] = {{"pending", false}, {"confirmed_at", now_text()}};
    kernel::write_meta(d->path(), encode(meta));
    kernel::Fd run = open_run_dir(instance);
    kill_timer(run.get());
    (void)unlinkat(run.get(), "timer.error", 0);
    prune_content(run.get(), {meta.value("generation", 1ull)});
}

void unload(const std::string& instance) {
    kernel::check_instance_name(instance);
    Lock lock(instance, "unload");
    unload_locked(instance);
}

}  // namespace lifecycle
