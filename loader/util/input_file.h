// Opening the files edgefw reads as input (policy, site, packet specs,
// captures): only regular files (a symlink to one is fine), opened without
// blocking and sized with fstat before a byte is read, so a FIFO, a device
// such as /dev/zero or a directory is an immediate, clear error instead of a
// hang or an allocation failure.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace util {

// The limit on policy, site and packet spec files.
inline constexpr size_t kMaxInputBytes = 16 * 1024 * 1024;

// Opens `path` for reading; returns the descriptor (O_CLOEXEC, blocking mode)
// or -1 with err saying why ("'x' is a FIFO, not a regular file: ..."). With
// max_bytes, a file larger than that is refused too. size gets its size.
int open_input(const std::string& path, const std::string& what, std::string& err,
               std::optional<size_t> max_bytes = std::nullopt, size_t* size = nullptr);

// Reads the whole of a regular file of at most max_bytes; nullopt with err.
std::optional<std::string> read_input(const std::string& path, const std::string& what,
                                      size_t max_bytes, std::string& err);

}  // namespace util
