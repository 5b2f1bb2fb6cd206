#include "util/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace util {

namespace {

const char* kind(mode_t m) {
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISDIR(m)) return "a directory";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

std::string too_large(const std::string& path, const std::string& what, size_t size, size_t max) {
    return "'" + path + "' is " + std::to_string(size) + " bytes: " + what + "s are limited to " +
           std::to_string(max) + " bytes";
}

}  // namespace

int open_input(const std::string& path, const std::string& what, std::string& err,
               std::optional<size_t> max_bytes, size_t* size) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        err = "cannot read " + what + " '" + path + "': " + strerror(errno) +
              ": check the path and permissions";
        return -1;
    }
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        err = "cannot read " + what + " '" + path + "': " + strerror(errno);
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        err = "'" + path + "' is " + kind(st.st_mode) + ", not a regular file: give the " + what +
              " as a regular file (or a symlink to one)";
        close(fd);
        return -1;
    }
    if (max_bytes && static_cast<unsigned long long>(st.st_size) > *max_bytes) {
        err = too_large(path, what, static_cast<size_t>(st.st_size), *max_bytes);
        close(fd);
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    if (size) *size = static_cast<size_t>(st.st_size);
    return fd;
}

std::optional<std::string> read_input(const std::string& path, const std::string& what,
                                      size_t max_bytes, std::string& err) {
    size_t size = 0;
    int fd = open_input(path, what, err, max_bytes, &size);
    if (fd < 0) return std::nullopt;
    // Read at most max_bytes + 1: a file that grew since fstat is still bounded.
    std::string text;
    text.resize(std::min(size, max_bytes) + 1);
    size_t got = 0;
    for (;;) {
        if (got == text.size()) {
            if (text.size() > max_bytes) break;
            text.resize(std::min(text.size() * 2, max_bytes + 1));
        }
        ssize_t n = read(fd, text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            err = "cannot read " + what + " '" + path + "': " + strerror(errno);
            close(fd);
            return std::nullopt;
        }
        if (n == 0) break;
        got += static_cast<size_t>(n);
    }
    close(fd);
    if (got > max_bytes) {
        err = too_large(path, what, got, max_bytes);
        return std::nullopt;
    }
    text.resize(got);
    return text;
}

}  // namespace util
