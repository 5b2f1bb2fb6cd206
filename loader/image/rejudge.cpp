#include "image/rejudge.h"

#include <netinet/in.h>

#include <array>
#include <cstring>

namespace image {

FlowVerdict rejudge_flow(const Lookup& lookup, const ef_ct_key& k, const ef_ct_value& v) {
    std::array<uint8_t, 16> a, b;
    std::memcpy(a.data(), k.addr_a, 16);
    std::memcpy(b.data(), k.addr_b, 16);
    const bool a_opened = v.opener_is_a != 0;
    const auto& src = a_opened ? a : b;
    const auto& dst = a_opened ? b : a;
    uint16_t sport = a_opened ? k.port_a : k.port_b;
    uint16_t dport = a_opened ? k.port_b : k.port_a;
    uint32_t ps;
    switch (k.proto) {
        case IPPROTO_TCP:
            ps = EF_PS_TCP;
            break;
        case IPPROTO_UDP:
            ps = EF_PS_UDP;
            break;
        case IPPROTO_ICMP:
            ps = EF_PS_ICMP;
            dport = 8 << 8;  // echo request, code 0
            sport = 0;
            break;
        case IPPROTO_ICMPV6:
            ps = EF_PS_ICMP6;
            dport = 128 << 8;
            sport = 0;
            break;
        default:
            return {FlowVerdict::close, 0};  // no rule can name it: nothing admits it
    }
    const uint32_t dir = v.opened_dir == EF_DIR_EGRESS ? EF_DIR_EGRESS : EF_DIR_INGRESS;
    const uint32_t role = k.role == EF_ROLE_INTERNAL ? EF_ROLE_INTERNAL : EF_ROLE_EXTERNAL;
    const auto& local = dir == EF_DIR_INGRESS ? dst : src;
    const auto& remote = dir == EF_DIR_INGRESS ? src : dst;
    auto rule = lookup.classify(EF_COMBO(role, dir, ps), local, remote, dport, sport);
    if (!rule) return {FlowVerdict::close, 0};
    return {*rule == v.rule ? FlowVerdict::keep : FlowVerdict::move, *rule};
}

bool ct_key_of(ef_ct_key& k, const std::array<uint8_t, 16>& src, uint16_t sport,
               const std::array<uint8_t, 16>& dst, uint16_t dport, uint8_t proto, uint32_t role) {
    int c = std::memcmp(src.data(), dst.data(), 16);
    bool src_is_a = c < 0 || (c == 0 && sport <= dport);
    k = ef_ct_key{};
    std::memcpy(k.addr_a, (src_is_a ? src : dst).data(), 16);
    std::memcpy(k.addr_b, (src_is_a ? dst : src).data(), 16);
    k.port_a = src_is_a ? sport : dport;
    k.port_b = src_is_a ? dport : sport;
    k.proto = proto;
    k.role = static_cast<uint8_t>(role);
    return src_is_a;
}

}  // namespace image
