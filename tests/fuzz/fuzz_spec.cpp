// Packet specs: parse_spec -> to_spec -> parse_spec must round-trip (same
// packet, same text), and build_frame -> parse_frame must read back what was
// built. The first input byte picks the default direction.
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.h"
#include "packet/packet.h"

namespace {

bool same_spec_fields(const packet::Packet& a, const packet::Packet& b) {
    return a.dir == b.dir && a.proto == b.proto && a.src == b.src && a.dst == b.dst &&
           a.sport == b.sport && a.dport == b.dport && a.tcp_flags == b.tcp_flags &&
           a.icmp_type == b.icmp_type && a.icmp_code == b.icmp_code && a.frame_len == b.frame_len;
}

bool is_ipv6_ext(uint8_t proto) { return proto == 0 || proto == 43 || proto == 44 || proto == 60; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    packet::Dir def = data[0] & 1 ? packet::Dir::egress : packet::Dir::ingress;
    std::string line(reinterpret_cast<const char*>(data + 1), size - 1);
    packet::SpecError err;
    auto p = packet::parse_spec(line, def, err);
    if (!p) {
        if (err.message.empty()) fuzz::fail("parse_spec failed without a message: '" + line + "'");
        return 0;
    }
    std::string text = packet::to_spec(*p);
    packet::SpecError err2;
    auto q = packet::parse_spec(text, packet::Dir::ingress, err2);
    if (!q) fuzz::fail("to_spec text does not parse: '" + text + "': " + err2.message);
    if (!same_spec_fields(*p, *q)) fuzz::fail("round trip changed the packet: '" + text + "'");
    if (packet::to_spec(*q) != text) fuzz::fail("to_spec is not canonical: '" + text + "'");

    auto frame = packet::build_frame(*p);
    if (p->frame_len != 0 && frame.size() < p->frame_len)
        fuzz::fail("frame shorter than len: '" + text + "'");
    // Over IPv6, PROTO 0/43/44/60 reads back as an (empty, truncated)
    // extension header: parse_frame and the kernel call it malformed while the
    // model sees an unknown protocol. Known, reported; not checked here.
    bool v6 = !p->dst.is_v4();
    if (v6 && is_ipv6_ext(p->proto)) return 0;
    auto r = packet::parse_frame(frame.data(), frame.size());
    if (!r) fuzz::fail("parse_frame cannot read build_frame's frame: '" + text + "'");
    if (r->src != p->src || r->dst != p->dst)
        fuzz::fail("parse_frame read other addresses: '" + text + "'");
    if (r->proto != p->proto) fuzz::fail("parse_frame read another protocol: '" + text + "'");
    if ((p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) &&
        (r->sport != p->sport || r->dport != p->dport))
        fuzz::fail("parse_frame read other ports: '" + text + "'");
    if (p->proto == IPPROTO_TCP && r->tcp_flags != p->tcp_flags)
        fuzz::fail("parse_frame read other flags: '" + text + "'");
    return 0;
}
