#include "kernel/attach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kernel/dataplane.h"
#include "kernel/fd.h"

namespace kernel {

namespace {

constexpr uint32_t kTcHandle = 0xef;
constexpr uint32_t kTcPriority = 0xef;
constexpr long kNsfsMagic = 0x6e736673;

[[noreturn]] void fail(const std::string& what, int err, const std::string& hint = {}) {
    if (err < 0) err = -err;
    std::string msg = "kernel: " + what + ": " + std::strerror(err);
    if (!hint.empty()) msg += " -- " + hint;
    throw Error(msg);
}

std::string prog_name(uint32_t id) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) return "id " + std::to_string(id);
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    std::string name = "id " + std::to_string(id);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
        name = std::string(info.name) + " (" + name + ")";
    close(fd);
    return name;
}

// Pins a new link (replacing a stale pin) and closes the fd: from then on the
// pin holds the link, and removing the pin detaches it.
void pin_link(Fd fd, const std::string& pin_path, const std::string& what) {
    unlink(pin_path.c_str());
    if (bpf_obj_pin(fd.get(), pin_path.c_str())) fail("pin " + what + " at " + pin_path, errno);
}

bpf_tc_hook egress_hook(uint32_t ifindex) {
    bpf_tc_hook hook{};
    hook.sz = sizeof hook;
    hook.ifindex = static_cast<int>(ifindex);
    hook.attach_point = BPF_TC_EGRESS;
    return hook;
}

}  // namespace

// --netns takes a name under /run/netns (what `ip netns add` makes), never a
// path: '/' and '..' are refused, the file is opened without following a link
// and without blocking (a FIFO there would hang a plain open), and it must be
// a namespace file (nsfs) before setns sees it.
NetnsGuard::NetnsGuard(const std::string& name) {
    if (name.empty()) return;
    if (name.find('/') != std::string::npos || name == "." || name == ".." || name.size() > 255)
        throw Error("kernel: --netns '" + name +
                    "' is not a network namespace name -- give the name 'ip netns list' shows "
                    "(a file under /run/netns), not a path");
    std::string path = "/run/netns/" + name;
    int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        fail("open network namespace " + path, errno,
             errno == ELOOP ? "it is a symbolic link, not a namespace made by 'ip netns add'"
                            : "create it with 'ip netns add " + name + "'");
    struct statfs fs {};
    if (fstatfs(fd, &fs) || fs.f_type != kNsfsMagic) {
        close(fd);
        throw Error("kernel: " + path +
                    " is not a network namespace (not an nsfs file) -- give the name of one "
                    "made by 'ip netns add'");
    }
    saved_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (saved_ < 0) {
        int e = errno;
        close(fd);
        fail("open /proc/self/ns/net", e);
    }
    if (setns(fd, CLONE_NEWNET)) {
        int e = errno;
        close(fd);
        close(saved_);
        saved_ = -1;
        fail("enter network namespace " + name, e,
             e == EINVAL ? "it is another kind of namespace" : "needs CAP_SYS_ADMIN");
    }
    close(fd);
}

NetnsGuard::~NetnsGuard() {
    if (saved_ < 0) return;
    (void)setns(saved_, CLONE_NEWNET);
    close(saved_);
}

uint32_t ifindex_of(const std::string& dev) {
    unsigned idx = if_nametoindex(dev.c_str());
    if (!idx) fail("find interface '" + dev + "'", errno, "check the name with 'ip link'");
    return idx;
}

const char* xdp_mode_name(XdpMode m) {
    switch (m) {
        case XdpMode::native:
            return "native";
        case XdpMode::generic:
            return "generic";
        default:
            return "auto";
    }
}

XdpMode xdp_attach(int prog_fd, uint32_t ifindex, const std::string& dev, XdpMode mode,
                   const std::string& pin_path) {
    std::string where = dev + " (ifindex " + std::to_string(ifindex) + ")";
    uint32_t existing = 0;
    if (bpf_xdp_query_id(static_cast<int>(ifindex), 0, &existing) == 0 && existing)
        fail("attach XDP to " + where, EBUSY,
             "another XDP program is attached without libxdp's dispatcher, so nothing can run "
             "beside it: " +
                 prog_name(existing) + "; detach it (ip link set dev " + dev +
                 " xdp off) or load it through libxdp (xdp-loader), then load edgefw again");
    XdpMode got = mode == XdpMode::generic ? XdpMode::generic : XdpMode::native;
    auto create = [&](XdpMode m) {
        bpf_link_create_opts opts{};
        opts.sz = sizeof opts;
        opts.flags = m == XdpMode::native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
        return bpf_link_create(prog_fd, static_cast<int>(ifindex), BPF_XDP, &opts);
    };
    Fd fd(create(got));
    // A driver without native XDP answers EOPNOTSUPP (EINVAL on some kernels).
    if (!fd && mode == XdpMode::auto_ && (errno == EOPNOTSUPP || errno == EINVAL)) {
        got = XdpMode::generic;
        fd.reset(create(got));
    }
    if (!fd)
        fail("attach XDP (" + std::string(xdp_mode_name(got)) + ") to " + where, errno,
             got == XdpMode::native ? "the driver may lack native XDP: try --mode generic" : "");
    pin_link(std::move(fd), pin_path, "XDP link of " + dev);
    return got;
}

void tc_link_attach(int prog_fd, uint32_t ifindex, const std::string& dev,
                    const std::string& pin_path) {
    Fd fd(bpf_link_create(prog_fd, static_cast<int>(ifindex),
                          static_cast<bpf_attach_type>(kAttachTcxEgress), nullptr));
    if (!fd)
        fail("attach TC egress link (tcx) to " + dev, errno,
             "this kernel may lack tcx (Linux 6.6): try --tc netlink");
    pin_link(std::move(fd), pin_path, "TC egress link of " + dev);
}

void link_replace(const std::string& pin_path, int new_prog_fd) {
    Fd fd(bpf_obj_get(pin_path.c_str()));
    if (!fd)
        fail("open pinned link " + pin_path, errno, "is the instance loaded? see 'edgefw status'");
    int err = bpf_link_update(fd.get(), new_prog_fd, nullptr);
    if (err) fail("swap the program of link " + pin_path, err);
}

void tc_attach(int prog_fd, uint32_t ifindex, const std::string& dev, bool replace) {
    bpf_tc_hook hook = egress_hook(ifindex);
    int err = bpf_tc_hook_create(&hook);
    if (err && err != -EEXIST) fail("create clsact qdisc on " + dev, err);
    bpf_tc_opts opts{};
    opts.sz = sizeof opts;
    opts.handle = kTcHandle;
    opts.priority = kTcPriority;
    opts.prog_fd = prog_fd;
    opts.flags = replace ? BPF_TC_F_REPLACE : 0;
    err = bpf_tc_attach(&hook, &opts);
    if (err)
        fail("attach TC egress program to " + dev, err,
             err == -EEXIST ? "a filter with edgefw's handle exists: 'edgefw unload' first" : "");
}

void tc_detach(uint32_t ifindex) {
    bpf_tc_hook hook = egress_hook(ifindex);
    bpf_tc_opts opts{};
    opts.sz = sizeof opts;
    opts.handle = kTcHandle;
    opts.priority = kTcPriority;
    int err = bpf_tc_detach(&hook, &opts);
    if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL)
        fail("detach TC egress program from ifindex " + std::to_string(ifindex), err);
}

uint32_t tc_prog_id(uint32_t ifindex) {
    bpf_tc_hook hook = egress_hook(ifindex);
    bpf_tc_opts opts{};
    opts.sz = sizeof opts;
    opts.handle = kTcHandle;
    opts.priority = kTcPriority;
    if (bpf_tc_query(&hook, &opts)) return 0;
    return opts.prog_id;
}

uint32_t link_prog_id(const std::string& pin_path, uint32_t* ifindex) {
    Fd fd(bpf_obj_get(pin_path.c_str()));
    if (!fd) return 0;
    bpf_link_info info{};
    uint32_t len = sizeof info;
    uint32_t id = 0;
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0) {
        id = info.prog_id;
        // XDP and tcx link info both begin with the ifindex; Debian 12's
        // headers only name the XDP one.
        if (ifindex) *ifindex = info.xdp.ifindex;
    }
    return id;
}

}  // namespace kernel
