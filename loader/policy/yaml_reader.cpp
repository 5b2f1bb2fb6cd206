#include "policy/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>
#include <sstream>

namespace policy {

namespace {

const char* type_name(const YNode& n) {
    switch (n.Type()) {
        case YAML::NodeType::Map:
            return "a mapping";
        case YAML::NodeType::Sequence:
            return "a list";
        case YAML::NodeType::Scalar:
            return "a scalar";
        case YAML::NodeType::Null:
            return "nothing";
        default:
            return "an undefined value";
    }
}

std::optional<long long> to_integer(const std::string& s) {
    long long v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

}  // namespace

Loc YamlReader::loc(const YNode& n) const {
    auto m = n.Mark();
    if (m.is_null()) return Loc{file_, 0, 0};
    return Loc{file_, m.line + 1, m.column + 1};
}

std::optional<YNode> YamlReader::parse(const std::string& text) {
    try {
        std::vector<ytree::Duplicate> dups;
        YNode root = ytree::parse(text, dups);
        for (const auto& d : dups)
            diags_.error(Loc{file_, d.second.line + 1, d.second.column + 1},
                         "duplicate key '" + d.key + "' (first at line " +
                             std::to_string(d.first.line + 1) + ", column " +
                             std::to_string(d.first.column + 1) + "): YAML keeps only one of them",
                         "remove one, or merge the two entries into one");
        return root;
    } catch (const YAML::Exception& e) {
        diags_.error(Loc{file_, e.mark.line + 1, e.mark.column + 1}, "YAML syntax error: " + e.msg,
                     "fix the YAML syntax at this position");
        return std::nullopt;
    }
}

bool YamlReader::expect_map(const YNode& n, const std::string& what) {
    if (n.IsMap()) return true;
    diags_.error(loc(n), what + " must be a mapping, found " + type_name(n),
                 "write it as 'key: value' lines");
    return false;
}

void YamlReader::check_keys(const YNode& map, std::initializer_list<const char*> allowed,
                            const std::string& what) {
    if (!map.IsMap()) return;
    for (auto it = map.begin(); it != map.end(); ++it) {
        std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
        bool ok =
            std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; });
        if (ok) continue;
        std::string list;
        for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
        diags_.error(loc(it->first), "unknown key '" + key + "' in " + what,
                     "allowed keys: " + list);
    }
}

bool YamlReader::require(const YNode& map, const char* key, const std::string& what) {
    if (map[key]) return true;
    diags_.error(loc(map), what + " has no '" + key + "'", std::string("add '") + key + ": ...'");
    return false;
}

std::optional<std::string> YamlReader::string(const YNode& n, const std::string& what) {
    if (n.IsScalar()) return n.Scalar();
    diags_.error(loc(n), what + " must be a scalar, found " + type_name(n));
    return std::nullopt;
}

std::optional<long long> YamlReader::integer(const YNode& n, const std::string& what, long long lo,
                                             long long hi) {
    if (!n.IsScalar()) {
        diags_.error(loc(n), what + " must be a number, found " + type_name(n));
        return std::nullopt;
    }
    auto v = to_integer(n.Scalar());
    if (!v || *v < lo || *v > hi) {
        diags_.error(loc(n), what + " '" + n.Scalar() + "' is out of range",
                     "expected a whole number " + std::to_string(lo) + "-" + std::to_string(hi));
        return std::nullopt;
    }
    return v;
}

std::optional<bool> YamlReader::boolean(const YNode& n, const std::string& what) {
    if (n.IsScalar()) {
        const std::string& s = n.Scalar();
        if (s == "true" || s == "yes" || s == "on") return true;
        if (s == "false" || s == "no" || s == "off") return false;
    }
    diags_.error(loc(n), what + " must be true or false");
    return std::nullopt;
}

std::vector<std::pair<std::string, Loc>> YamlReader::scalars(const YNode& n,
                                                             const std::string& what) {
    std::vector<std::pair<std::string, Loc>> out;
    if (n.IsScalar()) {
        out.emplace_back(n.Scalar(), loc(n));
    } else if (n.IsSequence() && n.size() > 0) {
        for (const auto& item : n) {
            if (item.IsScalar())
                out.emplace_back(item.Scalar(), loc(item));
            else
                diags_.error(loc(item),
                             what + " list items must be scalars, found " + type_name(item));
        }
    } else {
        diags_.error(loc(n), what + " must be a value or a non-empty list, found " + type_name(n));
    }
    return out;
}

std::optional<std::vector<PortRange>> YamlReader::ports(const YNode& n, const std::string& what) {
    std::vector<PortRange> out;
    bool ok = true;
    for (auto& [text, where] : scalars(n, what)) {
        if (text == "any") {
            out.push_back(PortRange{0, 65535});
            continue;
        }
        auto dash = text.find('-');
        auto lo = to_integer(text.substr(0, dash));
        auto hi = dash == std::string::npos ? lo : to_integer(text.substr(dash + 1));
        if (!lo || !hi) {
            diags_.error(where, what + " '" + text + "' is not a port or range",
                         "write a port 0-65535, a range like 50000-59999, or any");
            ok = false;
        } else if (*lo < 0 || *lo > 65535 || *hi < 0 || *hi > 65535) {
            diags_.error(where, what + " '" + text + "' is outside 0-65535", "ports are 0-65535");
            ok = false;
        } else if (*lo > *hi) {
            diags_.error(
                where, what + " range '" + text + "' is inverted",
                "write the low port first: " + std::to_string(*hi) + "-" + std::to_string(*lo));
            ok = false;
        } else {
            out.push_back(PortRange{static_cast<uint16_t>(*lo), static_cast<uint16_t>(*hi)});
        }
    }
    if (!ok || out.empty()) return std::nullopt;
    return out;
}

}  // namespace policy
