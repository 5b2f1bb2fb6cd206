// One operation at a time. load, reload, unload, confirm and the confirm
// timer take the instance's lock; creating or removing a pin directory also
// takes edgefw's directory lock (the last unload removes the shared
// directory). The locks are flock(2)s on files under /run/edgefw (root, 0700;
// EDGEFW_RUNDIR overrides, for tests), not on bpffs. flock works on a bpffs
// directory, but a pin directory is removed by unload and made again by load,
// so a lock on it would be a lock on whichever inode a caller happened to
// open (checked: after rmdir+mkdir a second caller locks the new directory
// while the first still holds the old one). The lock files stay; only the
// lock on the open file matters, and the kernel drops it when the holder
// exits, even on SIGKILL.
//
// The same per-instance directory, /run/edgefw/<instance>/, keeps what the
// confirm timer needs: the bytes of the policy and site file of each kept
// generation, and the timer's pid.
#pragma once

#include <string>

#include "kernel/instance.h"

namespace lifecycle {

std::string run_root();  // /run/edgefw, or EDGEFW_RUNDIR

// /run/edgefw/<instance> (created safely, checked root 0700); empty
// instance: /run/edgefw itself. create false: an empty Fd when missing.
kernel::Fd open_run_dir(const std::string& instance, bool create = true);

class Lock {
  public:
    // Waits up to EDGEFW_LOCK_WAIT seconds (default 5), then throws
    // lifecycle::Refused naming the operation and pid that hold it.
    // instance empty: edgefw's directory lock.
    Lock(const std::string& instance, const std::string& op, double wait_secs = -1);
    ~Lock();
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

  private:
    int fd_ = -1;
};

// Files in a run directory: written whole (temp file + rename), read whole.
void write_run_file(int dirfd, const std::string& name, const std::string& bytes);
bool read_run_file(int dirfd, const std::string& name, std::string& out);

// For a forked child: closes every inherited descriptor above stderr (lock
// files, maps, programs), so the child holds nothing of its parent's.
void close_inherited_fds();

}  // namespace lifecycle
