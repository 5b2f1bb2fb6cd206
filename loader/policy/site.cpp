#include "policy/site.h"

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

packet::Addr Site::map_address(const packet::Addr& a) const {
    const AddressMap* m = longest(addresses, host_cidr(a));
    return m ? translate(*m, a) : a;
}

std::optional<Cidr> Site::map_cidr(const Cidr& c, std::string& err) const {
    if (c.is_any()) return c;
    if (const AddressMap* m = longest(addresses, c)) return Cidr{translate(*m, c.addr), c.plen};
    for (const auto& m : addresses)
        if (c.contains(m.from)) {
            err = "prefix " + c.str() + " is wider than the site mapping of " + m.from.str() +
                  " (" + file + ":" + std::to_string(m.loc.line) + ")";
            return std::nullopt;
        }
    return c;
}

std::optional<Site> parse_site(const std::string& text, const std::string& file,
                               Diagnostics& diags) {
    YamlReader y(file, diags);
    Diagnostics local;
    auto doc = y.parse(text);
    if (!doc) return std::nullopt;
    const YAML::Node root = *doc;
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
            if (to->plen != from->plen || to->addr.is_v4() != from->addr.is_v4()) {
                diags.error(y.loc(it->second),
                            "site mapping " + from->str() + " -> " + to->str() +
                                " changes the family or prefix length",
                            "map a prefix to one of the same family and length");
                continue;
            }
            site.addresses.push_back(AddressMap{*from, *to, y.loc(it->first)});
        }
    }
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
                site.management.push_back(mg);
            }
        }
    }
    if (diags.has_errors()) return std::nullopt;
    return site;
}

}  // namespace policy
