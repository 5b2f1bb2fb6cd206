// BPF_PROG_TEST_RUN part of the bench: every case is one program and one frame;
// the cases run round-robin, `runs` times, so a slow second of the machine hits
// all of them alike; each case reports the median of its runs.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <set>

#include "bench.h"
#include "bench_base.skel.h"
#include "compile/compile.h"
#include "compile/placement.h"
#include "edgefw.skel.h"
#include "kernel/dataplane.h"
#include "packet/packet.h"
#include "policy/policy.h"
#include "synth/synth.h"

namespace bench {

namespace {

// xdp-filter's map flags and layout (xdp-tools xdp-filter/common_kern_user.h).
constexpr uint64_t kXfSrc = 1 << 0, kXfDst = 1 << 1, kXfTcp = 1 << 2, kXfUdp = 1 << 3;

std::string errstr(int err) { return std::strerror(err < 0 ? -err : err); }

std::vector<uint8_t> frame_of(const std::string& spec) {
    packet::SpecError err;
    auto p = packet::parse_spec(spec, packet::Dir::ingress, err);
    if (!p) throw Error("bench: packet '" + spec + "': " + err.message);
    return packet::build_frame(*p);
}

policy::Policy load_policy(const std::string& path, const std::string& site) {
    policy::Diagnostics d;
    auto p = policy::load(path, site, d);
    if (!p)
        throw Error("bench: policy " + path + " does not load; run `edgefw check " + path + "`");
    return *p;
}

policy::Policy synth_policy(uint32_t rules) {
    policy::Diagnostics d;
    auto p = policy::load_text(synth::generate({rules, 1, true}), "synthetic.yaml", "", "", d);
    if (!p) throw Error("bench: synthetic policy of " + std::to_string(rules) + " rules");
    return *p;
}

std::unique_ptr<kernel::Dataplane> load_dp(const image::MapImage& img, bool ct_create,
                                           bool ct_lru_per_cpu = false) {
    auto opts = kernel::Options::from_image(img);
    opts.ct_create = ct_create;
    opts.ct_lru_per_cpu = ct_lru_per_cpu;
    auto dp = std::make_unique<kernel::Dataplane>(opts);
    dp->write_image(img);
    dp->set_iface_role(kernel::Dataplane::kTestRunIfindex, EF_ROLE_EXTERNAL);
    return dp;
}

int xdp_fd(kernel::Dataplane& dp) { return dp.prog_info(packet::Dir::ingress).fd; }

// A shadow candidate of the same image beside `enforced`, plugged in: every
// packet the enforced program judges is judged again by the candidate.
std::unique_ptr<kernel::Dataplane> load_candidate(const image::MapImage& img,
                                                  const kernel::Dataplane& enforced) {
    const auto shared = enforced.shared_maps();
    auto dp = std::make_unique<kernel::Dataplane>(
        kernel::shadow_options(kernel::Options::from_image(img), shared));
    dp->write_image(img);
    dp->plug_into(shared.shadow_xdp, shared.shadow_tc);
    return dp;
}

struct TestRun {
    uint32_t retval = 0;
    uint32_t duration_ns = 0;
};

TestRun test_run(int fd, const std::vector<uint8_t>& frame, uint32_t repeat) {
    bpf_test_run_opts o{};
    o.sz = sizeof(o);
    o.data_in = frame.data();
    o.data_size_in = uint32_t(frame.size());
    o.repeat = repeat;
    int err = bpf_prog_test_run_opts(fd, &o);
    if (err)
        throw Error("bench: BPF_PROG_TEST_RUN on prog fd " + std::to_string(fd) + ": " +
                    errstr(err));
    return {o.retval, o.duration};
}

// One of xdp-filter's programs (xdpfilt_*.o), loaded the way xdp-filter loads
// it but unpinned. Deny policy (dny): a packet passes when an entry matches and
// drops otherwise; allow policy (alw): a matching entry drops it, anything else
// passes. Its _all objects look up, in order, the Ethernet addresses, the IPv4
// addresses (dst, src) and the ports (dst, src), and stop at the first entry
// whose flags match.
class XdpFilter {
  public:
    explicit XdpFilter(const std::string& path) {
        obj_ = bpf_object__open_file(path.c_str(), nullptr);
        if (!obj_) {
            throw Error("bench: open " + path + ": " + errstr(errno) +
                        " -- install Debian package xdp-tools");
        }
        bpf_map* m;
        // Its maps are LIBBPF_PIN_BY_NAME; ours must not meet a running xdp-filter's.
        bpf_object__for_each_map(m, obj_) bpf_map__set_pin_path(m, nullptr);
        int err = bpf_object__load(obj_);
        if (err) throw Error("bench: load " + path + ": " + errstr(err));
        bpf_program* prog = bpf_object__next_program(obj_, nullptr);
        if (!prog) throw Error("bench: no program in " + path);
        fd_ = bpf_program__fd(prog);
        ports_fd_ = bpf_object__find_map_fd_by_name(obj_, "filter_ports");
        if (ports_fd_ < 0) throw Error("bench: no map filter_ports in " + path);
        ipv4_fd_ = bpf_object__find_map_fd_by_name(obj_, "filter_ipv4");
        if (ipv4_fd_ < 0) throw Error("bench: no map filter_ipv4 in " + path);
    }
    ~XdpFilter() { bpf_object__close(obj_); }
    XdpFilter(const XdpFilter&) = delete;
    XdpFilter& operator=(const XdpFilter&) = delete;

    // `xdp-filter port P --mode dst|src --proto tcp|udp`: the key is the port as
    // it sits in the header (in a u32), the per-CPU u64 value holds the flags.
    void add_port(uint16_t port, uint64_t flags) {
        uint32_t key = htons(port);
        add_flags(ports_fd_, &key, flags, "filter_ports");
    }
    // `xdp-filter ip A --mode src|dst`: the key is the address in network order.
    void add_ipv4(uint32_t addr_be, uint64_t flags) {
        add_flags(ipv4_fd_, &addr_be, flags, "filter_ipv4");
    }
    int fd() const { return fd_; }

  private:
    // As xdp-filter does: the flags are ORed into what every CPU's value holds
    // (a hash map without the key starts from zero).
    void add_flags(int map_fd, const void* key, uint64_t flags, const char* map) {
        int ncpus = libbpf_num_possible_cpus();
        std::vector<uint64_t> v(size_t(ncpus), 0);
        if (bpf_map_lookup_elem(map_fd, key, v.data()) && errno != ENOENT)
            throw Error(std::string("bench: read xdp-filter ") + map + ": " + errstr(errno));
        for (auto& x : v) x |= flags;
        if (bpf_map_update_elem(map_fd, key, v.data(), BPF_ANY))
            throw Error(std::string("bench: write xdp-filter ") + map + ": " + errstr(errno));
    }

    bpf_object* obj_ = nullptr;
    int fd_ = -1;
    int ports_fd_ = -1;
    int ipv4_fd_ = -1;
};

// The memory the kernel charges for a map: `memlock:` of /proc/self/fdinfo/<fd>
// (bpf_map_info has no such field).
uint64_t memlock_of(int fd) {
    std::ifstream f("/proc/self/fdinfo/" + std::to_string(fd));
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("memlock:", 0) == 0) return std::stoull(line.substr(8));
    }
    throw Error("bench: no memlock in /proc/self/fdinfo/" + std::to_string(fd));
}

// Every map of a loaded data plane (the skeleton's object: conntrack, counters,
// the log ring and .rodata included), by name; `policy` sums the maps a reload
// replaces, that is all but kernel::SharedMaps.
struct MapBytes {
    uint64_t total = 0, policy = 0;
    std::map<std::string, double> per_map;
};

MapBytes map_bytes(kernel::Dataplane& dp) {
    const auto sm = dp.shared_maps();
    const std::set<int> shared = {sm.ifaces,    sm.rule_counters, sm.reason_counters, sm.ct,
                                  sm.ct_est,    sm.ct_dgram,      sm.ct_dgram_est,    sm.ct_stats,
                                  sm.frags,     sm.log,           sm.log_counters,    sm.shadow_xdp,
                                  sm.shadow_tc, sm.shadow_handoff};
    MapBytes b;
    bpf_map* m;
    bpf_object__for_each_map(m, dp.skeleton()->obj) {
        int fd = bpf_map__fd(m);
        if (fd < 0) continue;
        uint64_t n = memlock_of(fd);
        b.per_map[bpf_map__name(m)] = double(n);
        b.total += n;
        if (!shared.count(fd)) b.policy += n;
    }
    return b;
}

struct Case {
    std::string key;
    int fd = -1;
    std::vector<uint8_t> frame;
    uint32_t want = XDP_PASS;
    std::function<void()> before;  // runs before every timed run
    std::vector<double> ns;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Where a data plane's conntrack entries are, e.g. "ef_ct_dgram_est 1" ("none").
std::string ct_where(const kernel::Dataplane& dp) {
    std::string out;
    const auto st = dp.ct_stats();
    for (size_t t = 0; t < st.size(); ++t) {
        if (!st[t].entries) continue;
        out += (out.empty() ? "" : ", ") + std::string(kernel::kCtTableNames[t]) + " " +
               std::to_string(st[t].entries);
    }
    return out.empty() ? "none" : out;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

void run_testrun(const Settings& s, Results& r) {
    kernel::set_verbose(false);

    // Frames: 64-byte Ethernet frames (the wire minimum with FCS), one per case kind.
    const std::string ref_spec = "udp 203.0.113.7:40000 > 131.107.155.130:3478 len 64";
    const std::string ct_spec = "udp 203.0.113.7:40000 > 131.107.155.30:50010 len 64";
    const std::string reply_spec = "egress udp 131.107.155.30:50010 > 203.0.113.7:40000 len 64";
    const std::string deny_spec = "udp 203.0.113.7:40000 > 131.107.155.130:9 len 64";
    const std::string synth_spec = "udp 203.0.113.7:40000 > 198.18.0.1:65000 len 64";
    // From the A/V VIP to itself: xdp-filter (allow) drops it by its source address.
    const std::string spoof_spec = "udp 131.107.155.130:40000 > 131.107.155.130:3478 len 64";
    const auto ref = frame_of(ref_spec), ct = frame_of(ct_spec), reply = frame_of(reply_spec),
               deny = frame_of(deny_spec), syn = frame_of(synth_spec), spoof = frame_of(spoof_spec);
    r.info["packet_ref"] = ref_spec;
    r.info["packet_conntrack"] = ct_spec + ", after its reply " + reply_spec;
    r.info["packet_conntrack_unanswered"] = ct_spec;
    r.info["packet_deny"] = deny_spec;
    r.info["packet_rules"] = synth_spec;

    // Floor, oracle and the new-flow wrapper.
    bench_base* base = bench_base__open_and_load();
    if (!base) throw Error("bench: load bench_base BPF object: " + errstr(errno));
    std::unique_ptr<bench_base, void (*)(bench_base*)> base_guard(base, bench_base__destroy);
    {
        // The oracle's one flow: the reference packet's five-tuple.
        struct {
            uint32_t saddr, daddr;
            uint16_t sport, dport;
            uint8_t proto, pad[3];
        } t{};
        inet_pton(AF_INET, "203.0.113.7", &t.saddr);
        inet_pton(AF_INET, "131.107.155.130", &t.daddr);
        t.sport = htons(40000);
        t.dport = htons(3478);
        t.proto = IPPROTO_UDP;
        uint32_t slot = 7;
        if (bpf_map_update_elem(bpf_map__fd(base->maps.bench_flows), &t, &slot, BPF_ANY))
            throw Error("bench: write map bench_flows: " + errstr(errno));
    }

    // edgefw on the reference policy's edge1: creation off (classification),
    // creation on (the two conntrack cases, the new-flow case).
    auto ref_pol = load_policy(s.policy, "");
    auto edge1 = compile::compile_node(ref_pol, "edge1");
    auto dp_ref = load_dp(edge1, false);
    auto dp_est = load_dp(edge1, true);
    auto dp_unans = load_dp(edge1, true);
    auto dp_create = load_dp(edge1, true);
    auto dp_create_percpu = load_dp(edge1, true, true);  // load --ct-lru per-cpu
    // The same with a shadow candidate (edge1 again) judging every packet.
    auto dp_ref_sh = load_dp(edge1, false);
    auto dp_est_sh = load_dp(edge1, true);
    auto cand_ref = load_candidate(edge1, *dp_ref_sh);
    auto cand_est = load_candidate(edge1, *dp_est_sh);

    // Synthetic policies: the packet matches the last rule.
    std::vector<std::pair<uint32_t, std::unique_ptr<kernel::Dataplane>>> synth_dps;
    for (uint32_t n : {100u, 1000u, 10000u}) {
        auto p = synth_policy(n);
        synth_dps.emplace_back(n, load_dp(compile::compile_node(p, "syn1"), false));
    }
    // For each size, a port no synthetic rule names on 198.18.0.1 (checked by
    // the verdict): the deny case at that rule count.
    std::vector<std::pair<uint32_t, std::vector<uint8_t>>> synth_deny;
    for (auto& [n, dp] : synth_dps) {
        std::vector<uint8_t> frame;
        for (uint32_t port = 9; port < 65536 && frame.empty(); port += 1) {
            std::string spec =
                "udp 203.0.113.7:40000 > 198.18.0.1:" + std::to_string(port) + " len 64";
            auto f = frame_of(spec);
            if (test_run(xdp_fd(*dp), f, 1).retval == XDP_DROP) {
                frame = f;
                r.info["packet_deny_" + std::to_string(n)] = spec;
            }
        }
        if (frame.empty())
            throw Error("bench: no port misses every synthetic rule on 198.18.0.1 (" +
                        std::to_string(n) + " rules)");
        synth_deny.emplace_back(n, frame);
    }

    // Memory: what the kernel charges for every map of the loaded data plane.
    for (auto& [key, dp] : {std::pair<std::string, kernel::Dataplane*>{"ref", dp_ref.get()},
                            {"10000", synth_dps.back().second.get()}}) {
        auto b = map_bytes(*dp);
        r.values["map_bytes_" + key] = double(b.total);
        r.values["map_bytes_policy_" + key] = double(b.policy);
        r.per_map[key] = b.per_map;
    }

    // The conntrack cases. Established: the RTP packet in through XDP, its reply
    // out through TC egress (both see ifindex 1, role external), so the flow has
    // seen a packet in each direction. Unanswered: the packet in only. Each timed
    // packet then finds its flow.
    if (test_run(xdp_fd(*dp_est), ct, 1).retval != XDP_PASS)
        throw Error("bench: the conntrack packet does not pass (" + ct_spec + ")");
    if (!dp_est->run(packet::Dir::egress, reply).pass)
        throw Error("bench: the conntrack reply does not pass TC egress (" + reply_spec + ")");
    if (test_run(xdp_fd(*dp_unans), ct, 1).retval != XDP_PASS)
        throw Error("bench: the conntrack packet does not pass (" + ct_spec + ")");
    // With the candidate: the flow in both objects' tables.
    if (test_run(xdp_fd(*dp_est_sh), ct, 1).retval != XDP_PASS ||
        !dp_est_sh->run(packet::Dir::egress, reply).pass)
        throw Error("bench: the conntrack flow does not pass with a shadow candidate");
    if (ct_where(*cand_est) != ct_where(*dp_est))
        throw Error("bench: the shadow candidate's conntrack (" + ct_where(*cand_est) +
                    ") is not the enforced one's (" + ct_where(*dp_est) + ")");
    r.info["ct_tables_conntrack"] = ct_where(*dp_est);
    r.info["ct_tables_conntrack_unanswered"] = ct_where(*dp_unans);

    // xdp-filter, deny policy: the destination ports (with their protocol) of
    // edge1's external ingress tcp/udp rules pass, the rest drops. Allow
    // policy: the same ports the other way round (every port no such rule names
    // is blocked, per protocol) plus edge1's own external IPv4 addresses blocked
    // as sources, as edgefw's anti-spoofing step drops them.
    std::vector<uint8_t> admitted(65536, 0);  // kXfTcp | kXfUdp per destination port
    for (const auto& e : compile::place(ref_pol, "edge1")) {
        if (e.role != EF_ROLE_EXTERNAL || e.dir != EF_DIR_INGRESS) continue;
        if (e.slot != EF_PS_TCP && e.slot != EF_PS_UDP) continue;
        for (const auto& pr : e.dport)
            for (uint32_t p = pr.lo; p <= pr.hi; ++p)
                admitted[p] |= uint8_t(e.slot == EF_PS_TCP ? kXfTcp : kXfUdp);
    }
    XdpFilter xf(s.xdp_filter_obj), xfa(s.xdp_filter_allow_obj);
    size_t xf_ports = 0, xfa_ports = 0, xfa_addrs = 0;
    for (uint32_t p = 0; p < 65536; ++p) {
        if (admitted[p]) {
            xf.add_port(uint16_t(p), kXfDst | admitted[p]);
            ++xf_ports;
        }
        if (uint64_t blocked = (kXfTcp | kXfUdp) & ~uint64_t(admitted[p])) {
            xfa.add_port(uint16_t(p), kXfDst | blocked);
            ++xfa_ports;
        }
    }
    for (const auto& k : edge1.local_addrs) {
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (k.role != EF_ROLE_EXTERNAL || std::memcmp(k.addr, v4mapped, 12)) continue;
        uint32_t a;
        std::memcpy(&a, k.addr + 12, 4);
        xfa.add_ipv4(a, kXfSrc);
        ++xfa_addrs;
    }
    r.info["xdp_filter"] = s.xdp_filter_obj + " (policy deny), " + std::to_string(xf_ports) +
                           " dst port entries from edge1 external ingress rules";
    r.info["xdp_filter_allow"] =
        s.xdp_filter_allow_obj + " (policy allow), " + std::to_string(xfa_ports) +
        " dst port entries (ports no edge1 external ingress rule names, per protocol), " +
        std::to_string(xfa_addrs) + " src IPv4 entries (edge1's external addresses)";
    if (test_run(xfa.fd(), spoof, 1).retval != XDP_DROP)
        throw Error("bench: xdp-filter (allow) passes a packet from a blocked source (" +
                    spoof_spec + "); its address map is not filled as expected");

    // bench_new_flow tail-calls slot 0 (creation on), 1 (off), 2 (bench_floor:
    // the wrapper's own cost) or 3 (creation on, per-CPU LRU lists).
    const int floor_fd = bpf_program__fd(base->progs.bench_floor);
    const int next_fd = bpf_map__fd(base->maps.bench_next);
    for (auto [slot, fd] : {std::pair{0u, xdp_fd(*dp_create)}, std::pair{1u, xdp_fd(*dp_ref)},
                            std::pair{2u, floor_fd}, std::pair{3u, xdp_fd(*dp_create_percpu)}}) {
        if (bpf_map_update_elem(next_fd, &slot, &fd, BPF_ANY))
            throw Error("bench: write map bench_next: " + errstr(errno));
    }

    const int oracle_fd = bpf_program__fd(base->progs.bench_oracle);
    const int newflow_fd = bpf_program__fd(base->progs.bench_new_flow);
    auto slot = [base](uint32_t n) { return [base, n] { base->bss->next_slot = n; }; };
    std::vector<Case> cases = {
        {"floor", floor_fd, ref, XDP_PASS, {}, {}},
        {"oracle", oracle_fd, ref, XDP_PASS, {}, {}},
        {"conntrack", xdp_fd(*dp_est), ct, XDP_PASS, {}, {}},
        {"conntrack_unanswered", xdp_fd(*dp_unans), ct, XDP_PASS, {}, {}},
        {"ref", xdp_fd(*dp_ref), ref, XDP_PASS, {}, {}},
        {"deny", xdp_fd(*dp_ref), deny, XDP_DROP, {}, {}},
        {"xdp_filter", xf.fd(), ref, XDP_PASS, {}, {}},
        {"xdp_filter_deny", xf.fd(), deny, XDP_DROP, {}, {}},
        {"xdp_filter_allow", xfa.fd(), ref, XDP_PASS, {}, {}},
        {"xdp_filter_allow_deny", xfa.fd(), deny, XDP_DROP, {}, {}},
        {"new_flow_ct_on", newflow_fd, ref, XDP_PASS, slot(0), {}},
        {"new_flow_ct_off", newflow_fd, ref, XDP_PASS, slot(1), {}},
        {"new_flow_wrapper", newflow_fd, ref, XDP_PASS, slot(2), {}},
        {"new_flow_ct_on_percpu", newflow_fd, ref, XDP_PASS, slot(3), {}},
        {"conntrack_shadow", xdp_fd(*dp_est_sh), ct, XDP_PASS, {}, {}},
        {"ref_shadow", xdp_fd(*dp_ref_sh), ref, XDP_PASS, {}, {}},
        {"deny_shadow", xdp_fd(*dp_ref_sh), deny, XDP_DROP, {}, {}},
    };
    for (size_t i = 0; i < synth_dps.size(); ++i) {
        auto& [n, dp] = synth_dps[i];
        cases.push_back({"rules_" + std::to_string(n), xdp_fd(*dp), syn, XDP_PASS, {}, {}});
        cases.push_back(
            {"deny_" + std::to_string(n), xdp_fd(*dp), synth_deny[i].second, XDP_DROP, {}, {}});
    }

    // Verdicts first: a case that takes the wrong path measures nothing.
    for (auto& c : cases) {
        if (c.before) c.before();
        uint32_t got = test_run(c.fd, c.frame, 1).retval;
        if (got != c.want) {
            throw Error("bench: case " + c.key + " returned " + std::to_string(got) +
                        ", expected " + std::to_string(c.want) + "; the setup is wrong");
        }
    }
    for (uint32_t run = 0; run < s.runs; ++run) {
        for (auto& c : cases) {
            if (c.before) c.before();
            c.ns.push_back(test_run(c.fd, c.frame, s.repeat).duration_ns);
        }
    }
    for (auto& c : cases) {
        r.ns[c.key] = median(c.ns);
        r.samples[c.key] = c.ns;
    }
    r.ns["ct_create"] = r.ns["new_flow_ct_on"] - r.ns["new_flow_ct_off"];
    // What a loaded shadow candidate adds to each packet (the tail call and its
    // whole verdict); with none loaded the rows above pay only the empty slot.
    for (const char* k : {"conntrack", "ref", "deny"})
        r.ns[std::string("shadow_extra_") + k] = r.ns[std::string(k) + "_shadow"] - r.ns[k];
    r.ns["ct_create_percpu"] = r.ns["new_flow_ct_on_percpu"] - r.ns["new_flow_ct_off"];
    // The new flow as a packet like the others: the wrapper's rewrite and tail
    // call taken out, the test-run loop (floor) left in.
    r.ns["new_flow"] = r.ns["new_flow_ct_on"] - r.ns["new_flow_wrapper"] + r.ns["floor"];
    r.ns["new_flow_percpu"] =
        r.ns["new_flow_ct_on_percpu"] - r.ns["new_flow_wrapper"] + r.ns["floor"];
    // The timed runs must have found the flows the cases set up.
    if (ct_where(*dp_est) != r.info["ct_tables_conntrack"] ||
        ct_where(*dp_unans) != r.info["ct_tables_conntrack_unanswered"]) {
        throw Error("bench: the conntrack cases' flows moved while timed (established: " +
                    r.info["ct_tables_conntrack"] + " -> " + ct_where(*dp_est) + "; unanswered: " +
                    r.info["ct_tables_conntrack_unanswered"] + " -> " + ct_where(*dp_unans) + ")");
    }
    r.info["ct_create"] =
        "A/B: bench_new_flow gives every repetition a new source address, then tail-calls "
        "edgefw (edge1, STUN to the A/V VIP) with ct_create on vs off; conntrack tables at "
        "their default size, so in steady state each creation also evicts an entry";
    r.info["new_flow"] =
        "new_flow_ct_on - new_flow_wrapper + floor: new_flow_wrapper is bench_new_flow "
        "tail-calling bench_floor (the rewrite and the tail call alone)";
    r.info["ct_create_percpu"] =
        "the same with the new tables' LRU lists per CPU (load --ct-lru per-cpu, "
        "BPF_F_NO_COMMON_LRU): no table-wide lock, each CPU evicts from its own share";
    r.info["shadow"] =
        "x_shadow: case x with a shadow candidate (edge1 again) plugged into the enforced "
        "program's slot; shadow_extra_x = x_shadow - x. Its verdict counts in its own maps";
    if (cand_ref->reason_counter(EF_R_DEFAULT_EXTERNAL_INGRESS).packets == 0)
        throw Error("bench: the shadow candidate counted nothing; it did not run");
    r.info["ct_entries_after_create_runs"] = std::to_string(dp_create->ct_entries());

    // Compile of 10,000 rules in-process: parse and validate the synthetic
    // policy's text (made beforehand), then compile_node -- what `edgefw compile`
    // does without process start, file read and output.
    const std::string text = synth::generate({10000, 1, true});
    std::vector<double> total, parse;
    for (uint32_t run = 0; run < s.runs; ++run) {
        auto t0 = std::chrono::steady_clock::now();
        policy::Diagnostics d;
        auto p = policy::load_text(text, "synthetic.yaml", "", "", d);
        if (!p) throw Error("bench: synthetic policy of 10000 rules does not load");
        parse.push_back(ms_since(t0));
        auto img = compile::compile_node(*p, "syn1");
        total.push_back(ms_since(t0));
        if (img.rules.empty()) throw Error("bench: the 10,000-rule policy compiled to no rules");
    }
    r.values["compile_10000_ms"] = median(total);
    r.values["compile_10000_parse_ms"] = median(parse);
    r.value_samples["compile_10000_ms"] = total;
    r.value_samples["compile_10000_parse_ms"] = parse;
}

}  // namespace bench
