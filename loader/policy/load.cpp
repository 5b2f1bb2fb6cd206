// Policy file -> Policy: schema checks, then name resolution, then the site
// file's overrides. All errors are collected; nothing is returned if any.
#include <functional>
#include <regex>
#include <set>

#include "policy/policy.h"
#include "policy/site.h"
#include "policy/yaml_reader.h"
#include "util/input_file.h"

namespace policy {

namespace {

struct RawExpr {
    std::vector<std::pair<std::string, Loc>> items;
};

struct RawObject {
    RawExpr expr;
    Loc loc;
};

class PolicyLoader {
  public:
    PolicyLoader(const std::string& file, Diagnostics& diags) : y_(file, diags) {}

    std::optional<Policy> run(const std::string& text, const Site* site);

  private:
    void read_top(const YNode& root);
    void read_features(const YNode& n);
    void read_objects(const YNode& n);
    void read_nodes(const YNode& n);
    void read_vips(const YNode& n);
    void read_rules(const YNode& n);
    void read_rule(const YNode& n, uint32_t index);
    void read_summary(const YNode& n);
    // `owner`: an address a node interface or a VIP holds (not a backend,
    // which repeats one), checked for collisions the site file makes.
    std::optional<packet::Addr> address(const YNode& n, const std::string& what, bool owner = true);
    std::optional<uint32_t> role(const YNode& n, const std::string& what);
    AddrExpr resolve(const RawExpr& raw, const std::string& what);
    void resolve_name(const std::string& name, const Loc& where, const std::string& what,
                      AddrExpr& out, std::vector<std::string>& stack);
    void apply_site(const Site& site);
    void check_site_collisions(const Site& site);
    void cross_check();

    YamlReader y_;
    Policy p_;
    std::map<std::string, RawObject> objects_;
    std::vector<std::pair<RawExpr, RawExpr>> rule_exprs_;  // src, dst per rule
    const Site* site_ = nullptr;
    struct Held {
        packet::Addr original, mapped;
        std::string what;
        Loc loc;
    };
    std::vector<Held> held_;  // with a site file: every address a node or VIP holds
};

std::optional<packet::Addr> PolicyLoader::address(const YNode& n, const std::string& what,
                                                  bool owner) {
    auto s = y_.string(n, what);
    if (!s) return std::nullopt;
    if (auto v4 = ipv4_form_of_mapped(*s); v4 && s->find('/') == std::string::npos) {
        y_.diags().error(y_.loc(n), what + " '" + *s + "' is an IPv4-mapped IPv6 address",
                         "write it as " + *v4 + ": IPv4 addresses are written as IPv4");
        return std::nullopt;
    }
    auto a = packet::parse_addr(*s);
    if (!a) {
        y_.diags().error(y_.loc(n), what + " '" + *s + "' is not an IPv4 or IPv6 address",
                         "write a single address such as 192.0.2.10 or 2001:db8::10");
        return std::nullopt;
    }
    if (!site_) return a;
    packet::Addr mapped = site_->map_address(*a);
    if (owner) held_.push_back(Held{*a, mapped, what, y_.loc(n)});
    return mapped;
}

std::optional<uint32_t> PolicyLoader::role(const YNode& n, const std::string& what) {
    auto s = y_.string(n, what);
    if (!s) return std::nullopt;
    if (auto r = role_of(*s)) return r;
    y_.diags().error(y_.loc(n), what + " '" + *s + "' is not a role",
                     "roles are external and internal");
    return std::nullopt;
}

void PolicyLoader::read_top(const YNode& root) {
    y_.check_keys(root,
                  {"edgefw", "name", "source", "egress", "defaults", "conntrack", "features",
                   "objects", "nodes", "vips", "rules", "summary"},
                  "the policy");
    if (y_.require(root, "edgefw", "the policy")) {
        auto v = y_.integer(root["edgefw"], "format version 'edgefw'", 1, 1);
        (void)v;
    }
    if (y_.require(root, "name", "the policy"))
        p_.name = y_.string(root["name"], "name").value_or("");
    if (root["source"]) p_.source = y_.string(root["source"], "source").value_or("");
    if (auto e = root["egress"]) {
        auto s = y_.string(e, "egress");
        if (s && *s == "enforce")
            p_.egress_mode = EF_EGRESS_ENFORCE;
        else if (s && *s == "track-only")
            p_.egress_mode = EF_EGRESS_TRACK_ONLY;
        else if (s)
            y_.diags().error(y_.loc(e), "egress '" + *s + "' is not a mode",
                             "use enforce or track-only");
    }
    if (auto d = root["defaults"]; d && y_.expect_map(d, "defaults")) {
        y_.check_keys(d, {"external", "internal"}, "defaults");
        for (auto it = d.begin(); it != d.end(); ++it) {
            auto s = y_.string(it->second, "default");
            if (s && *s != "drop")
                y_.diags().error(y_.loc(it->second), "default '" + *s + "' is not supported",
                                 "the ingress default of a role is drop");
        }
    }
    if (auto c = root["conntrack"]; c && y_.expect_map(c, "conntrack")) {
        y_.check_keys(c, {"tcp_established", "tcp_closing", "udp", "icmp"}, "conntrack");
        auto secs = [&](const char* key, uint32_t& out) {
            if (auto v = c[key])
                if (auto n = y_.integer(v, std::string("conntrack ") + key, 1, 86400 * 7))
                    out = static_cast<uint32_t>(*n);
        };
        secs("tcp_established", p_.timeouts.tcp_established);
        secs("tcp_closing", p_.timeouts.tcp_closing);
        secs("udp", p_.timeouts.udp);
        secs("icmp", p_.timeouts.icmp);
    }
}

void PolicyLoader::read_features(const YNode& n) {
    if (!y_.expect_map(n, "features")) return;
    for (auto it = n.begin(); it != n.end(); ++it) {
        Feature f;
        f.name = it->first.Scalar();
        f.loc = y_.loc(it->first);
        const YNode body = it->second;  // a copy: it-> yields a temporary (fuzz)
        if (!y_.expect_map(body, "feature '" + f.name + "'")) continue;
        y_.check_keys(body, {"description", "enabled"}, "feature '" + f.name + "'");
        if (body["description"])
            f.description = y_.string(body["description"], "description").value_or("");
        if (body["enabled"]) f.enabled = y_.boolean(body["enabled"], "enabled").value_or(true);
        p_.features[f.name] = f;
    }
}

void PolicyLoader::read_objects(const YNode& n) {
    if (!y_.expect_map(n, "objects")) return;
    if (n.size() > kMaxObjects) {
        y_.diags().error(y_.loc(n), "the policy defines " + std::to_string(n.size()) + " objects",
                         "at most " + std::to_string(kMaxObjects) + " objects are accepted");
        return;
    }
    for (auto it = n.begin(); it != n.end(); ++it) {
        std::string name = it->first.Scalar();
        objects_[name] =
            RawObject{RawExpr{y_.scalars(it->second, "object '" + name + "'")}, y_.loc(it->first)};
    }
}

void PolicyLoader::read_nodes(const YNode& n) {
    if (!y_.expect_map(n, "nodes")) return;
    for (auto it = n.begin(); it != n.end(); ++it) {
        Node node;
        node.name = it->first.Scalar();
        node.loc = y_.loc(it->first);
        std::string what = "node '" + node.name + "'";
        const YNode body = it->second;  // a copy: it-> yields a temporary (fuzz)
        if (!y_.expect_map(body, what)) continue;
        y_.check_keys(body, {"interfaces", "assumptions"}, what);
        if (body["assumptions"])
            node.assumptions = y_.string(body["assumptions"], "assumptions").value_or("");
        if (!y_.require(body, "interfaces", what) ||
            !y_.expect_map(body["interfaces"], what + " interfaces"))
            continue;
        for (auto jt = body["interfaces"].begin(); jt != body["interfaces"].end(); ++jt) {
            auto r = role(jt->first, what + " interface role");
            const YNode iface = jt->second;  // a copy: jt-> yields a temporary (fuzz)
            std::string iwhat = what + " interface '" + jt->first.Scalar() + "'";
            if (!r || !y_.expect_map(iface, iwhat)) continue;
            y_.check_keys(iface, {"addresses"}, iwhat);
            if (!y_.require(iface, "addresses", iwhat)) continue;
            Interface in;
            in.role = *r;
            in.loc = y_.loc(jt->first);
            const YNode& addrs = iface["addresses"];
            std::vector<YNode> items;
            if (addrs.IsSequence())
                for (const auto& a : addrs) items.push_back(a);
            else
                items.push_back(addrs);
            for (const auto& a : items)
                if (auto ad = address(a, iwhat + " address")) in.addresses.push_back(*ad);
            node.interfaces[*r] = in;
        }
        p_.nodes[node.name] = node;
    }
}

void PolicyLoader::read_vips(const YNode& n) {
    if (!y_.expect_map(n, "vips")) return;
    for (auto it = n.begin(); it != n.end(); ++it) {
        Vip v;
        v.name = it->first.Scalar();
        v.loc = y_.loc(it->first);
        std::string what = "vip '" + v.name + "'";
        const YNode body = it->second;  // a copy: it-> yields a temporary (fuzz)
        if (!y_.expect_map(body, what)) continue;
        y_.check_keys(body, {"address", "role", "backends", "note"}, what);
        bool ok = y_.require(body, "address", what) & y_.require(body, "role", what) &
                  y_.require(body, "backends", what);
        if (!ok) continue;
        if (auto a = address(body["address"], what + " address")) v.address = *a;
        if (auto r = role(body["role"], what + " role")) v.role = *r;
        if (body["note"]) v.note = y_.string(body["note"], "note").value_or("");
        if (y_.expect_map(body["backends"], what + " backends"))
            for (auto jt = body["backends"].begin(); jt != body["backends"].end(); ++jt) {
                std::string node = jt->first.Scalar();
                if (!p_.nodes.count(node))
                    y_.diags().error(y_.loc(jt->first),
                                     what + " names a backend on undefined node '" + node + "'",
                                     "define the node under nodes: or fix the name");
                if (auto a = address(jt->second, what + " backend", false)) v.backends[node] = *a;
            }
        p_.vips[v.name] = v;
    }
}

void PolicyLoader::read_rule(const YNode& n, uint32_t index) {
    Rule r;
    r.index = index;
    r.loc = y_.loc(n);
    if (!y_.expect_map(n, "rule")) {
        rule_exprs_.emplace_back();
        p_.rules.push_back(r);
        return;
    }
    y_.check_keys(n,
                  {"id", "table", "row", "edge_role", "app", "feature", "proto", "src", "sport",
                   "dst", "dport", "icmp_type", "icmp_code", "note"},
                  "a rule");
    std::string what = "rule";
    if (y_.require(n, "id", what)) {
        r.id = y_.string(n["id"], "rule id").value_or("");
        static const std::regex id_re("[a-z0-9][a-z0-9-]*");
        if (!r.id.empty() && !std::regex_match(r.id, id_re))
            y_.diags().error(y_.loc(n["id"]),
                             "rule id '" + r.id + "' has characters ids cannot hold",
                             "use lowercase letters, digits and '-'");
        what = "rule '" + r.id + "'";
    }
    if (n["table"]) r.table = y_.string(n["table"], "table").value_or("");
    if (n["row"]) r.row = static_cast<int>(y_.integer(n["row"], "row", 1, 10000).value_or(0));
    if (n["edge_role"]) r.edge_role = y_.string(n["edge_role"], "edge_role").value_or("");
    if (n["note"]) r.note = y_.string(n["note"], "note").value_or("");
    if (y_.require(n, "app", what)) r.app = y_.string(n["app"], "app").value_or("");
    if (y_.require(n, "feature", what)) {
        r.feature = y_.string(n["feature"], "feature").value_or("");
        if (!r.feature.empty() && !p_.features.count(r.feature))
            y_.diags().error(y_.loc(n["feature"]),
                             what + " names undefined feature '" + r.feature + "'",
                             "declare it under features: or use a declared one");
    }
    if (y_.require(n, "proto", what)) {
        auto s = y_.string(n["proto"], "proto");
        if (s == "tcp")
            r.proto = Proto::tcp;
        else if (s == "udp")
            r.proto = Proto::udp;
        else if (s == "icmp")
            r.proto = Proto::icmp;
        else if (s == "icmp6")
            r.proto = Proto::icmp6;
        else if (s)
            y_.diags().error(y_.loc(n["proto"]), "proto '" + *s + "' is not supported",
                             "use tcp, udp, icmp or icmp6");
    }
    bool icmp = r.proto == Proto::icmp || r.proto == Proto::icmp6;
    RawExpr src, dst;
    if (y_.require(n, "src", what)) src.items = y_.scalars(n["src"], "src");
    if (y_.require(n, "dst", what)) dst.items = y_.scalars(n["dst"], "dst");
    for (const char* key : {"sport", "dport"}) {
        auto& out = key[0] == 's' ? r.sport : r.dport;
        out = {PortRange{0, 65535}};
        if (!n[key]) continue;
        auto ports = y_.ports(n[key], key);
        if (ports) out = *ports;
        if (icmp && !(out.size() == 1 && out[0] == PortRange{0, 65535}))
            y_.diags().error(y_.loc(n[key]),
                             what + ": " + key + " is meaningless for " + proto_name(r.proto),
                             "remove it; use icmp_type/icmp_code");
    }
    for (const char* key : {"icmp_type", "icmp_code"}) {
        if (!n[key]) continue;
        if (!icmp) {
            y_.diags().error(y_.loc(n[key]), what + ": " + key + " needs proto icmp or icmp6",
                             "remove it or change proto");
            continue;
        }
        auto v = y_.integer(n[key], key, 0, 255);
        if (v) (key[5] == 't' ? r.icmp_type : r.icmp_code) = static_cast<uint8_t>(*v);
    }
    if (r.icmp_code && !r.icmp_type)
        y_.diags().error(y_.loc(n["icmp_code"]), what + ": icmp_code needs icmp_type",
                         "add icmp_type");
    rule_exprs_.emplace_back(src, dst);
    p_.rules.push_back(r);
}

void PolicyLoader::read_rules(const YNode& n) {
    if (!n.IsSequence()) {
        y_.diags().error(y_.loc(n), "rules must be a list", "start each rule with '- id: ...'");
        return;
    }
    uint32_t index = 0;
    for (const auto& item : n) read_rule(item, index++);
    if (index > EF_MAX_RULES)
        y_.diags().error(y_.loc(n), "the policy has " + std::to_string(index) + " rules",
                         "at most " + std::to_string(EF_MAX_RULES) + " rules fit the counter map");
}

void PolicyLoader::read_summary(const YNode& n) {
    if (!n.IsSequence()) {
        y_.diags().error(y_.loc(n), "summary must be a list");
        return;
    }
    for (const auto& item : n) {
        if (!y_.expect_map(item, "summary row")) continue;
        y_.check_keys(item, {"table", "row", "text", "used_for", "rules"}, "a summary row");
        SummaryRow s;
        s.loc = y_.loc(item);
        if (item["table"]) s.table = y_.string(item["table"], "table").value_or("");
        if (item["row"])
            s.row = static_cast<int>(y_.integer(item["row"], "row", 1, 10000).value_or(0));
        if (item["text"]) s.text = y_.string(item["text"], "text").value_or("");
        if (item["used_for"]) s.used_for = y_.string(item["used_for"], "used_for").value_or("");
        if (y_.require(item, "rules", "summary row"))
            for (auto& [id, where] : y_.scalars(item["rules"], "rules")) {
                s.rules.push_back(id);
                bool found = false;
                for (const auto& r : p_.rules) found = found || r.id == id;
                if (!found)
                    y_.diags().error(where, "summary row names undefined rule '" + id + "'",
                                     "use the id of a rule under rules:");
            }
        p_.summary.push_back(s);
    }
}

void PolicyLoader::resolve_name(const std::string& name, const Loc& where, const std::string& what,
                                AddrExpr& out, std::vector<std::string>& stack) {
    if (out.terms.size() > kMaxExpandedTerms) return;  // reported once, by resolve()
    if (name == "any") {
        out.terms.push_back(AddrTerm{Cidr{}, {}});
        return;
    }
    std::string err;
    if (name.find_first_of(":") != std::string::npos ||
        std::isdigit(static_cast<unsigned char>(name[0]))) {
        auto c = parse_cidr(name, err);
        if (!c) {
            y_.diags().error(where, what + ": " + err,
                             "write an address, a CIDR, any, or a defined name");
            return;
        }
        if (site_) {
            auto mapped = site_->map_cidr(*c, err);
            if (!mapped) {
                y_.diags().error(where, what + ": " + err, "add a site mapping that covers it");
                return;
            }
            c = mapped;
        }
        out.terms.push_back(AddrTerm{*c, {}});
        return;
    }
    if (auto v = p_.vips.find(name); v != p_.vips.end()) {
        out.terms.push_back(AddrTerm{host_cidr(v->second.address), name});
        return;
    }
    if (auto o = objects_.find(name); o != objects_.end()) {
        if (std::find(stack.begin(), stack.end(), name) != stack.end()) {
            y_.diags().error(where, what + ": object '" + name + "' refers to itself",
                             "break the cycle between objects");
            return;
        }
        stack.push_back(name);
        for (auto& [item, loc] : o->second.expr.items)
            resolve_name(item, loc, "object '" + name + "'", out, stack);
        stack.pop_back();
        return;
    }
    if (auto dot = name.find('.'); dot != std::string::npos) {
        auto node = p_.nodes.find(name.substr(0, dot));
        std::string r = name.substr(dot + 1);
        auto role = role_of(r);
        if (node != p_.nodes.end() && role && node->second.interfaces.count(*role)) {
            for (const auto& a : node->second.interfaces.at(*role).addresses)
                out.terms.push_back(AddrTerm{host_cidr(a), {}});
            return;
        }
    }
    y_.diags().error(where, what + " refers to undefined object '" + name + "'",
                     "define it under objects:, vips: or use NODE.ROLE, an address or any");
}

AddrExpr PolicyLoader::resolve(const RawExpr& raw, const std::string& what) {
    AddrExpr out;
    std::vector<std::string> stack;
    for (auto& [item, loc] : raw.items) resolve_name(item, loc, what, out, stack);
    if (out.terms.size() > kMaxExpandedTerms && !raw.items.empty())
        y_.diags().error(
            raw.items.front().second,
            what + " expands to more than " + std::to_string(kMaxExpandedTerms) + " addresses",
            "use CIDRs instead of long lists, or fewer nested objects");
    return out;
}

void PolicyLoader::cross_check() {
    std::map<std::string, const Rule*> seen;
    for (const auto& r : p_.rules) {
        if (r.id.empty()) continue;
        auto [it, fresh] = seen.emplace(r.id, &r);
        if (!fresh)
            y_.diags().error(r.loc,
                             "duplicate rule id '" + r.id + "' (first at line " +
                                 std::to_string(it->second->loc.line) + ")",
                             "give every rule its own id");
    }
    for (const auto& [name, v] : p_.vips)
        for (const auto& [node, addr] : v.backends) {
            auto n = p_.nodes.find(node);
            if (n == p_.nodes.end()) continue;
            auto i = n->second.interfaces.find(v.role);
            bool held = i != n->second.interfaces.end() &&
                        std::find(i->second.addresses.begin(), i->second.addresses.end(), addr) !=
                            i->second.addresses.end();
            if (!held)
                y_.diags().error(v.loc,
                                 "vip '" + name + "' backend " + addr.str() +
                                     " is not an address of " + node + "'s " + role_name(v.role) +
                                     " interface",
                                 "add it to the node's interface addresses or fix the backend");
        }
}

std::optional<Policy> PolicyLoader::run(const std::string& text, const Site* site) {
    site_ = site;
    p_.file = y_.file();
    auto doc = y_.parse(text);
    if (!doc) return std::nullopt;
    const YNode root = *doc;
    if (!y_.expect_map(root, "the policy")) return std::nullopt;
    read_top(root);
    if (root["features"]) read_features(root["features"]);
    if (root["objects"]) read_objects(root["objects"]);
    if (y_.require(root, "nodes", "the policy")) read_nodes(root["nodes"]);
    if (root["vips"]) read_vips(root["vips"]);
    if (y_.require(root, "rules", "the policy")) read_rules(root["rules"]);
    if (root["summary"]) read_summary(root["summary"]);
    for (auto& [name, o] : objects_) {
        if (p_.vips.count(name) || p_.nodes.count(name))
            y_.diags().error(o.loc, "object '" + name + "' has the name of a vip or node",
                             "rename it: names must be unique across objects, vips and nodes");
        resolve(o.expr, "object '" + name + "'");  // reports errors in unused objects too
    }
    for (size_t i = 0; i < p_.rules.size(); i++) {
        p_.rules[i].src = resolve(rule_exprs_[i].first, "rule '" + p_.rules[i].id + "' src");
        p_.rules[i].dst = resolve(rule_exprs_[i].second, "rule '" + p_.rules[i].id + "' dst");
    }
    cross_check();
    if (site) check_site_collisions(*site);
    if (site) apply_site(*site);
    if (y_.diags().has_errors()) return std::nullopt;
    return p_;
}

// Distinct addresses of nodes and VIPs must stay distinct once the site file
// maps them: else one node would hold another's address (or a VIP's), and the
// rules of one would be enforced for the other.
void PolicyLoader::check_site_collisions(const Site& site) {
    std::map<packet::Addr, const Held*> first;
    std::set<std::pair<packet::Addr, packet::Addr>> reported;
    for (const auto& h : held_) {
        auto [it, fresh] = first.emplace(h.mapped, &h);
        const Held& f = *it->second;
        if (fresh || f.original == h.original) continue;
        if (!reported.insert({f.original, h.original}).second) continue;
        // Phrase it from the address a mapping moved (h, unless only f moved).
        const Held* moved = h.original != h.mapped ? &h : &f;
        const Held* other = moved == &h ? &f : &h;
        const AddressMap* m = mapping_of(site, moved->original);
        std::string by =
            m ? "site mapping " + m->from.str() + " -> " + m->to.str() : "the site file";
        Loc where = m ? m->loc : Loc{site.file, 0, 0};
        auto at = [](const Held& x) { return x.loc.file + ":" + std::to_string(x.loc.line); };
        y_.diags().error(where,
                         by + " puts " + moved->what + " " + moved->original.str() + " (" +
                             at(*moved) + ") on " + h.mapped.str() +
                             (other->original == other->mapped
                                  ? ", which is " + other->what + " (" + at(*other) + ")"
                                  : ", which " + other->what + " " + other->original.str() + " (" +
                                        at(*other) + ") also becomes"),
                         "map every node and VIP address to an address of its own");
    }
}

void PolicyLoader::apply_site(const Site& site) {
    for (const auto& [name, enabled] : site.features) {
        auto f = p_.features.find(name.first);
        if (f == p_.features.end())
            y_.diags().error(name.second, "site file names undefined feature '" + name.first + "'",
                             "use a feature the policy declares");
        else
            f->second.enabled = enabled;
    }
    p_.management = site.management;
    // Management access always passes on the internal NIC of every node: the
    // entries become rules placed first, so no policy rule can shadow them.
    if (site.management.empty()) return;
    p_.features["site-management"] =
        Feature{"site-management", "management access from the site file (anti-lockout)", true, {}};
    AddrExpr internal;
    for (const auto& [name, node] : p_.nodes)
        if (auto i = node.interfaces.find(EF_ROLE_INTERNAL); i != node.interfaces.end())
            for (const auto& a : i->second.addresses)
                internal.terms.push_back(AddrTerm{host_cidr(a), {}});
    std::vector<Rule> mgmt;
    for (size_t k = 0; k < site.management.size(); k++) {
        const Management& m = site.management[k];
        Rule r;
        r.id = "site-management-" + std::to_string(k + 1);
        r.app = "management";
        r.feature = "site-management";
        r.note = "from the site file: always passes on the internal NIC";
        r.table = "site file";
        r.proto = m.proto;
        r.src.terms.push_back(AddrTerm{m.src, {}});
        r.dst = internal;
        r.sport = {PortRange{0, 65535}};
        r.dport = m.dport;
        r.loc = m.loc;
        mgmt.push_back(r);
    }
    p_.rules.insert(p_.rules.begin(), mgmt.begin(), mgmt.end());
    for (uint32_t i = 0; i < p_.rules.size(); i++) p_.rules[i].index = i;
}

std::optional<std::string> read_file(const std::string& path, const std::string& what,
                                     Diagnostics& diags) {
    std::string err;
    auto text = util::read_input(path, what, kMaxPolicyBytes, err);
    if (!text) diags.error(Loc{path, 0, 0}, err);
    return text;
}

}  // namespace

std::optional<Policy> load_text(const std::string& policy_text, const std::string& policy_name,
                                const std::string& site_text, const std::string& site_name,
                                Diagnostics& diags, const LoadOptions& opts) {
    std::optional<Site> site;
    if (!site_name.empty()) {
        site = parse_site(site_text, site_name, diags, opts);
        if (!site) return std::nullopt;
    }
    PolicyLoader loader(policy_name, diags);
    return loader.run(policy_text, site ? &*site : nullptr);
}

std::optional<Policy> load(const std::string& policy_path, const std::string& site_path,
                           Diagnostics& diags, const LoadOptions& opts) {
    auto text = read_file(policy_path, "policy file", diags);
    std::optional<std::string> site_text = std::string();
    if (!site_path.empty()) site_text = read_file(site_path, "site file", diags);
    if (!text || !site_text) return std::nullopt;
    return load_text(*text, policy_path, *site_text, site_path, diags, opts);
}

}  // namespace policy
