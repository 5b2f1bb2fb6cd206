// An instance is what one `edgefw load` put in the kernel: its pins live in
// /sys/fs/bpf/edgefw/<instance>/ (directory 0700), and its description (node,
// policy, interfaces, rule slots) is kept in a pinned BPF array, ef_meta, so
// other processes read the kernel's state rather than a state file.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace kernel {

std::string bpffs_root();  // /sys/fs/bpf/edgefw (EDGEFW_BPFFS overrides, for tests)
std::string instance_dir(const std::string& instance);
void check_instance_name(const std::string& instance);  // throws kernel::Error
// Creates the directory tree with mode 0700; throws with a fix when bpffs is missing.
void make_instance_dir(const std::string& dir);
std::vector<std::string> list_instances();

void write_meta(const std::string& dir, const std::string& text);
std::optional<std::string> read_meta(const std::string& dir);

// Removes every pin in dir and the directory itself.
void remove_instance_dir(const std::string& dir);

}  // namespace kernel
