// Truncated and malformed headers (docs/dataplane.md steps 1, 2, 4, 5): a frame
// cut at each header boundary drops under that layer's own reason.
#include <criterion/criterion.h>

#include "fixture.h"

using namespace dptest;

namespace {

using Bytes = std::vector<uint8_t>;
using Mutate = std::function<void(Bytes&)>;

constexpr size_t kL3 = 14;    // untagged
constexpr size_t kL4v4 = 34;  // IPv4 without options
constexpr size_t kL4v6 = 54;  // IPv6 without extension headers

Mutate cut(size_t len) {
    return [len](Bytes& f) { f.resize(len); };
}
Mutate set_byte(size_t off, uint8_t v) {
    return [off, v](Bytes& f) { f[off] = v; };
}
// IPv4 total length (the kernel does not check the header checksum).
Mutate set_tot_len(uint16_t v) {
    return [v](Bytes& f) {
        f[kL3 + 2] = uint8_t(v >> 8);
        f[kL3 + 3] = uint8_t(v);
    };
}
// An IPv4 datagram whose L4 header is short but whose lengths are consistent.
Mutate short_l4_v4(size_t l4_bytes) {
    return [l4_bytes](Bytes& f) {
        f.resize(kL4v4 + l4_bytes);
        set_tot_len(uint16_t(20 + l4_bytes))(f);
    };
}

// IPv6 payload length (the datagram's end).
Mutate set_payload_len(uint16_t v) {
    return [v](Bytes& f) {
        f[kL3 + 4] = uint8_t(v >> 8);
        f[kL3 + 5] = uint8_t(v);
    };
}
// An IPv6 datagram cut after `payload` bytes, its payload length saying so.
Mutate short_v6(size_t payload) {
    return [payload](Bytes& f) {
        f.resize(kL4v6 + payload);
        set_payload_len(uint16_t(payload))(f);
    };
}

struct Case {
    std::string name;
    std::string spec;
    std::function<void(packet::Packet&)> shape;
    std::vector<Mutate> mutate;
    Expect want;
};

void run_cases(kernel::Dataplane& dp, const std::vector<Case>& cases) {
    for (const Case& c : cases) {
        packet::Packet p = spec(c.spec);
        if (c.shape) c.shape(p);
        Bytes f = packet::build_frame(p);
        for (const Mutate& m : c.mutate) m(f);
        expect_run(dp, c.name + " [" + c.spec + "]", p.dir, f, c.want);
    }
}

const char* kTcp4 = "tcp 203.0.113.7:40000 > 198.18.155.110:443";
const char* kUdp4 = "udp 203.0.113.7:3478 > 198.18.155.30:50000";
const char* kIcmp4 = "icmp 203.0.113.7 > 198.18.155.10 type 8";
const char* kTcp6 = "tcp [2001:db8:1::7]:40000 > [2001:db8::10]:443";
const char* kUdp6 = "udp [2001:db8:1::7]:40000 > [2001:db8::10]:53";
const char* kIcmp6 = "icmp6 [2001:db8:1::7] > [2001:db8::10] type 128";

const Expect kL2 = drop_reason(EF_R_MALFORMED_L2);
const Expect kV4 = drop_reason(EF_R_MALFORMED_IPV4);
const Expect kV6 = drop_reason(EF_R_MALFORMED_IPV6);
const Expect kL4 = drop_reason(EF_R_MALFORMED_L4);

auto vlan1 = [](packet::Packet& p) { p.vlan_tags = {100}; };
auto vlan2 = [](packet::Packet& p) { p.vlan_tags = {10, 100}; };

}  // namespace

// BPF_PROG_TEST_RUN refuses frames under 14 bytes, so a short Ethernet header
// is exercised only through the tags that follow it.
Test(malformed, layer2) {
    auto dp = make_dataplane();
    run_cases(*dp, {
                       {"ethernet only, ipv4 ethertype", kTcp4, {}, {cut(14)}, kV4},
                       {"vlan tag cut at 2 bytes", kTcp4, vlan1, {cut(16)}, kL2},
                       {"vlan tag cut at 3 bytes", kTcp4, vlan1, {cut(17)}, kL2},
                       {"vlan tag complete, no ip", kTcp4, vlan1, {cut(18)}, kV4},
                       {"second tag cut", kTcp4, vlan2, {cut(20)}, kL2},
                       {"two tags complete, no ip", kTcp4, vlan2, {cut(22)}, kV4},
                       {"egress vlan tag cut",
                        "egress tcp 198.18.155.10:40000 > 192.0.2.1:80",
                        vlan1,
                        {cut(16)},
                        kL2},
                   });
}

Test(malformed, ipv4) {
    auto dp = make_dataplane();
    run_cases(*dp, {
                       {"header cut at 19 bytes", kTcp4, {}, {cut(kL3 + 19)}, kV4},
                       {"version 5", kTcp4, {}, {set_byte(kL3, 0x55)}, kV4},
                       {"ihl 4", kTcp4, {}, {set_byte(kL3, 0x44)}, kV4},
                       {"options cut",
                        kTcp4,
                        [](packet::Packet& p) { p.ipv4_option_words = 2; },
                        {cut(kL3 + 24)},
                        kV4},
                       {"total length below ihl", kTcp4, {}, {set_tot_len(19)}, kV4},
                       {"total length past the frame", kTcp4, {}, {set_tot_len(41)}, kV4},
                       {"l4 cut, total length stale", kTcp4, {}, {cut(kL4v4 + 19)}, kV4},
                       // The skb test run itself refuses an untagged IPv4 frame whose IP header is
                       // short (pskb_may_pull); behind a VLAN tag it runs.
                       {"egress header cut behind a tag",
                        "egress tcp 198.18.155.10:40000 > 192.0.2.1:80",
                        vlan1,
                        {cut(18 + 10)},
                        kV4},
                   });
}

Test(malformed, ipv6) {
    auto dp = make_dataplane();
    auto chain = [](std::vector<uint8_t> c) { return [c](packet::Packet& p) { p.ipv6_ext = c; }; };
    run_cases(
        *dp,
        {
            {"header cut at 39 bytes", kTcp6, {}, {cut(kL3 + 39)}, kV6},
            {"version 4", kTcp6, {}, {set_byte(kL3, 0x40)}, kV6},
            {"payload length past the frame", kTcp6, {}, {set_payload_len(21)}, kV6},
            {"l4 cut, payload length stale", kTcp6, {}, {cut(kL4v6 + 19)}, kV6},
            {"hop-by-hop cut at 1 byte", kTcp6, chain({0}), {cut(kL4v6 + 1)}, kV6},
            {"hop-by-hop cut at 7 bytes", kTcp6, chain({0}), {cut(kL4v6 + 7)}, kV6},
            {"dstopts longer than the frame", kTcp6, chain({60}), {set_byte(kL4v6 + 1, 8)}, kV6},
            {"second header cut", kTcp6, chain({0, 43}), {cut(kL4v6 + 12)}, kV6},
            {"fragment header cut",
             kTcp6,
             [](packet::Packet& p) {
                 p.fragment = true;
                 p.more_fragments = true;
             },
             {cut(kL4v6 + 7)},
             kV6},
        });
}

Test(malformed, layer4) {
    auto dp = make_dataplane();
    run_cases(*dp,
              {
                  {"tcp 19 bytes", kTcp4, {}, {short_l4_v4(19)}, kL4},
                  {"tcp 0 bytes", kTcp4, {}, {short_l4_v4(0)}, kL4},
                  {"tcp doff 4", kTcp4, {}, {set_byte(kL4v4 + 12, 4 << 4)}, kL4},
                  {"tcp doff 0", kTcp4, {}, {set_byte(kL4v4 + 12, 0)}, kL4},
                  {"tcp doff 6, options missing", kTcp4, {}, {set_byte(kL4v4 + 12, 6 << 4)}, kL4},
                  {"udp 7 bytes", kUdp4, {}, {short_l4_v4(7)}, kL4},
                  {"icmp 7 bytes", kIcmp4, {}, {short_l4_v4(7)}, kL4},
                  {"tcp6 19 bytes", kTcp6, {}, {short_v6(19)}, kL4},
                  {"tcp6 doff 15", kTcp6, {}, {set_byte(kL4v6 + 12, 15 << 4)}, kL4},
                  {"udp6 7 bytes", kUdp6, {}, {short_v6(7)}, kL4},
                  {"icmp6 7 bytes", kIcmp6, {}, {short_v6(7)}, kL4},
                  {"tcp6 after dstopts cut",
                   kTcp6,
                   [](packet::Packet& p) { p.ipv6_ext = {60}; },
                   {short_v6(8 + 10)},
                   kL4},
                  {"egress tcp cut",
                   "egress tcp 198.18.155.10:40000 > 192.0.2.1:80",
                   {},
                   {short_l4_v4(12)},
                   kL4},
                  {"nd cut before type check",
                   "icmp6 [fe80::1] > [ff02::1] type 135",
                   {},
                   {short_v6(7)},
                   kL4},
              });
}

Test(malformed, frames_under_14_bytes_are_refused_by_test_run) {
    auto dp = make_dataplane();
    Bytes f = frame_of(kTcp4);
    f.resize(13);
    bool refused = false;
    try {
        dp->run(packet::Dir::ingress, f);
    } catch (const kernel::Error&) {
        refused = true;
    }
    cr_expect(refused, "BPF_PROG_TEST_RUN accepted a 13-byte XDP frame: add it to layer2");
}
