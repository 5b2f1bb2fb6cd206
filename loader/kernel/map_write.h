// Bulk writes of a map image's entries: one BPF_MAP_UPDATE_BATCH per chunk
// where the kernel has it for the map type, one update per entry where it does
// not (a map type without batch updates on that kernel) or refuses the batch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kernel {

// Writes n keys and values (packed arrays of key_size and value_size bytes).
// Throws kernel::Error naming map_name on the first entry the kernel refuses.
void update_entries(int map_fd, const char* map_name, const void* keys, size_t key_size,
                    const void* values, size_t value_size, size_t n);

// Entries of a vector of {key, value} records, with their fields named.
template <class E, class K, class V>
void update_entries(int map_fd, const char* map_name, const std::vector<E>& entries, K E::*key,
                    V E::*value) {
    std::vector<K> keys;
    std::vector<V> values;
    keys.reserve(entries.size());
    values.reserve(entries.size());
    for (const auto& e : entries) {
        keys.push_back(e.*key);
        values.push_back(e.*value);
    }
    update_entries(map_fd, map_name, keys.data(), sizeof(K), values.data(), sizeof(V),
                   entries.size());
}

// Runs the jobs on up to two threads (the main one included) and rethrows the
// first job's exception, if any, once all have finished.
void run_parallel(const std::vector<std::function<void()>>& jobs);

}  // namespace kernel
