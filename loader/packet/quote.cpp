// quote_of: what a router puts in an ICMP error about packet q, i.e. q's IP
// header (with any IPv6 extension headers) and the first 8 bytes after it,
// which hold the ports the kernel needs to find the flow.
#include <algorithm>

#include "packet/packet.h"

namespace packet {

std::vector<uint8_t> quote_of(const Packet& q) {
    std::vector<uint8_t> frame = build_frame(q);
    size_t l3 = 14 + 4 * q.vlan_tags.size();
    size_t header;
    if (q.src.is_v4()) {
        header = size_t(frame[l3] & 0x0f) * 4;
    } else {
        // Walk the chain build_frame wrote (all its extension headers are 8
        // bytes); a later fragment's chain ends at its fragment header.
        header = 40;
        uint8_t next = frame[l3 + 6];
        bool later_fragment = false;
        auto is_ext = [](uint8_t n) { return n == 0 || n == 43 || n == 44 || n == 60; };
        while (is_ext(next) && !later_fragment && l3 + header + 8 <= frame.size()) {
            later_fragment = next == 44 && q.frag_offset > 0;
            next = frame[l3 + header];
            header += 8;
        }
    }
    size_t end = std::min(frame.size(), l3 + header + 8);
    return std::vector<uint8_t>(frame.begin() + long(l3), frame.begin() + long(end));
}

}  // namespace packet
