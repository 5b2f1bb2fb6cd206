#include "image/reasons.h"

extern "C" {
#include "edgefw_abi.h"
}

namespace image {

namespace {

struct ReasonName {
    uint32_t reason;
    const char* name;
    bool passes;
};

constexpr ReasonName kReasons[] = {
    {EF_R_DEFAULT_EXTERNAL_INGRESS, "default_external_ingress", false},
    {EF_R_DEFAULT_EXTERNAL_EGRESS, "default_external_egress", false},
    {EF_R_DEFAULT_INTERNAL_INGRESS, "default_internal_ingress", false},
    {EF_R_DEFAULT_INTERNAL_EGRESS, "default_internal_egress", false},
    {EF_R_MALFORMED_L2, "malformed_l2", false},
    {EF_R_MALFORMED_IPV4, "malformed_ipv4", false},
    {EF_R_MALFORMED_IPV6, "malformed_ipv6", false},
    {EF_R_MALFORMED_L4, "malformed_l4", false},
    {EF_R_FRAGMENT_UNTRACKED, "fragment_untracked", false},
    {EF_R_ARP_PASS, "arp_pass", true},
    {EF_R_ND_PASS, "nd_pass", true},
    {EF_R_NON_IP_DROP, "non_ip_drop", false},
    {EF_R_ICMP_ERROR_RELATED, "icmp_error_related", true},
    {EF_R_ICMP_ERROR_UNRELATED, "icmp_error_unrelated", false},
    {EF_R_TCP_SYNACK_UNTRACKED, "tcp_synack_untracked", false},
    {EF_R_PROTO_UNSUPPORTED, "proto_unsupported", false},
    {EF_R_UNKNOWN_IFACE_PASS, "unknown_iface_pass", true},
    {EF_R_SPOOFED_SOURCE, "spoofed_source", false},
    {EF_R_IPV6_MAPPED_ADDRESS, "ipv6_mapped_address", false},
};
static_assert(sizeof(kReasons) / sizeof(kReasons[0]) == EF_R_COUNT, "every ef_reason needs a name");

constexpr bool in_enum_order() {
    for (uint32_t i = 0; i < EF_R_COUNT; i++)
        if (kReasons[i].reason != i) return false;
    return true;
}
static_assert(in_enum_order(), "kReasons must follow enum ef_reason");

}  // namespace

const char* reason_name(uint32_t reason) {
    return reason < EF_R_COUNT ? kReasons[reason].name : "unknown";
}

std::optional<uint32_t> reason_by_name(std::string_view name) {
    for (const auto& r : kReasons)
        if (name == r.name) return r.reason;
    return std::nullopt;
}

bool reason_passes(uint32_t reason) { return reason < EF_R_COUNT && kReasons[reason].passes; }

}  // namespace image
