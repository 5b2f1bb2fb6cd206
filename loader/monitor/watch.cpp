#include "monitor/watch.h"

#include <fmt/core.h>

#include <map>

namespace monitor {

using nlohmann::json;

std::string si_rate(double v) {
    if (v < 0) v = 0;
    if (v < 1000) return fmt::format("{:.1f}", v);
    const char* units[] = {"k", "M", "G", "T", "P"};
    int u = -1;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        ++u;
    }
    return fmt::format("{:.2f}{}", v, units[u]);
}

namespace {

struct Count {
    uint64_t packets = 0;
    uint64_t bytes = 0;
};

std::map<std::string, Count> by_key(const json* s, const char* list, const char* key) {
    std::map<std::string, Count> out;
    if (s == nullptr || !s->is_object()) return out;
    for (const auto& r : s->value(list, json::array()))
        out[r.value(key, "")] = {r.value("packets", uint64_t{0}), r.value("bytes", uint64_t{0})};
    return out;
}

std::string where(const json& r) {
    std::string w;
    for (const auto& p : r.value("placements", json::array()))
        w += (w.empty() ? "" : ",") + p.value("iface", "").substr(0, 3) + "/" +
             p.value("dir", "").substr(0, 2);
    return w;
}

std::string last_hit(const json& r, int64_t now) {
    if (!r.contains("last_hit_unix") || !r["last_hit_unix"].is_number()) return "";
    int64_t t = r["last_hit_unix"].get<int64_t>();
    if (t <= 0) return "never";
    int64_t ago = now - t;
    if (ago < 0) ago = 0;
    return fmt::format("{} s ago", ago);
}

// Rate between samples; "-" without a previous sample or after a counter reset.
std::string rate(const std::map<std::string, Count>& prev, const std::string& key, uint64_t now_v,
                 bool bytes, double dt, bool have_prev, double* out = nullptr) {
    if (!have_prev || dt <= 0) return "-";
    auto it = prev.find(key);
    uint64_t before = it == prev.end() ? 0 : (bytes ? it->second.bytes : it->second.packets);
    if (now_v < before) return "-";
    double r = static_cast<double>(now_v - before) / dt;
    if (bytes) r *= 8;
    if (out) *out = r;
    return si_rate(r);
}

}  // namespace

std::string render_watch(const WatchFrame& f) {
    const json& s = *f.current;
    const bool have_prev = f.previous != nullptr && f.previous->is_object() &&
                           f.previous->value("policy_hash", json()).is_string();
    auto prev_rules = by_key(f.previous, "rules", "id");
    auto prev_reasons = by_key(f.previous, "reasons", "name");
    std::string out;
    out += fmt::format("edgefw stats  instance {}  node {}  policy {}  every {:g} s\n\n",
                       s.value("instance", "?"), s.value("node", "?"), s.value("policy_hash", "?"),
                       f.interval_secs);
    bool any_last_hit = false;  // lifecycle::stats reports last_hit_unix (newer loaders)
    for (const auto& r : s.value("rules", json::array()))
        any_last_hit = any_last_hit || r.contains("last_hit_unix");
    out += fmt::format("{:<32} {:<14} {:<10} {:>12} {:>10} {:>10}  {}\n", "rule", "app", "where",
                       "packets", "pps", "bps", any_last_hit ? "last hit" : "");
    double total_pps = 0, total_bps = 0;
    for (const auto& r : s.value("rules", json::array())) {
        const std::string id = r.value("id", "");
        const uint64_t p = r.value("packets", uint64_t{0}), b = r.value("bytes", uint64_t{0});
        double pps = 0, bps = 0;
        std::string spps = rate(prev_rules, id, p, false, f.elapsed_secs, have_prev, &pps);
        std::string sbps = rate(prev_rules, id, b, true, f.elapsed_secs, have_prev, &bps);
        total_pps += pps;
        total_bps += bps;
        out += fmt::format("{:<32} {:<14} {:<10} {:>12} {:>10} {:>10}  {}\n", id,
                           r.value("app", ""), where(r), p, spps, sbps, last_hit(r, f.now_unix));
    }
    if (have_prev)
        out += fmt::format("{:<32} {:<14} {:<10} {:>12} {:>10} {:>10}\n", "all rules", "", "", "",
                           si_rate(total_pps), si_rate(total_bps));
    out += fmt::format("\n{:<32} {:<5} {:>12} {:>10}\n", "reason", "", "packets", "pps");
    for (const auto& r : s.value("reasons", json::array())) {
        const uint64_t p = r.value("packets", uint64_t{0});
        if (p == 0) continue;
        const std::string name = r.value("name", "");
        out += fmt::format("{:<32} {:<5} {:>12} {:>10}\n", name,
                           r.value("passes", false) ? "pass" : "drop", p,
                           rate(prev_reasons, name, p, false, f.elapsed_secs, have_prev));
    }
    const uint64_t ct = s.value("conntrack_entries", uint64_t{0});
    const uint64_t ct_max = s.value("conntrack_max", uint64_t{0});
    out +=
        fmt::format("\nconntrack {}/{} ({:.1f} %)\n", ct, ct_max,
                    ct_max ? 100.0 * static_cast<double>(ct) / static_cast<double>(ct_max) : 0.0);
    return out;
}

}  // namespace monitor
