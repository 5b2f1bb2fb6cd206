// BPF_PROG_TEST_RUN part of the bench: every case is one program and one frame;
// the cases run round-robin, `runs` times, so a slow second of the machine hits
// all of them alike; each case reports the median of its runs.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>

#include "bench.h"
#include "bench_base.skel.h"
#include "compile/compile.h"
#include "compile/placement.h"
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

std::unique_ptr<kernel::Dataplane> load_dp(const image::MapImage& img, bool ct_create) {
    auto opts = kernel::Options::from_image(img);
    opts.ct_create = ct_create;
    auto dp = std::make_unique<kernel::Dataplane>(opts);
    dp->write_image(img);
    dp->set_iface_role(kernel::Dataplane::kTestRunIfindex, EF_ROLE_EXTERNAL);
    return dp;
}

int xdp_fd(kernel::Dataplane& dp) { return dp.prog_info(packet::Dir::ingress).fd; }

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

// xdp-filter's deny-policy program (xdpfilt_dny_all.o: everything is dropped
// unless a map entry matches), loaded the way xdp-filter loads it but unpinned.
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
    }
    ~XdpFilter() { bpf_object__close(obj_); }
    XdpFilter(const XdpFilter&) = delete;
    XdpFilter& operator=(const XdpFilter&) = delete;

    // `xdp-filter port P --mode dst --proto tcp|udp`: the key is the port as it
    // sits in the header, the per-CPU value holds the flags.
    void allow_dst_port(uint16_t port, uint64_t proto_flag) {
        int ncpus = libbpf_num_possible_cpus();
        std::vector<uint64_t> v(size_t(ncpus), 0);
        uint32_t key = htons(port);
        if (bpf_map_lookup_elem(ports_fd_, &key, v.data()))
            throw Error("bench: read xdp-filter filter_ports: " + errstr(errno));
        for (auto& x : v) x |= kXfDst | proto_flag;
        if (bpf_map_update_elem(ports_fd_, &key, v.data(), BPF_ANY))
            throw Error("bench: write xdp-filter filter_ports: " + errstr(errno));
    }
    int fd() const { return fd_; }

  private:
    bpf_object* obj_ = nullptr;
    int fd_ = -1;
    int ports_fd_ = -1;
};

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

}  // namespace

void run_testrun(const Settings& s, Results& r) {
    kernel::set_verbose(false);

    // Frames: 64-byte Ethernet frames (the wire minimum with FCS), one per case kind.
    const std::string ref_spec = "udp 203.0.113.7:40000 > 131.107.155.130:3478 len 64";
    const std::string ct_spec = "udp 203.0.113.7:40000 > 131.107.155.30:50010 len 64";
    const std::string deny_spec = "udp 203.0.113.7:40000 > 131.107.155.130:9 len 64";
    const std::string synth_spec = "udp 203.0.113.7:40000 > 198.18.0.1:65000 len 64";
    const auto ref = frame_of(ref_spec), ct = frame_of(ct_spec), deny = frame_of(deny_spec),
               syn = frame_of(synth_spec);
    r.info["packet_ref"] = ref_spec;
    r.info["packet_conntrack"] = ct_spec;
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

    // edgefw on the reference policy's edge1, conntrack creation off / on.
    auto ref_pol = load_policy(s.policy, "");
    auto edge1 = compile::compile_node(ref_pol, "edge1");
    auto dp_ref = load_dp(edge1, false);
    auto dp_ct = load_dp(edge1, true);
    auto dp_create = load_dp(edge1, true);

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

    // The flow of the conntrack case exists before timing; each timed packet hits it.
    if (test_run(xdp_fd(*dp_ct), ct, 1).retval != XDP_PASS || dp_ct->ct_entries() != 1)
        throw Error("bench: the conntrack packet did not create its flow (" + ct_spec + ")");

    // xdp-filter with the destination ports of edge1's external ingress rules.
    XdpFilter xf(s.xdp_filter_obj);
    size_t xf_ports = 0;
    for (const auto& e : compile::place(ref_pol, "edge1")) {
        if (e.role != EF_ROLE_EXTERNAL || e.dir != EF_DIR_INGRESS) continue;
        if (e.slot != EF_PS_TCP && e.slot != EF_PS_UDP) continue;
        for (const auto& pr : e.dport)
            for (uint32_t p = pr.lo; p <= pr.hi; ++p, ++xf_ports)
                xf.allow_dst_port(uint16_t(p), e.slot == EF_PS_TCP ? kXfTcp : kXfUdp);
    }
    r.info["xdp_filter"] = s.xdp_filter_obj + " (policy deny), " + std::to_string(xf_ports) +
                           " dst port entries from edge1 external ingress rules";
    (void)kXfSrc;

    // bench_new_flow tail-calls slot 0 (creation on) or slot 1 (off).
    const int next_fd = bpf_map__fd(base->maps.bench_next);
    for (auto [slot, fd] : {std::pair{0u, xdp_fd(*dp_create)}, std::pair{1u, xdp_fd(*dp_ref)}}) {
        if (bpf_map_update_elem(next_fd, &slot, &fd, BPF_ANY))
            throw Error("bench: write map bench_next: " + errstr(errno));
    }

    const int floor_fd = bpf_program__fd(base->progs.bench_floor);
    const int oracle_fd = bpf_program__fd(base->progs.bench_oracle);
    const int newflow_fd = bpf_program__fd(base->progs.bench_new_flow);
    std::vector<Case> cases = {
        {"floor", floor_fd, ref, XDP_PASS, {}, {}},
        {"oracle", oracle_fd, ref, XDP_PASS, {}, {}},
        {"conntrack", xdp_fd(*dp_ct), ct, XDP_PASS, {}, {}},
        {"ref", xdp_fd(*dp_ref), ref, XDP_PASS, {}, {}},
        {"deny", xdp_fd(*dp_ref), deny, XDP_DROP, {}, {}},
        {"xdp_filter", xf.fd(), ref, XDP_PASS, {}, {}},
        {"xdp_filter_deny", xf.fd(), deny, XDP_DROP, {}, {}},
        {"new_flow_ct_on", newflow_fd, ref, XDP_PASS, [base] { base->bss->next_slot = 0; }, {}},
        {"new_flow_ct_off", newflow_fd, ref, XDP_PASS, [base] { base->bss->next_slot = 1; }, {}},
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
    if (dp_ct->ct_entries() != 1) throw Error("bench: the conntrack case lost its flow");
    r.info["ct_create"] =
        "A/B: bench_new_flow gives every repetition a new source address, then tail-calls "
        "edgefw (edge1, STUN to the A/V VIP) with ct_create on vs off; ef_ct at its default "
        "size, so in steady state each creation also evicts an LRU entry";
    r.info["ct_entries_after_create_runs"] = std::to_string(dp_create->ct_entries());
}

}  // namespace bench
