// Conntrack under flood: with both tables sized 1,024, a flood of 10x that
// many new allowed datagram flows (STUN from spoofed sources) interleaved with
// denied packets. Protection: TCP and datagram flows live in separate LRU
// tables, so the flood evicts datagram flows only. Measured: how many of 100
// established TCP flows and 100 established UDP flows still get their replies
// out (egress is enforce, so a reply passes only with its flow), that no
// denied packet passes, and the table fill. The same with a TCP SYN flood
// shows what the separation does not cover.
#include <criterion/criterion.h>
#include <netinet/in.h>

#include <random>

#include "compile/compile.h"
#include "fixture.h"

namespace {

struct Flood {
    size_t tcp_alive = 0, udp_alive = 0, denied_passed = 0, flood_passed = 0;
    size_t tcp_entries = 0, entries = 0;
};

packet::Addr v4(uint32_t a) {
    packet::Addr x;
    x.bytes[10] = x.bytes[11] = 0xff;
    for (int i = 0; i < 4; i++) x.bytes[12 + i] = static_cast<uint8_t>(a >> (24 - 8 * i));
    return x;
}

packet::Packet pkt(packet::Dir dir, uint8_t proto, packet::Addr src, uint16_t sport,
                   packet::Addr dst, uint16_t dport, uint8_t flags = 0) {
    packet::Packet p;
    p.dir = dir;
    p.proto = proto;
    p.src = src;
    p.dst = dst;
    p.sport = sport;
    p.dport = dport;
    p.tcp_flags = flags;
    return p;
}

Flood run(bool tcp_flood) {
    using namespace packet::tcp_flag;
    policy::Diagnostics d;
    auto p = policy::load("policies/lync2010-edge-hlb.yaml", "policies/site-test.yaml", d);
    cr_assert(p.has_value());
    auto img = compile::compile_node(*p, "edge1");
    auto opts = kernel::Options::from_image(img);
    opts.ct_size = 1024;
    kernel::Dataplane dp(opts);
    dp.write_image(img);
    dp.set_iface_role(kernel::Dataplane::kTestRunIfindex, EF_ROLE_EXTERNAL);
    const auto in = packet::Dir::ingress, out = packet::Dir::egress;
    const packet::Addr access_vip = v4(0xc6129b6e),
                       av_vip = v4(0xc6129b82);  // 198.18.155.110 / .130
    const packet::Addr av_node = v4(0xc6129b1e), access_node = v4(0xc6129b0a);  // .30 / .10
    auto send = [&](const packet::Packet& q) { return dp.run(q.dir, packet::build_frame(q)).pass; };

    for (uint32_t i = 0; i < 100; i++) {  // established flows: a request in, its reply out
        cr_assert(send(pkt(in, IPPROTO_TCP, v4(0xc6120100 + i), 40000, access_vip, 443, SYN)));
        cr_assert(
            send(pkt(out, IPPROTO_TCP, access_vip, 443, v4(0xc6120100 + i), 40000, SYN | ACK)));
        cr_assert(send(pkt(in, IPPROTO_UDP, v4(0xc6120200 + i), 40000, av_vip, 3478)));
        cr_assert(send(pkt(out, IPPROTO_UDP, av_vip, 3478, v4(0xc6120200 + i), 40000)));
    }
    Flood f;
    std::mt19937 rng(42);
    for (uint32_t i = 0; i < 10 * 1024; i++) {
        packet::Addr spoofed = v4(0x64400000u | (rng() & 0x3fffff));  // 100.64.0.0/10
        auto flood =
            tcp_flood
                ? pkt(in, IPPROTO_TCP, spoofed, static_cast<uint16_t>(rng()), access_vip, 443, SYN)
                : pkt(in, IPPROTO_UDP, spoofed, static_cast<uint16_t>(rng()), av_vip, 3478);
        f.flood_passed += send(flood);
        f.denied_passed += send(pkt(in, IPPROTO_UDP, spoofed, 40000, av_node, 60000));
        f.denied_passed += send(pkt(in, IPPROTO_TCP, spoofed, 40000, access_node, 22, SYN));
        f.denied_passed += send(pkt(out, IPPROTO_UDP, av_node, 40000, spoofed, 9));
    }
    for (uint32_t i = 0; i < 100; i++) {  // the replies of the established flows
        f.tcp_alive += send(pkt(out, IPPROTO_TCP, access_vip, 443, v4(0xc6120100 + i), 40000, ACK));
        f.udp_alive += send(pkt(out, IPPROTO_UDP, av_vip, 3478, v4(0xc6120200 + i), 40000));
    }
    f.entries = dp.ct_entries();
    return f;
}

}  // namespace

Test(ct_flood, datagram_flood_cannot_evict_tcp_flows, .timeout = 300) {
    dptest::require_root();
    Flood udp = run(false);
    fprintf(stderr,
            "ct flood (tables 1024 + 1024, 10240 new STUN flows + 30720 denied packets): "
            "established TCP replies passing %zu/100, established UDP replies %zu/100, "
            "denied packets passed %zu, flood packets passed %zu, entries %zu\n",
            udp.tcp_alive, udp.udp_alive, udp.denied_passed, udp.flood_passed, udp.entries);
    cr_assert_eq(udp.tcp_alive, 100u, "a datagram flood evicted TCP flows");
    cr_assert_eq(udp.denied_passed, 0u);
    cr_assert_eq(udp.flood_passed, 10u * 1024u, "allowed flood packets are still allowed");

    Flood tcp = run(true);
    fprintf(stderr,
            "ct flood (same, 10240 new TCP SYN flows instead): established TCP replies passing "
            "%zu/100, "
            "UDP %zu/100, denied passed %zu\n",
            tcp.tcp_alive, tcp.udp_alive, tcp.denied_passed);
    cr_assert_eq(tcp.denied_passed, 0u);
    cr_assert_eq(tcp.udp_alive, 100u, "a TCP flood evicted datagram flows");
}
