// A reload judges open flows again: the opening packet of a conntrack entry,
// rebuilt from its key and value, classified by the new policy's lookups.
#pragma once

#include <array>
#include <cstdint>

#include "edgefw_abi.h"
#include "image/lookup.h"

namespace image {

struct FlowVerdict {
    enum Kind { keep, move, close } kind = keep;
    uint32_t rule = 0;  // keep and move: what the lookup answered (the entry's new rule)
};

// The opening packet: the opener is (addr_a, port_a) when opener_is_a, else
// (addr_b, port_b); the local side is the destination when the flow was
// opened on ingress, the source on egress. ICMP/ICMPv6 entries carry ports
// 0/0 (only echo is tracked as a flow), so they are judged as an echo request
// (type 8 / 128, code 0) from the opener. `lookup` answers in the numbering
// the data plane's entries use (built from the remapped image: counter slots).
// Returns close when no rule admits the packet, keep when the answer is the
// entry's rule, move to the answer otherwise.
FlowVerdict rejudge_flow(const Lookup& lookup, const ef_ct_key& k, const ef_ct_value& v);

// The conntrack key of the tuple src:sport -> dst:dport as the programs write it
// (bpf/ef_verdict.h ef_ct_key_of): endpoint a is the smaller (address, port),
// addresses in memcmp order. Returns whether the source is endpoint a.
bool ct_key_of(ef_ct_key& k, const std::array<uint8_t, 16>& src, uint16_t sport,
               const std::array<uint8_t, 16>& dst, uint16_t dport, uint8_t proto, uint32_t role);

}  // namespace image
