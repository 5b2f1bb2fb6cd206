// to_spec: the canonical spec text of a packet. parse_spec(to_spec(p),
// Dir::ingress) gives back p's spec fields (frame shaping is not spec syntax).
#include <netinet/in.h>

#include <string>

#include "packet/packet.h"

namespace packet {

namespace {

std::string proto_text(uint8_t proto) {
    switch (proto) {
        case IPPROTO_TCP:
            return "tcp";
        case IPPROTO_UDP:
            return "udp";
        case IPPROTO_ICMP:
            return "icmp";
        case IPPROTO_ICMPV6:
            return "icmp6";
        default:
            return std::to_string(proto);
    }
}

// IPv6 needs brackets only when a port follows; without one the bare form is
// shorter and what operators paste.
std::string endpoint_text(const Addr& a, uint16_t port, bool with_port) {
    if (!with_port) return a.str();
    return a.is_v4() ? a.str() + ":" + std::to_string(port)
                     : "[" + a.str() + "]:" + std::to_string(port);
}

// Header bit order, FIN first: SYN+ACK is "SA", FIN+ACK is "FA".
std::string flags_text(uint8_t flags) {
    static constexpr char kLetters[] = "FSRPAUEC";
    std::string out;
    for (int bit = 0; bit < 8; ++bit) {
        if (flags & (1u << bit)) out += kLetters[bit];
    }
    return out.empty() ? "none" : out;
}

}  // namespace

std::string to_spec(const Packet& p) {
    bool ports = p.proto == IPPROTO_TCP || p.proto == IPPROTO_UDP;
    std::string s = p.dir == Dir::egress ? "egress " : "";
    s += proto_text(p.proto) + " " + endpoint_text(p.src, p.sport, ports) + " > " +
         endpoint_text(p.dst, p.dport, ports);
    if (p.proto == IPPROTO_TCP) s += " flags " + flags_text(p.tcp_flags);
    if (p.proto == IPPROTO_ICMP || p.proto == IPPROTO_ICMPV6) {
        s += " type " + std::to_string(p.icmp_type) + " code " + std::to_string(p.icmp_code);
    }
    if (p.frame_len != 0) s += " len " + std::to_string(p.frame_len);
    return s;
}

}  // namespace packet
