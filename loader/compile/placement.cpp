#include "compile/placement.h"

namespace compile {

policy::PortRange icmp_range(const policy::Rule& r) {
    if (!r.icmp_type) return {0, 65535};
    uint16_t base = static_cast<uint16_t>(*r.icmp_type << 8);
    if (!r.icmp_code) return {base, static_cast<uint16_t>(base | 0xff)};
    return {static_cast<uint16_t>(base | *r.icmp_code), static_cast<uint16_t>(base | *r.icmp_code)};
}

namespace {

// Local addresses named explicitly by one side of a rule; `any` never counts.
std::vector<packet::Addr> narrowed(const std::vector<policy::Cidr>& side,
                                   const std::vector<packet::Addr>& local) {
    std::vector<packet::Addr> out;
    for (const auto& a : local)
        for (const auto& c : side)
            if (!c.is_any() && c.contains(a)) {
                out.push_back(a);
                break;
            }
    return out;
}

}  // namespace

std::vector<Entry> place(const policy::Policy& p, const std::string& node) {
    std::vector<Entry> out;
    auto n = p.nodes.find(node);
    if (n == p.nodes.end()) return out;
    for (const auto& r : p.rules) {
        if (!p.rule_enabled(r)) continue;
        auto src = p.expand(r.src, node);
        auto dst = p.expand(r.dst, node);
        bool icmp = r.proto == policy::Proto::icmp || r.proto == policy::Proto::icmp6;
        for (const auto& [role, iface] : n->second.interfaces) {
            auto local = p.local_addresses(node, role);
            for (uint32_t dir : {EF_DIR_INGRESS, EF_DIR_EGRESS}) {
                bool in = dir == EF_DIR_INGRESS;
                Entry e;
                e.rule = &r;
                e.role = role;
                e.dir = dir;
                e.slot = policy::proto_slot(r.proto);
                e.local = narrowed(in ? dst : src, local);
                if (e.local.empty()) continue;
                e.remote = in ? src : dst;
                e.dport = icmp ? std::vector{icmp_range(r)} : r.dport;
                e.sport = icmp ? std::vector{policy::PortRange{0, 0}} : r.sport;
                out.push_back(std::move(e));
            }
        }
    }
    return out;
}

}  // namespace compile
