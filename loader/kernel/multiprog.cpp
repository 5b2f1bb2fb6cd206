#include "kernel/multiprog.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "edgefw_mp.skel.h"
#include "kernel/dataplane.h"

namespace kernel {

namespace {

std::atomic<bool> g_verbose{false};

int libxdp_print(enum libxdp_print_level level, const char* fmt, va_list args) {
    if (!g_verbose.load(std::memory_order_relaxed) || level == LIBXDP_DEBUG) return 0;
    return std::vfprintf(stderr, fmt, args);
}

void install_print() {
    static std::once_flag once;
    std::call_once(once, [] { libxdp_set_print(libxdp_print); });
}

[[noreturn]] void fail(const std::string& what, int err, const std::string& hint = {}) {
    if (err < 0) err = -err;
    std::string msg = "kernel: " + what + ": " + std::strerror(err);
    if (!hint.empty()) msg += " -- " + hint;
    throw Error(msg);
}

// Where libxdp keeps its dispatchers' state: every program of a NIC must be
// loaded with the same one (LIBXDP_BPFFS, default /sys/fs/bpf).
std::string libxdp_state_dir() {
    const char* env = getenv("LIBXDP_BPFFS");
    return std::string(env && *env ? env : "/sys/fs/bpf") + "/xdp";
}

std::string where(const std::string& dev, uint32_t ifindex) {
    return dev + " (ifindex " + std::to_string(ifindex) + ")";
}

xdp_attach_mode libxdp_mode(XdpMode m) {
    return m == XdpMode::generic ? XDP_MODE_SKB : XDP_MODE_NATIVE;
}

// The maps a program uses (at most 8: the entry uses one).
std::vector<uint32_t> map_ids_of(int prog_fd) {
    uint32_t ids[8] = {};
    bpf_prog_info info{};
    info.nr_map_ids = 8;
    info.map_ids = reinterpret_cast<uintptr_t>(ids);
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(prog_fd, &info, &len)) return {};
    return std::vector<uint32_t>(ids, ids + std::min<uint32_t>(info.nr_map_ids, 8));
}

std::vector<std::string> chain_call_of(const xdp_program* p) {
    static const std::pair<xdp_action, const char*> actions[] = {
        {XDP_ABORTED, "XDP_ABORTED"}, {XDP_DROP, "XDP_DROP"},         {XDP_PASS, "XDP_PASS"},
        {XDP_TX, "XDP_TX"},           {XDP_REDIRECT, "XDP_REDIRECT"},
    };
    std::vector<std::string> out;
    for (auto [a, name] : actions)
        if (xdp_program__chain_call_enabled(p, a)) out.push_back(name);
    return out;
}

// libxdp returns a pointer that is NULL or an encoded error on failure.
template <class T>
int ptr_error(T* p) {
    long err = libxdp_get_error(p);
    return err ? static_cast<int>(err) : (p ? 0 : -ENOENT);
}

// The dispatcher on ifindex (its programs read from libxdp's pins), or null.
struct Multiprog {
    xdp_multiprog* mp = nullptr;
    explicit Multiprog(uint32_t ifindex) {
        install_print();
        mp = xdp_multiprog__get_from_ifindex(static_cast<int>(ifindex));
        if (ptr_error(mp)) mp = nullptr;
    }
    ~Multiprog() {
        if (mp) xdp_multiprog__close(mp);
    }
    Multiprog(const Multiprog&) = delete;
    Multiprog& operator=(const Multiprog&) = delete;
    bool dispatcher() const { return mp && !xdp_multiprog__is_legacy(mp); }
};

// The id of the dispatcher's program that uses map next_map_id, 0 if none.
uint32_t entry_id(const Multiprog& m, uint32_t next_map_id) {
    if (!m.dispatcher() || !next_map_id) return 0;
    for (xdp_program* p = xdp_multiprog__next_prog(nullptr, m.mp); p;
         p = xdp_multiprog__next_prog(p, m.mp)) {
        auto ids = map_ids_of(xdp_program__fd(p));
        if (std::find(ids.begin(), ids.end(), next_map_id) != ids.end()) return xdp_program__id(p);
    }
    return 0;
}

uint32_t map_id_of(int fd) {
    bpf_map_info info{};
    uint32_t len = sizeof info;
    return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

int open_next(const std::string& pin_path) {
    int fd = bpf_obj_get(pin_path.c_str());
    if (fd < 0)
        fail("open pinned program array " + pin_path, errno,
             "is the instance loaded? see 'edgefw status'");
    return fd;
}

// One attempt: a fresh entry object (its array reused from next_fd), attached
// in mode m. Returns 0 or -errno from libxdp; sets *id to the entry's id.
int attach_entry(int next_fd, uint32_t ifindex, xdp_attach_mode m, unsigned priority,
                 uint32_t* id) {
    edgefw_mp* skel = edgefw_mp__open();
    if (!skel) return -errno;
    int err = bpf_map__reuse_fd(skel->maps.ef_xdp_next, next_fd);
    xdp_program* prog = nullptr;
    if (!err) {
        xdp_program_opts opts{};
        opts.sz = sizeof opts;
        opts.obj = skel->obj;
        opts.prog_name = "edgefw_xdp";
        prog = xdp_program__create(&opts);
        err = ptr_error(prog);
        if (err) prog = nullptr;
    }
    if (!err) err = xdp_program__set_run_prio(prog, priority);
    // A pass goes on to the next program; a drop (or anything else) ends the chain.
    for (unsigned a : {XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT})
        if (!err) err = xdp_program__set_chain_call_enabled(prog, a, a == XDP_PASS);
    if (!err) err = xdp_program__attach(prog, static_cast<int>(ifindex), m, 0);
    if (!err) *id = xdp_program__id(prog);
    if (prog) xdp_program__close(prog);
    edgefw_mp__destroy(skel);
    return err;
}

// Detaches program id from ifindex's dispatcher through libxdp.
int detach_id(uint32_t ifindex, uint32_t id) {
    xdp_program* p = xdp_program__from_id(id);
    int err = ptr_error(p);
    if (err) return err;
    err = xdp_program__detach(p, static_cast<int>(ifindex), XDP_MODE_UNSPEC, 0);
    xdp_program__close(p);
    return err;
}

}  // namespace

void set_libxdp_verbose(bool verbose) {
    g_verbose.store(verbose, std::memory_order_relaxed);
    install_print();
}

XdpHook xdp_hook(uint32_t ifindex, uint32_t next_map_id) {
    XdpHook h;
    bpf_xdp_query_opts q{};
    q.sz = sizeof q;
    if (bpf_xdp_query(static_cast<int>(ifindex), 0, &q)) return h;
    h.id = q.drv_prog_id ? q.drv_prog_id : q.skb_prog_id;
    if (!h.id) return h;
    h.mode = q.drv_prog_id ? XdpMode::native : XdpMode::generic;
    h.kind = XdpHook::Kind::other;
    if (int fd = bpf_prog_get_fd_by_id(h.id); fd >= 0) {
        bpf_prog_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) h.name = info.name;
        close(fd);
    }
    Multiprog m(ifindex);
    if (!m.dispatcher()) return h;
    h.kind = XdpHook::Kind::dispatcher;
    uint32_t mine = entry_id(m, next_map_id);
    for (xdp_program* p = xdp_multiprog__next_prog(nullptr, m.mp); p;
         p = xdp_multiprog__next_prog(p, m.mp)) {
        XdpChainProg c;
        c.name = xdp_program__name(p);
        c.id = xdp_program__id(p);
        c.priority = xdp_program__run_prio(p);
        c.chain_call = chain_call_of(p);
        c.edgefw = mine && c.id == mine;
        h.programs.push_back(c);
    }
    return h;
}

void xdp_next_create(int prog_fd, const std::string& pin_path) {
    int fd = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "ef_xdp_next", sizeof(uint32_t),
                            sizeof(uint32_t), 1, nullptr);
    if (fd < 0) fail("create program array ef_xdp_next", errno);
    uint32_t key = 0;
    if (bpf_map_update_elem(fd, &key, &prog_fd, BPF_ANY)) {
        int e = errno;
        close(fd);
        fail("put the XDP program in ef_xdp_next", e);
    }
    unlink(pin_path.c_str());
    if (bpf_obj_pin(fd, pin_path.c_str())) {
        int e = errno;
        close(fd);
        fail("pin ef_xdp_next at " + pin_path, e);
    }
    close(fd);
}

void xdp_next_set(const std::string& pin_path, int prog_fd) {
    int fd = open_next(pin_path);
    uint32_t key = 0;
    int err = bpf_map_update_elem(fd, &key, &prog_fd, BPF_EXIST) ? errno : 0;
    close(fd);
    if (err) fail("swap the program in " + pin_path, err);
}

uint32_t xdp_next_prog_id(const std::string& pin_path, uint32_t* map_id) {
    if (map_id) *map_id = 0;
    int fd = bpf_obj_get(pin_path.c_str());
    if (fd < 0) return 0;
    uint32_t key = 0, id = 0;
    // A program array answers a lookup from user space with the program's id.
    if (bpf_map_lookup_elem(fd, &key, &id)) id = 0;
    if (map_id) *map_id = map_id_of(fd);
    close(fd);
    return id;
}

XdpMode xdp_mp_attach(const std::string& next_pin, uint32_t ifindex, const std::string& dev,
                      XdpMode mode, unsigned priority) {
    install_print();
    std::string at = where(dev, ifindex);
    XdpHook hook = xdp_hook(ifindex);
    if (hook.kind == XdpHook::Kind::other) {
        std::string what =
            (hook.name.empty() ? "a program" : hook.name) + " (id " + std::to_string(hook.id) + ")";
        if (hook.name == "xdp_dispatcher")
            fail("attach XDP to " + at + " through libxdp's dispatcher", EBUSY,
                 "its dispatcher " + what + " has no state under " + libxdp_state_dir() +
                     ": the program that loaded it used another bpffs; set LIBXDP_BPFFS to "
                     "that one");
        fail("attach XDP to " + at + " through libxdp's dispatcher", EBUSY,
             what +
                 " is attached without libxdp's dispatcher, and libxdp cannot run "
                 "programs beside it -- detach it (ip link set dev " +
                 dev + " xdp off) or load it through libxdp (xdp-loader)");
    }
    bool joining = hook.kind == XdpHook::Kind::dispatcher;
    if (joining && mode != XdpMode::auto_ && mode != hook.mode)
        fail("attach XDP (" + std::string(xdp_mode_name(mode)) + ") to " + at, EBUSY,
             std::string("libxdp's dispatcher there runs in ") + xdp_mode_name(hook.mode) +
                 " mode and one NIC has one mode: load with --mode " + xdp_mode_name(hook.mode) +
                 " (or auto)");
    if (joining && hook.programs.size() >= kXdpDispatcherSlots)
        fail("attach XDP to " + at + " through libxdp's dispatcher", ENOSPC,
             "it already runs " + std::to_string(hook.programs.size()) +
                 " programs, libxdp's limit");

    int next_fd = open_next(next_pin);
    XdpMode got = joining                    ? hook.mode
                  : mode == XdpMode::generic ? XdpMode::generic
                                             : XdpMode::native;
    uint32_t id = 0;
    int err = attach_entry(next_fd, ifindex, libxdp_mode(got), priority, &id);
    // A driver without native XDP answers EOPNOTSUPP (EINVAL on some kernels).
    if (err && !joining && mode == XdpMode::auto_ && (err == -EOPNOTSUPP || err == -EINVAL)) {
        got = XdpMode::generic;
        err = attach_entry(next_fd, ifindex, libxdp_mode(got), priority, &id);
    }
    uint32_t next_map_id = map_id_of(next_fd);
    close(next_fd);
    if (err)
        fail("attach XDP (" + std::string(xdp_mode_name(got)) + ") to " + at +
                 " through libxdp's dispatcher",
             err,
             err == -EOPNOTSUPP && got == XdpMode::native
                 ? "the driver lacks native XDP, or this kernel cannot run libxdp's dispatcher "
                   "(freplace, Linux 5.10): try --mode generic, or run with -v for libxdp's "
                   "reasons"
             : err == -EOPNOTSUPP
                 ? "this kernel cannot run libxdp's dispatcher (freplace, Linux 5.10); run "
                   "with -v for libxdp's reasons"
                 : "run with -v for libxdp's reasons");
    // Where the kernel cannot re-attach freplace programs, libxdp attaches a
    // single program without its dispatcher: nothing could run beside it.
    Multiprog m(ifindex);
    if (!m.dispatcher() || entry_id(m, next_map_id) != id) {
        (void)detach_id(ifindex, id);
        fail("attach XDP to " + at + " through libxdp's dispatcher", EOPNOTSUPP,
             "libxdp could not use its dispatcher here and attached edgefw alone (this kernel "
             "refused the freplace programs a dispatcher is made of -- they need Linux 5.10, "
             "-v shows libxdp's reason -- or LIBXDP_SKIP_DISPATCHER is set); nothing could run "
             "beside it: load without --xdp-multiprog");
    }
    return got;
}

void xdp_mp_detach(const std::string& next_pin, uint32_t ifindex, const std::string& dev) {
    install_print();
    uint32_t map_id = 0;
    (void)xdp_next_prog_id(next_pin, &map_id);
    if (!map_id) return;
    uint32_t id = 0;
    {
        Multiprog m(ifindex);
        id = entry_id(m, map_id);
    }
    if (!id) return;
    int err = detach_id(ifindex, id);
    if (err && err != -ENOENT)
        fail("detach edgefw's entry (id " + std::to_string(id) + ") from libxdp's dispatcher on " +
                 where(dev, ifindex),
             err,
             err == -EOPNOTSUPP ? "this kernel cannot rebuild the dispatcher without it; "
                                  "'xdp-loader unload " +
                                      dev + " --all' detaches every program there"
                                : "run with -v for libxdp's reasons");
}

}  // namespace kernel
