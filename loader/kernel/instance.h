// An instance is what one `edgefw load` put in the kernel: its pins live in
// /sys/fs/bpf/edgefw/<instance>/ (directory 0700), and its description (node,
// policy, interfaces, rule slots) is kept in a pinned BPF array, ef_meta, so
// other processes read the kernel's state rather than a state file.
//
// The directories are trusted only as file descriptors: edgefw opens the
// bpffs mount, then each level with openat(O_DIRECTORY|O_NOFOLLOW), checks
// with fstat that it is a directory owned by root with mode 0700, and from
// then on names pins through /proc/self/fd/N/<name> (see InstanceDir::path).
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernel/fd.h"

namespace kernel {

std::string bpffs_root();  // /sys/fs/bpf/edgefw (EDGEFW_BPFFS overrides, for tests)
std::string instance_dir(const std::string& instance);  // for messages and readers
void check_instance_name(const std::string& instance);  // throws kernel::Error

// Why edgefw's state cannot be read here (status maps these to exit code 4).
struct Unreadable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Opens `name` under dirfd without following a link, creating it (mode 0700)
// when create is set, and checks it is a directory owned by root with mode
// 0700. Returns an empty Fd when it does not exist (and create is not set);
// throws kernel::Error saying what is wrong and how to fix it otherwise.
// `shown` is the path used in messages.
Fd open_private_dir(int dirfd, const std::string& name, bool create, const std::string& shown);

class InstanceDir {
  public:
    // The instance's directory, or nullopt when it is not there (or bpffs is
    // not mounted). Throws kernel::Error when a directory is unsafe, and
    // Unreadable when edgefw's state cannot be read (not root, bpffs hidden).
    static std::optional<InstanceDir> open(const std::string& instance);
    // Creates it (and edgefw's directory, and mounts bpffs at /sys/fs/bpf
    // when nothing is mounted there and we are root). Fails if it exists.
    static InstanceDir create(const std::string& instance);

    // "/proc/self/fd/N": the pin directory as this process opened and checked
    // it. bpf_obj_pin/bpf_obj_get/unlink resolve the magic link to that very
    // directory (not to whatever its name points to now), and do not follow
    // a link in the last component, so pins are created and removed exactly
    // where they were checked to be.
    std::string path() const { return "/proc/self/fd/" + std::to_string(dir_.get()); }
    const std::string& shown() const { return shown_; }
    int fd() const { return dir_.get(); }

    // Removes every pin and the directory; the shared edgefw directory goes
    // with the last instance.
    void remove();

  private:
    InstanceDir() = default;
    Fd root_;  // edgefw's directory
    Fd dir_;
    std::string name_, shown_;
};

std::vector<std::string> list_instances();  // throws Unreadable like InstanceDir::open

// The description; dir is an InstanceDir::path() (or any pin directory path).
// A shadow candidate's is pinned beside it under another name.
void write_meta(const std::string& dir, const std::string& text, const char* name = "ef_meta");
std::optional<std::string> read_meta(const std::string& dir, const char* name = "ef_meta");

// Set when bpffs at /sys/fs/bpf is hidden by `ip netns exec NAME` (it
// remounts /sys): the name, else empty.
std::string hidden_by_ip_netns_exec();

}  // namespace kernel
