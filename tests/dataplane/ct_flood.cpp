// Conntrack under flood (docs/dataplane.md step 6), on the reference policy
// with every conntrack table sized 1,024.
//
// New flows go to their family's LRU "new" table and move to the
// "established" hash on their first reply, so a flood of new flows, however
// large, evicts only unanswered flows. The flood: 10x the table in spoofed TCP
// SYNs to the Access Edge VIP and 10x in spoofed STUN datagrams to the A/V
// VIP, interleaved, with denied packets between them and the servers answering
// each spoofed source (SYN-ACK, STUN response), while 100 established
// TCP and 100 established UDP flows keep exchanging (egress is enforce, so a
// reply passes only with its flow). Then: every established flow must still
// pass both ways, no denied packet may have passed, and the per-table counters
// are printed.
//
// The flood runs twice: with the new tables' LRU lists shared (the default)
// and per CPU (load --ct-lru per-cpu, BPF_F_NO_COMMON_LRU).
//
// And a RST flood: 65,536 spoofed RSTs from a federation partner's address and
// port 5061, one to every port of the node, leave the node's outbound
// federation connection working.
#include <bpf/bpf.h>
#include <criterion/criterion.h>
#include <netinet/in.h>

#include <random>

#include "compile/compile.h"
#include "fixture.h"
#include "model/model.h"

namespace {

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

constexpr uint32_t kCtSize = 1024;

struct Reference {
    policy::Policy policy;
    image::MapImage img;
    std::unique_ptr<kernel::Dataplane> dp;
};

Reference load_reference(bool ct_lru_per_cpu = false) {
    policy::Diagnostics d;
    auto p = policy::load("policies/lync2010-edge-hlb.yaml", "policies/site-test.yaml", d);
    cr_assert(p.has_value());
    Reference r{*p, compile::compile_node(*p, "edge1"), nullptr};
    auto opts = kernel::Options::from_image(r.img);
    opts.ct_size = kCtSize;
    opts.ct_lru_per_cpu = ct_lru_per_cpu;
    r.dp = std::make_unique<kernel::Dataplane>(opts);
    r.dp->write_image(r.img);
    r.dp->set_iface_role(kernel::Dataplane::kTestRunIfindex, EF_ROLE_EXTERNAL);
    return r;
}

void print_tables(const kernel::Dataplane& dp) {
    auto st = dp.ct_stats();
    for (uint32_t t = 0; t < EF_CT_TABLES; t++) {
        const auto& c = st[t];
        fprintf(stderr,
                "  %-16s entries %5zu/%zu inserts %6lu removed %6lu refused %5lu rst %5lu "
                "evicted <= %lu\n",
                kernel::kCtTableNames[t], c.entries, c.max, c.inserts, c.removed, c.refused, c.rst,
                c.evicted_bound());
    }
}

uint32_t map_flags(int fd) {
    bpf_map_info info{};
    uint32_t len = sizeof info;
    cr_assert_eq(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
    return info.map_flags;
}

void flood(bool ct_lru_per_cpu) {
    using namespace packet::tcp_flag;
    Reference ref = load_reference(ct_lru_per_cpu);
    kernel::Dataplane& dp = *ref.dp;
    const kernel::SharedMaps maps = dp.shared_maps();
    const bool new_per_cpu = map_flags(maps.ct) & map_flags(maps.ct_dgram) & BPF_F_NO_COMMON_LRU;
    cr_assert_eq(new_per_cpu, ct_lru_per_cpu, "the new tables' LRU lists are not as asked");
    cr_assert_eq((map_flags(maps.ct_est) | map_flags(maps.ct_dgram_est)) & BPF_F_NO_COMMON_LRU, 0u);
    const auto in = packet::Dir::ingress, out = packet::Dir::egress;
    const packet::Addr access_vip = v4(0xc6129b6e), av_vip = v4(0xc6129b82);    // .110 / .130
    const packet::Addr av_node = v4(0xc6129b1e), access_node = v4(0xc6129b0a);  // .30 / .10
    auto send = [&](const packet::Packet& q) { return dp.run(q.dir, packet::build_frame(q)).pass; };
    auto tcp_client = [](uint32_t i) { return v4(0xc6120100 + i); };
    auto udp_client = [](uint32_t i) { return v4(0xc6120200 + i); };

    for (uint32_t i = 0; i < 100; i++) {  // established: a packet each way
        cr_assert(send(pkt(in, IPPROTO_TCP, tcp_client(i), 40000, access_vip, 443, SYN)));
        cr_assert(send(pkt(out, IPPROTO_TCP, access_vip, 443, tcp_client(i), 40000, SYN | ACK)));
        cr_assert(send(pkt(in, IPPROTO_TCP, tcp_client(i), 40000, access_vip, 443, ACK)));
        cr_assert(send(pkt(in, IPPROTO_UDP, udp_client(i), 40000, av_vip, 3478)));
        cr_assert(send(pkt(out, IPPROTO_UDP, av_vip, 3478, udp_client(i), 40000)));
    }
    // A flow is alive while every one of its packets passes, both ways.
    std::vector<bool> tcp_ok(100, true), udp_ok(100, true);
    auto exchange = [&]() {
        for (uint32_t i = 0; i < 100; i++) {
            bool t = send(pkt(out, IPPROTO_TCP, access_vip, 443, tcp_client(i), 40000, ACK)) &&
                     send(pkt(in, IPPROTO_TCP, tcp_client(i), 40000, access_vip, 443, ACK));
            bool u = send(pkt(out, IPPROTO_UDP, av_vip, 3478, udp_client(i), 40000)) &&
                     send(pkt(in, IPPROTO_UDP, udp_client(i), 40000, av_vip, 3478));
            tcp_ok[i] = tcp_ok[i] && t;
            udp_ok[i] = udp_ok[i] && u;
        }
    };

    size_t syn_passed = 0, stun_passed = 0, denied_passed = 0, answered = 0;
    std::mt19937 rng(42);
    const uint32_t n = 10 * kCtSize;
    for (uint32_t i = 0; i < n; i++) {
        packet::Addr spoofed = v4(0x64400000u | (rng() & 0x3fffff));  // 100.64.0.0/10
        uint16_t sport = static_cast<uint16_t>(1024 + rng() % 64000);
        syn_passed += send(pkt(in, IPPROTO_TCP, spoofed, sport, access_vip, 443, SYN));
        stun_passed += send(pkt(in, IPPROTO_UDP, spoofed, sport, av_vip, 3478));
        // The servers answer the spoofed sources.
        answered += send(pkt(out, IPPROTO_TCP, access_vip, 443, spoofed, sport, SYN | ACK));
        answered += send(pkt(out, IPPROTO_UDP, av_vip, 3478, spoofed, sport));
        denied_passed += send(pkt(in, IPPROTO_UDP, spoofed, 40000, av_node, 60000));
        denied_passed += send(pkt(in, IPPROTO_TCP, spoofed, 40000, access_node, 22, SYN));
        denied_passed += send(pkt(in, IPPROTO_TCP, spoofed, 443, access_vip, sport, SYN | ACK));
        denied_passed += send(pkt(out, IPPROTO_UDP, av_node, 40000, spoofed, 9));
        if (i % kCtSize == kCtSize - 1) exchange();
    }
    exchange();
    size_t tcp_alive = std::count(tcp_ok.begin(), tcp_ok.end(), true);
    size_t udp_alive = std::count(udp_ok.begin(), udp_ok.end(), true);
    fprintf(stderr,
            "ct flood (4 tables of %u, LRU lists %s; %u spoofed SYNs + %u spoofed STUN + %u "
            "denied, interleaved, 11 exchange rounds): established TCP %zu/100, established UDP "
            "%zu/100, denied passed %zu, flood passed %zu SYN + %zu STUN, answers to it passed "
            "%zu\n",
            kCtSize, ct_lru_per_cpu ? "per CPU" : "shared", n, n, 4 * n, tcp_alive, udp_alive,
            denied_passed, syn_passed, stun_passed, answered);
    print_tables(dp);
    cr_expect_eq(tcp_alive, 100u, "the flood broke established TCP flows");
    cr_expect_eq(udp_alive, 100u, "the flood broke established UDP flows");
    cr_expect_eq(denied_passed, 0u);
    cr_expect_eq(syn_passed, n, "allowed flood packets are still allowed");
    cr_expect_eq(stun_passed, n, "allowed flood packets are still allowed");
    auto st = dp.ct_stats();
    cr_expect_eq(answered, 2 * n, "the servers' answers pass with their flows");
    // Answered SYNs stay half-open, never established; answered STUN is a
    // flow each way: it fills the established table, which then refuses.
    cr_expect_eq(st[EF_CT_TCP_EST].entries, 100u);
    cr_expect_eq(st[EF_CT_DGRAM_EST].entries, kCtSize);
    cr_expect_gt(st[EF_CT_DGRAM_EST].refused, 0u);
    cr_expect_gt(st[EF_CT_TCP_NEW].evicted_bound(), 0u, "the SYN flood must have evicted");
}

}  // namespace

Test(ct_flood, established_flows_survive_a_syn_and_stun_flood, .timeout = 600) {
    dptest::require_root();
    flood(false);
}

Test(ct_flood, established_flows_survive_with_per_cpu_lru_lists, .timeout = 600) {
    dptest::require_root();
    flood(true);
}

Test(ct_flood, blind_rsts_leave_a_connection_working, .timeout = 600) {
    dptest::require_root();
    using namespace packet::tcp_flag;
    Reference ref = load_reference();
    kernel::Dataplane& dp = *ref.dp;
    const auto in = packet::Dir::ingress, out = packet::Dir::egress;
    const packet::Addr node = v4(0xc6129b0a);     // 198.18.155.10, the Access node
    const packet::Addr partner = v4(0xcb007132);  // 203.0.113.50, a federation partner
    auto send = [&](const packet::Packet& q) { return dp.run(q.dir, packet::build_frame(q)).pass; };
    const uint16_t port = 50123;

    cr_assert(send(pkt(out, IPPROTO_TCP, node, port, partner, 5061, SYN)));
    cr_assert(send(pkt(in, IPPROTO_TCP, partner, 5061, node, port, SYN | ACK)));
    cr_assert(send(pkt(out, IPPROTO_TCP, node, port, partner, 5061, ACK)));
    cr_assert(send(pkt(in, IPPROTO_TCP, partner, 5061, node, port, ACK)));

    size_t passed = 0, by_rule = 0;  // by_rule: RSTs a rule admits anyway (no entry made)
    model::Model m(ref.policy, "edge1");
    for (uint32_t p = 0; p < 65536; p++) {
        auto rst = pkt(in, IPPROTO_TCP, partner, 5061, node, static_cast<uint16_t>(p), RST);
        passed += send(rst);
        by_rule += p != port && m.classify(EF_ROLE_EXTERNAL, rst) != nullptr;
    }
    bool out_ok = send(pkt(out, IPPROTO_TCP, node, port, partner, 5061, ACK | PSH));
    bool in_ok = send(pkt(in, IPPROTO_TCP, partner, 5061, node, port, ACK | PSH));
    auto st = dp.ct_stats();
    fprintf(stderr,
            "rst flood: 65536 spoofed RSTs 203.0.113.50:5061 > 198.18.155.10:0-65535: %zu "
            "passed (the flow's, and %zu to ports a rule admits), the connection "
            "afterwards: egress %s, ingress %s; ct_rst %lu\n",
            passed, by_rule, out_ok ? "passes" : "DROPS", in_ok ? "passes" : "DROPS",
            st[EF_CT_TCP_EST].rst + st[EF_CT_TCP_NEW].rst);
    print_tables(dp);
    cr_expect(out_ok && in_ok, "blind RSTs tore the connection down");
    cr_expect_eq(st[EF_CT_TCP_EST].rst, 1u, "one RST hit the flow");
    cr_expect_eq(passed, 1 + by_rule, "only the flow's RST and those a rule admits pass");
    cr_expect_eq(dp.ct_entries(), 1u, "RSTs created entries");
}
