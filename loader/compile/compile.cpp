// The classification compiler. Four stages, each keyed by the previous one's
// class, so the kernel does four lookups whatever the rule count:
//   destination port -> port class -> (+ local address) bucket -> (+ remote
//   address) remote class -> (+ source port) rule.
// Classes are sets of placement entries, deduplicated by content.
#include "compile/compile.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <unordered_map>

#include "compile/placement.h"

namespace compile {

namespace {

using Signature = std::vector<uint32_t>;  // entry indices, ascending = rule order

struct SignatureHash {
    size_t operator()(const Signature& s) const {
        uint64_t h = 1469598103934665603ull;
        for (uint32_t v : s) h = (h ^ v) * 1099511628211ull;
        return static_cast<size_t>(h ^ (h >> 32));
    }
};

class Interner {
  public:
    uint32_t id(const Signature& s, bool& fresh) {
        // Looked up before inserting: emplace would copy the signature first.
        auto it = ids_.find(s);
        fresh = it == ids_.end();
        if (fresh) it = ids_.emplace(s, next_++).first;
        return it->second;
    }

  private:
    // Ids follow first appearance, so the container's order does not matter.
    std::unordered_map<Signature, uint32_t, SignatureHash> ids_;
    uint32_t next_ = 1;  // 0 means "no class"
};

// Elementary intervals of a set of ranges: for every maximal run of ports
// covered by the same entries, calls f(lo, hi, entries). `entries` ascending;
// so is every signature passed to f.
template <class RangesOf, class F>
void sweep(const Signature& entries, RangesOf ranges_of, F f) {
    struct Event {
        uint32_t port;
        uint32_t slot;  // position in entries
        int delta;
    };
    std::vector<Event> events;
    for (uint32_t i = 0; i < entries.size(); i++)
        for (const auto& r : ranges_of(entries[i])) {
            events.push_back({r.lo, i, +1});
            events.push_back({r.hi + 1u, i, -1});
        }
    std::sort(events.begin(), events.end(),
              [](const Event& a, const Event& b) { return a.port < b.port; });
    std::vector<int> count(entries.size(), 0);
    std::vector<uint32_t> active;  // slots whose count is not 0, ascending
    Signature sig;
    for (size_t i = 0; i < events.size();) {
        uint32_t port = events[i].port;
        for (; i < events.size() && events[i].port == port; i++) {
            const Event& ev = events[i];
            int before = count[ev.slot];
            int after = count[ev.slot] += ev.delta;
            if ((before == 0) == (after == 0)) continue;
            auto at = std::lower_bound(active.begin(), active.end(), ev.slot);
            if (before == 0)
                active.insert(at, ev.slot);
            else
                active.erase(at);
        }
        if (i == events.size() || active.empty()) continue;
        sig.clear();
        for (uint32_t slot : active) sig.push_back(entries[slot]);
        f(port, events[i].port - 1, sig);
    }
}

// Splits [lo, hi] into aligned prefixes of the 16-bit port space.
void port_prefixes(uint32_t lo, uint32_t hi, std::vector<std::pair<uint16_t, int>>& out) {
    while (lo <= hi) {
        int bits = 0;  // host bits of the largest aligned block starting at lo inside [lo, hi]
        while (bits < 16 && (lo & ((1u << (bits + 1)) - 1)) == 0 &&
               lo + (1u << (bits + 1)) - 1 <= hi)
            bits++;
        out.push_back({static_cast<uint16_t>(lo), 16 - bits});
        lo += 1u << bits;
    }
}

void check_limit(size_t n, size_t max, const char* map, const std::string& node) {
    if (n > max)
        throw Error("policy for node '" + node + "' needs " + std::to_string(n) + " entries in " +
                    map + ", the limit is " + std::to_string(max) +
                    ": split the policy or narrow the rules' address and port sets");
}

std::string hash_image(const image::MapImage& img) {
    uint64_t h = 1469598103934665603ull;
    auto mix = [&](const void* p, size_t n) {
        auto b = static_cast<const uint8_t*>(p);
        for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    };
    for (const auto& r : img.port_classes) mix(&r, sizeof r);
    for (const auto& e : img.locals) mix(&e, sizeof e);
    for (const auto& e : img.remotes) mix(&e, sizeof e);
    for (const auto& e : img.sports) mix(&e, sizeof e);
    for (const auto& e : img.local_addrs) mix(&e, sizeof e);
    for (const auto& r : img.rules) mix(r.id.data(), r.id.size());
    mix(img.egress_mode, sizeof img.egress_mode);
    char buf[17];
    snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

// ---- compile_node's stages, in the order it runs them

// The node's name, settings and interfaces (their local addresses).
image::MapImage image_header(const policy::Policy& p, const std::string& node) {
    if (!p.nodes.count(node)) {
        std::string names;
        for (const auto& [n, _] : p.nodes) names += (names.empty() ? "" : ", ") + n;
        throw Error("node '" + node + "' is not in the policy: nodes are " + names);
    }
    image::MapImage img;
    img.policy_name = p.name;
    img.node = node;
    img.egress_mode[EF_ROLE_EXTERNAL] = img.egress_mode[EF_ROLE_INTERNAL] = p.egress_mode;
    img.ct_timeouts = p.timeouts;
    for (const auto& [role, iface] : p.nodes.at(node).interfaces) {
        image::IfaceInfo info{role, {}};
        for (const auto& a : p.local_addresses(node, role)) {
            info.addresses.push_back(a.str());
            ef_local_addr_key k{};
            k.role = role;
            std::memcpy(k.addr, a.bytes.data(), 16);
            img.local_addrs.push_back(k);
        }
        img.ifaces.push_back(info);
    }
    return img;
}

// Rule table: one counter slot per rule, whatever its placements.
std::map<uint32_t, image::RuleInfo> rule_table(const std::vector<Entry>& entries) {
    std::map<uint32_t, image::RuleInfo> rules;
    for (const auto& e : entries) {
        auto& info = rules[e.rule->index];
        info.index = e.rule->index;
        info.id = e.rule->id;
        info.app = e.rule->app;
        info.note = e.rule->note;
        info.feature = e.rule->feature;
        info.proto = policy::proto_name(e.rule->proto);
        info.placements.push_back({e.role, e.dir});
    }
    return rules;
}

using NewClasses = std::vector<std::pair<uint32_t, Signature>>;  // class id -> entries

// Stages 1 and 2: destination port -> port class (ef_port_class), then
// (+ local address) -> bucket (ef_local). Returns the buckets made.
NewClasses port_and_local_stages(const std::vector<Entry>& entries, image::MapImage& img) {
    std::map<uint32_t, Signature> combos;  // combo -> entries
    for (uint32_t i = 0; i < entries.size(); i++)
        combos[EF_COMBO(entries[i].role, entries[i].dir, entries[i].slot)].push_back(i);

    Interner port_classes, buckets;
    NewClasses new_buckets;
    std::map<uint32_t, policy::PortRange> sport_hull;  // port class -> hull of its source ports
    auto hull_of = [&](const Signature& sig) {
        policy::PortRange h{65535, 0};
        for (uint32_t e : sig)
            for (const auto& r : entries[e].sport) {
                h.lo = std::min(h.lo, r.lo);
                h.hi = std::max(h.hi, r.hi);
            }
        return h.lo <= h.hi ? h : policy::PortRange{};  // no source ports named: any
    };

    for (auto& [combo, members] : combos) {
        std::map<uint32_t, Signature> class_members;
        sweep(
            members, [&](uint32_t e) { return entries[e].dport; },
            // combo is copied: clang 14 cannot capture a structured binding (P1091).
            [&, combo = combo](uint32_t lo, uint32_t hi, const Signature& sig) {
                bool fresh;
                uint32_t pc = port_classes.id(sig, fresh);
                if (fresh) {
                    class_members[pc] = sig;
                    sport_hull[pc] = hull_of(sig);
                }
                auto& v = img.port_classes;
                if (!v.empty() && v.back().combo == combo && v.back().port_class == pc &&
                    v.back().hi + 1u == lo) {
                    v.back().hi = static_cast<uint16_t>(hi);
                } else {
                    const policy::PortRange& h = sport_hull.at(pc);
                    v.push_back({combo, static_cast<uint16_t>(lo), static_cast<uint16_t>(hi), pc,
                                 h.lo, h.hi});
                }
            });
        for (auto& [pc, sig] : class_members) {
            std::map<packet::Addr, Signature> by_local;
            for (uint32_t e : sig)
                for (const auto& a : entries[e].local) by_local[a].push_back(e);
            for (auto& [addr, bsig] : by_local) {
                bool fresh;
                uint32_t b = buckets.id(bsig, fresh);
                if (fresh) new_buckets.push_back({b, bsig});
                image::LocalEntry le;
                le.key.port_class = pc;
                std::memcpy(le.key.addr, addr.bytes.data(), 16);
                le.bucket = b;  // made direct below when the rest of the match is "any"
                img.locals.push_back(le);
            }
        }
    }
    return new_buckets;
}

// Stage 3: (+ remote address) -> remote class (ef_remote). Returns the
// remote classes made.
NewClasses remote_stage(const std::vector<Entry>& entries, const NewClasses& new_buckets,
                        image::MapImage& img) {
    Interner remote_classes;
    NewClasses new_remotes;
    // Each entry's remote prefixes as the LPM trie sees them: an IPv6 prefix
    // that covers part of ::ffff:0:0/96 becomes the pieces of it outside that
    // range, so it never matches an IPv4-mapped key. Once per entry: an entry
    // is in many buckets.
    std::vector<std::vector<policy::Prefix>> entry_keys(entries.size());
    for (size_t e = 0; e < entries.size(); e++)
        for (const auto& c : entries[e].remote)
            for (const auto& k : c.key_prefixes()) entry_keys[e].push_back(k);
    Signature rsig;
    for (auto& [b, sig] : new_buckets) {
        std::vector<policy::Prefix> prefixes;
        for (uint32_t e : sig)
            prefixes.insert(prefixes.end(), entry_keys[e].begin(), entry_keys[e].end());
        std::sort(prefixes.begin(), prefixes.end());
        prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
        // An address whose longest matching prefix is q is inside every entry
        // prefix that contains q, and inside no other (a longer one would win).
        for (const auto& q : prefixes) {
            rsig.clear();
            for (uint32_t e : sig)
                for (const auto& k : entry_keys[e])
                    if (k.contains(q)) {
                        rsig.push_back(e);
                        break;
                    }
            bool fresh;
            uint32_t rc = remote_classes.id(rsig, fresh);
            if (fresh) new_remotes.push_back({rc, rsig});
            image::RemoteEntry re;
            re.key.prefixlen = 32 + static_cast<uint32_t>(q.plen);
            re.key.bucket = b;
            std::memcpy(re.key.addr, q.addr.bytes.data(), 16);
            re.remote_class = rc;
            img.remotes.push_back(re);
        }
    }

    return new_remotes;
}

// Stage 4: (+ source port) -> rule (ef_sport). Returns the remote classes
// whose source ports all go to one rule: remote class -> rule.
std::map<uint32_t, uint32_t> sport_stage(const std::vector<Entry>& entries,
                                         const NewClasses& new_remotes, image::MapImage& img) {
    std::map<uint32_t, uint32_t> direct_remote;  // remote class -> rule, when sport is decided
    for (auto& [rc, sig] : new_remotes) {
        // First match: the lowest entry (rule order) covering each run of ports.
        std::vector<std::pair<std::pair<uint32_t, uint32_t>, uint32_t>> runs;
        sweep(
            sig, [&](uint32_t e) { return entries[e].sport; },
            [&](uint32_t lo, uint32_t hi, const Signature& cover) {
                uint32_t rule = entries[cover.front()].rule->index;
                if (!runs.empty() && runs.back().second == rule &&
                    runs.back().first.second + 1 == lo)
                    runs.back().first.second = hi;
                else
                    runs.push_back({{lo, hi}, rule});
            });
        if (runs.size() == 1 && runs[0].first == std::pair<uint32_t, uint32_t>{0, 65535}) {
            direct_remote[rc] = runs[0].second;
            continue;
        }
        for (auto& [range, rule] : runs) {
            std::vector<std::pair<uint16_t, int>> prefixes;
            port_prefixes(range.first, range.second, prefixes);
            for (auto [port, plen] : prefixes) {
                image::SportEntry re;
                re.key.prefixlen = 32 + static_cast<uint32_t>(plen);
                re.key.remote_class = rc;
                re.key.port_be = htobe16(port);
                re.rule_plus_one = rule + 1;
                img.sports.push_back(re);
            }
        }
    }

    return direct_remote;
}

// Direct answers: a remote class whose source ports all go to one rule, and
// a bucket whose only remote prefix is `any` with such a class.
void direct_answers(image::MapImage& img, const std::map<uint32_t, uint32_t>& direct_remote) {
    std::map<uint32_t, uint32_t> direct_bucket;
    // A bucket is decided when it has an `any` prefix and every prefix of it
    // (the any one included) leads to the same direct rule.
    // Per bucket (ids are dense from 1): the one outcome seen so far, or mixed.
    struct Outcome {
        bool seen = false, mixed = false, has_any = false;
        int64_t rule = -1;  // -1: not direct
    };
    uint32_t max_bucket = 0;
    for (const auto& r : img.remotes) max_bucket = std::max(max_bucket, r.key.bucket);
    std::vector<Outcome> outcomes(max_bucket + 1);
    for (const auto& r : img.remotes) {
        auto d = direct_remote.find(r.remote_class);
        int64_t rule = d == direct_remote.end() ? -1 : int64_t{d->second};
        Outcome& o = outcomes.at(r.key.bucket);
        if (o.seen && o.rule != rule) o.mixed = true;
        o.seen = true;
        o.rule = rule;
        if (r.key.prefixlen == 32) o.has_any = true;
    }
    for (uint32_t b = 0; b < outcomes.size(); b++)
        if (outcomes[b].has_any && !outcomes[b].mixed && outcomes[b].rule >= 0)
            direct_bucket[b] = static_cast<uint32_t>(outcomes[b].rule);
    for (auto& l : img.locals)
        if (auto d = direct_bucket.find(l.bucket); d != direct_bucket.end())
            l.bucket = EF_DIRECT_RULE | d->second;
    std::erase_if(img.remotes, [&](const image::RemoteEntry& r) {
        return direct_bucket.count(r.key.bucket) > 0;
    });
    for (auto& r : img.remotes)
        if (auto d = direct_remote.find(r.remote_class); d != direct_remote.end())
            r.remote_class = EF_DIRECT_RULE | d->second;
}

void check_limits(const image::MapImage& img, const std::string& node) {
    check_limit(img.locals.size(), EF_MAX_LOCAL, "ef_local", node);
    check_limit(img.remotes.size(), EF_MAX_REMOTE, "ef_remote", node);
    check_limit(img.sports.size(), EF_MAX_SPORT, "ef_sport", node);
    check_limit(img.local_addrs.size(), EF_MAX_LOCAL_ADDRS, "ef_local_addrs", node);
}

// What the features disabled, and the enabled rules this node does not carry.
void fill_report(const policy::Policy& p, const std::map<uint32_t, image::RuleInfo>& rules,
                 Report& report) {
    std::map<std::string, std::vector<std::string>> disabled;
    for (const auto& r : p.rules)
        if (!p.rule_enabled(r)) disabled[r.feature].push_back(r.id);
    report.disabled.assign(disabled.begin(), disabled.end());
    for (const auto& r : p.rules)
        if (p.rule_enabled(r) && !rules.count(r.index)) report.not_on_node.push_back(r.id);
}

}  // namespace

image::MapImage compile_node(const policy::Policy& p, const std::string& node, Report* report) {
    image::MapImage img = image_header(p, node);
    std::vector<Entry> entries = place(p, node);
    std::map<uint32_t, image::RuleInfo> rules = rule_table(entries);
    for (auto& [i, info] : rules) img.rules.push_back(info);

    NewClasses new_buckets = port_and_local_stages(entries, img);
    NewClasses new_remotes = remote_stage(entries, new_buckets, img);
    direct_answers(img, sport_stage(entries, new_remotes, img));

    check_limits(img, node);
    img.policy_hash = hash_image(img);
    if (report) fill_report(p, rules, *report);
    return img;
}

}  // namespace compile
