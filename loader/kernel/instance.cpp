#include "kernel/instance.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "kernel/dataplane.h"

namespace kernel {

namespace {

constexpr uint32_t kChunk = 65536;
constexpr uint32_t kChunks = 64;  // 4 MiB of description: room for 16k rules
constexpr long kBpfFsMagic = 0xcafe4a11;
constexpr const char* kDefaultRoot = "/sys/fs/bpf/edgefw";

[[noreturn]] void fail(const std::string& what, int err, const std::string& hint = {}) {
    std::string msg = "kernel: " + what + ": " + std::strerror(err);
    if (!hint.empty()) msg += " -- " + hint;
    throw Error(msg);
}

std::string parent_of(const std::string& p) {
    auto k = p.rfind('/');
    return k == 0 ? "/" : k == std::string::npos ? "." : p.substr(0, k);
}
std::string base_of(const std::string& p) {
    auto k = p.rfind('/');
    return k == std::string::npos ? p : p.substr(k + 1);
}

// What a path that should be edgefw's directory is instead.
std::string what_is(int dirfd, const std::string& name) {
    struct stat st {};
    if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW)) return "unreadable";
    if (S_ISLNK(st.st_mode)) return "a symbolic link";
    if (S_ISREG(st.st_mode)) return "a regular file";
    if (S_ISDIR(st.st_mode)) return "a directory";
    if (S_ISFIFO(st.st_mode)) return "a FIFO";
    return "not a directory";
}

[[noreturn]] void unsafe(const std::string& shown, const std::string& why) {
    throw Error(
        "kernel: " + shown + " " + why +
        ": edgefw did not make it (its directories are owned by root with mode 0700), so "
        "it will not write or remove anything there -- check what it is, remove it (rm -r " +
        shown + ") and run edgefw again");
}

Fd open_dir_path(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == EACCES)
        throw Unreadable("permission denied reading " + path +
                         ": edgefw's state is readable by root only -- run as root");
    return Fd(fd);
}

bool is_bpffs(int fd) {
    struct statfs fs {};
    return fstatfs(fd, &fs) == 0 && fs.f_type == kBpfFsMagic;
}

std::string hidden_message(const std::string& ns) {
    return "edgefw's state cannot be read here: 'ip netns exec " + ns +
           "' remounted /sys, which hides the bpffs at /sys/fs/bpf -- run edgefw outside it "
           "(load, reload and status take --netns " +
           ns + ")";
}

// The bpffs mount that holds edgefw's directory, or an empty Fd when nothing
// is mounted there. mount: mount bpffs ourselves when nothing is.
Fd open_mount(bool mount_it) {
    std::string root = bpffs_root();
    std::string parent = parent_of(root);
    Fd p = open_dir_path(parent);
    if (!p) {
        if (!mount_it) return Fd();
        fail("open " + parent, errno, "mount bpffs: mount -t bpf -o mode=0700 bpf " + parent);
    }
    if (is_bpffs(p.get())) return p;
    if (auto ns = hidden_by_ip_netns_exec(); !ns.empty()) throw Unreadable(hidden_message(ns));
    if (!mount_it) return Fd();
    // Like bpftool and Cilium: when nothing is mounted at the standard place,
    // mount bpffs there -- root-only (mode 0700), unlike a bare `mount -t bpf`
    // (1777). Only for the standard place: a directory named by EDGEFW_BPFFS
    // is the caller's to mount.
    if (root == kDefaultRoot && geteuid() == 0) {
        if (mount("bpf", parent.c_str(), "bpf", 0, "mode=0700"))
            fail("mount bpffs at " + parent, errno,
                 "mount it yourself: mount -t bpf -o mode=0700 bpf " + parent);
        fprintf(stderr, "edgefw: nothing was mounted at %s: mounted bpffs there (mode 0700)\n",
                parent.c_str());
        p = open_dir_path(parent);
        if (p && is_bpffs(p.get())) return p;
    }
    throw Error("kernel: " + parent +
                " is not a bpffs mount -- mount it: mount -t bpf bpf -o mode=0700 " + parent);
}

}  // namespace

std::string bpffs_root() {
    const char* env = getenv("EDGEFW_BPFFS");
    return env && *env ? env : kDefaultRoot;
}

std::string instance_dir(const std::string& instance) { return bpffs_root() + "/" + instance; }

void check_instance_name(const std::string& instance) {
    static const std::regex re("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}");
    if (!std::regex_match(instance, re))
        throw Error("kernel: instance name '" + instance +
                    "' is not valid -- use letters, digits, '.', '_' and '-', at most 64");
}

std::string hidden_by_ip_netns_exec() {
    // ip netns exec NAME mounts a fresh sysfs on /sys with NAME as its source.
    std::ifstream in("/proc/self/mountinfo");
    std::string line, source;
    bool sysfs = false;
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string id, parent, devno, root, point, field;
        if (!(f >> id >> parent >> devno >> root >> point) || point != "/sys") continue;
        while (f >> field && field != "-") {
        }
        std::string type, src;
        f >> type >> src;
        sysfs = type == "sysfs";
        source = src;
    }
    if (!sysfs || source.empty() || source == "sysfs" || source.find('/') != std::string::npos)
        return "";
    struct stat st {};
    if (stat(("/run/netns/" + source).c_str(), &st) == 0) return source;
    return "";
}

Fd open_private_dir(int dirfd, const std::string& name, bool create, const std::string& shown) {
    bool made = false;
    int fd = -1;
    for (int attempt = 0; attempt < 3; attempt++) {
        fd = openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 || errno != ENOENT || !create) break;
        if (mkdirat(dirfd, name.c_str(), 0700) == 0)
            made = true;
        else if (errno != EEXIST)
            fail("create " + shown, errno);
    }
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT) return Fd();
        if (e == ELOOP || e == ENOTDIR) unsafe(shown, "is " + what_is(dirfd, name));
        if (e == EACCES)
            throw Unreadable("permission denied reading " + shown +
                             ": edgefw's state is readable by root only -- run as root");
        fail("open " + shown, e);
    }
    Fd out(fd);
    // A fresh directory gets exactly 0700 whatever the umask.
    if (made && fchmod(fd, 0700)) fail("chmod 0700 " + shown, errno);
    struct stat st {};
    if (fstat(fd, &st)) fail("stat " + shown, errno);
    if (!S_ISDIR(st.st_mode)) unsafe(shown, "is not a directory");
    if (st.st_uid != 0)
        unsafe(shown, "is owned by uid " + std::to_string(st.st_uid) + ", not root");
    if ((st.st_mode & 07777) != 0700) {
        char mode[16];
        snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
        unsafe(shown, std::string("has mode ") + mode + ", not 0700");
    }
    return out;
}

std::optional<InstanceDir> InstanceDir::open(const std::string& instance) {
    check_instance_name(instance);
    Fd mnt = open_mount(false);
    if (!mnt) return std::nullopt;
    std::string root = bpffs_root();
    InstanceDir d;
    d.root_ = open_private_dir(mnt.get(), base_of(root), false, root);
    if (!d.root_) return std::nullopt;
    d.name_ = instance;
    d.shown_ = instance_dir(instance);
    d.dir_ = open_private_dir(d.root_.get(), instance, false, d.shown_);
    if (!d.dir_) return std::nullopt;
    return d;
}

InstanceDir InstanceDir::create(const std::string& instance) {
    check_instance_name(instance);
    Fd mnt = open_mount(true);
    std::string root = bpffs_root();
    InstanceDir d;
    d.root_ = open_private_dir(mnt.get(), base_of(root), true, root);
    d.name_ = instance;
    d.shown_ = instance_dir(instance);
    if (mkdirat(d.root_.get(), instance.c_str(), 0700))
        fail("create " + d.shown_, errno,
             errno == EEXIST ? "another edgefw made it: see 'edgefw status'" : "");
    int fd =
        openat(d.root_.get(), instance.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) fail("open " + d.shown_, errno);
    d.dir_ = Fd(fd);
    if (fchmod(fd, 0700)) fail("chmod 0700 " + d.shown_, errno);
    return d;
}

void InstanceDir::remove() {
    int dup_fd = fcntl(dir_.get(), F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) fail("open " + shown_, errno);
    DIR* d = fdopendir(dup_fd);
    if (!d) {
        int e = errno;
        ::close(dup_fd);
        fail("read " + shown_, e);
    }
    std::vector<std::string> names;
    while (dirent* e = readdir(d))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names.push_back(e->d_name);
    closedir(d);
    // Unpinning never follows links: unlinkat removes the entry itself.
    for (const auto& n : names)
        if (unlinkat(dir_.get(), n.c_str(), 0) && errno != ENOENT)
            fail("remove " + shown_ + "/" + n, errno);
    if (unlinkat(root_.get(), name_.c_str(), AT_REMOVEDIR) && errno != ENOENT)
        fail("remove " + shown_, errno);
    // The shared directory goes with the last instance (ENOTEMPTY otherwise).
    Fd mnt = open_mount(false);
    if (mnt) {
        std::string root = bpffs_root();
        // Only if it is still the directory we checked (same inode).
        struct stat a {
        }, b{};
        if (fstat(root_.get(), &a) == 0 &&
            fstatat(mnt.get(), base_of(root).c_str(), &b, AT_SYMLINK_NOFOLLOW) == 0 &&
            a.st_ino == b.st_ino && a.st_dev == b.st_dev)
            (void)unlinkat(mnt.get(), base_of(root).c_str(), AT_REMOVEDIR);
    }
}

std::vector<std::string> list_instances() {
    std::vector<std::string> out;
    Fd mnt = open_mount(false);
    if (!mnt) return out;
    std::string root = bpffs_root();
    Fd r = open_private_dir(mnt.get(), base_of(root), false, root);
    if (!r) return out;
    int dup_fd = fcntl(r.get(), F_DUPFD_CLOEXEC, 0);
    DIR* d = dup_fd >= 0 ? fdopendir(dup_fd) : nullptr;
    if (!d) {
        if (dup_fd >= 0) ::close(dup_fd);
        return out;
    }
    while (dirent* e = readdir(d))
        if (e->d_name[0] != '.') out.push_back(e->d_name);
    closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

void write_meta(const std::string& dir, const std::string& text, const char* name) {
    if (text.size() >= size_t(kChunk) * kChunks)
        throw Error("kernel: instance description is " + std::to_string(text.size()) +
                    " bytes -- the limit is 4 MiB; reduce the number of rules");
    std::string path = dir + "/" + name;
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) {
        fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, name, sizeof(uint32_t), kChunk, kChunks, nullptr);
        if (fd < 0) fail(std::string("create map ") + name, errno);
        if (bpf_obj_pin(fd, path.c_str())) {
            int e = errno;
            ::close(fd);
            fail("pin " + path, e);
        }
    }
    std::vector<char> chunk(kChunk);
    for (uint32_t i = 0; i < kChunks; i++) {
        size_t off = size_t(i) * kChunk;
        std::fill(chunk.begin(), chunk.end(), 0);
        if (off < text.size())
            std::memcpy(chunk.data(), text.data() + off,
                        std::min<size_t>(kChunk, text.size() - off));
        if (bpf_map_update_elem(fd, &i, chunk.data(), BPF_ANY)) {
            int e = errno;
            ::close(fd);
            fail(std::string("write map ") + name, e);
        }
        if (off >= text.size()) break;
    }
    ::close(fd);
}

std::optional<std::string> read_meta(const std::string& dir, const char* name) {
    int fd = bpf_obj_get((dir + "/" + name).c_str());
    if (fd < 0) return std::nullopt;
    std::string text;
    std::vector<char> chunk(kChunk);
    for (uint32_t i = 0; i < kChunks; i++) {
        if (bpf_map_lookup_elem(fd, &i, chunk.data())) break;
        size_t n = strnlen(chunk.data(), kChunk);
        text.append(chunk.data(), n);
        if (n < kChunk) break;
    }
    ::close(fd);
    return text;
}

}  // namespace kernel
