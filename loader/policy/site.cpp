#include "policy/site.h"

#include <algorithm>
#include <map>

#include "policy/yaml_reader.h"

namespace policy {

namespace {

const AddressMap* longest(const std::vector<AddressMap>& maps, const Cidr& c) {
    const AddressMap* best = nullptr;
    for (const auto& m : maps)
        if (m.from.contains(c) && (!best || m.from.plen > best->from.plen)) best = &m;
    return best;
}

packet::Addr translate(const AddressMap& m, const packet::Addr& a) {
    packet::Addr out = a;
    for (int bit = 0; bit < m.from.plen; bit++) {
        uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
        out.bytes[bit / 8] =
            static_cast<uint8_t>((out.bytes[bit / 8] & ~mask) | (m.to.addr.bytes[bit / 8] & mask));
    }
    return out;
}

}  // namespace

const AddressMap* mapping_of(const Site& site, const packet::Addr& a) {
    return longest(site.addresses, host_cidr(a));
}

packet::Addr Site::map_address(const packet::Addr& a) const {
    const AddressMap* m = longest(addresses, host_cidr(a));
    return m ? translate(*m, a) : a;
}

std::optional<Cidr> Site::map_cidr(const Cidr& c, std::string& err) const {
    if (c.is_any()) return c;
    if (const AddressMap* m = longest(addresses, c))
        return Cidr{translate(*m, c.addr), c.plen, c.family};
    for (const auto& m : addresses)
        if (c.contains(m.from)) {
            err = "prefix " + c.str() + " is wider than the site mapping of " + m.from.str() +
                  " (" + file + ":" + std::to_string(m.loc.line) + ")";
            return std::nullopt;
        }
    return c;
}

namespace {

std::string at_line(const Loc& l) {
    return "line " + std::to_string(l.line) + ", column " + std::to_string(l.column);
}

void report_overlap(const AddressMap& a, const AddressMap& b, Diagnostics& diags) {
    diags.error(b.loc,
                "site mappings " + a.from.str() + " -> " + a.to.str() + " (" + at_line(a.loc) +
                    ") and " + b.from.str() + " -> " + b.to.str() +
                    " overlap in their targets: addresses from both would become one "
                    "address, and rules meant for one would apply to the other",
                "map them onto ranges that do not overlap");
}

// Two mappings whose targets overlap make two source addresses one, unless one
// is nested in the other and maps exactly as the outer one would anyway (then
// it also agrees with every mapping around that one). Sorted sweeps, so a
// large site file stays n log n.
void check_mappings(const std::vector<AddressMap>& maps, Diagnostics& diags) {
    std::vector<size_t> order(maps.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = i;
    auto by = [&](auto key) {
        std::stable_sort(order.begin(), order.end(),
                         [&](size_t x, size_t y) { return key(maps[x]) < key(maps[y]); });
    };
    by([](const AddressMap& m) { return m.from; });
    for (size_t k = 1; k < order.size(); k++) {
        const AddressMap &a = maps[std::min(order[k - 1], order[k])],
                         &b = maps[std::max(order[k - 1], order[k])];
        if (a.from == b.from)
            diags.error(b.loc,
                        "site address " + b.from.str() + " is mapped twice (first at " +
                            at_line(a.loc) + ")",
                        "keep one mapping for it");
    }
    // Targets in address order, wider first: the enclosing targets of each are a stack.
    by([](const AddressMap& m) { return m.to; });
    std::map<Family, std::vector<size_t>> open;  // by family: an IPv6 ::/8 holds no IPv4
    for (size_t idx : order) {
        const AddressMap& m = maps[idx];
        auto& stack = open[m.to.family];
        while (!stack.empty() && !maps[stack.back()].to.prefix().contains(m.to.prefix()))
            stack.pop_back();
        if (!stack.empty()) {
            size_t o = stack.back();
            const AddressMap& outer = maps[o];
            bool consistent =
                outer.from.contains(m.from) && translate(outer, m.from.addr) == m.to.addr;
            if (!consistent && outer.from != m.from && outer.to.overlaps(m.to))
                report_overlap(maps[std::min(idx, o)], maps[std::max(idx, o)], diags);
        }
        stack.push_back(idx);
    }
}

bool all_ports(std::vector<PortRange> r) {
    std::sort(r.begin(), r.end());
    uint32_t next = 0;  // first port not yet covered
    for (const auto& x : r) {
        if (x.lo > next) return false;
        next = std::max<uint32_t>(next, x.hi + 1u);
    }
    return next > 65535;
}

}  // namespace

std::optional<Site> parse_site(const std::string& text, const std::string& file, Diagnostics& diags,
                               const LoadOptions& opts) {
    YamlReader y(file, diags);
    Diagnostics local;
    auto doc = y.parse(text);
    if (!doc) return std::nullopt;
    const YNode root = *doc;
    if (!y.expect_map(root, "the site file")) return std::nullopt;
    Site site;
    site.file = file;
    y.check_keys(root, {"edgefw-site", "addresses", "features", "management"}, "the site file");
    if (y.require(root, "edgefw-site", "the site file"))
        y.integer(root["edgefw-site"], "site format version 'edgefw-site'", 1, 1);
    if (auto a = root["addresses"]; a && y.expect_map(a, "addresses")) {
        for (auto it = a.begin(); it != a.end(); ++it) {
            std::string err;
            auto from = parse_cidr(it->first.Scalar(), err);
            if (!from) {
                diags.error(y.loc(it->first), "site address: " + err, "write an address or CIDR");
                continue;
            }
            auto to_text = y.string(it->second, "site address replacement");
            if (!to_text) continue;
            auto to = parse_cidr(*to_text, err);
            if (!to) {
                diags.error(y.loc(it->second), "site address: " + err, "write an address or CIDR");
                continue;
            }
            if (to->plen != from->plen || to->family != from->family) {
                diags.error(y.loc(it->second),
                            "site mapping " + from->str() + " -> " + to->str() +
                                " changes the family or prefix length",
                            "map a prefix to one of the same family and length");
                continue;
            }
            site.addresses.push_back(AddressMap{*from, *to, y.loc(it->first)});
        }
    }
    check_mappings(site.addresses, diags);
    if (auto f = root["features"]; f && y.expect_map(f, "features")) {
        for (auto it = f.begin(); it != f.end(); ++it)
            if (auto on = y.boolean(it->second, "feature '" + it->first.Scalar() + "'"))
                site.features.push_back({{it->first.Scalar(), y.loc(it->first)}, *on});
    }
    if (auto m = root["management"]) {
        if (!m.IsSequence()) {
            diags.error(y.loc(m), "management must be a list",
                        "write '- {src: ..., proto: tcp, dport: 22}'");
        } else {
            for (const auto& item : m) {
                if (!y.expect_map(item, "management entry")) continue;
                y.check_keys(item, {"src", "proto", "dport"}, "a management entry");
                Management mg;
                mg.loc = y.loc(item);
                bool ok = y.require(item, "src", "management entry") &
                          y.require(item, "proto", "management entry") &
                          y.require(item, "dport", "management entry");
                if (!ok) continue;
                std::string err;
                auto src = y.string(item["src"], "src");
                auto c = src ? parse_cidr(*src, err) : std::nullopt;
                if (src && !c) diags.error(y.loc(item["src"]), "management src: " + err);
                if (c) mg.src = *c;
                auto proto = y.string(item["proto"], "proto");
                if (proto == "udp")
                    mg.proto = Proto::udp;
                else if (proto != "tcp" && proto)
                    diags.error(y.loc(item["proto"]),
                                "management proto '" + *proto + "' is not supported",
                                "use tcp or udp");
                if (auto p = y.ports(item["dport"], "dport")) mg.dport = *p;
                const char* allow = "or pass --allow-wide-management if that is really meant";
                if (c && !opts.allow_wide_management) {
                    int widest = c->is_v4() ? kMaxManagementV4Plen : kMaxManagementV6Plen;
                    if (c->family_plen() < widest)
                        diags.error(
                            y.loc(item["src"]),
                            "management src " + c->str() + " is wider than /" +
                                std::to_string(widest) +
                                ": every address in it would always reach the internal "
                                "NIC of every node",
                            "narrow it to the management network (IPv4 /" +
                                std::to_string(kMaxManagementV4Plen) + " or longer, IPv6 /" +
                                std::to_string(kMaxManagementV6Plen) + " or longer), " + allow);
                }
                if (!mg.dport.empty() && all_ports(mg.dport) && !opts.allow_wide_management)
                    diags.error(
                        y.loc(item["dport"]),
                        "management dport covers every port: the entry would open the "
                        "internal NIC entirely, before any policy rule",
                        std::string("list the management ports, e.g. 'dport: 22', ") + allow);
                site.management.push_back(mg);
            }
        }
    }
    if (diags.has_errors()) return std::nullopt;
    return site;
}

}  // namespace policy
