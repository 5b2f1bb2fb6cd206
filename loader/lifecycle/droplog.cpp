// `edgefw log`: drop events from the pinned ring buffer, each with the rule
// that came closest to allowing it ("port 60000 is outside RTP 50000-59999 of
// rule edge1-ext-av-rtp-udp-in").
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>

#include "compile/placement.h"
#include "image/reasons.h"
#include "kernel/dataplane.h"
#include "kernel/instance.h"
#include "lifecycle/lifecycle.h"
#include "lifecycle/lock.h"
#include "lifecycle/steps.h"
#include "util/input_file.h"

namespace lifecycle {

using nlohmann::json;

namespace {

volatile sig_atomic_t g_stop = 0;

struct Context {
    InstanceMeta meta;
    std::optional<policy::Policy> policy;
    std::vector<compile::Entry> entries;
    bool json_out = false;
    double mono_to_wall = 0;  // seconds to add to a CLOCK_MONOTONIC stamp
};

packet::Addr addr_of(const uint8_t b[16]) {
    packet::Addr a;
    std::memcpy(a.bytes.data(), b, 16);
    return a;
}

}  // namespace

const char* event_proto(uint8_t proto) {
    return proto == IPPROTO_TCP      ? "tcp"
           : proto == IPPROTO_UDP    ? "udp"
           : proto == IPPROTO_ICMP   ? "icmp"
           : proto == IPPROTO_ICMPV6 ? "icmp6"
                                     : "ip";
}

std::string event_addr(const uint8_t addr[16]) { return addr_of(addr).str(); }

std::string event_iface(const InstanceMeta& meta, uint32_t ifindex) {
    for (const auto& i : meta.ifaces)
        if (i.ifindex == ifindex) return i.dev;
    return "ifindex " + std::to_string(ifindex);
}

double mono_to_wall() {
    timespec mono{}, real{};
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    return double(real.tv_sec - mono.tv_sec) + double(real.tv_nsec - mono.tv_nsec) / 1e9;
}

std::string event_clock(double unix_secs) {
    time_t secs = static_cast<time_t>(unix_secs);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%H:%M:%S", localtime(&secs));
    return stamp;
}

namespace {

std::string ranges_text(const std::vector<policy::PortRange>& rs) {
    std::string out;
    for (const auto& r : rs) out += (out.empty() ? "" : ",") + r.str();
    return out;
}

// The placed rule with the same role, direction, protocol and local address
// whose destination ports come nearest to the packet's; or what else is off.
std::string nearest(const Context& c, const ef_drop_event& e) {
    if (e.reason >= EF_R_DEFAULT_EXTERNAL_INGRESS + 4 || !c.policy) return "";
    bool in = e.dir == EF_DIR_INGRESS;
    packet::Addr local = addr_of(in ? e.dst : e.src), remote = addr_of(in ? e.src : e.dst);
    uint32_t dport =
        e.proto == IPPROTO_ICMP || e.proto == IPPROTO_ICMPV6 ? uint32_t{e.icmp_type} << 8 : e.dport;
    const compile::Entry* best = nullptr;
    uint32_t best_gap = UINT32_MAX;
    for (const auto& en : c.entries) {
        if (en.role != e.role || en.dir != e.dir ||
            en.slot != policy::proto_slot_of_number(e.proto))
            continue;
        if (std::find(en.local.begin(), en.local.end(), local) == en.local.end()) continue;
        for (const auto& r : en.dport) {
            uint32_t gap = dport < r.lo ? r.lo - dport : dport > r.hi ? dport - r.hi : 0;
            if (gap < best_gap) best_gap = gap, best = &en;
        }
    }
    if (!best) return "no rule of this protocol names " + local.str() + " on this NIC";
    const auto& r = *best->rule;
    if (best_gap > 0)
        return fmt::format("port {} is outside {} {} of rule {}", dport, r.app,
                           ranges_text(best->dport), r.id);
    bool remote_ok = std::any_of(best->remote.begin(), best->remote.end(),
                                 [&](const policy::Cidr& x) { return x.contains(remote); });
    if (!remote_ok)
        return fmt::format("{} is not a source rule {} ({}) allows", remote.str(), r.id, r.app);
    return fmt::format("source port {} is outside {} of rule {}", in ? e.sport : e.dport,
                       ranges_text(best->sport), r.id);
}

int on_event(void* ctx, void* data, size_t size) {
    const auto& c = *static_cast<Context*>(ctx);
    if (size < sizeof(ef_drop_event)) return 0;
    ef_drop_event e;
    std::memcpy(&e, data, sizeof e);
    double when = static_cast<double>(e.ts_ns) / 1e9 + c.mono_to_wall;
    std::string stamp = event_clock(when);
    const char* proto = event_proto(e.proto);
    std::string src = event_addr(e.src), dst = event_addr(e.dst);
    std::string why = nearest(c, e);
    if (c.json_out) {
        json j = {{"time", when},
                  {"iface", event_iface(c.meta, e.ifindex)},
                  {"role", policy::role_name(e.role)},
                  {"dir", e.dir == EF_DIR_INGRESS ? "ingress" : "egress"},
                  {"proto", proto},
                  {"src", src},
                  {"sport", e.sport},
                  {"dst", dst},
                  {"dport", e.dport},
                  {"reason", image::reason_name(e.reason)},
                  {"len", e.len},
                  {"nearest", why}};
        std::cout << j.dump() << std::endl;
    } else {
        std::cout << fmt::format("{} {:<10} {:<7} {} {}:{} > {}:{} {}{}", stamp,
                                 event_iface(c.meta, e.ifindex),
                                 e.dir == EF_DIR_INGRESS ? "ingress" : "egress", proto, src,
                                 e.sport, dst, e.dport, image::reason_name(e.reason),
                                 why.empty() ? "" : ": " + why)
                  << std::endl;
    }
    return 0;
}

// Through the shared input opener: a path that became a FIFO or a device is
// refused at once instead of hanging the log.
bool read_regular(const std::string& path, std::string& out) {
    if (path.empty()) return false;
    std::string err;
    auto text = util::read_input(path, "policy", util::kMaxInputBytes, err);
    if (!text) return false;
    out = std::move(*text);
    return true;
}

}  // namespace

void print_log(const LogArgs& a) {
    Context c;
    auto dir = kernel::InstanceDir::open(a.instance);
    auto text = dir ? kernel::read_meta(dir->path()) : std::nullopt;
    if (!text) throw Refused("instance '" + a.instance + "' is not loaded (see 'edgefw status')");
    c.meta = parse_meta(*text);
    c.json_out = a.json;
    // The nearest-rule hints come from the policy as it was loaded: the copy
    // kept under /run/edgefw/<instance>, else the recorded paths -- opened
    // without blocking and only if they are regular files (a path that became
    // a FIFO must not hang `edgefw log`). Without either, events print bare.
    std::string ptext, stext;
    std::string gen = std::to_string(c.meta.generation);
    const std::string &ppath = c.meta.policy, &spath = c.meta.site;
    bool have = false;
    try {
        kernel::Fd run = open_run_dir(a.instance);
        have = read_run_file(run.get(), "policy." + gen, ptext) &&
               (spath.empty() || read_run_file(run.get(), "site." + gen, stext));
    } catch (const std::exception&) {
        have = false;  // not root, or no run directory: try the paths
    }
    if (!have) have = read_regular(ppath, ptext) && (spath.empty() || read_regular(spath, stext));
    if (have) {
        policy::Diagnostics d;
        // Its site checks were passed when it was loaded.
        c.policy =
            policy::load_text(ptext, ppath, stext, spath, d, {.allow_wide_management = true});
        if (c.policy) c.entries = compile::place(*c.policy, c.meta.node);
    }
    c.mono_to_wall = mono_to_wall();
    read_ring(dir->path() + "/ef_log", on_event, &c, a.follow);
}

void read_ring(const std::string& path, int (*on_record)(void*, void*, size_t), void* ctx,
               bool follow) {
    kernel::Fd fd(bpf_obj_get(path.c_str()));
    if (!fd)
        throw kernel::Error("kernel: open " + path + ": " + std::strerror(errno) +
                            " -- load the instance with this version of edgefw");
    std::unique_ptr<ring_buffer, decltype(&ring_buffer__free)> rb(
        ring_buffer__new(fd.get(), on_record, ctx, nullptr), ring_buffer__free);
    if (!rb) throw kernel::Error("kernel: read ring buffer " + path + ": " + std::strerror(errno));
    if (follow) {
        signal(SIGINT, [](int) { g_stop = 1; });
        signal(SIGTERM, [](int) { g_stop = 1; });
        while (!g_stop) {
            int n = ring_buffer__poll(rb.get(), 250);
            if (n < 0 && n != -EINTR) break;
        }
    } else {
        ring_buffer__consume(rb.get());
    }
}

}  // namespace lifecycle
