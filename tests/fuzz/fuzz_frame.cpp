// parse_frame on arbitrary bytes (what a pcap replay feeds it): no crash, no
// read past the frame; a spec printed for it that parses names the same packet.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "packet/packet.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A copy of exactly `size` bytes, so ASan sees any read past the frame.
    std::vector<uint8_t> frame(data, data + size);
    auto p = packet::parse_frame(frame.data(), frame.size());
    if (!p) return 0;
    if (p->frame_len != size) fuzz::fail("frame_len is not the captured length");
    // Not every frame has a spec (a truncated frame's len is shorter than its
    // headers; ICMPv4 in IPv6), but a spec that parses names the same packet.
    std::string text = packet::to_spec(*p);
    packet::SpecError err;
    auto q = packet::parse_spec(text, packet::Dir::ingress, err);
    if (q && (q->src != p->src || q->dst != p->dst || q->proto != p->proto ||
              q->sport != p->sport || q->dport != p->dport))
        fuzz::fail("spec of a parsed frame names another packet: '" + text + "'");
    return 0;
}
