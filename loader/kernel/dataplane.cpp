#include "kernel/dataplane.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <iterator>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>
#include <vector>

#include "edgefw.skel.h"
#include "image/flat.h"
#include "image/rejudge.h"
#include "kernel/map_write.h"

namespace kernel {

namespace {

std::atomic<bool> g_verbose{false};

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
    if (!g_verbose.load(std::memory_order_relaxed)) return 0;
    if (level == LIBBPF_DEBUG) return 0;
    return std::vfprintf(stderr, fmt, args);
}

void install_print() {
    static std::once_flag once;
    std::call_once(once, [] { libbpf_set_print(libbpf_print); });
}

std::string default_hint(int err) {
    switch (err) {
        case EPERM:
        case EACCES:
            return "run as root (CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON are needed)";
        case ENOMEM:
            return "lower the conntrack size or free kernel memory";
        case E2BIG:
        case ENOSPC:
            return "the image exceeds the map's max_entries (maps/edgefw_abi.h limits)";
        default:
            return {};
    }
}

// libbpf returns -errno or sets errno; either way report the positive code.
[[noreturn]] void fail(const std::string& action, const std::string& object, int err,
                       std::string hint = {}) {
    if (err < 0) err = -err;
    if (hint.empty()) hint = default_hint(err);
    std::string msg = "kernel: " + action + " " + object + ": " + std::strerror(err);
    if (!hint.empty()) msg += " -- " + hint;
    throw Error(msg);
}

int fd_of(const bpf_map* m) { return bpf_map__fd(m); }

// kKeptMaps' rows as skeleton fields, in the same order (checked by name):
// the compiler checks each field, the name check keeps the two in step.
using SkelMaps = decltype(::edgefw::maps);
constexpr bpf_map* SkelMaps::*kKeptSkelMaps[] = {
    &SkelMaps::ef_ifaces,       &SkelMaps::ef_rule_counters,  &SkelMaps::ef_reason_counters,
    &SkelMaps::ef_ct,           &SkelMaps::ef_ct_est,         &SkelMaps::ef_ct_dgram,
    &SkelMaps::ef_ct_dgram_est, &SkelMaps::ef_ct_stats,       &SkelMaps::ef_frags,
    &SkelMaps::ef_log,          &SkelMaps::ef_log_counters,   &SkelMaps::ef_shadow_xdp,
    &SkelMaps::ef_shadow_tc,    &SkelMaps::ef_shadow_handoff,
};
static_assert(std::size(kKeptSkelMaps) == std::size(kKeptMaps));

bpf_map* kept_map(const ::edgefw& skel, const KeptMap& k) {
    bpf_map* m = skel.maps.*kKeptSkelMaps[&k - kKeptMaps];
    if (std::strcmp(bpf_map__name(m), k.name) != 0)
        fail("find", std::string("map ") + k.name, EINVAL,
             "kKeptMaps and the skeleton are out of step (kernel/dataplane.cpp)");
    return m;
}

// The maps among kPolicyPins, as skeleton fields; the programs follow them.
const std::pair<const char*, bpf_map * SkelMaps::*> kPolicyMaps[] = {
    {"ef_port_class", &SkelMaps::ef_port_class},   {"ef_local", &SkelMaps::ef_local},
    {"ef_remote", &SkelMaps::ef_remote},           {"ef_sport", &SkelMaps::ef_sport},
    {"ef_local_addrs", &SkelMaps::ef_local_addrs}, {"ef_ct_sweep", &SkelMaps::ef_ct_sweep},
};
static_assert(std::size(kPolicyMaps) + 2 == std::size(kPolicyPins));

// Writes `values` to an array map of `size` entries from index 0 and zeroes the
// rest (an entry the image does not use reads as "no match"), in one batch.
template <class T>
void write_array(const bpf_map* m, const std::vector<T>& values, uint32_t size) {
    const std::string name = std::string("map ") + bpf_map__name(m);
    if (values.size() > size)
        fail("write entries to", name, E2BIG,
             "the image needs " + std::to_string(values.size()) + " entries and the map has " +
                 std::to_string(size) + "; size the data plane with Options::from_image");
    std::vector<T> all(size);
    std::copy(values.begin(), values.end(), all.begin());
    std::vector<uint32_t> keys(size);
    for (uint32_t i = 0; i < size; ++i) keys[i] = i;
    uint32_t count = size;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (bpf_map_update_batch(fd_of(m), keys.data(), all.data(), &count, &opts) != 0 ||
        count != size)
        fail("write entries to", name, errno ? errno : EIO);
}

}  // namespace

void set_verbose(bool verbose) {
    g_verbose.store(verbose, std::memory_order_relaxed);
    install_print();
}

Options Options::from_image(const image::MapImage& img) {
    Options o;
    o.timeouts = img.ct_timeouts;
    for (int r = 0; r < EF_ROLE_COUNT; ++r) o.egress_mode[r] = img.egress_mode[r];
    const image::FlatImage f = image::flatten(img);
    // An array map has at least one entry.
    auto fit = [](size_t n) { return static_cast<uint32_t>(std::max<size_t>(n, 1)); };
    o.flat.remote_index = fit(f.remote_index.size());
    o.flat.remote_ranges = fit(f.remote_ranges.size());
    o.flat.sport_index = fit(f.sport_index.size());
    o.flat.sport_ranges = fit(f.sport_ranges.size());
    return o;
}

Options shadow_options(Options opts, const SharedMaps& enforced) {
    opts.shadow = true;
    opts.shared = {};
    opts.shared.ifaces = enforced.ifaces;
    opts.shared.shadow_handoff = enforced.shadow_handoff;
    return opts;
}

Dataplane::Dataplane(const Options& opts) : opts_(opts) {
    install_print();
    if (opts_.ct_size == 0) fail("size", "map ef_ct", EINVAL, "the conntrack size must be > 0");
    for (uint32_t mode : opts_.egress_mode) {
        if (mode != EF_EGRESS_ENFORCE && mode != EF_EGRESS_TRACK_ONLY) {
            fail("set egress mode of", "edgefw rodata", EINVAL,
                 "mode must be enforce or track-only");
        }
    }

    skel_.reset(edgefw__open());
    if (!skel_) fail("open", "BPF object edgefw", errno);

    constexpr uint64_t ns = 1000000000ULL;
    auto* ro = skel_->rodata;
    for (int r = 0; r < EF_ROLE_COUNT; ++r) ro->egress_mode[r] = opts_.egress_mode[r];
    ro->tcp_established_ns = uint64_t(opts_.timeouts.tcp_established) * ns;
    ro->tcp_closing_ns = uint64_t(opts_.timeouts.tcp_closing) * ns;
    ro->udp_ns = uint64_t(opts_.timeouts.udp) * ns;
    ro->icmp_ns = uint64_t(opts_.timeouts.icmp) * ns;
    ro->frag_ns = uint64_t(opts_.frag_timeout) * ns;
    ro->ct_sweep_ns = uint64_t(std::max(opts_.ct_sweep, 1u)) * ns;
    // One jiffy: the resolution of the coarse clocks is the tick.
    timespec tick{};
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &tick) != 0 || tick.tv_sec != 0 || tick.tv_nsec <= 0)
        fail("read", "the tick length (clock_getres CLOCK_MONOTONIC_COARSE)", EINVAL);
    ro->ns_per_jiffy = uint64_t(tick.tv_nsec);
    ro->ct_create = opts_.ct_create;
    ro->ct_lookup_all = opts_.ct_lookup_all;
    ro->policy_gen = opts_.policy_gen;
    ro->record_last = opts_.record_last;
    ro->log_per_sec_per_cpu = opts_.log_per_sec_per_cpu;
    ro->shadow_mode = opts_.shadow;

    int err = 0;
    for (bpf_map* m : {skel_->maps.ef_ct, skel_->maps.ef_ct_est, skel_->maps.ef_ct_dgram,
                       skel_->maps.ef_ct_dgram_est})
        if (!err) err = bpf_map__set_max_entries(m, opts_.ct_size);
    if (err) fail("size", "maps ef_ct, ef_ct_est, ef_ct_dgram and ef_ct_dgram_est", err);
    if (opts_.ct_lru_per_cpu)
        for (bpf_map* m : {skel_->maps.ef_ct, skel_->maps.ef_ct_dgram})
            if (!err) err = bpf_map__set_map_flags(m, bpf_map__map_flags(m) | BPF_F_NO_COMMON_LRU);
    if (err) fail("set per-CPU LRU lists on", "maps ef_ct and ef_ct_dgram", err);
    for (auto [m, n] : {std::pair{skel_->maps.ef_remote_index, opts_.flat.remote_index},
                        std::pair{skel_->maps.ef_remote, opts_.flat.remote_ranges},
                        std::pair{skel_->maps.ef_sport_index, opts_.flat.sport_index},
                        std::pair{skel_->maps.ef_sport, opts_.flat.sport_ranges}})
        if (!err) err = bpf_map__set_max_entries(m, std::max(n, 1u));
    if (err) fail("size", "maps ef_remote_index, ef_remote, ef_sport_index and ef_sport", err);
    if (opts_.shadow)
        err = bpf_map__set_max_entries(skel_->maps.ef_shadow_would, EF_SHADOW_WOULD_SLOTS);
    if (err) fail("size", "map ef_shadow_would", err);
    for (const KeptMap& k : kKeptMaps) {
        int fd = opts_.shared.*k.fd;
        if (fd < 0) continue;
        err = bpf_map__reuse_fd(kept_map(*skel_, k), fd);
        if (err)
            fail("reuse", std::string("map ") + k.name, err,
                 "the pinned map does not match this build; unload first");
    }
    // One XDP program is loaded: ef_xdp_dispatch for libxdp's dispatcher (no
    // shadow slot, bpf/edgefw.bpf.c says why), ef_xdp_ingress otherwise.
    bpf_program__set_autoload(
        opts_.xdp_ext_target >= 0 ? skel_->progs.ef_xdp_ingress : skel_->progs.ef_xdp_dispatch,
        false);
    if (opts_.xdp_ext_target >= 0) {
        bpf_program* xdp = skel_->progs.ef_xdp_dispatch;
        bpf_program__set_type(xdp, BPF_PROG_TYPE_EXT);
        bpf_program__set_expected_attach_type(xdp, static_cast<bpf_attach_type>(0));
        err = bpf_program__set_attach_target(xdp, opts_.xdp_ext_target, "prog0");
        if (err) fail("target", "libxdp's dispatcher (slot prog0) with ef_xdp_dispatch", err);
    }
    // Test runs read ef_last through a mapping: one syscall per frame, not three.
    if (opts_.record_last)
        err = bpf_map__set_map_flags(skel_->maps.ef_last,
                                     bpf_map__map_flags(skel_->maps.ef_last) | BPF_F_MMAPABLE);
    if (err) fail("make mmapable", "map ef_last", err);
    err = edgefw__load(skel_.get());
    if (err) {
        std::string hint = default_hint(-err);
        if (err == -EACCES || err == -EINVAL) {
            hint =
                "run as root; if you are, the verifier rejected a program: rerun with -v "
                "for the libbpf log";
        }
        if (opts_.xdp_ext_target >= 0 && (err == -EPERM || err == -EINVAL || err == -EACCES))
            hint =
                "this kernel refused ef_xdp_dispatch as an freplace program for libxdp's "
                "dispatcher (-v shows why), so edgefw cannot run beside other XDP programs "
                "here: load without --xdp-multiprog on a NIC with no libxdp programs";
        fail("load",
             std::string("BPF object edgefw (") + bpf_program__name(xdp_prog()) + ", ef_tc_egress)",
             err, hint);
    }

    ncpus_ = libbpf_num_possible_cpus();
    if (ncpus_ <= 0) fail("count", "possible CPUs", ncpus_);

    port_class_len_ = size_t(EF_PORT_CLASS_SLOTS) * sizeof(PortClassSlot);
    void* p = mmap(nullptr, port_class_len_, PROT_READ | PROT_WRITE, MAP_SHARED,
                   fd_of(skel_->maps.ef_port_class), 0);
    if (p == MAP_FAILED)
        fail("mmap", "map ef_port_class", errno, "the map needs BPF_F_MMAPABLE (kernel >= 5.5)");
    port_class_ = {static_cast<PortClassSlot*>(p), Unmap{port_class_len_}};
    if (opts_.record_last) {
        p = mmap(nullptr, kLastLen, PROT_READ | PROT_WRITE, MAP_SHARED, fd_of(skel_->maps.ef_last),
                 0);
        if (p == MAP_FAILED) fail("mmap", "map ef_last", errno);
        last_ = {static_cast<volatile ef_last*>(p), UnmapLast{}};
    }
}

void Dataplane::SkelDestroy::operator()(::edgefw* s) const { edgefw__destroy(s); }

void Dataplane::Unmap::operator()(PortClassSlot* p) const { munmap(p, len); }

void Dataplane::UnmapLast::operator()(volatile ef_last* p) const {
    munmap(const_cast<ef_last*>(p), kLastLen);
}

void Dataplane::write_image(const image::MapImage& img) {
    for (const auto& r : img.port_classes) {
        if (r.combo >= EF_COMBOS || r.lo > r.hi || r.port_class == 0 || r.sport_lo > r.sport_hi) {
            fail("write port class range to", "map ef_port_class", EINVAL,
                 "the image has combo " + std::to_string(r.combo) + " ports " +
                     std::to_string(r.lo) + "-" + std::to_string(r.hi) + " class " +
                     std::to_string(r.port_class) + " source-port hull " +
                     std::to_string(r.sport_lo) + "-" + std::to_string(r.sport_hi) +
                     "; recompile the policy");
        }
    }
    std::memset(port_class_.get(), 0, port_class_len_);
    for (const auto& r : img.port_classes) {
        const ef_port_class_value v{r.port_class, r.sport_lo, r.sport_hi};
        for (uint32_t port = r.lo; port <= r.hi; ++port)
            port_class_.get()[EF_PORT_SLOT(r.combo, port)] = v;
    }

    clear_map(fd_of(skel_->maps.ef_local), sizeof(ef_local_key), "ef_local");
    clear_map(fd_of(skel_->maps.ef_local_addrs), sizeof(ef_local_addr_key), "ef_local_addrs");

    for (const auto& e : img.remotes)
        if (e.key.prefixlen > 32 + 128)
            fail("write entry to", "map ef_remote", EINVAL, "prefix length over 160; recompile");
    for (const auto& e : img.sports)
        if (e.key.prefixlen > 32 + 16 || e.rule_plus_one == 0 || e.rule_plus_one > EF_MAX_RULES)
            fail("write entry to", "map ef_sport", EINVAL,
                 "prefix length over 48 or rule index out of range; recompile");
    // ef_local, the largest, in batches on one thread; the flat range arrays
    // (flattened, then one batch each) on the other.
    run_parallel({
        [&] {
            update_entries(fd_of(skel_->maps.ef_local), "ef_local", img.locals,
                           &image::LocalEntry::key, &image::LocalEntry::bucket);
        },
        [&] {
            const image::FlatImage flat = image::flatten(img);
            write_array(skel_->maps.ef_remote_index, flat.remote_index, opts_.flat.remote_index);
            write_array(skel_->maps.ef_remote, flat.remote_ranges, opts_.flat.remote_ranges);
            write_array(skel_->maps.ef_sport_index, flat.sport_index, opts_.flat.sport_index);
            write_array(skel_->maps.ef_sport, flat.sport_ranges, opts_.flat.sport_ranges);
        },
    });
    int fd = fd_of(skel_->maps.ef_local_addrs);
    std::vector<ef_local_hint> hints(EF_ROLE_COUNT);
    for (const auto& k : img.local_addrs) {
        if (k.role >= EF_ROLE_COUNT) {
            fail("write entry to", "map ef_local_addrs", EINVAL,
                 "role " + std::to_string(k.role) + " out of range; recompile");
        }
        const uint32_t one = 1;
        if (bpf_map_update_elem(fd, &k, &one, BPF_ANY)) {
            fail("write entry to", "map ef_local_addrs", errno);
        }
        const uint32_t bit = ef_local_hint_bit(k.addr);
        hints[k.role].words[bit / 64] |= uint64_t{1} << (bit % 64);
    }
    fd = fd_of(skel_->maps.ef_local_hint);
    for (uint32_t role = 0; role < EF_ROLE_COUNT; ++role) {
        if (bpf_map_update_elem(fd, &role, &hints[role], BPF_ANY)) {
            fail("write entry to", "map ef_local_hint", errno);
        }
    }
}

void Dataplane::set_iface_role(uint32_t ifindex, uint32_t role) {
    if (role >= EF_ROLE_COUNT) {
        fail("set role of", "ifindex " + std::to_string(ifindex), EINVAL,
             "role must be external (0) or internal (1)");
    }
    if (ifindex >= EF_MAX_IFINDEX)
        fail("set role of", "ifindex " + std::to_string(ifindex), E2BIG,
             "edgefw protects NICs with ifindex below " + std::to_string(EF_MAX_IFINDEX));
    ef_iface_value v{};
    v.role = role;
    v.protected_ = 1;
    if (bpf_map_update_elem(fd_of(skel_->maps.ef_ifaces), &ifindex, &v, BPF_ANY)) {
        fail("set role of", "ifindex " + std::to_string(ifindex) + " in map ef_ifaces", errno);
    }
}

void Dataplane::clear_iface_role(uint32_t ifindex) {
    ef_iface_value off{};
    if (ifindex < EF_MAX_IFINDEX &&
        bpf_map_update_elem(fd_of(skel_->maps.ef_ifaces), &ifindex, &off, BPF_ANY)) {
        fail("clear role of", "ifindex " + std::to_string(ifindex) + " in map ef_ifaces", errno);
    }
}

RunResult Dataplane::run(packet::Dir dir, std::span<const uint8_t> frame, uint32_t repeat) {
    const bool ingress = dir == packet::Dir::ingress;
    bpf_program* prog = ingress ? xdp_prog() : skel_->progs.ef_tc_egress;
    const char* prog_name = bpf_program__name(prog);

    if (last_) {
        last_->kind = UINT32_MAX;
        last_->index = UINT32_MAX;
    }

    // Without ctx_in, BPF_PROG_TEST_RUN runs XDP on the loopback device's rx
    // queue (ingress_ifindex 1) and builds the skb on loopback (skb->ifindex 1):
    // checked on 6.18 by tests/dataplane/ifindex.cpp. Callers map
    // kTestRunIfindex to the role under test.
    bpf_test_run_opts o{};
    o.sz = sizeof(o);
    o.data_in = frame.data();
    o.data_size_in = uint32_t(frame.size());
    o.repeat = repeat;
    int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &o);
    if (err) {
        std::string hint = default_hint(-err);
        if (err == -EINVAL) hint = "frames must be at least 14 bytes (an Ethernet header)";
        fail("run (BPF_PROG_TEST_RUN)", std::string("program ") + prog_name, err, hint);
    }

    RunResult r;
    r.retval = o.retval;
    r.pass = ingress ? o.retval == XDP_PASS : static_cast<int32_t>(o.retval) == TC_ACT_UNSPEC;
    r.duration_ns = o.duration;
    if (last_) {
        ef_last last{last_->kind, last_->index};
        r.counted = last.kind != UINT32_MAX;
        if (r.counted) {
            r.kind = last.kind;
            r.index = last.index;
        }
    }
    return r;
}

ef_counter Dataplane::percpu_counter(int map_fd, uint32_t index, const char* map_name) const {
    std::vector<ef_counter> per_cpu(static_cast<size_t>(ncpus_));
    if (bpf_map_lookup_elem(map_fd, &index, per_cpu.data())) {
        fail("read slot " + std::to_string(index) + " of", std::string("map ") + map_name, errno,
             errno == ENOENT ? "index out of range" : "");
    }
    ef_counter sum{};
    for (const auto& c : per_cpu) {
        sum.packets += c.packets;
        sum.bytes += c.bytes;
    }
    return sum;
}

ef_counter Dataplane::rule_counter(uint32_t rule) const {
    return percpu_counter(fd_of(skel_->maps.ef_rule_counters), rule, "ef_rule_counters");
}

std::vector<ef_counter> Dataplane::would_counters() const {
    return read_counters(fd_of(skel_->maps.ef_shadow_would),
                         bpf_map__max_entries(skel_->maps.ef_shadow_would));
}

bool Dataplane::take_last(uint32_t& kind, uint32_t& index) {
    if (!last_) return false;
    kind = last_->kind;
    index = last_->index;
    last_->kind = UINT32_MAX;
    last_->index = UINT32_MAX;
    return kind != UINT32_MAX;
}

ef_counter Dataplane::would_counter(uint32_t slot) const {
    return percpu_counter(fd_of(skel_->maps.ef_shadow_would), slot, "ef_shadow_would");
}

ef_counter Dataplane::reason_counter(uint32_t reason) const {
    return percpu_counter(fd_of(skel_->maps.ef_reason_counters), reason, "ef_reason_counters");
}

namespace {

constexpr uint32_t kBatch =
    4096;  // entries per batch lookup: a few system calls for the largest table

// Reads a hash-type map in batches of up to kBatch entries into the caller's
// buffers (room for kBatch keys and values), calling got(count) after each.
// nullopt: the kernel has no batch lookup for the map (nothing was read);
// false: a later batch failed; true: the walk reached the end.
std::optional<bool> lookup_in_batches(int map_fd, void* keys, void* values,
                                      const std::function<void(uint32_t)>& got) {
    uint64_t in_token = 0, out_token = 0;  // hash tables: a bucket index
    for (bool first = true;; first = false) {
        uint32_t count = kBatch;
        int err = bpf_map_lookup_batch(map_fd, first ? nullptr : &in_token, &out_token, keys,
                                       values, &count, nullptr);
        if (err && errno != ENOENT) {
            if (first) return std::nullopt;
            return false;
        }
        got(count);
        if (err) return true;  // ENOENT: the last batch
        in_token = out_token;
    }
}

// Keys of a hash-type map counted in batches; nullopt when the kernel has no
// batch lookup for the map's type, or the walk failed before the end.
std::optional<uint64_t> count_batched(int map_fd, const bpf_map_info& info) {
    const bool percpu =
        info.type == BPF_MAP_TYPE_PERCPU_HASH || info.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
    const int ncpus = percpu ? libbpf_num_possible_cpus() : 1;
    if (ncpus <= 0) return std::nullopt;
    // Per-CPU values come as one 8-byte aligned slot per possible CPU.
    const size_t value_len =
        percpu ? size_t(ncpus) * ((info.value_size + 7) / 8 * 8) : info.value_size;
    std::vector<uint8_t> keys(size_t(kBatch) * info.key_size), values(kBatch * value_len);
    uint64_t n = 0;
    auto done = lookup_in_batches(map_fd, keys.data(), values.data(), [&](uint32_t c) { n += c; });
    if (!done || !*done) return std::nullopt;
    return n;
}

}  // namespace

std::vector<ef_counter> read_counters(int map_fd, uint32_t n) {
    const int ncpus = libbpf_num_possible_cpus();
    std::vector<ef_counter> out(n);
    if (ncpus <= 0) return out;
    std::vector<uint32_t> keys(kBatch);
    std::vector<ef_counter> values(size_t(kBatch) * size_t(ncpus));
    auto add = [&](uint32_t key, const ef_counter* per_cpu) {
        if (key >= n) return;
        for (int c = 0; c < ncpus; c++) {
            out[key].packets += per_cpu[c].packets;
            out[key].bytes += per_cpu[c].bytes;
            out[key].last_ns = std::max(out[key].last_ns, per_cpu[c].last_ns);
        }
    };
    auto done = lookup_in_batches(map_fd, keys.data(), values.data(), [&](uint32_t count) {
        for (uint32_t i = 0; i < count; i++) add(keys[i], &values[size_t(i) * size_t(ncpus)]);
    });
    if (done && *done) return out;
    // No batch lookup, or it failed part way: key by key, from the start.
    out.assign(n, ef_counter{});
    for (uint32_t key = 0; key < n; key++)
        if (bpf_map_lookup_elem(map_fd, &key, values.data()) == 0) add(key, values.data());
    return out;
}

size_t count_map_entries(int map_fd) {
    bpf_map_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(map_fd, &info, &len) != 0 || info.key_size == 0) return 0;
    // Every index of an array exists: walking them would be max_entries system calls.
    if (info.type == BPF_MAP_TYPE_ARRAY || info.type == BPF_MAP_TYPE_PERCPU_ARRAY)
        return info.max_entries;
    std::optional<uint64_t> batched = count_batched(map_fd, info);
    uint64_t n = batched.value_or(0);
    if (!batched) {
        // No batch lookup (an LPM trie, an older kernel): key by key.
        std::vector<uint8_t> key(info.key_size), next(info.key_size);
        const void* prev = nullptr;
        while (n < 4ull * info.max_entries + 16 &&
               bpf_map_get_next_key(map_fd, prev, next.data()) == 0) {
            ++n;
            key.swap(next);
            prev = key.data();
        }
    }
    return n > info.max_entries ? info.max_entries : n;
}

void Dataplane::clear_map(int map_fd, size_t key_size, const char* map_name) {
    std::vector<uint8_t> keys, next(key_size);
    const void* prev = nullptr;
    while (bpf_map_get_next_key(map_fd, prev, next.data()) == 0) {
        keys.insert(keys.end(), next.begin(), next.end());
        prev = keys.data() + keys.size() - key_size;
    }
    for (size_t off = 0; off < keys.size(); off += key_size) {
        if (bpf_map_delete_elem(map_fd, keys.data() + off) && errno != ENOENT) {
            fail("delete entry of", std::string("map ") + map_name, errno);
        }
    }
}

const char* const kCtTableNames[EF_CT_TABLES] = {"ef_ct", "ef_ct_est", "ef_ct_dgram",
                                                 "ef_ct_dgram_est"};

PinnedCtTables open_ct_tables(const std::string& dir) {
    PinnedCtTables out;
    for (int t = 0; t < EF_CT_TABLES; t++) {
        out.owned[t].reset(bpf_obj_get((dir + "/" + kCtTableNames[t]).c_str()));
        out.fds[t] = out.owned[t].get();
    }
    return out;
}

uint64_t CtTableStats::evicted_bound() const {
    if (!lru) return 0;
    uint64_t gone = removed + entries;
    return inserts > gone ? inserts - gone : 0;
}

std::array<CtTableStats, EF_CT_TABLES> read_ct_stats(
    int stats_fd, const std::array<int, EF_CT_TABLES>& table_fds) {
    std::array<CtTableStats, EF_CT_TABLES> out{};
    int ncpus = libbpf_num_possible_cpus();
    std::vector<uint64_t> per(static_cast<size_t>(ncpus > 0 ? ncpus : 1));
    for (uint32_t t = 0; t < EF_CT_TABLES; t++) {
        uint64_t v[EF_CT_STATS] = {};
        for (uint32_t s = 0; s < EF_CT_STATS && stats_fd >= 0; s++) {
            uint32_t slot = EF_CT_STAT_SLOT(t, s);
            if (bpf_map_lookup_elem(stats_fd, &slot, per.data())) continue;
            for (uint64_t x : per) v[s] += x;
        }
        CtTableStats& c = out[t];
        c.lru = t == EF_CT_TCP_NEW || t == EF_CT_DGRAM_NEW;
        c.inserts = v[EF_CT_S_INSERTS];
        c.removed = v[EF_CT_S_REMOVED];
        c.refused = v[EF_CT_S_REFUSED];
        c.rst = v[EF_CT_S_RST];
        if (table_fds[t] >= 0) {
            bpf_map_info info{};
            uint32_t len = sizeof info;
            if (bpf_obj_get_info_by_fd(table_fds[t], &info, &len) == 0) c.max = info.max_entries;
            c.entries = count_map_entries(table_fds[t]);
        }
    }
    return out;
}

namespace {

// Calls f on every entry of a conntrack table. Reads in batches (a few system
// calls for the whole table); a kernel without batch operations gets the walk
// key by key. Returns false when the walk ended on an error rather than at
// the table's end (what it saw until then was passed to f).
bool walk_conntrack(int table_fd,
                    const std::function<void(const ef_ct_key&, const ef_ct_value&)>& f) {
    std::vector<ef_ct_key> keys(kBatch);
    std::vector<ef_ct_value> values(kBatch);
    auto done = lookup_in_batches(table_fd, keys.data(), values.data(), [&](uint32_t count) {
        for (uint32_t i = 0; i < count; i++) f(keys[i], values[i]);
    });
    if (done) return *done;
    // No batch operations: key by key.
    ef_ct_key key{}, next{};
    const void* prev = nullptr;
    int err;
    while ((err = bpf_map_get_next_key(table_fd, prev, &next)) == 0) {
        key = next;
        prev = &key;
        ef_ct_value v{};
        if (bpf_map_lookup_elem(table_fd, &key, &v) == 0) f(key, v);
    }
    return errno == ENOENT;
}

}  // namespace

size_t sweep_conntrack(int table_fd, const ef_ct_timeouts& timeouts) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    const uint64_t now = uint64_t(ts.tv_sec) * 1000000000ULL + uint64_t(ts.tv_nsec);
    auto timeout_ns = [&](const ef_ct_key& k, const ef_ct_value& v) {
        uint64_t s = k.proto == IPPROTO_TCP
                         ? (v.state != EF_CT_OPEN ? timeouts.tcp_closing : timeouts.tcp_established)
                     : k.proto == IPPROTO_UDP ? timeouts.udp
                                              : timeouts.icmp;
        return s * 1000000000ULL;
    };
    auto is_expired = [&](const ef_ct_key& k, const ef_ct_value& v) {
        return now > v.last_seen_ns && now - v.last_seen_ns > timeout_ns(k, v);
    };
    std::vector<ef_ct_key> expired;
    (void)walk_conntrack(table_fd, [&](const ef_ct_key& k, const ef_ct_value& v) {
        if (is_expired(k, v)) expired.push_back(k);
    });
    size_t n = 0;
    for (const auto& k : expired) {
        // Re-read: the flow may have shown up again since the walk.
        ef_ct_value v{};
        if (bpf_map_lookup_elem(table_fd, &k, &v) || !is_expired(k, v)) continue;
        if (bpf_map_delete_elem(table_fd, &k) == 0) n++;
    }
    return n;
}

size_t Dataplane::ct_entries() const {
    size_t n = 0;
    for (bpf_map* m : {skel_->maps.ef_ct, skel_->maps.ef_ct_est, skel_->maps.ef_ct_dgram,
                       skel_->maps.ef_ct_dgram_est})
        n += count_map_entries(fd_of(m));
    return n;
}

std::array<CtTableStats, EF_CT_TABLES> Dataplane::ct_stats() const {
    return read_ct_stats(fd_of(skel_->maps.ef_ct_stats),
                         {fd_of(skel_->maps.ef_ct), fd_of(skel_->maps.ef_ct_est),
                          fd_of(skel_->maps.ef_ct_dgram), fd_of(skel_->maps.ef_ct_dgram_est)});
}

size_t Dataplane::sweep_conntrack() {
    return kernel::sweep_conntrack(fd_of(skel_->maps.ef_ct_est), opts_.timeouts) +
           kernel::sweep_conntrack(fd_of(skel_->maps.ef_ct_dgram_est), opts_.timeouts);
}

FlowsRejudged rejudge_conntrack(const std::array<int, EF_CT_TABLES>& table_fds,
                                const image::Lookup& lookup, bool apply, uint16_t gen) {
    FlowsRejudged out;
    // New tables first: a flow the data plane promotes during the walk is
    // then met again in its established table rather than missed. A key is
    // judged once, in the first table it is seen in.
    std::set<std::array<uint8_t, sizeof(ef_ct_key)>> seen;
    for (int t : {EF_CT_TCP_NEW, EF_CT_DGRAM_NEW, EF_CT_TCP_EST, EF_CT_DGRAM_EST}) {
        const int fd = table_fds[t];
        if (fd < 0) continue;
        std::vector<std::pair<ef_ct_key, ef_ct_value>> entries;
        if (!walk_conntrack(
                fd, [&](const ef_ct_key& k, const ef_ct_value& v) { entries.emplace_back(k, v); }))
            throw Error(std::string("kernel: reading conntrack table ") + kCtTableNames[t] + ": " +
                        strerror(errno));
        for (const auto& [k, v] : entries) {
            std::array<uint8_t, sizeof(ef_ct_key)> raw;
            std::memcpy(raw.data(), &k, sizeof k);
            if (!seen.insert(raw).second) continue;
            auto verdict = image::rejudge_flow(lookup, k, v);
            switch (verdict.kind) {
                case image::FlowVerdict::keep:
                    out.kept++;
                    break;
                case image::FlowVerdict::close:
                    if (!apply) {
                        out.closed++;
                        break;
                    }
                    // Gone already (expired, promoted to the other table) is fine:
                    // an entry promoted meanwhile is met again in its new table.
                    if (bpf_map_delete_elem(fd, &k) == 0) out.closed++;
                    break;
                case image::FlowVerdict::move: {
                    if (!apply) {
                        out.moved++;
                        break;
                    }
                    // Only the rule changes. The data plane updates the value in
                    // place (last_seen, state) under no lock we can take: a packet
                    // between this read and the write loses its refresh or state
                    // step to the values read here. That is at most a few
                    // microseconds of last_seen (the flow lives as long, give or
                    // take that) or one state step, which the flow's next packet
                    // makes again. BPF_EXIST: an entry that left the table
                    // meanwhile is not recreated.
                    ef_ct_value nv{};
                    if (bpf_map_lookup_elem(fd, &k, &nv) != 0) break;
                    nv.rule = static_cast<uint16_t>(verdict.rule);
                    if (gen) nv.gen = gen;
                    if (bpf_map_update_elem(fd, &k, &nv, BPF_EXIST) == 0) out.moved++;
                    break;
                }
            }
        }
    }
    return out;
}

FlowsRejudged Dataplane::rejudge_conntrack(const image::Lookup& lookup) {
    return kernel::rejudge_conntrack(
        {fd_of(skel_->maps.ef_ct), fd_of(skel_->maps.ef_ct_est), fd_of(skel_->maps.ef_ct_dgram),
         fd_of(skel_->maps.ef_ct_dgram_est)},
        lookup, true, opts_.policy_gen);
}

FlowsRejudged Dataplane::seed_conntrack(const std::array<int, EF_CT_TABLES>& enforced_tables,
                                        const image::Lookup& lookup) {
    const int own[EF_CT_TABLES] = {fd_of(skel_->maps.ef_ct), fd_of(skel_->maps.ef_ct_est),
                                   fd_of(skel_->maps.ef_ct_dgram),
                                   fd_of(skel_->maps.ef_ct_dgram_est)};
    FlowsRejudged out;
    for (int t = 0; t < EF_CT_TABLES; t++) {
        if (enforced_tables[t] < 0) continue;
        std::vector<std::pair<ef_ct_key, ef_ct_value>> entries;
        if (!walk_conntrack(enforced_tables[t], [&](const ef_ct_key& k, const ef_ct_value& v) {
                entries.emplace_back(k, v);
            }))
            throw Error(std::string("kernel: reading conntrack table ") + kCtTableNames[t] + ": " +
                        strerror(errno));
        for (auto& [k, v] : entries) {
            auto verdict = image::rejudge_flow(lookup, k, v);
            if (verdict.kind == image::FlowVerdict::close) {
                out.closed++;
                continue;
            }
            v.rule = static_cast<uint16_t>(verdict.rule);
            v.gen = opts_.policy_gen;
            // BPF_NOEXIST: a flow the candidate has met itself since it was
            // plugged in keeps its own entry. A full table refuses quietly:
            // the flow's next packet is judged as a new one.
            if (bpf_map_update_elem(own[t], &k, &v, BPF_NOEXIST) == 0)
                (verdict.kind == image::FlowVerdict::keep ? out.kept : out.moved)++;
        }
    }
    return out;
}

void Dataplane::plug_into(int shadow_xdp, int shadow_tc) const {
    const uint32_t slot = 0;
    for (auto [map_fd, dir, name] : {std::tuple{shadow_xdp, packet::Dir::ingress, "ef_shadow_xdp"},
                                     std::tuple{shadow_tc, packet::Dir::egress, "ef_shadow_tc"}}) {
        const int prog = prog_fd(dir);
        if (bpf_map_update_elem(map_fd, &slot, &prog, BPF_ANY))
            fail("put the candidate in", std::string("map ") + name, errno,
                 "this kernel refused the candidate as the enforced program's tail call "
                 "(-v shows libbpf's log)");
    }
}

void Dataplane::pin_candidate(const std::string& dir) const {
    for (const char* name : kShadowPins) {
        int fd;
        if (std::strcmp(name, "prog_xdp") == 0)
            fd = prog_fd(packet::Dir::ingress);
        else if (std::strcmp(name, "prog_tc") == 0)
            fd = prog_fd(packet::Dir::egress);
        else
            fd = bpf_object__find_map_fd_by_name(skel_->obj, name);
        std::string path = dir + "/" + kShadowPinPrefix + name;
        unlink(path.c_str());
        if (fd < 0 || bpf_obj_pin(fd, path.c_str()))
            fail("pin", path, fd < 0 ? ENOENT : errno,
                 "is /sys/fs/bpf a bpffs mount? (mount -t bpf bpf /sys/fs/bpf)");
    }
}

size_t Dataplane::frag_entries() const { return count_map_entries(fd_of(skel_->maps.ef_frags)); }

void Dataplane::clear_conntrack() {
    clear_map(fd_of(skel_->maps.ef_ct), sizeof(ef_ct_key), "ef_ct");
    clear_map(fd_of(skel_->maps.ef_ct_est), sizeof(ef_ct_key), "ef_ct_est");
    clear_map(fd_of(skel_->maps.ef_ct_dgram), sizeof(ef_ct_key), "ef_ct_dgram");
    clear_map(fd_of(skel_->maps.ef_ct_dgram_est), sizeof(ef_ct_key), "ef_ct_dgram_est");
    clear_map(fd_of(skel_->maps.ef_frags), sizeof(ef_frag_key), "ef_frags");
}

ProgInfo Dataplane::prog_info(packet::Dir dir) const {
    const bool ingress = dir == packet::Dir::ingress;
    bpf_program* prog = ingress ? xdp_prog() : skel_->progs.ef_tc_egress;
    ProgInfo pi;
    pi.fd = bpf_program__fd(prog);
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(pi.fd, &info, &len)) {
        fail("read info of", std::string("program ") + bpf_program__name(prog), errno);
    }
    pi.id = info.id;
    pi.xlated_insns = info.xlated_prog_len / sizeof(bpf_insn);
    pi.jited_bytes = info.jited_prog_len;
    pi.verified_insns = info.verified_insns;
    return pi;
}

int Dataplane::prog_fd(packet::Dir dir) const {
    return bpf_program__fd(dir == packet::Dir::ingress ? xdp_prog() : skel_->progs.ef_tc_egress);
}

bpf_program* Dataplane::xdp_prog() const {
    return opts_.xdp_ext_target >= 0 ? skel_->progs.ef_xdp_dispatch : skel_->progs.ef_xdp_ingress;
}

SharedMaps Dataplane::shared_maps() const {
    SharedMaps s;
    for (const KeptMap& k : kKeptMaps) s.*k.fd = fd_of(kept_map(*skel_, k));
    return s;
}

void Dataplane::pin(const std::string& dir) const {
    auto pin_fd = [&](int fd, const std::string& name, bool replace) {
        std::string path = dir + "/" + name;
        if (replace) unlink(path.c_str());
        if (bpf_obj_pin(fd, path.c_str())) {
            if (errno == EEXIST && !replace) return;
            fail("pin", path, errno,
                 "is /sys/fs/bpf a bpffs mount? (mount -t bpf bpf /sys/fs/bpf)");
        }
    };
    for (const KeptMap& k : kKeptMaps) pin_fd(fd_of(kept_map(*skel_, k)), k.name, false);
    for (const auto& [name, map] : kPolicyMaps) pin_fd(fd_of(skel_->maps.*map), name, true);
    pin_fd(prog_fd(packet::Dir::ingress), "prog_xdp", true);
    pin_fd(prog_fd(packet::Dir::egress), "prog_tc", true);
}

}  // namespace kernel
