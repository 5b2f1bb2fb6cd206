#include "image/flat.h"

#include <arpa/inet.h>

#include <algorithm>
#include <map>

namespace image {

namespace {

using U128 = unsigned __int128;

// One prefix of a group as a closed interval of numbers, with its value.
template <class U>
struct Interval {
    U start;
    U end;
    int plen;
    uint32_t value;
};

// The group's prefixes (nested or disjoint, as prefixes are) as the starts of
// runs of equal value that cover [0, max]: the longest prefix holding a number
// decides its value, 0 where none does. A sweep in start order keeps the open
// prefixes on a stack; a value changes where a prefix starts and where one
// ends.
template <class U>
std::vector<std::pair<U, uint32_t>> runs_of(std::vector<Interval<U>> in, U max) {
    std::sort(in.begin(), in.end(), [](const Interval<U>& a, const Interval<U>& b) {
        return a.start != b.start ? a.start < b.start : a.plen < b.plen;
    });
    std::vector<std::pair<U, uint32_t>> out = {{U{0}, 0u}};
    auto emit = [&](U start, uint32_t value) {
        if (!out.empty() && out.back().first == start) out.pop_back();
        if (!out.empty() && out.back().second == value) return;
        out.push_back({start, value});
    };
    std::vector<Interval<U>> open;
    auto close = [&](const Interval<U>& t) {
        if (t.end < max) emit(t.end + 1, open.empty() ? 0u : open.back().value);
    };
    for (const auto& p : in) {
        while (!open.empty() && open.back().end < p.start) {
            Interval<U> t = open.back();
            open.pop_back();
            close(t);
        }
        emit(p.start, p.value);
        open.push_back(p);
    }
    while (!open.empty()) {
        Interval<U> t = open.back();
        open.pop_back();
        close(t);
    }
    return out;
}

U128 number_of(const uint8_t* a) {
    U128 n = 0;
    for (int i = 0; i < 16; i++) n = n << 8 | a[i];
    return n;
}

template <class U>
Interval<U> interval(U start, int plen, int bits, uint32_t value) {
    // All host bits set for plen 0, without shifting a U by its own width.
    U host = plen >= bits ? U{0}
             : plen <= 0  ? ~U{0} >> (sizeof(U) * 8 - bits)
                          : (U{1} << (bits - plen)) - 1;
    return {start & ~host, (start & ~host) | host, plen, value};
}

// The last range of a group whose start is <= v (the first always is).
template <class Range, class Key>
const Range* search(const std::vector<ef_range_index>& index, const std::vector<Range>& ranges,
                    uint32_t group, Key key) {
    if (group >= index.size() || index[group].count == 0) return nullptr;
    auto first = ranges.begin() + index[group].offset;
    auto last = first + index[group].count;
    auto it =
        std::upper_bound(first, last, key, [](const Key& k, const Range& r) { return k < Key(r); });
    return it == first ? nullptr : &*(it - 1);
}

struct RemoteStart {
    U128 n;
    explicit RemoteStart(U128 v) : n(v) {}
    explicit RemoteStart(const ef_remote_range& r) : n(U128(r.start_hi) << 64 | r.start_lo) {}
    bool operator<(const RemoteStart& o) const { return n < o.n; }
};

struct SportStart {
    uint32_t n;
    explicit SportStart(uint32_t v) : n(v) {}
    explicit SportStart(const ef_sport_range& r) : n(r.start) {}
    bool operator<(const SportStart& o) const { return n < o.n; }
};

}  // namespace

FlatImage flatten(const MapImage& img) {
    FlatImage f;
    std::map<uint32_t, std::vector<Interval<U128>>> remotes;  // bucket -> prefixes
    for (const auto& r : img.remotes)
        remotes[r.key.bucket].push_back(interval<U128>(
            number_of(r.key.addr), static_cast<int>(r.key.prefixlen) - 32, 128, r.remote_class));
    std::map<uint32_t, std::vector<Interval<uint32_t>>> sports;  // remote class -> prefixes
    for (const auto& s : img.sports)
        sports[s.key.remote_class].push_back(interval<uint32_t>(
            ntohs(s.key.port_be), static_cast<int>(s.key.prefixlen) - 32, 16, s.rule_plus_one));

    f.remote_index.resize(remotes.empty() ? 0 : remotes.rbegin()->first + 1);
    for (auto& [bucket, prefixes] : remotes) {
        auto runs = runs_of<U128>(std::move(prefixes), ~U128{0});
        f.remote_index[bucket] = {static_cast<uint32_t>(f.remote_ranges.size()),
                                  static_cast<uint32_t>(runs.size())};
        for (const auto& [start, value] : runs)
            f.remote_ranges.push_back(
                {static_cast<uint64_t>(start >> 64), static_cast<uint64_t>(start), value, 0});
    }
    f.sport_index.resize(sports.empty() ? 0 : sports.rbegin()->first + 1);
    for (auto& [rc, prefixes] : sports) {
        auto runs = runs_of<uint32_t>(std::move(prefixes), 0xffff);
        f.sport_index[rc] = {static_cast<uint32_t>(f.sport_ranges.size()),
                             static_cast<uint32_t>(runs.size())};
        for (const auto& [start, value] : runs) f.sport_ranges.push_back({start, value});
    }
    return f;
}

uint32_t flat_remote(const FlatImage& f, uint32_t bucket, const uint8_t* addr) {
    const auto* r = search(f.remote_index, f.remote_ranges, bucket, RemoteStart(number_of(addr)));
    return r ? r->remote_class : 0;
}

uint32_t flat_sport(const FlatImage& f, uint32_t remote_class, uint16_t sport) {
    const auto* r = search(f.sport_index, f.sport_ranges, remote_class, SportStart(sport));
    return r ? r->rule_plus_one : 0;
}

}  // namespace image
