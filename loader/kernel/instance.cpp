#include "kernel/instance.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <regex>

#include "kernel/dataplane.h"

namespace kernel {

namespace {

constexpr uint32_t kChunk = 65536;
constexpr uint32_t kChunks = 64;  // 4 MiB of description: room for 16k rules
constexpr long kBpfFsMagic = 0xcafe4a11;

[[noreturn]] void fail(const std::string& what, int err, const std::string& hint = {}) {
    std::string msg = "kernel: " + what + ": " + std::strerror(err);
    if (!hint.empty()) msg += " -- " + hint;
    throw Error(msg);
}

}  // namespace

std::string bpffs_root() {
    const char* env = getenv("EDGEFW_BPFFS");
    return env && *env ? env : "/sys/fs/bpf/edgefw";
}

std::string instance_dir(const std::string& instance) { return bpffs_root() + "/" + instance; }

void check_instance_name(const std::string& instance) {
    static const std::regex re("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}");
    if (!std::regex_match(instance, re))
        throw Error("kernel: instance name '" + instance +
                    "' is not valid -- use letters, digits, '.', '_' and '-', at most 64");
}

void make_instance_dir(const std::string& dir) {
    std::string root = bpffs_root();
    std::string parent = root.substr(0, root.rfind('/'));
    struct statfs fs {};
    if (statfs(parent.c_str(), &fs))
        fail("use " + parent + " as bpffs", errno, "mount it: mount -t bpf bpf " + parent);
    if (fs.f_type != kBpfFsMagic)
        throw Error("kernel: " + parent + " is not a bpffs mount -- mount it: mount -t bpf bpf " +
                    parent);
    // The last unload removes the shared root: if that races with this load,
    // the instance directory finds its parent gone (ENOENT) and we try again.
    for (int attempt = 0;; attempt++) {
        if (mkdir(root.c_str(), 0700) && errno != EEXIST) fail("create " + root, errno);
        if (mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) break;
        if (errno != ENOENT || attempt == 3) fail("create " + dir, errno);
    }
    if (chmod(dir.c_str(), 0700)) fail("chmod 0700 " + dir, errno);
}

std::vector<std::string> list_instances() {
    std::vector<std::string> out;
    DIR* d = opendir(bpffs_root().c_str());
    if (!d) return out;
    while (dirent* e = readdir(d))
        if (e->d_name[0] != '.') out.push_back(e->d_name);
    closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

void write_meta(const std::string& dir, const std::string& text) {
    if (text.size() >= size_t(kChunk) * kChunks)
        throw Error("kernel: instance description is " + std::to_string(text.size()) +
                    " bytes -- the limit is 4 MiB; reduce the number of rules");
    std::string path = dir + "/ef_meta";
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) {
        fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ef_meta", sizeof(uint32_t), kChunk, kChunks,
                            nullptr);
        if (fd < 0) fail("create map ef_meta", errno);
        if (bpf_obj_pin(fd, path.c_str())) {
            int e = errno;
            close(fd);
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
            close(fd);
            fail("write map ef_meta", e);
        }
        if (off >= text.size()) break;
    }
    close(fd);
}

std::optional<std::string> read_meta(const std::string& dir) {
    int fd = bpf_obj_get((dir + "/ef_meta").c_str());
    if (fd < 0) return std::nullopt;
    std::string text;
    std::vector<char> chunk(kChunk);
    for (uint32_t i = 0; i < kChunks; i++) {
        if (bpf_map_lookup_elem(fd, &i, chunk.data())) break;
        size_t n = strnlen(chunk.data(), kChunk);
        text.append(chunk.data(), n);
        if (n < kChunk) break;
    }
    close(fd);
    return text;
}

void remove_instance_dir(const std::string& dir) {
    DIR* d = opendir(dir.c_str());
    if (d) {
        while (dirent* e = readdir(d))
            if (e->d_name[0] != '.') unlink((dir + "/" + e->d_name).c_str());
        closedir(d);
    }
    if (rmdir(dir.c_str()) && errno != ENOENT) fail("remove " + dir, errno);
    // Leave nothing behind: the shared root goes with the last instance (fails,
    // harmlessly, while another instance is loaded).
    if (dir.rfind(bpffs_root() + "/", 0) == 0) rmdir(bpffs_root().c_str());
}

}  // namespace kernel
