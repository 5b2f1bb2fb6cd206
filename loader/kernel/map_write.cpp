#include "kernel/map_write.h"

#include <bpf/bpf.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include "kernel/dataplane.h"

namespace kernel {

namespace {

// Per syscall: large enough that the syscall cost vanishes, small enough that
// the kernel's temporary copy stays small.
constexpr size_t kBatch = 4096;

[[noreturn]] void refuse(const char* map_name, int err) {
    std::string msg =
        std::string("kernel: write entry to map ") + map_name + ": " + std::strerror(err);
    if (err == E2BIG || err == ENOSPC)
        msg += " -- the image exceeds the map's max_entries (maps/edgefw_abi.h limits)";
    else if (err == ENOMEM)
        msg += " -- lower the conntrack size or free kernel memory";
    throw Error(msg);
}

}  // namespace

void update_entries(int map_fd, const char* map_name, const void* keys, size_t key_size,
                    const void* values, size_t value_size, size_t n) {
    const auto* k = static_cast<const uint8_t*>(keys);
    const auto* v = static_cast<const uint8_t*>(values);
    size_t done = 0;
    while (done < n) {
        uint32_t count = static_cast<uint32_t>(std::min(kBatch, n - done));
        LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
        if (bpf_map_update_batch(map_fd, k + done * key_size, v + done * value_size, &count, &opts))
            break;
        done += count;
    }
    // No batch for this map type on this kernel, or an entry refused:
    // one at a time from the failed chunk on. The count a failed batch
    // reports is not trusted (a kernel without the operation leaves it as
    // asked); writing an entry twice is harmless, and this loop names the
    // refused entry's error.
    for (; done < n; ++done)
        if (bpf_map_update_elem(map_fd, k + done * key_size, v + done * value_size, BPF_ANY))
            refuse(map_name, errno);
}

void run_parallel(const std::vector<std::function<void()>>& jobs) {
    std::atomic<size_t> next{0};
    std::exception_ptr first;
    std::mutex mu;
    auto worker = [&] {
        for (size_t i; (i = next.fetch_add(1)) < jobs.size();) {
            try {
                jobs[i]();
            } catch (...) {
                std::lock_guard<std::mutex> g(mu);
                if (!first) first = std::current_exception();
            }
        }
    };
    if (jobs.size() > 1) {
        std::thread helper(worker);
        worker();
        helper.join();
    } else {
        worker();
    }
    if (first) std::rethrow_exception(first);
}

}  // namespace kernel
