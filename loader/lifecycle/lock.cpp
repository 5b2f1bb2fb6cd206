#include "lifecycle/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <thread>

#include "kernel/dataplane.h"
#include "lifecycle/lifecycle.h"

namespace lifecycle {

std::string run_root() {
    const char* env = getenv("EDGEFW_RUNDIR");
    return env && *env ? env : "/run/edgefw";
}

namespace {

double default_wait() {
    const char* env = getenv("EDGEFW_LOCK_WAIT");
    if (env && *env) return atof(env);
    return 5.0;
}

}  // namespace

namespace {

kernel::Fd open_run_dir_as_root(const std::string& instance, bool create) {
    std::string root = run_root();
    auto k = root.rfind('/');
    std::string parent = k == 0 ? "/" : root.substr(0, k), base = root.substr(k + 1);
    int p = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p < 0) throw kernel::Error("kernel: open " + parent + ": " + std::strerror(errno));
    kernel::Fd pfd(p);
    kernel::Fd r = kernel::open_private_dir(pfd.get(), base, create, root);
    if (instance.empty() || !r) return r;
    kernel::check_instance_name(instance);
    return kernel::open_private_dir(r.get(), instance, create, root + "/" + instance);
}

}  // namespace

kernel::Fd open_run_dir(const std::string& instance, bool create) {
    try {
        return open_run_dir_as_root(instance, create);
    } catch (const std::runtime_error& e) {
        if (geteuid() == 0) throw;
        throw kernel::Error("kernel: " + run_root() +
                            " (edgefw's locks) is root's: run as root (CAP_BPF, CAP_NET_ADMIN "
                            "and CAP_PERFMON are needed)");
    }
}

Lock::Lock(const std::string& instance, const std::string& op, double wait_secs) {
    kernel::Fd dir = open_run_dir(instance);
    const char* name = instance.empty() ? ".lock" : "lock";
    std::string what = instance.empty() ? "edgefw's directory" : "instance '" + instance + "'";
    fd_ = openat(dir.get(), name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd_ < 0)
        throw kernel::Error("kernel: open the lock of " + what + ": " + std::strerror(errno));
    if (wait_secs < 0) wait_secs = default_wait();
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_secs);
    while (flock(fd_, LOCK_EX | LOCK_NB)) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            int e = errno;
            ::close(fd_);
            throw kernel::Error("kernel: lock " + what + ": " + std::strerror(e));
        }
        if (std::chrono::steady_clock::now() >= until) {
            char buf[256] = {};
            ssize_t n = pread(fd_, buf, sizeof buf - 1, 0);
            std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
            while (!holder.empty() && holder.back() == '\n') holder.pop_back();
            ::close(fd_);
            fd_ = -1;
            throw Refused(what + " is busy: " +
                          (holder.empty() ? std::string("another edgefw holds its lock")
                                          : holder + " holds its lock") +
                          "; waited " + std::to_string(static_cast<int>(wait_secs)) +
                          " s -- try again when it has finished");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    char line[200];
    time_t t = time(nullptr);
    char when[32];
    strftime(when, sizeof when, "%H:%M:%SZ", gmtime(&t));
    int len = snprintf(line, sizeof line, "'edgefw %s' (pid %d, since %s)\n", op.c_str(),
                       static_cast<int>(getpid()), when);
    if (ftruncate(fd_, 0) == 0 && len > 0) (void)!pwrite(fd_, line, static_cast<size_t>(len), 0);
}

Lock::~Lock() {
    if (fd_ < 0) return;
    (void)!ftruncate(fd_, 0);
    ::close(fd_);  // drops the flock
}

void write_run_file(int dirfd, const std::string& name, const std::string& bytes) {
    std::string tmp = "." + name + ".tmp";
    (void)unlinkat(dirfd, tmp.c_str(), 0);
    int fd = openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) throw kernel::Error("kernel: write " + name + ": " + std::strerror(errno));
    size_t off = 0;
    while (off < bytes.size()) {
        ssize_t n = write(fd, bytes.data() + off, bytes.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = errno;
            ::close(fd);
            (void)unlinkat(dirfd, tmp.c_str(), 0);
            throw kernel::Error("kernel: write " + name + ": " + std::strerror(e));
        }
        off += static_cast<size_t>(n);
    }
    // No fsync: what is kept here lives no longer than the pins it belongs
    // to (both go at reboot); the rename alone makes the file whole or absent.
    if (::close(fd) || renameat(dirfd, tmp.c_str(), dirfd, name.c_str())) {
        int e = errno;
        (void)unlinkat(dirfd, tmp.c_str(), 0);
        throw kernel::Error("kernel: write " + name + ": " + std::strerror(e));
    }
}

bool read_run_file(int dirfd, const std::string& name, std::string& out) {
    int fd = openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st {};
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return false;
    }
    out.clear();
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return n == 0;
}

void close_inherited_fds() {
    if (close_range(3, ~0U, 0) == 0) return;
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (int fd = 3; fd < max; fd++) ::close(fd);
}

}  // namespace lifecycle
