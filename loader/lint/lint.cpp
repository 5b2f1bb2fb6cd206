#include "lint/lint.h"

#include <algorithm>
#include <map>
#include <set>

#include "compile/placement.h"

namespace lint {

namespace {

using compile::Entry;

bool ranges_cover(const std::vector<policy::PortRange>& outer,
                  const std::vector<policy::PortRange>& inner) {
    return std::all_of(inner.begin(), inner.end(), [&](const policy::PortRange& r) {
        return std::any_of(outer.begin(), outer.end(),
                           [&](const policy::PortRange& o) { return o.contains(r); });
    });
}

// Whether every packet entry `b` matches is also matched by `a`.
bool covers(const Entry& a, const Entry& b) {
    if (a.role != b.role || a.dir != b.dir || a.slot != b.slot) return false;
    for (const auto& l : b.local)
        if (std::find(a.local.begin(), a.local.end(), l) == a.local.end()) return false;
    for (const auto& r : b.remote)
        if (std::none_of(a.remote.begin(), a.remote.end(),
                         [&](const policy::Cidr& c) { return c.contains(r); }))
            return false;
    return ranges_cover(a.dport, b.dport) && ranges_cover(a.sport, b.sport);
}

// Whether some packet can match the entry: a local address and a remote
// prefix of the same family (an IPv6 prefix, ::/0 too, never matches IPv4).
bool families_meet(const Entry& e) {
    for (const auto& l : e.local)
        for (const auto& r : e.remote)
            if (r.is_any() || r.is_v4() == l.is_v4()) return true;
    return false;
}

std::string join(const std::set<std::string>& s) {
    std::string out;
    for (const auto& x : s) out += (out.empty() ? "" : ", ") + x;
    return out;
}

}  // namespace

void check(const policy::Policy& p, policy::Diagnostics& diags) {
    // (later rule, earlier rule) -> where; (rule, later rule) -> where
    std::map<std::pair<const policy::Rule*, const policy::Rule*>, std::set<std::string>> shadowed,
        redundant;
    std::set<const policy::Rule*> placed, meets;
    for (const auto& [node, _] : p.nodes) {
        auto entries = compile::place(p, node);
        for (const auto& e : entries) {
            placed.insert(e.rule);
            if (families_meet(e)) meets.insert(e.rule);
        }
        for (size_t i = 0; i < entries.size(); i++)
            for (size_t j = 0; j < entries.size(); j++) {
                if (i == j || entries[i].rule == entries[j].rule) continue;
                if (!covers(entries[j], entries[i])) continue;
                std::string where = node + " " + policy::role_name(entries[i].role) + " " +
                                    policy::dir_name(entries[i].dir);
                if (entries[j].rule->index < entries[i].rule->index)
                    shadowed[{entries[i].rule, entries[j].rule}].insert(where);
                else
                    redundant[{entries[i].rule, entries[j].rule}].insert(where);
            }
    }
    std::set<const policy::Rule*> reported;
    for (const auto& [pair, where] : shadowed) {
        if (!reported.insert(pair.first).second) continue;
        diags.warning(pair.first->loc,
                      "rule '" + pair.first->id + "' is shadowed by earlier rule '" +
                          pair.second->id + "' on " + join(where) +
                          ": it never counts a packet there",
                      "move it before '" + pair.second->id + "' or remove it");
    }
    for (const auto& [pair, where] : redundant) {
        if (reported.count(pair.first) || !reported.insert(pair.first).second) continue;
        diags.warning(pair.first->loc,
                      "rule '" + pair.first->id + "' is redundant with later rule '" +
                          pair.second->id + "' on " + join(where) +
                          ": removing it would change counters only",
                      "keep it for its counter, or remove it");
    }
    for (const auto& r : p.rules) {
        if (!p.rule_enabled(r)) {
            diags.warning(r.loc,
                          "rule '" + r.id + "' is kept by no enabled feature (feature '" +
                              r.feature + "' is disabled)",
                          "enable the feature in the site file if the service is provided");
        } else if (!placed.count(&r)) {
            diags.warning(r.loc,
                          "rule '" + r.id +
                              "' can never match: neither its src nor its dst "
                              "names an address of any node's interface",
                          "name a node address, a VIP with backends, or NODE.ROLE");
        } else if (!meets.count(&r)) {
            diags.warning(r.loc,
                          "rule '" + r.id +
                              "' can never match: where one side names a node address, the "
                              "other side holds only prefixes of the other family",
                          "an IPv6 prefix (::/0 too) matches IPv6 addresses only, an IPv4 prefix "
                          "(0.0.0.0/0 too) IPv4 only: write any for both families");
        }
    }
    // A node that backs some VIP of a role is a pool member for that role; a VIP
    // of that role it does not back is a hole in the load balancer's pool.
    for (const auto& [vname, v] : p.vips) {
        if (v.backends.empty())
            diags.warning(v.loc, "vip '" + vname + "' has no backends",
                          "list its backend per node");
        for (const auto& [nname, n] : p.nodes) {
            bool member = std::any_of(p.vips.begin(), p.vips.end(), [&](const auto& other) {
                return other.second.role == v.role && other.second.backends.count(nname);
            });
            if (member && !v.backends.count(nname))
                diags.warning(v.loc, "vip '" + vname + "' has no backend on node '" + nname + "'",
                              "add 'backends: {" + nname + ": ADDRESS}' if the node serves it");
        }
    }
}

}  // namespace lint
