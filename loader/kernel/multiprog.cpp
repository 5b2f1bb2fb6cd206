#include "kernel/multiprog.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <xdp/libxdp.h>
#include <xdp/prog_dispatcher.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "kernel/dataplane.h"
#include "kernel/instance.h"

namespace kernel {

namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;
constexpr int kRetries = 10;  // another tool swapped the dispatcher meanwhile: build again

std::atomic<bool> g_verbose{false};

int libxdp_print(enum libxdp_print_level level, const char* fmt, va_list args) {
    // Its reasons for a failure are mostly at debug level: -v shows them all.
    (void)level;
    if (!g_verbose.load(std::memory_order_relaxed)) return 0;
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

std::string where(const std::string& dev, uint32_t ifindex) {
    return dev + " (ifindex " + std::to_string(ifindex) + ")";
}

// libxdp's state directory, as libxdp 1.3 finds it: <bpffs>/xdp, the bpffs
// being LIBXDP_BPFFS or /sys/fs/bpf. Every program of a NIC must agree.
std::string libxdp_state_dir(bool create) {
    const char* env = getenv("LIBXDP_BPFFS");
    std::string mnt = env && *env ? env : "/sys/fs/bpf";
    struct statfs fs {};
    if (statfs(mnt.c_str(), &fs) || fs.f_type != kBpfFsMagic)
        throw Error("kernel: libxdp keeps its dispatchers in a bpffs, and " + mnt +
                    " is not one -- mount it (mount -t bpf bpf " + mnt +
                    ") or set LIBXDP_BPFFS to the one its other programs use");
    std::string dir = mnt + "/xdp";
    if (create && mkdir(dir.c_str(), 0700) && errno != EEXIST) fail("create " + dir, errno);
    return dir;
}

// libxdp's lock: flock on its state directory, held while pins change.
class StateLock {
  public:
    explicit StateLock(const std::string& dir) {
        fd_ = open(dir.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) fail("open " + dir, errno);
        if (flock(fd_, LOCK_EX)) {
            int e = errno;
            close(fd_);
            fail("lock " + dir, e);
        }
    }
    ~StateLock() {
        flock(fd_, LOCK_UN);
        close(fd_);
    }
    StateLock(const StateLock&) = delete;
    StateLock& operator=(const StateLock&) = delete;

  private:
    int fd_ = -1;
};

// The dispatcher object libxdp loads (LIBXDP_OBJECT_PATH, else where
// Debian's libxdp1 installs it).
std::string dispatcher_object() {
    if (const char* env = getenv("LIBXDP_OBJECT_PATH"); env && *env)
        return std::string(env) + "/xdp-dispatcher.o";
    for (const char* d : {"/usr/lib/x86_64-linux-gnu/bpf", "/usr/lib/aarch64-linux-gnu/bpf",
                          "/usr/lib/bpf", "/usr/local/lib/bpf"}) {
        std::string p = std::string(d) + "/xdp-dispatcher.o";
        if (access(p.c_str(), R_OK) == 0) return p;
    }
    throw Error(
        "kernel: libxdp's xdp-dispatcher.o is not installed -- install Debian package libxdp1");
}

// Opens xdp-dispatcher.o with `config` as its rodata and loads its
// dispatcher program only. Returns the object (its program: "xdp_dispatcher").
bpf_object* load_dispatcher(const xdp_dispatcher_config& config) {
    std::string path = dispatcher_object();
    bpf_object* obj = bpf_object__open_file(path.c_str(), nullptr);
    if (!obj) fail("open " + path, errno);
    bpf_program* p = nullptr;
    bpf_object__for_each_program(p, obj) {
        bpf_program__set_autoload(p, std::strcmp(bpf_program__name(p), "xdp_dispatcher") == 0);
    }
    bpf_map* rodata = bpf_object__next_map(obj, nullptr);
    int err = rodata ? bpf_map__set_initial_value(rodata, &config, sizeof config) : -ENOENT;
    if (!err) err = bpf_object__load(obj);
    if (err) {
        bpf_object__close(obj);
        fail("load libxdp's dispatcher from " + path, err,
             "run with -v for libbpf's reasons; a dispatcher of another libxdp version needs "
             "its own xdp-dispatcher.o (LIBXDP_OBJECT_PATH)");
    }
    return obj;
}

int dispatcher_fd(bpf_object* obj) {
    return bpf_program__fd(bpf_object__find_program_by_name(obj, "xdp_dispatcher"));
}

uint32_t prog_id_of(int fd) {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

// The maps a program uses (the first 64).
std::vector<uint32_t> map_ids_of(int prog_fd) {
    std::vector<uint32_t> ids(64);
    bpf_prog_info info{};
    info.nr_map_ids = static_cast<uint32_t>(ids.size());
    info.map_ids = reinterpret_cast<uintptr_t>(ids.data());
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(prog_fd, &info, &len)) return {};
    ids.resize(std::min<size_t>(info.nr_map_ids, ids.size()));
    return ids;
}

bool uses_map(int prog_fd, uint32_t map_id) {
    auto ids = map_ids_of(prog_fd);
    return map_id && std::find(ids.begin(), ids.end(), map_id) != ids.end();
}

constexpr std::pair<unsigned, const char*> kActions[] = {
    {XDP_ABORTED, "XDP_ABORTED"}, {XDP_DROP, "XDP_DROP"},         {XDP_PASS, "XDP_PASS"},
    {XDP_TX, "XDP_TX"},           {XDP_REDIRECT, "XDP_REDIRECT"},
};

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

// One program of a dispatcher being built.
struct Slot {
    int fd = -1;  // not owned
    std::string name;
    unsigned priority = kXdpDefaultPriority;
    uint32_t chain_call = 1U << XDP_PASS;
    bool frags = false;
};

std::vector<Slot> slots_of(const Multiprog& m) {
    std::vector<Slot> out;
    if (!m.dispatcher()) return out;
    for (xdp_program* p = xdp_multiprog__next_prog(nullptr, m.mp); p;
         p = xdp_multiprog__next_prog(p, m.mp)) {
        Slot s;
        s.fd = xdp_program__fd(p);
        s.name = xdp_program__name(p);
        s.priority = xdp_program__run_prio(p);
        s.chain_call = 0;
        for (auto [a, name] : kActions)
            if (xdp_program__chain_call_enabled(p, static_cast<xdp_action>(a)))
                s.chain_call |= 1U << a;
        s.frags = xdp_program__xdp_frags_support(p);
        out.push_back(s);
    }
    return out;
}

// What libxdp does before it builds: a foreign program, a mode mismatch or
// a full dispatcher is refused here, in one line.
void check_joinable(const XdpHook& hook, uint32_t ifindex, const std::string& dev, XdpMode mode,
                    size_t adding) {
    std::string at = where(dev, ifindex);
    if (hook.kind == XdpHook::Kind::other) {
        std::string what =
            (hook.name.empty() ? "a program" : hook.name) + " (id " + std::to_string(hook.id) + ")";
        if (hook.name == "xdp_dispatcher")
            fail("attach XDP to " + at + " through libxdp's dispatcher", EBUSY,
                 "its dispatcher " + what + " has no state under " + libxdp_state_dir(false) +
                     ": the tool that loaded it used another bpffs; set LIBXDP_BPFFS to that one");
        fail("attach XDP to " + at + " through libxdp's dispatcher", EBUSY,
             what +
                 " is attached without libxdp's dispatcher, and libxdp cannot run programs "
                 "beside it -- detach it (ip link set dev " +
                 dev + " xdp off) or load it through libxdp (xdp-loader)");
    }
    if (hook.kind != XdpHook::Kind::dispatcher) return;
    if (mode != XdpMode::auto_ && mode != hook.mode)
        fail("attach XDP (" + std::string(xdp_mode_name(mode)) + ") to " + at, EBUSY,
             std::string("libxdp's dispatcher there runs in ") + xdp_mode_name(hook.mode) +
                 " mode and one NIC has one mode: load with --mode " + xdp_mode_name(hook.mode) +
                 " (or auto)");
    if (hook.programs.size() + adding > kXdpDispatcherSlots)
        fail("attach XDP to " + at + " through libxdp's dispatcher", ENOSPC,
             "it already runs " + std::to_string(hook.programs.size()) +
                 " programs, libxdp's limit is " + std::to_string(kXdpDispatcherSlots));
}

int find_func(int prog_fd, const char* name) {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) || !info.btf_id) return -EINVAL;
    btf* b = btf__load_from_kernel_by_id(info.btf_id);
    if (!b) return -errno;
    int id = btf__find_by_name_kind(b, name, BTF_KIND_FUNC);
    btf__free(b);
    return id;
}

void unpin_dir(const std::string& dir, size_t slots) {
    for (size_t i = 0; i < slots; i++)
        for (const char* kind : {"link", "prog"})
            (void)unlink((dir + "/prog" + std::to_string(i) + "-" + kind).c_str());
    (void)rmdir(dir.c_str());
}

// Builds a dispatcher running `slots` (sorted as libxdp sorts them: run
// priority, then name) and puts it on ifindex in one step: in place of
// old_fd (XDP_FLAGS_REPLACE; -EAGAIN when another tool swapped it meanwhile)
// or where nothing is attached. The old dispatcher's pins go; its programs'
// old links with them. Returns 0, or the attach's -errno (-EAGAIN for a race)
// with nothing left behind; throws, naming the step, when an earlier step fails.
int build_and_swap(std::vector<Slot> slots, uint32_t ifindex, const std::string& dev, XdpMode mode,
                   int old_fd, uint32_t old_id, size_t old_slots) {
    std::stable_sort(slots.begin(), slots.end(), [](const Slot& a, const Slot& b) {
        return a.priority != b.priority ? a.priority < b.priority : a.name < b.name;
    });
    xdp_dispatcher_config config{};
    config.magic = XDP_DISPATCHER_MAGIC;
    config.dispatcher_version = XDP_DISPATCHER_VERSION;
    config.num_progs_enabled = static_cast<uint8_t>(slots.size());
    config.is_xdp_frags = 0;  // edgefw's program does not take multi-buffer packets
    for (size_t i = 0; i < slots.size(); i++) {
        config.chain_call_actions[i] = slots[i].chain_call | (1U << XDP_DISPATCHER_RETVAL);
        config.run_prios[i] = slots[i].priority;
        config.program_flags[i] = slots[i].frags ? BPF_F_XDP_HAS_FRAGS : 0;
    }
    bpf_object* obj = load_dispatcher(config);
    int disp = dispatcher_fd(obj);
    uint32_t disp_id = prog_id_of(disp);
    std::vector<int> links;
    auto cleanup = [&] {
        for (int l : links) close(l);
        bpf_object__close(obj);
    };
    std::string at = where(dev, ifindex);
    for (size_t i = 0; i < slots.size(); i++) {
        // A lone program replaces the dispatcher's own function, as libxdp
        // does: the chain is then no detour.
        std::string func = slots.size() == 1 ? "xdp_dispatcher" : "prog" + std::to_string(i);
        int btf_id = find_func(disp, func.c_str());
        if (btf_id <= 0) {
            cleanup();
            fail("find " + func + " in libxdp's dispatcher", btf_id ? btf_id : ENOENT);
        }
        bpf_link_create_opts opts{};
        opts.sz = sizeof opts;
        opts.target_btf_id = static_cast<uint32_t>(btf_id);
        int l = bpf_link_create(slots[i].fd, disp, static_cast<bpf_attach_type>(0), &opts);
        if (l < 0) {
            int e = errno;
            cleanup();
            fail("put " + slots[i].name + " in slot " + func + " of a new dispatcher for " + at, e,
                 e == EINVAL ? "this kernel cannot attach a program to a second dispatcher "
                               "(freplace re-attachment, Linux 5.10)"
                             : "run with -v for libbpf's reasons");
        }
        links.push_back(l);
    }
    std::string state = libxdp_state_dir(true);
    std::string dir =
        state + "/dispatch-" + std::to_string(ifindex) + "-" + std::to_string(disp_id);
    {
        StateLock lock(state);
        if (mkdir(dir.c_str(), 0700) && errno != EEXIST) {
            int e = errno;
            cleanup();
            fail("create " + dir, e);
        }
        for (size_t i = 0; i < slots.size(); i++) {
            std::string base = dir + "/prog" + std::to_string(i);
            if (bpf_obj_pin(links[i], (base + "-link").c_str()) ||
                bpf_obj_pin(slots[i].fd, (base + "-prog").c_str())) {
                int e = errno;
                unpin_dir(dir, slots.size());
                cleanup();
                fail("pin " + base + "-link/-prog", e);
            }
        }
    }
    bpf_xdp_attach_opts xo{};
    xo.sz = sizeof xo;
    xo.old_prog_fd = old_fd >= 0 ? old_fd : 0;
    uint32_t flags = mode == XdpMode::generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
    if (old_fd < 0) flags |= XDP_FLAGS_UPDATE_IF_NOEXIST;
    int err = bpf_xdp_attach(static_cast<int>(ifindex), disp, flags, &xo);
    if (err) {
        StateLock lock(state);
        unpin_dir(dir, slots.size());
        cleanup();
        if (err == -EEXIST && old_fd >= 0) return -EAGAIN;
        return err;
    }
    // The new dispatcher holds the programs (its links are pinned); the old
    // one's pins go, and with them its links and, when the last reference
    // goes, the old dispatcher.
    if (old_fd >= 0) {
        StateLock lock(state);
        unpin_dir(state + "/dispatch-" + std::to_string(ifindex) + "-" + std::to_string(old_id),
                  old_slots);
    }
    cleanup();
    return 0;
}

int detach_id(uint32_t ifindex, uint32_t id) {
    xdp_program* p = xdp_program__from_id(id);
    int err = ptr_error(p);
    if (err) return err;
    err = xdp_program__detach(p, static_cast<int>(ifindex), XDP_MODE_UNSPEC, 0);
    xdp_program__close(p);
    return err;
}

// The id of the dispatcher's program that uses marker_map_id, 0 if none.
uint32_t edgefw_id(const Multiprog& m, uint32_t marker_map_id) {
    if (!m.dispatcher()) return 0;
    for (xdp_program* p = xdp_multiprog__next_prog(nullptr, m.mp); p;
         p = xdp_multiprog__next_prog(p, m.mp))
        if (uses_map(xdp_program__fd(p), marker_map_id)) return xdp_program__id(p);
    return 0;
}

}  // namespace

void set_libxdp_verbose(bool verbose) {
    g_verbose.store(verbose, std::memory_order_relaxed);
    install_print();
}

uint32_t pinned_map_id(const std::string& pin_path) {
    Fd fd(bpf_obj_get(pin_path.c_str()));
    bpf_map_info info{};
    uint32_t len = sizeof info;
    return fd && bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0 ? info.id : 0;
}

XdpHook xdp_hook(uint32_t ifindex, uint32_t marker_map_id) {
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
    for (xdp_program* p = xdp_multiprog__next_prog(nullptr, m.mp); p;
         p = xdp_multiprog__next_prog(p, m.mp)) {
        XdpChainProg c;
        c.name = xdp_program__name(p);
        c.id = xdp_program__id(p);
        c.priority = xdp_program__run_prio(p);
        for (auto [a, name] : kActions)
            if (xdp_program__chain_call_enabled(p, static_cast<xdp_action>(a)))
                c.chain_call.push_back(name);
        c.edgefw = uses_map(xdp_program__fd(p), marker_map_id);
        h.programs.push_back(c);
    }
    return h;
}

ScratchDispatcher::ScratchDispatcher() {
    xdp_dispatcher_config config{};
    config.magic = XDP_DISPATCHER_MAGIC;
    config.dispatcher_version = XDP_DISPATCHER_VERSION;
    config.num_progs_enabled = 1;
    obj_ = load_dispatcher(config);
}

ScratchDispatcher::~ScratchDispatcher() { bpf_object__close(obj_); }

int ScratchDispatcher::fd() const { return dispatcher_fd(obj_); }

XdpMode xdp_mp_attach(int ext_fd, uint32_t ifindex, const std::string& dev, XdpMode mode,
                      unsigned priority) {
    install_print();
    for (int attempt = 0;; attempt++) {
        XdpHook hook = xdp_hook(ifindex);
        check_joinable(hook, ifindex, dev, mode, 1);
        bool joining = hook.kind == XdpHook::Kind::dispatcher;
        Multiprog m(ifindex);
        std::vector<Slot> slots = slots_of(m);
        Slot mine;
        mine.fd = ext_fd;
        mine.name = "ef_xdp_dispatch";
        mine.priority = priority;
        slots.push_back(mine);
        int old_fd = joining ? xdp_program__fd(xdp_multiprog__main_prog(m.mp)) : -1;
        XdpMode got = joining                    ? hook.mode
                      : mode == XdpMode::generic ? XdpMode::generic
                                                 : XdpMode::native;
        int err = build_and_swap(slots, ifindex, dev, got, old_fd, hook.id, slots.size() - 1);
        // A driver without native XDP answers EOPNOTSUPP (EINVAL on some kernels).
        if (err && !joining && mode == XdpMode::auto_ && (err == -EOPNOTSUPP || err == -EINVAL)) {
            got = XdpMode::generic;
            err = build_and_swap(slots, ifindex, dev, got, -1, 0, 0);
        }
        if (err == -EAGAIN && attempt < kRetries) continue;
        if (err)
            fail("attach libxdp's dispatcher (" + std::string(xdp_mode_name(got)) + ") to " +
                     where(dev, ifindex),
                 err,
                 err == -EOPNOTSUPP && got == XdpMode::native
                     ? "the driver lacks native XDP: use --mode generic (or auto)"
                 : err == -EBUSY || err == -EEXIST
                     ? "another XDP program was attached meanwhile; see 'ip link show " + dev + "'"
                     : "");
        return got;
    }
}

void xdp_mp_replace(int ext_fd, uint32_t marker_map_id, uint32_t ifindex, const std::string& dev) {
    install_print();
    for (int attempt = 0;; attempt++) {
        Multiprog m(ifindex);
        uint32_t old = edgefw_id(m, marker_map_id);
        if (!old)
            fail("swap edgefw's program in libxdp's dispatcher on " + where(dev, ifindex), ENOENT,
                 "edgefw is not in it any more: 'edgefw unload' and load again");
        std::vector<Slot> slots = slots_of(m);
        for (auto& s : slots)
            if (prog_id_of(s.fd) == old) s.fd = ext_fd;  // same name, slot, priority, actions
        xdp_program* main = xdp_multiprog__main_prog(m.mp);
        XdpMode mode =
            xdp_multiprog__attach_mode(m.mp) == XDP_MODE_SKB ? XdpMode::generic : XdpMode::native;
        int err = build_and_swap(slots, ifindex, dev, mode, xdp_program__fd(main),
                                 xdp_program__id(main), slots.size());
        if (err == -EAGAIN && attempt < kRetries) continue;
        if (err) fail("swap libxdp's dispatcher on " + where(dev, ifindex), err);
        return;
    }
}

void xdp_mp_detach(uint32_t marker_map_id, uint32_t ifindex, const std::string& dev) {
    install_print();
    uint32_t id = 0;
    {
        Multiprog m(ifindex);
        id = edgefw_id(m, marker_map_id);
    }
    if (!id) return;
    int err = detach_id(ifindex, id);
    if (err && err != -ENOENT)
        fail("take edgefw's program (id " + std::to_string(id) +
                 ") out of libxdp's dispatcher on " + where(dev, ifindex),
             err,
             err == -EOPNOTSUPP ? "this kernel cannot rebuild the dispatcher without it; "
                                  "'xdp-loader unload " +
                                      dev + " --all' detaches every program there"
                                : "run with -v for libxdp's reasons");
}

}  // namespace kernel
