#include "policy/policy.h"

#include <netinet/in.h>

#include <algorithm>

namespace policy {

const char* proto_name(Proto p) {
    switch (p) {
        case Proto::tcp:
            return "tcp";
        case Proto::udp:
            return "udp";
        case Proto::icmp:
            return "icmp";
        case Proto::icmp6:
            return "icmp6";
    }
    return "?";
}

uint8_t proto_number(Proto p) {
    switch (p) {
        case Proto::tcp:
            return IPPROTO_TCP;
        case Proto::udp:
            return IPPROTO_UDP;
        case Proto::icmp:
            return IPPROTO_ICMP;
        case Proto::icmp6:
            return IPPROTO_ICMPV6;
    }
    return 0;
}

uint32_t proto_slot(Proto p) {
    switch (p) {
        case Proto::tcp:
            return EF_PS_TCP;
        case Proto::udp:
            return EF_PS_UDP;
        case Proto::icmp:
            return EF_PS_ICMP;
        case Proto::icmp6:
            return EF_PS_ICMP6;
    }
    return EF_PS_TCP;
}

uint32_t proto_slot_of_number(uint8_t ip_proto) {
    switch (ip_proto) {
        case IPPROTO_TCP:
            return EF_PS_TCP;
        case IPPROTO_UDP:
            return EF_PS_UDP;
        case IPPROTO_ICMP:
            return EF_PS_ICMP;
        default:
            return EF_PS_ICMP6;
    }
}

const char* role_name(uint32_t role) { return role == EF_ROLE_EXTERNAL ? "external" : "internal"; }
std::optional<uint32_t> role_of(const std::string& name) {
    for (uint32_t r : {EF_ROLE_EXTERNAL, EF_ROLE_INTERNAL})
        if (name == role_name(r)) return r;
    return std::nullopt;
}
const char* dir_name(uint32_t dir) { return dir == EF_DIR_INGRESS ? "ingress" : "egress"; }

bool AddrExpr::has_any() const {
    return std::any_of(terms.begin(), terms.end(),
                       [](const AddrTerm& t) { return t.cidr.is_any(); });
}

const Rule* Policy::find_rule(const std::string& id) const {
    for (const auto& r : rules)
        if (r.id == id) return &r;
    return nullptr;
}

bool Policy::rule_enabled(const Rule& r) const {
    auto f = features.find(r.feature);
    return f != features.end() && f->second.enabled;
}

std::vector<packet::Addr> Policy::local_addresses(const std::string& node, uint32_t role) const {
    std::vector<packet::Addr> out;
    auto n = nodes.find(node);
    if (n == nodes.end()) return out;
    auto i = n->second.interfaces.find(role);
    if (i == n->second.interfaces.end()) return out;
    out = i->second.addresses;
    for (const auto& [name, v] : vips)
        if (v.role == role && v.backends.count(node)) out.push_back(v.address);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::vector<Cidr> Policy::expand(const AddrExpr& e, const std::string& node) const {
    std::vector<Cidr> out;
    for (const auto& t : e.terms) {
        out.push_back(t.cidr);
        if (t.vip.empty()) continue;
        const Vip& v = vips.at(t.vip);
        if (auto b = v.backends.find(node); b != v.backends.end())
            out.push_back(host_cidr(b->second));
    }
    return out;
}

}  // namespace policy
