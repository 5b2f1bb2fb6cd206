#include "image/print.h"

#include <arpa/inet.h>
#include <fmt/core.h>

#include <cstring>

namespace image {

namespace {

const char* kSlots[] = {"tcp", "udp", "icmp", "icmp6"};

std::string placements(const RuleInfo& r) {
    std::string out;
    for (auto [role, dir] : r.placements)
        out += fmt::format("{}{}/{}", out.empty() ? "" : " ",
                           role == EF_ROLE_EXTERNAL ? "external" : "internal",
                           dir == EF_DIR_INGRESS ? "ingress" : "egress");
    return out;
}

std::string value_text(uint32_t v) {
    return v & EF_DIRECT_RULE ? fmt::format("[{}]", v & ~EF_DIRECT_RULE) : std::to_string(v);
}

}  // namespace

std::string combo_name(uint32_t combo) {
    uint32_t slot = combo % EF_PS_COUNT;
    uint32_t dir = (combo / EF_PS_COUNT) % EF_DIR_COUNT;
    uint32_t role = combo / (uint32_t{EF_PS_COUNT} * uint32_t{EF_DIR_COUNT});
    return fmt::format("{}/{}/{}", role == EF_ROLE_EXTERNAL ? "external" : "internal",
                       dir == EF_DIR_INGRESS ? "ingress" : "egress", kSlots[slot]);
}

std::string addr_text(const uint8_t addr[16], int plen) {
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char buf[INET6_ADDRSTRLEN];
    if (plen == 0) return "any";
    if (plen >= 96 && std::memcmp(addr, mapped, 12) == 0) {
        inet_ntop(AF_INET, addr + 12, buf, sizeof buf);
        return plen == 128 ? buf : fmt::format("{}/{}", buf, plen - 96);
    }
    inet_ntop(AF_INET6, addr, buf, sizeof buf);
    return plen == 128 ? buf : fmt::format("{}/{}", buf, plen);
}

nlohmann::json to_json(const MapImage& img) {
    using nlohmann::json;
    json j = {{"policy", img.policy_name}, {"node", img.node}, {"hash", img.policy_hash}};
    j["egress_mode"] = {{"external", img.egress_mode[EF_ROLE_EXTERNAL] ? "track-only" : "enforce"},
                        {"internal", img.egress_mode[EF_ROLE_INTERNAL] ? "track-only" : "enforce"}};
    j["conntrack_timeouts"] = {{"tcp_established", img.ct_timeouts.tcp_established},
                               {"tcp_closing", img.ct_timeouts.tcp_closing},
                               {"udp", img.ct_timeouts.udp},
                               {"icmp", img.ct_timeouts.icmp}};
    for (const auto& i : img.ifaces)
        j["interfaces"].push_back({{"role", i.role == EF_ROLE_EXTERNAL ? "external" : "internal"},
                                   {"addresses", i.addresses}});
    j["rules"] = json::array();
    for (const auto& r : img.rules) {
        json pl = json::array();
        for (auto [role, dir] : r.placements)
            pl.push_back({{"iface", role == EF_ROLE_EXTERNAL ? "external" : "internal"},
                          {"dir", dir == EF_DIR_INGRESS ? "ingress" : "egress"}});
        j["rules"].push_back({{"index", r.index},
                              {"id", r.id},
                              {"app", r.app},
                              {"feature", r.feature},
                              {"proto", r.proto},
                              {"placements", pl}});
    }
    j["ef_port_class"] = json::array();
    for (const auto& p : img.port_classes)
        j["ef_port_class"].push_back({{"combo", p.combo},
                                      {"combo_name", combo_name(p.combo)},
                                      {"lo", p.lo},
                                      {"hi", p.hi},
                                      {"port_class", p.port_class},
                                      {"sport_lo", p.sport_lo},
                                      {"sport_hi", p.sport_hi}});
    j["ef_local"] = json::array();
    for (const auto& l : img.locals)
        j["ef_local"].push_back({{"port_class", l.key.port_class},
                                 {"addr", addr_text(l.key.addr)},
                                 {"bucket", l.bucket & ~EF_DIRECT_RULE},
                                 {"direct", (l.bucket & EF_DIRECT_RULE) != 0}});
    j["ef_remote"] = json::array();
    for (const auto& r : img.remotes)
        j["ef_remote"].push_back(
            {{"prefixlen", r.key.prefixlen},
             {"bucket", r.key.bucket},
             {"addr", addr_text(r.key.addr, static_cast<int>(r.key.prefixlen) - 32)},
             {"remote_class", r.remote_class}});
    j["ef_sport"] = json::array();
    for (const auto& r : img.sports)
        j["ef_sport"].push_back({{"prefixlen", r.key.prefixlen},
                                 {"remote_class", r.key.remote_class},
                                 {"port", ntohs(r.key.port_be)},
                                 {"rule", r.rule_plus_one - 1}});
    j["ef_local_addrs"] = json::array();
    for (const auto& a : img.local_addrs)
        j["ef_local_addrs"].push_back(
            {{"role", a.role == EF_ROLE_EXTERNAL ? "external" : "internal"},
             {"addr", addr_text(a.addr)}});
    return j;
}

std::string to_text(const MapImage& img) {
    std::string out =
        fmt::format("policy {} node {} hash {}\n", img.policy_name, img.node, img.policy_hash);
    for (const auto& i : img.ifaces) {
        std::string addrs;
        for (const auto& a : i.addresses) addrs += " " + a;
        out += fmt::format("interface {:<8} egress {:<10} local:{}\n",
                           i.role == EF_ROLE_EXTERNAL ? "external" : "internal",
                           img.egress_mode[i.role] ? "track-only" : "enforce", addrs);
    }
    out += fmt::format("\nrules ({})\n", img.rules.size());
    for (const auto& r : img.rules)
        out += fmt::format("  [{:>3}] {:<32} {:<14} {:<5} {}\n", r.index, r.id, r.app, r.proto,
                           placements(r));
    out += fmt::format(
        "\nef_port_class ({} ranges: combo, destination ports -> port class, source-port hull)\n",
        img.port_classes.size());
    for (const auto& p : img.port_classes)
        out += fmt::format("  {:<24} {:>5}-{:<5} -> {:<5} {}-{}\n", combo_name(p.combo), p.lo, p.hi,
                           p.port_class, p.sport_lo, p.sport_hi);
    out += fmt::format("\nef_local ({}: port class, local address -> bucket or [rule])\n",
                       img.locals.size());
    for (const auto& l : img.locals)
        out += fmt::format("  {:>4} {:<20} -> {}\n", l.key.port_class, addr_text(l.key.addr),
                           value_text(l.bucket));
    out += fmt::format("\nef_remote ({}: bucket, remote prefix -> remote class or [rule])\n",
                       img.remotes.size());
    for (const auto& r : img.remotes)
        out += fmt::format("  {:>4} {:<20} -> {}\n", r.key.bucket,
                           addr_text(r.key.addr, static_cast<int>(r.key.prefixlen) - 32),
                           value_text(r.remote_class));
    out += fmt::format("\nef_sport ({}: remote class, source port prefix -> rule)\n",
                       img.sports.size());
    for (const auto& r : img.sports)
        out += fmt::format("  {:>4} {:>5}/{:<2} -> [{}]\n", r.key.remote_class,
                           ntohs(r.key.port_be), r.key.prefixlen - 32, r.rule_plus_one - 1);
    out += fmt::format("\nef_local_addrs ({}: role, address local to it; ingress from one drops)\n",
                       img.local_addrs.size());
    for (const auto& a : img.local_addrs)
        out += fmt::format("  {:<8} {}\n", a.role == EF_ROLE_EXTERNAL ? "external" : "internal",
                           addr_text(a.addr));
    return out;
}

}  // namespace image
