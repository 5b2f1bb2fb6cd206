#include "diff/diff.h"

#include <fmt/core.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "compile/compile.h"
#include "compile/placement.h"

namespace diff {

using policy::PortRange;
using policy::Prefix;

const char* change_name(Change c) {
    switch (c) {
        case Change::open:
            return "open";
        case Change::close:
            return "close";
        case Change::move:
            return "move";
    }
    return "?";
}

bool Result::verdict_changes() const {
    return std::any_of(regions.begin(), regions.end(),
                       [](const Region& r) { return r.change != Change::move; });
}

namespace {

// What one placement matches, independent of the rule's name and position.
struct Sig {
    uint32_t role = 0, dir = 0, slot = 0;
    std::vector<packet::Addr> local;  // sorted
    std::vector<Prefix> remote;       // key prefixes, sorted, unique
    std::vector<PortRange> dport, sport;
    auto operator<=>(const Sig&) const = default;
};

struct Ent {
    std::string id;   // the rule's own id
    std::string key;  // identity across the two policies (old ids renamed to new)
    Sig sig;
    bool differs = false;  // in the difference set: not kept as-is and in order
};

Sig sig_of(const compile::Entry& e) {
    Sig s{e.role, e.dir, e.slot, e.local, {}, e.dport, e.sport};
    std::sort(s.local.begin(), s.local.end());
    s.local.erase(std::unique(s.local.begin(), s.local.end()), s.local.end());
    for (const auto& c : e.remote)
        for (const auto& k : c.key_prefixes()) s.remote.push_back(k);
    std::sort(s.remote.begin(), s.remote.end());
    s.remote.erase(std::unique(s.remote.begin(), s.remote.end()), s.remote.end());
    std::sort(s.dport.begin(), s.dport.end());
    std::sort(s.sport.begin(), s.sport.end());
    return s;
}

uint32_t combo_of(uint32_t role, uint32_t dir, uint32_t slot) { return EF_COMBO(role, dir, slot); }

bool in_ports(const std::vector<PortRange>& rs, uint32_t p) {
    for (const auto& r : rs)
        if (r.lo <= p && p <= r.hi) return true;
    return false;
}

bool has_local(const Sig& s, const packet::Addr& a) {
    return std::binary_search(s.local.begin(), s.local.end(), a);
}

// Positions (into `seq`) of one longest strictly increasing subsequence.
std::vector<size_t> lis(const std::vector<size_t>& seq) {
    std::vector<size_t> tails, tail_idx, prev(seq.size(), SIZE_MAX);
    for (size_t i = 0; i < seq.size(); i++) {
        auto it = std::lower_bound(tails.begin(), tails.end(), seq[i]);
        size_t k = it - tails.begin();
        if (it == tails.end()) {
            tails.push_back(seq[i]);
            tail_idx.push_back(i);
        } else {
            *it = seq[i];
            tail_idx[k] = i;
        }
        prev[i] = k ? tail_idx[k - 1] : SIZE_MAX;
    }
    std::vector<size_t> out;
    if (tail_idx.empty()) return out;
    for (size_t i = tail_idx.back(); i != SIZE_MAX; i = prev[i]) out.push_back(i);
    std::reverse(out.begin(), out.end());
    return out;
}

// Merges the regions appended since construction (one role, direction,
// protocol and local address) across adjacent port ranges, then orders them
// by port ranges and remote prefix.
class MergeSlice {
  public:
    explicit MergeSlice(std::vector<Region>& r) : r_(r), from_(r.size()) {}
    ~MergeSlice() {
        merge(true);
        merge(false);
        merge(true);
        std::sort(r_.begin() + from_, r_.end(), [](const Region& a, const Region& b) {
            return std::tie(a.dport, a.sport, a.remote) < std::tie(b.dport, b.sport, b.remote);
        });
    }

  private:
    void merge(bool by_dport) {
        if (r_.size() - from_ < 2) return;
        auto key = [&](const Region& r) {
            return std::tie(by_dport ? r.sport : r.dport, r.remote, r.change, r.except, r.old_rule,
                            r.new_rule, by_dport ? r.dport : r.sport);
        };
        std::sort(r_.begin() + from_, r_.end(),
                  [&](const Region& a, const Region& b) { return key(a) < key(b); });
        size_t out = from_;
        for (size_t i = from_; i < r_.size(); i++) {
            if (out > from_) {
                Region& l = r_[out - 1];
                const Region& r = r_[i];
                PortRange& lr = by_dport ? l.dport : l.sport;
                const PortRange& rr = by_dport ? r.dport : r.sport;
                bool same = (by_dport ? l.sport == r.sport : l.dport == r.dport) &&
                            l.remote == r.remote && l.change == r.change && l.except == r.except &&
                            l.old_rule == r.old_rule && l.new_rule == r.new_rule;
                if (same && uint32_t(lr.hi) + 1 == rr.lo) {
                    lr.hi = rr.hi;
                    continue;
                }
            }
            if (out != i) r_[out] = std::move(r_[i]);
            out++;
        }
        r_.resize(out);
    }

    std::vector<Region>& r_;
    size_t from_;
};

class Differ {
  public:
    Differ(const policy::Policy& o, const policy::Policy& n, const std::string& node,
           const Options& opts)
        : old_(o), new_(n), node_(node), opts_(opts) {}

    Result run();

  private:
    // The first entry of `es` whose remote side holds prefix `p` (p is a trie
    // node: every key prefix either holds it, lies inside it or is disjoint).
    static const Ent* first(const std::vector<const Ent*>& es, const Prefix& p) {
        for (const Ent* e : es)
            for (const auto& k : e->sig.remote)
                if (k.contains(p)) return e;
        return nullptr;
    }
    void cell(uint32_t role, uint32_t dir, uint32_t slot, const packet::Addr& local,
              PortRange dport, PortRange sport, const std::vector<const Ent*>& co,
              const std::vector<const Ent*>& cn, bool def_o, bool def_n);

    const policy::Policy& old_;
    const policy::Policy& new_;
    std::string node_;
    Options opts_;
    Result res_;
};

void Differ::cell(uint32_t role, uint32_t dir, uint32_t slot, const packet::Addr& local,
                  PortRange dport, PortRange sport, const std::vector<const Ent*>& co,
                  const std::vector<const Ent*>& cn, bool def_o, bool def_n) {
    std::vector<Prefix> nodes;
    for (const auto* es : {&co, &cn})
        for (const Ent* e : *es)
            nodes.insert(nodes.end(), e->sig.remote.begin(), e->sig.remote.end());
    nodes.push_back(Prefix{});  // the root, ::/0
    std::sort(nodes.begin(), nodes.end());
    nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
    size_t n = nodes.size();
    // Preorder (sorted by address, then length): parents by a stack.
    std::vector<std::vector<size_t>> kids(n);
    std::vector<size_t> stack, parent(n, SIZE_MAX);
    for (size_t i = 0; i < n; i++) {
        while (!stack.empty() && !nodes[stack.back()].contains(nodes[i])) stack.pop_back();
        if (!stack.empty()) {
            kids[stack.back()].push_back(i);
            parent[i] = stack.back();
        }
        stack.push_back(i);
    }
    std::vector<const Ent*> ro(n), rn(n);
    for (size_t i = 0; i < n; i++) {
        ro[i] = first(co, nodes[i]);
        rn[i] = first(cn, nodes[i]);
    }
    auto key = [](const Ent* e) { return e ? e->key : std::string(); };
    auto same = [&](size_t a, size_t b) {
        return key(ro[a]) == key(ro[b]) && key(rn[a]) == key(rn[b]);
    };
    std::vector<bool> uniform(n, true);
    for (size_t i = n; i-- > 0;)
        for (size_t k : kids[i])
            if (!uniform[k] || !same(i, k)) uniform[i] = false;
    for (size_t i = 0; i < n; i++) {
        // A subtree that decides like its parent lies in the parent's region.
        if (parent[i] != SIZE_MAX && uniform[i] && same(parent[i], i)) continue;
        bool po = ro[i] ? true : def_o, pn = rn[i] ? true : def_n;
        Change ch;
        if (po != pn)
            ch = pn ? Change::open : Change::close;
        else if (po && key(ro[i]) != key(rn[i]))
            ch = Change::move;
        else
            continue;
        // The cell: nodes[i] minus the subtrees of kids that decide otherwise.
        std::vector<Prefix> cut;
        for (size_t k : kids[i])
            if (!uniform[k] || !same(i, k)) cut.push_back(nodes[k]);
        res_.regions.push_back(Region{ch, role, dir, slot, local, nodes[i], std::move(cut), sport,
                                      dport, ro[i] ? ro[i]->id : "", rn[i] ? rn[i]->id : ""});
    }
}

Result Differ::run() {
    if (!old_.nodes.count(node_) && !new_.nodes.count(node_))
        throw compile::Error("node '" + node_ + "' is in neither policy");
    auto po = compile::place(old_, node_);
    auto pn = compile::place(new_, node_);

    // Per rule id: its placements' signatures, in order.
    std::map<std::string, std::vector<Sig>> so, sn;
    std::vector<std::string> order_o, order_n;
    for (const auto& e : po) {
        auto& v = so[e.rule->id];
        if (v.empty()) order_o.push_back(e.rule->id);
        v.push_back(sig_of(e));
    }
    for (const auto& e : pn) {
        auto& v = sn[e.rule->id];
        if (v.empty()) order_n.push_back(e.rule->id);
        v.push_back(sig_of(e));
    }
    // Rules by id (Policy::find_rule is a linear scan).
    std::map<std::string, const policy::Rule*> ro, rn;
    for (const auto& r : old_.rules) ro.emplace(r.id, &r);
    for (const auto& r : new_.rules) rn.emplace(r.id, &r);
    // Renames: an old id gone from the new policy whose placements equal those
    // of a new id the old policy did not have.
    std::map<std::string, std::string> rename;
    std::map<std::vector<Sig>, std::vector<std::string>> fresh;  // new-only ids by effect
    for (auto it = order_n.rbegin(); it != order_n.rend(); ++it)
        if (!so.count(*it) && !ro.count(*it)) fresh[sn[*it]].push_back(*it);
    for (const auto& id : order_o) {
        if (sn.count(id) || rn.count(id)) continue;
        auto f = fresh.find(so[id]);
        if (f == fresh.end() || f->second.empty()) continue;
        rename[id] = f->second.back();
        res_.renamed.push_back({id, f->second.back()});
        f->second.pop_back();
    }
    for (const auto& id : order_n) {
        auto it = so.find(id);
        if (it == so.end() || it->second != sn[id]) continue;
        const auto* a = ro[id];
        const auto* b = rn[id];
        if (a->app != b->app || a->note != b->note || a->feature != b->feature ||
            a->table != b->table || a->row != b->row || a->edge_role != b->edge_role)
            res_.relabelled.push_back(id);
    }

    // Per combo, both policies' entries in rule order.
    std::map<uint32_t, std::vector<Ent>> co, cn;
    for (const auto& e : po) {
        auto r = rename.find(e.rule->id);
        co[combo_of(e.role, e.dir, e.slot)].push_back(
            Ent{e.rule->id, r == rename.end() ? e.rule->id : r->second, sig_of(e)});
    }
    for (const auto& e : pn)
        cn[combo_of(e.role, e.dir, e.slot)].push_back(Ent{e.rule->id, e.rule->id, sig_of(e)});

    std::set<std::string> moved;
    std::vector<uint32_t> roles;
    for (uint32_t role : {EF_ROLE_EXTERNAL, EF_ROLE_INTERNAL})
        if (!opts_.role || *opts_.role == role) roles.push_back(role);
    for (uint32_t role : roles)
        for (uint32_t dir : {EF_DIR_INGRESS, EF_DIR_EGRESS})
            for (uint32_t slot = 0; slot < EF_PS_COUNT; slot++) {
                uint32_t c = combo_of(role, dir, slot);
                auto& O = co[c];
                auto& N = cn[c];
                bool def_o = dir == EF_DIR_EGRESS && old_.egress_mode == EF_EGRESS_TRACK_ONLY;
                bool def_n = dir == EF_DIR_EGRESS && new_.egress_mode == EF_EGRESS_TRACK_ONLY;
                bool universe = def_o != def_n;
                // The difference set: entries not kept as-is, or kept but out of
                // their relative order. Elsewhere both pick the same rule.
                std::map<std::pair<std::string, Sig>, size_t> npos;
                for (size_t i = 0; i < N.size(); i++) npos[{N[i].key, N[i].sig}] = i;
                std::vector<size_t> seq, seq_o;
                std::vector<bool> common_n(N.size(), false);
                for (size_t i = 0; i < O.size(); i++) {
                    auto it = npos.find({O[i].key, O[i].sig});
                    if (it == npos.end() || common_n[it->second]) {
                        O[i].differs = true;
                        continue;
                    }
                    common_n[it->second] = true;
                    seq.push_back(it->second);
                    seq_o.push_back(i);
                }
                std::vector<bool> keep_n(N.size(), false), keep_o(O.size(), false);
                for (size_t k : lis(seq)) {
                    keep_n[seq[k]] = true;
                    keep_o[seq_o[k]] = true;
                }
                for (size_t k = 0; k < seq.size(); k++)
                    if (!keep_n[seq[k]]) {
                        O[seq_o[k]].differs = N[seq[k]].differs = true;
                        moved.insert(N[seq[k]].id);
                    }
                for (size_t i = 0; i < N.size(); i++)
                    if (!common_n[i]) N[i].differs = true;

                std::set<packet::Addr> locals;
                if (universe) {
                    for (const auto& a : old_.local_addresses(node_, role)) locals.insert(a);
                    for (const auto& a : new_.local_addresses(node_, role)) locals.insert(a);
                }
                for (const auto* es : {&O, &N})
                    for (const auto& e : *es)
                        if (e.differs) locals.insert(e.sig.local.begin(), e.sig.local.end());
                for (const auto& L : locals) {
                    MergeSlice slice(res_.regions);
                    std::vector<const Ent*> ao, an;
                    bool any_d = universe;
                    for (const auto& e : O)
                        if (has_local(e.sig, L)) ao.push_back(&e), any_d |= e.differs;
                    for (const auto& e : N)
                        if (has_local(e.sig, L)) an.push_back(&e), any_d |= e.differs;
                    if (!any_d) continue;
                    std::vector<uint32_t> db{0, 65536};
                    for (const auto* es : {&ao, &an})
                        for (const Ent* e : *es)
                            for (const auto& r : e->sig.dport)
                                db.push_back(r.lo), db.push_back(r.hi + 1u);
                    std::sort(db.begin(), db.end());
                    db.erase(std::unique(db.begin(), db.end()), db.end());
                    for (size_t d = 0; d + 1 < db.size(); d++) {
                        uint32_t a = db[d];
                        std::vector<const Ent*> bo, bn;
                        bool dd = universe;
                        for (const Ent* e : ao)
                            if (in_ports(e->sig.dport, a)) bo.push_back(e), dd |= e->differs;
                        for (const Ent* e : an)
                            if (in_ports(e->sig.dport, a)) bn.push_back(e), dd |= e->differs;
                        if (!dd) continue;
                        PortRange dr{uint16_t(a), uint16_t(db[d + 1] - 1)};
                        std::vector<uint32_t> sb{0, 65536};
                        for (const auto* es : {&bo, &bn})
                            for (const Ent* e : *es)
                                for (const auto& r : e->sig.sport)
                                    sb.push_back(r.lo), sb.push_back(r.hi + 1u);
                        std::sort(sb.begin(), sb.end());
                        sb.erase(std::unique(sb.begin(), sb.end()), sb.end());
                        for (size_t s = 0; s + 1 < sb.size(); s++) {
                            uint32_t sa = sb[s];
                            std::vector<const Ent*> xo, xn;
                            bool sd = universe;
                            for (const Ent* e : bo)
                                if (in_ports(e->sig.sport, sa)) xo.push_back(e), sd |= e->differs;
                            for (const Ent* e : bn)
                                if (in_ports(e->sig.sport, sa)) xn.push_back(e), sd |= e->differs;
                            if (!sd) continue;
                            cell(role, dir, slot, L, dr,
                                 PortRange{uint16_t(sa), uint16_t(sb[s + 1] - 1)}, xo, xn, def_o,
                                 def_n);
                        }
                    }
                }
            }
    res_.moved.assign(moved.begin(), moved.end());

    return std::move(res_);
}

}  // namespace

Result compute(const policy::Policy& old_p, const policy::Policy& new_p, const std::string& node,
               const Options& opts) {
    return Differ(old_p, new_p, node, opts).run();
}

const char* slot_name(uint32_t slot) {
    switch (slot) {
        case EF_PS_TCP:
            return "tcp";
        case EF_PS_UDP:
            return "udp";
        case EF_PS_ICMP:
            return "icmp";
        case EF_PS_ICMP6:
            return "icmp6";
    }
    return "?";
}

std::string remote_str(const Prefix& p) {
    if (p.plen == 0) return "any";
    policy::Cidr c{p.addr, p.plen, policy::Family::v6};
    if (policy::mapped_space().contains(p) && p.plen >= 96) c.family = policy::Family::v4;
    return c.str();
}

std::string ports_str(uint32_t slot, const PortRange& r, bool dport) {
    if (r.lo == 0 && r.hi == 65535) return "any";
    if (slot == EF_PS_TCP || slot == EF_PS_UDP || !dport) return r.str();
    unsigned tl = r.lo >> 8, th = r.hi >> 8, cl = r.lo & 0xff, chh = r.hi & 0xff;
    if (cl == 0 && chh == 0xff)
        return tl == th ? fmt::format("{}", tl) : fmt::format("{}-{}", tl, th);
    if (tl == th)
        return cl == chh ? fmt::format("{} code {}", tl, cl)
                         : fmt::format("{} code {}-{}", tl, cl, chh);
    return fmt::format("{} code {} - {} code {}", tl, cl, th, chh);
}

std::string remote_text(const Region& r) {
    std::string s = remote_str(r.remote);
    for (size_t i = 0; i < r.except.size(); i++)
        s += (i ? ", " : " except ") + remote_str(r.except[i]);
    return s;
}

bool contains(const Region& r, uint32_t role, uint32_t dir, uint32_t slot,
              const packet::Addr& local, const packet::Addr& remote, uint16_t sport,
              uint16_t dport) {
    if (r.role != role || r.dir != dir || r.slot != slot || !(r.local == local)) return false;
    if (!r.sport.contains(sport) || !r.dport.contains(dport)) return false;
    if (!r.remote.contains(remote)) return false;
    for (const auto& x : r.except)
        if (x.contains(remote)) return false;
    return true;
}

std::string region_line(const Region& r) {
    const char* mark = r.change == Change::open    ? "+ open "
                       : r.change == Change::close ? "- close"
                                                   : "~ moved";
    bool in = r.dir == EF_DIR_INGRESS;
    bool icmp = r.slot == EF_PS_ICMP || r.slot == EF_PS_ICMP6;
    std::string ports = icmp ? "type " + ports_str(r.slot, r.dport, true)
                             : "sport " + ports_str(r.slot, r.sport, false) + " dport " +
                                   ports_str(r.slot, r.dport, true);
    std::string why;
    auto name = [](const std::string& s) {
        return s.empty() ? std::string("default") : "rule " + s;
    };
    if (r.change == Change::open)
        why = "new " + name(r.new_rule);
    else if (r.change == Change::close)
        why = "old " + name(r.old_rule);
    else
        why = "old " + name(r.old_rule) + ", new " + name(r.new_rule);
    return fmt::format("{} {} {} {} {} {} {} {} ({})", mark, policy::role_name(r.role),
                       policy::dir_name(r.dir), slot_name(r.slot), r.local.str(),
                       in ? "from" : "to", remote_text(r), ports, why);
}

}  // namespace diff
