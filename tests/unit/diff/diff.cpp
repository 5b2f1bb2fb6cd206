// edgefw diff against the model: for the reference policy and mutated copies,
// and for 10,000-rule synthetic pairs, random new-flow packets drawn from both
// policies are judged by model::Model::classify under OLD and NEW. A packet
// whose verdict differs must lie in an open/close region of the right kind;
// a packet whose verdict is the same must lie in none; a packet passed under
// two different rules lies in a move region. Regions never overlap.
#include "diff/diff.h"

#include <criterion/criterion.h>
#include <netinet/in.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <sstream>

#include "model/model.h"
#include "packet_gen.h"
#include "synth/synth.h"

namespace {

const char* kReference = "policies/lync2010-edge-hlb.yaml";

std::string read_file(const char* path) {
    FILE* f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    std::string s;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    fclose(f);
    return s;
}

policy::Policy load_text(const std::string& text, const char* name) {
    policy::Diagnostics d;
    auto p = policy::load_text(text, name, "", "", d);
    for (const auto& x : d.all()) cr_log_error("%s", x.str().c_str());
    cr_assert(p.has_value(), "%s does not load", name);
    return *p;
}

// The text of rule `id`'s block in the reference policy's layout.
size_t block_start(const std::string& t, const std::string& id) {
    size_t at = t.find("  - id: " + id + "\n");
    cr_assert(at != std::string::npos, "no rule %s", id.c_str());
    return at;
}
size_t block_end(const std::string& t, size_t start) {
    size_t e = t.find("\n  - id: ", start + 1);
    size_t blank = t.find("\n\n", start);
    return std::min(e, blank) + 1;
}
// Replaces the first `from` inside rule `id`'s block.
std::string edit_rule(std::string t, const std::string& id, const std::string& from,
                      const std::string& to) {
    size_t s = block_start(t, id), e = block_end(t, s);
    size_t at = t.find(from, s);
    cr_assert(at != std::string::npos && at < e, "%s: no '%s'", id.c_str(), from.c_str());
    return t.replace(at, from.size(), to);
}
std::string replace_all(std::string t, const std::string& from, const std::string& to) {
    for (size_t at = t.find(from); at != std::string::npos; at = t.find(from, at + to.size()))
        t.replace(at, from.size(), to);
    return t;
}
std::string remove_rule(std::string t, const std::string& id) {
    size_t s = block_start(t, id);
    t.erase(s, block_end(t, s) - s);
    t = replace_all(t, id + ", ", "");
    return replace_all(t, ", " + id + "]", "]");
}
std::string insert_before(std::string t, const std::string& id, const std::string& text) {
    return t.insert(block_start(t, id), text);
}

struct Stats {
    size_t packets = 0, changed = 0, moved = 0, regions = 0;
    double secs = 0;
};

// Checks diff(old, new) on `packets` random packets from each policy's generator.
Stats check(const policy::Policy& o, const policy::Policy& n, const std::string& node,
            uint64_t seed, int packets, const char* what) {
    auto t0 = std::chrono::steady_clock::now();
    diff::Result r = diff::compute(o, n, node);
    Stats st;
    st.secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    st.regions = r.regions.size();
    std::map<std::string, std::string> renamed(r.renamed.begin(), r.renamed.end());
    std::map<std::tuple<uint32_t, uint32_t, uint32_t, packet::Addr>,
             std::vector<const diff::Region*>>
        by_local;
    for (const auto& g : r.regions) by_local[{g.role, g.dir, g.slot, g.local}].push_back(&g);
    model::Model mo(o, node), mn(n, node);
    testgen::PacketGen go(o, node, seed), gn(n, node, seed + 1);
    for (int i = 0; i < 2 * packets; i++) {
        auto& gen = i % 2 ? gn : go;
        packet::Packet pkt = gen.next();
        uint32_t role = gen.role();
        uint32_t slot;
        switch (pkt.proto) {
            case IPPROTO_TCP:
                slot = EF_PS_TCP;
                break;
            case IPPROTO_UDP:
                slot = EF_PS_UDP;
                break;
            case IPPROTO_ICMP:
                slot = EF_PS_ICMP;
                break;
            case IPPROTO_ICMPV6:
                slot = EF_PS_ICMP6;
                break;
            default:
                continue;
        }
        bool in = pkt.dir == packet::Dir::ingress;
        // Regions name the node's own addresses: a flow whose local side is
        // none of them matches no rule in either policy, and changes only
        // with the egress default (documented).
        if (o.egress_mode != n.egress_mode) {
            auto lo = o.local_addresses(node, role), ln = n.local_addresses(node, role);
            const auto& a = in ? pkt.dst : pkt.src;
            if (std::find(lo.begin(), lo.end(), a) == lo.end() &&
                std::find(ln.begin(), ln.end(), a) == ln.end())
                continue;
        }
        bool icmp = slot == EF_PS_ICMP || slot == EF_PS_ICMP6;
        uint16_t dport = icmp ? uint16_t(pkt.icmp_type << 8 | pkt.icmp_code) : pkt.dport;
        uint16_t sport = icmp ? 0 : pkt.sport;
        const policy::Rule* ro = mo.classify(role, pkt);
        const policy::Rule* rn = mn.classify(role, pkt);
        bool po = ro || (!in && o.egress_mode == EF_EGRESS_TRACK_ONLY);
        bool pn = rn || (!in && n.egress_mode == EF_EGRESS_TRACK_ONLY);
        std::string ko = ro ? (renamed.count(ro->id) ? renamed[ro->id] : ro->id) : "";
        std::string kn = rn ? rn->id : "";
        const diff::Region* hit = nullptr;
        auto it = by_local.find(
            {role, in ? EF_DIR_INGRESS : EF_DIR_EGRESS, slot, in ? pkt.dst : pkt.src});
        if (it != by_local.end())
            for (const auto* g : it->second)
                if (diff::contains(*g, role, g->dir, slot, g->local, in ? pkt.src : pkt.dst, sport,
                                   dport)) {
                    cr_assert(!hit, "%s: packet %d lies in two regions:\n  %s\n  %s\n  %s", what, i,
                              packet::to_spec(pkt).c_str(), diff::region_line(*hit).c_str(),
                              diff::region_line(*g).c_str());
                    hit = g;
                }
        st.packets++;
        std::string spec = packet::to_spec(pkt);
        const char* on = policy::role_name(role);
        if (po != pn) {
            st.changed++;
            cr_assert(hit, "%s: %s on %s: old %s, new %s, but in no region", what, spec.c_str(), on,
                      ro ? ro->id.c_str() : "default", rn ? rn->id.c_str() : "default");
            cr_assert(hit->change == (pn ? diff::Change::open : diff::Change::close),
                      "%s: %s on %s lies in %s", what, spec.c_str(), on,
                      diff::region_line(*hit).c_str());
        } else if (po && ko != kn) {
            st.moved++;
            cr_assert(hit && hit->change == diff::Change::move,
                      "%s: %s on %s moved from %s to %s, region: %s", what, spec.c_str(), on,
                      ro ? ro->id.c_str() : "default", rn ? rn->id.c_str() : "default",
                      hit ? diff::region_line(*hit).c_str() : "none");
        } else {
            cr_assert(!hit, "%s: %s on %s keeps its verdict (%s) but lies in %s", what,
                      spec.c_str(), on, ro ? ro->id.c_str() : "default",
                      diff::region_line(*hit).c_str());
        }
        if (hit) {
            cr_assert_str_eq(hit->old_rule.c_str(), ro ? ro->id.c_str() : "", "%s: %s", what,
                             spec.c_str());
            cr_assert_str_eq(hit->new_rule.c_str(), rn ? rn->id.c_str() : "", "%s: %s", what,
                             spec.c_str());
        }
    }
    fprintf(stderr,
            "diff %-28s node %-6s: %zu regions in %.3f s; %zu packets checked, %zu change verdict, "
            "%zu move, 0 misclassified\n",
            what, node.c_str(), st.regions, st.secs, st.packets, st.changed, st.moved);
    return st;
}

struct Mutation {
    const char* name;
    std::string text;
};

std::vector<Mutation> mutations(const std::string& ref) {
    std::vector<Mutation> m;
    m.push_back({"rtp-range-widened", edit_rule(ref, "edge1-ext-av-rtp-udp-in",
                                                "dport: 50000-59999", "dport: 50000-60999")});
    m.push_back({"rule-removed", remove_rule(ref, "edge1-ext-dns")});
    m.push_back(
        {"rule-added",
         insert_before(
             ref, "edge1-ext-crl-http",
             "  - id: edge1-ext-extra\n    app: HTTPS\n    feature: remote-access\n    proto: tcp\n"
             "    src: 192.0.2.0/24\n    sport: any\n    dst: 131.107.155.10\n"
             "    dport: [8443, 9000-9100]\n")});
    m.push_back({"source-narrowed",
                 edit_rule(ref, "edge1-ext-av-stun-tcp-in", "src: any", "src: 203.0.113.0/24")});
    m.push_back({"source-narrowed-vip",
                 edit_rule(ref, "ext-vip-av-stun-udp", "src: any", "src: 203.0.113.128/25")});
    {
        std::string t = ref;
        size_t at = t.find("  ocs2007-interop:");
        at = t.find("enabled: true", at);
        m.push_back({"feature-disabled", t.replace(at, 13, "enabled: false")});
    }
    {
        std::string t =
            replace_all(ref, "addresses: [131.107.155.10, 131.107.155.20, 131.107.155.30]",
                        "addresses: [131.107.155.10, 131.107.155.20, 131.107.155.30, "
                        "2001:db8:155::10]");
        std::string n = insert_before(
            t, "edge1-ext-crl-http",
            "  - id: edge1-ext-v6-stun\n    app: STUN\n    feature: av\n    proto: udp\n"
            "    src: 2001:db8:f00::/40\n    sport: any\n    dst: 2001:db8:155::10\n"
            "    dport: 3478-3481\n"
            "  - id: edge1-ext-v6-ping\n    app: ICMP\n    feature: av\n    proto: icmp6\n    "
            "icmp_type: 128\n"
            "    src: any\n    dst: 2001:db8:155::10\n");
        m.push_back({"ipv6-rules-added", n});
    }
    m.push_back(
        {"egress-track-only", replace_all(ref, "\negress: enforce", "\negress: track-only")});
    m.push_back({"renamed+relabelled", replace_all(edit_rule(ref, "edge1-ext-av-rtp-udp-in",
                                                             "app: \"RTP\"", "app: \"RTP/SRTP\""),
                                                   "edge1-ext-dns", "edge1-ext-dns-v2")});
    {
        // Move one rule ahead of the rule that shadows it (changes who counts).
        std::string t = ref;
        size_t s = block_start(t, "edge1-ext-av-stun-tcp-in");
        std::string blk = t.substr(s, block_end(t, s) - s);
        t.erase(s, blk.size());
        m.push_back({"rule-moved", insert_before(t, "ext-vip-access-sip-tls", blk)});
    }
    return m;
}

}  // namespace

Test(diff, identical_policies_have_no_regions) {
    auto p = load_text(read_file(kReference), "ref.yaml");
    for (const char* node : {"edge1", "edge2", "rproxy"}) {
        auto r = diff::compute(p, p, node);
        cr_assert(r.regions.empty() && r.renamed.empty() && r.relabelled.empty() &&
                  r.moved.empty());
        cr_assert(!r.verdict_changes());
    }
    cr_assert_throw(diff::compute(p, p, "edge9"), std::exception);
}

Test(diff, widened_range_is_one_open_region) {
    std::string ref = read_file(kReference);
    auto o = load_text(ref, "ref.yaml");
    auto n = load_text(mutations(ref)[0].text, "widened.yaml");
    auto r = diff::compute(o, n, "edge1");
    cr_assert_eq(r.regions.size(), 1u);
    std::string line = diff::region_line(r.regions[0]);
    cr_assert_str_eq(line.c_str(),
                     "+ open  external ingress udp 131.107.155.30 from any sport any dport "
                     "60000-60999 (new rule edge1-ext-av-rtp-udp-in)");
    cr_assert(r.verdict_changes());
    cr_assert(diff::compute(o, n, "edge2").regions.empty());
    cr_assert(diff::compute(o, n, "edge1", {EF_ROLE_INTERNAL}).regions.empty());
}

Test(diff, rename_and_label_change_make_no_region) {
    std::string ref = read_file(kReference);
    auto o = load_text(ref, "ref.yaml");
    for (const auto& m : mutations(ref)) {
        if (std::string(m.name) != "renamed+relabelled") continue;
        auto r = diff::compute(o, load_text(m.text, m.name), "edge1");
        cr_assert(r.regions.empty());
        cr_assert_eq(r.renamed.size(), 1u);
        cr_assert_str_eq(r.renamed[0].first.c_str(), "edge1-ext-dns");
        cr_assert_str_eq(r.renamed[0].second.c_str(), "edge1-ext-dns-v2");
        cr_assert_eq(r.relabelled.size(), 1u);
        cr_assert_str_eq(r.relabelled[0].c_str(), "edge1-ext-av-rtp-udp-in");
    }
}

Test(diff, reference_mutations_agree_with_the_model, .timeout = 600) {
    std::string ref = read_file(kReference);
    auto o = load_text(ref, "ref.yaml");
    size_t total = 0, changed = 0;
    uint64_t seed = 1;
    for (const auto& m : mutations(ref)) {
        auto n = load_text(m.text, m.name);
        for (const char* node : {"edge1", "edge2"}) {
            for (int swap = 0; swap < 2; swap++) {
                auto st = swap ? check(n, o, node, seed, 20000,
                                       (std::string(m.name) + " (reverse)").c_str())
                               : check(o, n, node, seed, 20000, m.name);
                total += st.packets;
                changed += st.changed;
                seed += 2;
            }
        }
    }
    fprintf(stderr,
            "diff reference mutations: %zu packets checked, %zu change verdict, 0 misclassified\n",
            total, changed);
    cr_assert_gt(changed, 0u);
}

namespace {

policy::Policy synthetic(uint64_t seed) {
    return load_text(synth::generate({10000, seed, true}), "synthetic.yaml");
}

// Every 97th rule removed, every 89th changes protocol, every 101st swaps
// with its successor.
std::string mutate_synthetic(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
    std::string out;
    int k = 0;
    for (size_t i = 0; i < lines.size(); i++) {
        std::string l = lines[i];
        if (l.rfind("  - {id: syn-", 0) == 0 && l.find("synth-last") == std::string::npos) {
            k++;
            if (k % 97 == 0) continue;
            if (k % 89 == 0) {
                size_t at = l.find("proto: tcp");
                if (at != std::string::npos) l.replace(at, 10, "proto: udp");
            }
            if (k % 101 == 0 && i + 1 < lines.size() &&
                lines[i + 1].rfind("  - {id: syn-", 0) == 0) {
                out += lines[i + 1] + "\n";
                lines[i + 1] = l;
                continue;
            }
        }
        out += l + "\n";
    }
    return out;
}

}  // namespace

Test(diff, synthetic_10000_mutated_agrees_with_the_model, .timeout = 600) {
    std::string text = synth::generate({10000, 7, true});
    auto o = load_text(text, "syn.yaml");
    auto n = load_text(mutate_synthetic(text), "syn-mutated.yaml");
    auto st = check(o, n, "syn1", 11, 100000, "synthetic-10000 mutated");
    cr_assert_gt(st.changed, 0u);
}

Test(diff, synthetic_10000_seed_pair_agrees_with_the_model, .timeout = 600) {
    auto o = synthetic(1);
    auto n = synthetic(2);
    auto st = check(o, n, "syn1", 13, 100000, "synthetic-10000 seeds 1/2");
    cr_assert_gt(st.changed, 0u);
}
