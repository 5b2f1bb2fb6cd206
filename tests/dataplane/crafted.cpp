// Crafted frames (issue 13): frames whose length fields contradict each other,
// forms the spec grammar cannot express, and exchanges that test direction.
// Each row names the exact verdict and the one counter that moves
// (docs/dataplane.md steps 2-9). The issue's own examples run against edge1's
// external NIC of the reference policy (no site file), compiled as `load`
// compiles it; the others use the hand-built test image (fixture.h).
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "compile/compile.h"
#include "fixture.h"
#include "policy/policy.h"

using namespace dptest;

namespace {

using Bytes = std::vector<uint8_t>;

constexpr size_t kL3 = 14;    // untagged
constexpr size_t kL4v4 = 34;  // IPv4 without options
constexpr size_t kL4v6 = 54;  // IPv6 without extension headers

const Expect kL4 = drop_reason(EF_R_MALFORMED_L4);
const Expect kV4 = drop_reason(EF_R_MALFORMED_IPV4);
const Expect kV6 = drop_reason(EF_R_MALFORMED_IPV6);
const Expect kRelated = pass_reason(EF_R_ICMP_ERROR_RELATED);
const Expect kUnrelated = drop_reason(EF_R_ICMP_ERROR_UNRELATED);
const Expect kMapped = drop_reason(EF_R_IPV6_MAPPED_ADDRESS);
const Expect kSpoofed = drop_reason(EF_R_SPOOFED_SOURCE);
const Expect kUntracked = drop_reason(EF_R_FRAGMENT_UNTRACKED);
const Expect kExtIn = drop_reason(EF_R_DEFAULT_EXTERNAL_INGRESS);
const Expect kExtOut = drop_reason(EF_R_DEFAULT_EXTERNAL_EGRESS);

void set16(Bytes& f, size_t off, uint16_t v) {
    f[off] = uint8_t(v >> 8);
    f[off + 1] = uint8_t(v);
}
uint16_t get16(const Bytes& f, size_t off) { return uint16_t(f[off] << 8 | f[off + 1]); }

// IPv4 total length / IPv6 payload length of an untagged frame (the kernel
// does not check the header checksum).
Bytes tot_len(Bytes f, uint16_t v) {
    set16(f, kL3 + 2, v);
    return f;
}
Bytes payload_len(Bytes f, uint16_t v) {
    set16(f, kL3 + 4, v);
    return f;
}
// Bytes after the IP datagram: Ethernet padding that must never be parsed.
Bytes padded(Bytes f, const Bytes& tail) {
    f.insert(f.end(), tail.begin(), tail.end());
    return f;
}
Bytes padded(Bytes f, size_t zeros) { return padded(std::move(f), Bytes(zeros, 0)); }

// An IPv6 frame with the addresses written as given: packet::Addr keeps IPv4
// mapped, so a spec cannot express an IPv6 packet from ::ffff:a.b.c.d.
Bytes with_v6_addrs(Bytes f, const char* src, const char* dst) {
    if (src && inet_pton(AF_INET6, src, f.data() + kL3 + 8) != 1) cr_assert_fail("bad %s", src);
    if (dst && inet_pton(AF_INET6, dst, f.data() + kL3 + 24) != 1) cr_assert_fail("bad %s", dst);
    return f;
}

Bytes error_frame(const std::string& error, const std::string& quoted) {
    packet::Packet p = spec(error);
    p.icmp_quote = packet::quote_of(spec(quoted));
    return packet::build_frame(p);
}

std::function<void(packet::Packet&)> quoting(const std::string& quoted) {
    return [quoted](packet::Packet& p) { p.icmp_quote = packet::quote_of(spec(quoted)); };
}

Bytes shaped(const std::string& line, const std::function<void(packet::Packet&)>& shape) {
    packet::Packet p = spec(line);
    shape(p);
    return packet::build_frame(p);
}

// edge1 of the reference policy, literal addresses, loaded as `load` loads it.
struct Edge1 {
    image::MapImage img;
    std::unique_ptr<kernel::Dataplane> dp;

    uint32_t rule(const std::string& id) const {
        for (const auto& r : img.rules)
            if (r.id == id) return r.index;
        cr_assert_fail("rule %s is not on edge1", id.c_str());
        return 0;
    }
    void run(const std::string& name, const std::string& line, const Expect& want) {
        packet::Packet p = spec(line);
        expect_run(*dp, name + " [" + line + "]", p.dir, packet::build_frame(p), want);
    }
    void frame(const std::string& name, packet::Dir dir, const Bytes& f, const Expect& want) {
        expect_run(*dp, name, dir, f, want);
    }
};

image::MapImage edge1_image() {
    policy::Diagnostics d;
    auto p = policy::load("policies/lync2010-edge-hlb.yaml", "", d);
    cr_assert(p.has_value(), "the reference policy does not load");
    return compile::compile_node(*p, "edge1");
}

Edge1 edge1() {
    require_root();
    Edge1 e;
    e.img = edge1_image();
    kernel::Options o = kernel::Options::from_image(e.img);
    o.record_last = true;
    e.dp = std::make_unique<kernel::Dataplane>(o);
    e.dp->write_image(e.img);
    e.dp->set_iface_role(kernel::Dataplane::kTestRunIfindex, EF_ROLE_EXTERNAL);
    return e;
}

// The issue's STUN flow and the packets around it.
const char* kStun = "udp 203.0.113.7:40000 > 131.107.155.130:3478";
const char* kStunReply = "egress udp 131.107.155.130:3478 > 203.0.113.7:40000";

}  // namespace

// Issue 13 section 1: L4 headers in the Ethernet padding past the datagram.
Test(crafted, issue1_l4_header_past_ipv4_total_length) {
    Edge1 e = edge1();
    Bytes syn = frame_of("tcp 203.0.113.7:40000 > 131.107.155.110:443 flags S");
    e.frame("tcp syn, total length 20", packet::Dir::ingress, tot_len(syn, 20), kL4);
    cr_expect_eq(e.dp->ct_entries(), 0u, "a malformed syn created %zu entries", e.dp->ct_entries());
    e.frame("udp stun, total length 20", packet::Dir::ingress, tot_len(frame_of(kStun), 20), kL4);
    e.frame("tcp syn, header half inside", packet::Dir::ingress, tot_len(syn, 30), kL4);
    e.frame("udp stun, header half inside", packet::Dir::ingress, tot_len(frame_of(kStun), 24),
            kL4);
    cr_expect_eq(e.dp->ct_entries(), 0u);
    // The same frames with their lengths intact pass.
    e.run("stun", kStun, rule(e.rule("ext-vip-av-stun-udp")));
    e.frame("tcp syn", packet::Dir::ingress, syn, rule(e.rule("ext-vip-access-sip-tls")));
}

Test(crafted, issue1_quote_past_the_datagram) {
    Edge1 e = edge1();
    e.run("stun", kStun, rule(e.rule("ext-vip-av-stun-udp")));
    const std::string in_err = "icmp 198.51.100.254 > 131.107.155.130 type 3 code 3";
    const std::string out_err = "egress icmp 131.107.155.130 > 203.0.113.7 type 3 code 3";
    Bytes in = error_frame(in_err, kStunReply);
    Bytes out = error_frame(out_err, kStun);
    e.frame("inbound error, whole quote", packet::Dir::ingress, in, kRelated);
    e.frame("egress error, whole quote", packet::Dir::egress, out, kRelated);
    // Total length ends before the quoted ports: the ports are padding.
    e.frame("inbound error, quoted ports past total length", packet::Dir::ingress,
            tot_len(in, uint16_t(get16(in, kL3 + 2) - 8)), kL4);
    e.frame("egress error, quoted ports past total length", packet::Dir::egress,
            tot_len(out, uint16_t(get16(out, kL3 + 2) - 8)), kL4);
    e.frame("inbound error, quoted header past total length", packet::Dir::ingress,
            tot_len(in, 20 + 8 + 12), kL4);
}

// Issue 13 section 1: IPv6 payload length 0 leaves no room for any header.
Test(crafted, issue1_ipv6_payload_length_zero) {
    auto dp = make_dataplane();
    const char* tls6 = "tcp [2001:db8:1::7]:40000 > [2001:db8::10]:443";
    const char* udp6 = "udp [2001:db8:1::7]:40000 > [2001:db8::10]:53";
    expect_run(*dp, "tcp6, payload length 0", packet::Dir::ingress, payload_len(frame_of(tls6), 0),
               kL4);
    expect_run(*dp, "udp6, payload length 0", packet::Dir::ingress, payload_len(frame_of(udp6), 0),
               kL4);
    expect_run(*dp, "tcp6, payload length 8", packet::Dir::ingress, payload_len(frame_of(tls6), 8),
               kL4);
    Bytes opts = shaped(tls6, [](packet::Packet& p) { p.ipv6_ext = {60}; });
    expect_run(*dp, "dstopts, payload length 0", packet::Dir::ingress, payload_len(opts, 0), kV6);
    expect_run(*dp, "dstopts, payload length 4", packet::Dir::ingress, payload_len(opts, 4), kV6);
    Bytes frag = shaped(tls6, first_fragment(3));
    expect_run(*dp, "fragment header, payload length 0", packet::Dir::ingress, payload_len(frag, 0),
               kV6);
    cr_expect_eq(dp->ct_entries(), 0u);
    expect_spec(*dp, tls6, rule(kRuleAccessTls6));
}

// Issue 13 section 2: an error relates only if it is addressed to the quoted
// packet's source and the quoted packet travelled the other way on a tracked flow.
Test(crafted, issue2_errors_need_destination_and_direction) {
    Edge1 e = edge1();
    e.run("stun", kStun, rule(e.rule("ext-vip-av-stun-udp")));
    size_t entries = e.dp->ct_entries();
    run_table(
        *e.dp,
        {
            {"redirect to .10 quoting the flow", "icmp 203.0.113.1 > 131.107.155.10 type 5",
             quoting(kStunReply), kUnrelated},
            {"redirect to the flow's address", "icmp 203.0.113.1 > 131.107.155.130 type 5",
             quoting(kStunReply), kUnrelated},
            {"source quench to the flow's address", "icmp 203.0.113.1 > 131.107.155.130 type 4",
             quoting(kStunReply), kUnrelated},
            {"3/4 from a router to .20", "icmp 198.51.100.254 > 131.107.155.20 type 3 code 4",
             quoting(kStunReply), kUnrelated},
            {"12 to .10 quoting the attacker's inbound packet",
             "icmp 203.0.113.7 > 131.107.155.10 type 12", quoting(kStun), kUnrelated},
            {"12 to the flow's address quoting the inbound packet",
             "icmp 203.0.113.7 > 131.107.155.130 type 12", quoting(kStun), kUnrelated},
            {"error addressed to 8.8.8.8", "icmp 198.51.100.254 > 8.8.8.8 type 3 code 4",
             quoting(kStunReply), kUnrelated},
            {"egress error to a third party", "egress icmp 131.107.155.130 > 8.8.8.8 type 3 code 3",
             quoting(kStun), kUnrelated},
            {"egress error to the peer quoting the node's own packet",
             "egress icmp 131.107.155.130 > 203.0.113.7 type 3 code 3", quoting(kStunReply),
             kUnrelated},
            // What does relate: the flow's local address hears about a packet it sent,
            // the flow's peer about a packet it sent.
            {"3/4 from a router to the flow's address",
             "icmp 198.51.100.254 > 131.107.155.130 type 3 code 4", quoting(kStunReply), kRelated},
            {"11 to the flow's address", "icmp 198.51.100.254 > 131.107.155.130 type 11",
             quoting(kStunReply), kRelated},
            {"egress 3/3 to the peer", "egress icmp 131.107.155.130 > 203.0.113.7 type 3 code 3",
             quoting(kStun), kRelated},
        });
    cr_expect_eq(e.dp->ct_entries(), entries, "errors changed the conntrack table");
}

// Issue 13 section 3: IPv6 packets naming IPv4 forms never meet IPv4 rules.
Test(crafted, issue3_ipv4_mapped_addresses) {
    Edge1 e = edge1();
    // The spec refuses ::ffff:a.b.c.d: the addresses are written into IPv6 frames.
    e.frame("mapped dst, stun", packet::Dir::ingress,
            with_v6_addrs(frame_of("udp [2001:db8::7]:46001 > [2001:db8::ff]:3478"), nullptr,
                          "::ffff:131.107.155.130"),
            kMapped);
    e.frame("mapped dst, tls", packet::Dir::ingress,
            with_v6_addrs(frame_of("tcp [2001:db8::7]:40000 > [2001:db8::ff]:443 flags S"), nullptr,
                          "::ffff:131.107.155.110"),
            kMapped);
    Bytes dns = with_v6_addrs(frame_of("egress udp [2001:db8::1]:40000 > [2001:db8::53]:53"),
                              "::ffff:131.107.155.10", nullptr);
    e.frame("mapped src, egress dns", packet::Dir::egress, dns, kMapped);
    e.run("compatible dst, stun", "udp [2001:db8::7]:46001 > [::131.107.155.130]:3478", kMapped);
    cr_expect_eq(e.dp->ct_entries(), 0u);
}

// Issue 13 section 4: the node's own address arriving from outside is spoofed,
// even when it looks like the reply of a live flow.
Test(crafted, issue4_reply_direction_and_spoofed_source) {
    Edge1 e = edge1();
    uint32_t stun = e.rule("ext-vip-av-stun-udp");
    e.run("stun", kStun, rule(stun));
    e.run("ingress from the node's address", "udp 131.107.155.130:3478 > 203.0.113.7:40000",
          kSpoofed);
    e.run("ingress from the node's backend address", "udp 131.107.155.30:3478 > 203.0.113.7:40000",
          kSpoofed);
    e.run("the real reply (egress)", kStunReply, rule(stun));
    e.run("egress copy of the opener's packet", "egress " + std::string(kStun), kExtOut);
    e.run("the opener again", kStun, rule(stun));
}

// Issue 13 section 5: a first fragment admitted by conntrack records its
// verdict; a dropped first fragment clears a reused id.
Test(crafted, issue5_dns_reply_fragments_and_reused_id) {
    Edge1 e = edge1();
    uint32_t dns = e.rule("edge1-ext-dns");
    const char* query = "egress udp 131.107.155.10:40000 > 198.51.100.53:53";
    const char* reply = "udp 198.51.100.53:53 > 131.107.155.10:40000";
    e.run("query", query, rule(dns));
    run_table(*e.dp,
              {
                  {"reply first fragment (conntrack)", reply, first_fragment(0x4242), rule(dns)},
                  {"reply later fragment", reply, later_fragment(0x4242), rule(dns)},
                  {"same id, egress", "egress udp 198.51.100.53:53 > 131.107.155.10:40000",
                   later_fragment(0x4242), kUntracked},
              });
    // The id comes back on a datagram the policy denies: its first fragment
    // drops, and its later fragments must not inherit the reply's verdict.
    run_table(*e.dp,
              {
                  {"reused id, denied first fragment",
                   "udp 198.51.100.53:53 > 131.107.155.10:40001", first_fragment(0x4242), kExtIn},
                  {"reused id, later fragment", reply, later_fragment(0x4242), kUntracked},
              });
}

// Issue 13 section 5: an IPv6 datagram is (src, dst, id): the Next Header of
// the fragment header is not part of it.
Test(crafted, issue5_ipv6_fragment_identity) {
    auto dp = make_dataplane();
    const char* tls6 = "tcp [2001:db8:1::7]:40000 > [2001:db8::10]:443";
    run_table(*dp, {
                       {"first fragment, dstopts after the fragment header", tls6,
                        [](packet::Packet& p) {
                            p.ipv6_ext = {44, 60};
                            first_fragment(0x77)(p);
                        },
                        rule(kRuleAccessTls6)},
                       {"later fragment, fragment header names tcp", tls6, later_fragment(0x77),
                        rule(kRuleAccessTls6)},
                       {"later fragment, fragment header names dstopts", tls6,
                        [](packet::Packet& p) {
                            p.ipv6_ext = {44, 60};
                            later_fragment(0x77)(p);
                        },
                        rule(kRuleAccessTls6)},
                   });
}

// Issue 13 section 7: fields the model could not see.
Test(crafted, issue7_length_fields) {
    Edge1 e = edge1();
    const char* tls = "tcp 203.0.113.7:40000 > 131.107.155.110:443 flags S";
    Bytes syn = frame_of(tls);
    e.frame("total length past the frame", packet::Dir::ingress, tot_len(syn, 41), kV4);
    Bytes doff4 = syn;
    doff4[kL4v4 + 12] = 4 << 4;
    e.frame("tcp doff 4", packet::Dir::ingress, doff4, kL4);
    // doff 6 needs 24 bytes: the frame has them, but 4 are padding.
    Bytes doff6 = padded(syn, 4);
    doff6[kL4v4 + 12] = 6 << 4;
    e.frame("tcp doff past the datagram", packet::Dir::ingress, doff6, kL4);
    Bytes doff15 = padded(syn, 40);
    doff15[kL4v4 + 12] = 15 << 4;
    e.frame("tcp doff 15 past the datagram", packet::Dir::ingress, doff15, kL4);
    cr_expect_eq(e.dp->ct_entries(), 0u);

    // An ICMPv6 error of 8 bytes, with a valid quote in the padding after it.
    Bytes quote = packet::quote_of(spec("egress tcp [2001:db8::10]:443 > [2001:db8:1::7]:40000"));
    for (uint8_t type = 1; type <= 4; ++type) {
        Bytes err =
            frame_of("icmp6 [2001:db8:ff::1] > [2001:db8::10] type " + std::to_string(type));
        e.frame("icmp6 error type " + std::to_string(type) + ", quote in the padding",
                packet::Dir::ingress, padded(err, quote), kL4);
    }
}

// The quote must be of the outer packet's family and inside the outer datagram.
Test(crafted, quote_family_and_bounds) {
    auto dp = make_dataplane();
    const char* syn = "egress tcp 198.18.155.10:40000 > 192.0.2.1:80";
    const char* tls6 = "tcp [2001:db8:1::7]:40000 > [2001:db8::10]:443";
    expect_spec(*dp, syn, rule(kRuleCrlHttp));
    expect_spec(*dp, tls6, rule(kRuleAccessTls6));
    const std::string err4 = "icmp 203.0.113.1 > 198.18.155.10 type 3 code 4";
    const std::string err6 = "egress icmp6 [2001:db8::10] > [2001:db8:1::7] type 2";
    Bytes in4 = error_frame(err4, syn);
    Bytes out6 = error_frame(err6, tls6);
    expect_run(*dp, "ipv4 error, whole quote", packet::Dir::ingress, in4, kRelated);
    expect_run(*dp, "ipv6 error, whole quote", packet::Dir::egress, out6, kRelated);
    expect_run(*dp, "ipv4 quote ports past total length", packet::Dir::ingress,
               tot_len(in4, uint16_t(get16(in4, kL3 + 2) - 1)), kL4);
    expect_run(*dp, "ipv6 quote ports past payload length", packet::Dir::egress,
               payload_len(out6, uint16_t(get16(out6, kL3 + 4) - 1)), kL4);
    expect_run(*dp, "ipv6 quote header past payload length", packet::Dir::egress,
               payload_len(out6, 8 + 39), kL4);

    Bytes v6_in_v4 = error_frame(err4, "tcp [2001:db8::10]:40000 > [2001:db8:1::7]:80");
    expect_run(*dp, "ipv6 quote in an icmp error", packet::Dir::ingress, v6_in_v4, kL4);
    Bytes v4_in_v6 = error_frame(err6, "tcp 203.0.113.7:40000 > 198.18.155.110:443");
    // 28 quoted bytes: too short for an IPv6 quote whatever their version says.
    expect_run(*dp, "ipv4 quote in an icmp6 error", packet::Dir::egress, v4_in_v6, kL4);
    // The same quote padded to 48 bytes, inside the datagram: its version is 4.
    Bytes v4_padded = v4_in_v6;
    v4_padded.resize(kL4v6 + 8 + 48);
    v4_padded = payload_len(v4_padded, 8 + 48);
    expect_run(*dp, "ipv4 quote (version 4) of 48 bytes in an icmp6 error", packet::Dir::egress,
               v4_padded, kL4);
}

// UDP length: at least 8 and no more than the datagram holds, except in a first fragment.
Test(crafted, udp_length_lies) {
    auto dp = make_dataplane();
    const char* av = "udp 203.0.113.7:3478 > 198.18.155.30:50000";
    auto with_ulen = [](Bytes f, uint16_t v) {
        set16(f, kL4v4 + 4, v);
        return f;
    };
    Bytes f = frame_of(av);  // 8 bytes of UDP, UDP length 8
    expect_run(*dp, "udp length 0", packet::Dir::ingress, with_ulen(f, 0), kL4);
    expect_run(*dp, "udp length 7", packet::Dir::ingress, with_ulen(f, 7), kL4);
    expect_run(*dp, "udp length 9", packet::Dir::ingress, with_ulen(f, 9), kL4);
    expect_run(*dp, "udp length 9, the byte in the padding", packet::Dir::ingress,
               padded(with_ulen(f, 9), 1), kL4);
    Bytes big = frame_of(std::string(av) + " len 120");  // UDP length 86
    expect_run(*dp, "udp length past the datagram", packet::Dir::ingress, with_ulen(big, 87), kL4);
    expect_run(*dp, "udp length shorter than the datagram", packet::Dir::ingress, with_ulen(big, 8),
               rule(kRuleAvRelay));
    expect_run(*dp, "udp length exact", packet::Dir::ingress, big, rule(kRuleAvRelay));
    Bytes frag = shaped(av, first_fragment(21));
    expect_run(*dp, "first fragment: udp length covers later fragments", packet::Dir::ingress,
               with_ulen(frag, 1400), rule(kRuleAvRelay));
    expect_run(*dp, "first fragment: udp length 7", packet::Dir::ingress, with_ulen(frag, 7), kL4);
    expect_run(*dp, "egress dns, udp length past the datagram", packet::Dir::egress,
               with_ulen(frame_of("egress udp 198.18.155.10:40000 > 198.51.100.53:53"), 20), kL4);
}

// Anti-spoofing: an ingress packet from an address local to the NIC's role.
Test(crafted, spoofed_local_sources) {
    auto dp = make_dataplane();
    run_table(
        *dp, {
                 {"ipv4, the node's address",
                  "udp 198.18.155.10:3478 > 198.18.155.30:50000",
                  {},
                  kSpoofed},
                 {"ipv4, to itself", "tcp 198.18.155.110:40000 > 198.18.155.110:443", {}, kSpoofed},
                 {"ipv6, the node's address",
                  "tcp [2001:db8::10]:40000 > [2001:db8::10]:443",
                  {},
                  kSpoofed},
                 {"icmp from the node's address",
                  "icmp 198.18.155.30 > 198.18.155.10 type 8",
                  {},
                  kSpoofed},
                 {"a neighbour's address passes",
                  "udp 198.18.155.11:3478 > 198.18.155.30:50000",
                  {},
                  rule(kRuleAvRelay)},
                 {"egress is not checked",
                  "egress udp 198.18.155.10:40000 > 198.51.100.53:53",
                  {},
                  rule(kRuleDns)},
             });
    dp->set_iface_role(kernel::Dataplane::kTestRunIfindex, EF_ROLE_INTERNAL);
    run_table(
        *dp,
        {
            {"internal: an external address is not local here",
             "tcp 198.18.155.10:40000 > 198.19.0.10:22",
             {},
             drop_reason(EF_R_DEFAULT_INTERNAL_INGRESS)},
            {"internal: its own address", "tcp 198.19.0.10:40000 > 198.19.0.10:22", {}, kSpoofed},
            {"internal: the management host",
             "tcp 198.19.200.5:40000 > 198.19.0.10:22",
             {},
             rule(kRuleMgmtSsh)},
        });
}

// ef_local_hint only spares the hash lookup: a source whose bit it shares with
// a local address is looked up and, not being local, passes.
Test(crafted, spoofed_hint_collision_is_not_spoofed) {
    auto mapped = [](const char* v4) {
        uint8_t a[16] = {};
        a[10] = a[11] = 0xff;
        cr_assert_eq(inet_pton(AF_INET, v4, a + 12), 1);
        return ef_local_hint_bit(a);
    };
    // 198.18.155.10 with its first and third bytes flipped alike folds to the same bit.
    cr_assert_eq(mapped("199.18.154.10"), mapped("198.18.155.10"));
    auto dp = make_dataplane();
    run_table(*dp, {
                       {"shares the node address's bit",
                        "udp 199.18.154.10:3478 > 198.18.155.30:50000",
                        {},
                        rule(kRuleAvRelay)},
                       {"the node address itself",
                        "udp 198.18.155.10:3478 > 198.18.155.30:50000",
                        {},
                        kSpoofed},
                   });
}

Test(crafted, spoofed_vip_source) {
    Edge1 e = edge1();
    e.run("the A/V VIP", "udp 131.107.155.130:3478 > 131.107.155.30:50000", kSpoofed);
    e.run("the access VIP", "tcp 131.107.155.110:40000 > 131.107.155.10:443 flags S", kSpoofed);
    e.dp->set_iface_role(kernel::Dataplane::kTestRunIfindex, EF_ROLE_INTERNAL);
    e.run("internal node address", "tcp 172.25.33.10:40000 > 172.25.33.110:5061 flags S", kSpoofed);
}

Test(crafted, compiled_image_holds_local_addresses) {
    image::MapImage img = edge1_image();
    auto has = [&](uint32_t role, const char* a) {
        auto addr = packet::parse_addr(a);
        cr_assert(addr.has_value());
        return std::any_of(img.local_addrs.begin(), img.local_addrs.end(), [&](const auto& k) {
            return k.role == role && std::memcmp(k.addr, addr->bytes.data(), 16) == 0;
        });
    };
    for (const char* a : {"131.107.155.10", "131.107.155.20", "131.107.155.30", "131.107.155.110",
                          "131.107.155.120", "131.107.155.130"})
        cr_expect(has(EF_ROLE_EXTERNAL, a), "external %s missing", a);
    for (const char* a : {"172.25.33.10", "172.25.33.110"})
        cr_expect(has(EF_ROLE_INTERNAL, a), "internal %s missing", a);
    cr_expect_not(has(EF_ROLE_INTERNAL, "131.107.155.10"), "external address local to internal");
    cr_expect_eq(img.local_addrs.size(), 8u);
}

// Families: IPv4-mapped and IPv4-compatible addresses on either side drop;
// :: and ::1 are not IPv4 forms.
Test(crafted, mapped_and_compatible_ipv6) {
    auto dp = make_dataplane();
    run_table(
        *dp,
        {
            {"compatible dst", "tcp [2001:db8:1::7]:40000 > [::198.18.155.110]:443", {}, kMapped},
            {"compatible src", "tcp [::203.0.113.7]:40000 > [2001:db8::10]:443", {}, kMapped},
            {"compatible src, egress",
             "egress tcp [2001:db8::10]:443 > [::203.0.113.7]:80",
             {},
             kMapped},
            {":: source, neighbour solicitation",
             "icmp6 [::] > [ff02::1:ff00:10] type 135",
             {},
             pass_reason(EF_R_ND_PASS)},
            {"::1 source is not an IPv4 form",
             "tcp [::1]:40000 > [2001:db8::10]:443",
             {},
             rule(kRuleAccessTls6)},
            {":: source is not an IPv4 form",
             "tcp [::]:40000 > [2001:db8::10]:443",
             {},
             rule(kRuleAccessTls6)},
        });
    Bytes src_mapped = with_v6_addrs(frame_of("tcp [2001:db8:1::7]:40000 > [2001:db8::10]:443"),
                                     "::ffff:203.0.113.7", nullptr);
    expect_run(*dp, "mapped src", packet::Dir::ingress, src_mapped, kMapped);
    expect_run(*dp, "mapped dst", packet::Dir::ingress,
               with_v6_addrs(frame_of("tcp [2001:db8:1::7]:40000 > [2001:db8::10]:443"), nullptr,
                             "::ffff:198.18.155.110"),
               kMapped);
    expect_run(*dp, "icmp6 echo to a mapped dst", packet::Dir::ingress,
               with_v6_addrs(frame_of("icmp6 [2001:db8:1::7] > [2001:db8::10]"), nullptr,
                             "::ffff:198.18.155.10"),
               kMapped);
    // Mapped is checked before the fragment table: no entry, no lookup.
    Bytes frag_mapped =
        with_v6_addrs(shaped("tcp [2001:db8:1::7]:40000 > [2001:db8::10]:443", first_fragment(5)),
                      nullptr, "::ffff:198.18.155.110");
    expect_run(*dp, "mapped dst, first fragment", packet::Dir::ingress, frag_mapped, kMapped);
    cr_expect_eq(dp->frag_entries(), 0u);
}

// Step 3: a reused id after a dropped first fragment does not inherit a verdict.
Test(crafted, reused_fragment_id_after_dropped_first) {
    auto dp = make_dataplane();
    const char* av = "udp 203.0.113.7:3478 > 198.18.155.30:50000";
    run_table(*dp, {
                       {"first fragment", av, first_fragment(7), rule(kRuleAvRelay)},
                       {"later fragment", av, later_fragment(7), rule(kRuleAvRelay)},
                       {"same id, first fragment to a denied port",
                        "udp 203.0.113.7:3478 > 198.18.155.30:40000", first_fragment(7), kExtIn},
                       {"later fragment of the reused id", av, later_fragment(7), kUntracked},
                   });
    cr_expect_eq(dp->frag_entries(), 0u, "%zu entries", dp->frag_entries());
    run_table(*dp, {{"first fragment again", av, first_fragment(7), rule(kRuleAvRelay)}});
    Bytes bad = shaped(av, first_fragment(7));
    set16(bad, kL4v4 + 4, 7);  // UDP length 7
    expect_run(*dp, "malformed first fragment", packet::Dir::ingress, bad, kL4);
    run_table(*dp, {{"later fragment after the malformed one", av, later_fragment(7), kUntracked}});
}

// Step 3: a first fragment passed by a conntrack hit records the flow's rule.
Test(crafted, later_fragment_after_conntrack_hit) {
    auto dp = make_dataplane();
    const char* reply = "udp 198.51.100.53:53 > 198.18.155.10:40000";
    expect_spec(*dp, "egress udp 198.18.155.10:40000 > 198.51.100.53:53", rule(kRuleDns));
    run_table(*dp, {
                       {"reply first fragment", reply, first_fragment(300), rule(kRuleDns)},
                       {"reply middle fragment", reply,
                        [](packet::Packet& p) {
                            later_fragment(300)(p);
                            p.more_fragments = true;
                        },
                        rule(kRuleDns)},
                       {"reply last fragment", reply, later_fragment(300, 370), rule(kRuleDns)},
                       {"same datagram on egress", "egress " + std::string(reply),
                        later_fragment(300), kUntracked},
                   });
}

// Step 3: entries end frag_timeout after the first fragment; later fragments
// do not extend them.
Test(crafted, fragment_expiry) {
    kernel::Options o;
    o.frag_timeout = 1;
    auto dp = make_dataplane(EF_ROLE_EXTERNAL, o);
    const char* av = "udp 203.0.113.7:3478 > 198.18.155.30:50000";
    run_table(*dp, {
                       {"first fragment", av, first_fragment(9), rule(kRuleAvRelay)},
                       {"later fragment at once", av, later_fragment(9, 100), rule(kRuleAvRelay)},
                   });
    usleep(700'000);
    run_table(*dp, {{"later fragment at 0.7 s", av, later_fragment(9, 200), rule(kRuleAvRelay)}});
    usleep(600'000);
    run_table(*dp, {{"later fragment at 1.3 s", av, later_fragment(9, 300), kUntracked}});
    cr_expect_eq(dp->frag_entries(), 0u, "the expired entry was not deleted");
    // The flow itself is still tracked: a new datagram's fragments pass.
    run_table(*dp, {
                       {"new datagram, first fragment", av, first_fragment(10), rule(kRuleAvRelay)},
                       {"new datagram, later fragment", av, later_fragment(10), rule(kRuleAvRelay)},
                   });
}

// Step 3: a later fragment starting inside the first 24 bytes (RFC 1858).
Test(crafted, overlapping_later_fragments) {
    auto dp = make_dataplane();
    const char* av = "udp 203.0.113.7:3478 > 198.18.155.30:50000";
    const char* tls6 = "tcp [2001:db8:1::7]:40000 > [2001:db8::10]:443";
    run_table(*dp, {
                       {"first fragment", av, first_fragment(12), rule(kRuleAvRelay)},
                       {"offset 1 (8 bytes)", av, later_fragment(12, 1), kV4},
                       {"offset 2 (16 bytes)", av, later_fragment(12, 2), kV4},
                       {"offset 3 (24 bytes)", av, later_fragment(12, 3), rule(kRuleAvRelay)},
                       {"offset 1, untracked id", av, later_fragment(13, 1), kV4},
                       {"ipv6 first fragment", tls6, first_fragment(14), rule(kRuleAccessTls6)},
                       {"ipv6 offset 1", tls6, later_fragment(14, 1), kV6},
                       {"ipv6 offset 2", tls6, later_fragment(14, 2), kV6},
                       {"ipv6 offset 3", tls6, later_fragment(14, 3), rule(kRuleAccessTls6)},
                   });
}

// Step 3: whatever passed the first fragment counts its later fragments,
// reasons included.
Test(crafted, fragments_follow_a_reason) {
    kernel::Options o;
    o.egress_mode[EF_ROLE_EXTERNAL] = EF_EGRESS_TRACK_ONLY;
    auto dp = make_dataplane(EF_ROLE_EXTERNAL, o);
    const char* syn = "egress tcp 198.18.155.10:40000 > 192.0.2.1:80";
    expect_spec(*dp, syn, rule(kRuleCrlHttp));
    const char* err = "icmp 203.0.113.1 > 198.18.155.10 type 3 code 4";
    run_table(
        *dp,
        {
            {"related error, first fragment", err,
             [](packet::Packet& p) {
                 p.icmp_quote =
                     packet::quote_of(spec("egress tcp 198.18.155.10:40000 > 192.0.2.1:80"));
                 first_fragment(40)(p);
             },
             kRelated},
            {"its later fragment", err, later_fragment(40), kRelated},
            {"unrelated error, first fragment", err,
             [](packet::Packet& p) {
                 p.icmp_quote =
                     packet::quote_of(spec("egress tcp 198.18.155.10:40001 > 192.0.2.1:80"));
                 first_fragment(41)(p);
             },
             kUnrelated},
            {"its later fragment", err, later_fragment(41), kUntracked},
            {"track-only default, first fragment", "egress udp 198.18.155.10:40000 > 192.0.2.1:9",
             first_fragment(42), pass_reason(EF_R_DEFAULT_EXTERNAL_EGRESS)},
            {"its later fragment", "egress udp 198.18.155.10:40000 > 192.0.2.1:9",
             later_fragment(42), pass_reason(EF_R_DEFAULT_EXTERNAL_EGRESS)},
        });
}

// Step 6: conntrack is directional.
Test(crafted, directional_conntrack) {
    auto dp = make_dataplane();
    run_table(*dp, {
                       {"dns query (egress rule)",
                        "egress udp 198.18.155.10:40000 > 198.51.100.53:53",
                        {},
                        rule(kRuleDns)},
                       {"the server's reply on egress",
                        "egress udp 198.51.100.53:53 > 198.18.155.10:40000",
                        {},
                        kExtOut},
                       {"the reply on ingress",
                        "udp 198.51.100.53:53 > 198.18.155.10:40000",
                        {},
                        rule(kRuleDns)},
                       {"tls syn in",
                        "tcp 203.0.113.7:40000 > 198.18.155.110:443 flags S",
                        {},
                        rule(kRuleAccessTls)},
                       {"the client's packet on egress",
                        "egress tcp 203.0.113.7:40000 > 198.18.155.110:443 flags A",
                        {},
                        kExtOut},
                       {"a rst on the wrong hook does not close the flow",
                        "egress tcp 203.0.113.7:40000 > 198.18.155.110:443 flags R",
                        {},
                        kExtOut},
                       {"syn-ack out",
                        "egress tcp 198.18.155.110:443 > 203.0.113.7:40000 flags SA",
                        {},
                        rule(kRuleAccessTls)},
                       {"ack in",
                        "tcp 203.0.113.7:40000 > 198.18.155.110:443 flags A",
                        {},
                        rule(kRuleAccessTls)},
                   });
    cr_expect_eq(dp->ct_entries(), 2u, "%zu entries", dp->ct_entries());
}

// Step 9: a rule match on a packet step 6 did not accept replaces the entry.
Test(crafted, rule_replaces_an_entry_of_the_other_direction) {
    require_root();
    std::vector<RuleSpec> rules = test_rules();
    // An egress rule whose local side is the DNS server (index kRuleCount).
    rules.push_back(
        {EF_ROLE_EXTERNAL, EF_DIR_EGRESS, EF_PS_UDP, 40000, 40000, "198.51.100.53", "any"});
    image::MapImage img = build_image(rules);
    auto server = packet::parse_addr("198.51.100.53");
    std::erase_if(img.local_addrs, [&](const ef_local_addr_key& k) {
        return std::memcmp(k.addr, server->bytes.data(), 16) == 0;
    });
    kernel::Options o;
    o.record_last = true;
    kernel::Dataplane dp(o);
    dp.write_image(img);
    dp.set_iface_role(kernel::Dataplane::kTestRunIfindex, EF_ROLE_EXTERNAL);
    run_table(
        dp, {
                {"query", "egress udp 198.18.155.10:40000 > 198.51.100.53:53", {}, rule(kRuleDns)},
                {"server's packet on egress: a miss, then its own rule",
                 "egress udp 198.51.100.53:53 > 198.18.155.10:40000",
                 {},
                 rule(kRuleCount)},
                {"the old reply is no longer one",
                 "udp 198.51.100.53:53 > 198.18.155.10:40000",
                 {},
                 kExtIn},
                {"ingress from the node's side",
                 "udp 198.18.155.10:40000 > 198.51.100.53:53",
                 {},
                 kSpoofed},
            });
    cr_expect_eq(dp.ct_entries(), 1u, "%zu entries", dp.ct_entries());
}

// An egress ICMP error goes to the flow's remote side and quotes what it sent.
Test(crafted, egress_error_to_a_third_party) {
    auto dp = make_dataplane();
    const char* av = "udp 203.0.113.7:3478 > 198.18.155.30:50000";
    expect_spec(*dp, av, rule(kRuleAvRelay));
    run_table(*dp,
              {
                  {"to a third party", "egress icmp 198.18.155.30 > 198.51.100.9 type 3 code 3",
                   quoting(av), kUnrelated},
                  {"to a third party, from another address",
                   "egress icmp 198.18.155.10 > 198.51.100.9 type 11", quoting(av), kUnrelated},
                  {"to the peer, quoting the node's own packet",
                   "egress icmp 198.18.155.30 > 203.0.113.7 type 3 code 3",
                   quoting("egress udp 198.18.155.30:50000 > 203.0.113.7:3478"), kUnrelated},
                  {"to the peer", "egress icmp 198.18.155.30 > 203.0.113.7 type 3 code 3",
                   quoting(av), kRelated},
              });
}

// Issue 13 section 5: a fragment entry does not outlive its flow's RST into a
// datagram that reuses the id and is dropped.
Test(crafted, reused_id_after_rst) {
    auto dp = make_dataplane();
    const char* tls = "tcp 203.0.113.7:40000 > 198.18.155.110:443";
    run_table(*dp, {
                       {"syn, first fragment", std::string(tls) + " flags S", first_fragment(50),
                        rule(kRuleAccessTls)},
                       {"its later fragment", tls, later_fragment(50), rule(kRuleAccessTls)},
                       {"rst (it may be blind) keeps the flow",
                        std::string(tls) + " flags R",
                        {},
                        rule(kRuleAccessTls)},
                       {"same id, first fragment of the flow", std::string(tls) + " flags A",
                        first_fragment(50), rule(kRuleAccessTls)},
                       {"its later fragment", tls, later_fragment(50), rule(kRuleAccessTls)},
                       {"same id, a syn-ack no flow admits",
                        "tcp 203.0.113.7:40001 > 198.18.155.110:443 flags SA", first_fragment(50),
                        drop_reason(EF_R_TCP_SYNACK_UNTRACKED)},
                       {"its later fragment", "tcp 203.0.113.7:40001 > 198.18.155.110:443",
                        later_fragment(50), kUntracked},
                   });
    cr_expect_eq(dp->ct_entries(), 1u, "%zu entries", dp->ct_entries());
    cr_expect_eq(dp->frag_entries(), 0u, "%zu entries", dp->frag_entries());
}

// Bytes after the IP datagram are padding: never parsed, and no reason to drop.
Test(crafted, padding_is_never_parsed) {
    auto dp = make_dataplane();
    Bytes junk(30, 0xff);
    expect_run(*dp, "udp with padding", packet::Dir::ingress,
               padded(frame_of("udp 203.0.113.7:3478 > 198.18.155.30:50000"), junk),
               rule(kRuleAvRelay));
    expect_run(*dp, "egress dns with padding", packet::Dir::egress,
               padded(frame_of("egress udp 198.18.155.10:40000 > 198.51.100.53:53"), junk),
               rule(kRuleDns));
    expect_run(*dp, "tcp6 with padding", packet::Dir::ingress,
               padded(frame_of("tcp [2001:db8:1::7]:40000 > [2001:db8::10]:443"), junk),
               rule(kRuleAccessTls6));
    expect_run(*dp, "echo with padding", packet::Dir::ingress,
               padded(frame_of("icmp 203.0.113.7 > 198.18.155.10 type 8"), junk), rule(kRulePing));
    expect_run(*dp, "related error with padding", packet::Dir::egress,
               padded(error_frame("egress icmp 198.18.155.30 > 203.0.113.7 type 3 code 3",
                                  "udp 203.0.113.7:3478 > 198.18.155.30:50000"),
                      junk),
               kRelated);
}

// A second fragment header (found by the raw-frame differential fuzzer): a
// first fragment followed by an atomic one must not turn the datagram into a
// first fragment whose UDP length goes unchecked, nor the other way round.
Test(crafted, second_fragment_header) {
    auto dp = make_dataplane();
    const char* tls6 = "tcp [2001:db8:1::7]:40000 > [2001:db8::10]:443";
    // Two listed fragment headers: build_frame writes the packet's fields in both.
    Bytes two_first = shaped(tls6, [](packet::Packet& p) {
        first_fragment(9)(p);
        p.ipv6_ext = {44, 44};
    });
    expect_run(*dp, "two first-fragment headers", packet::Dir::ingress, two_first, kV6);
    Bytes two_atomic = shaped(tls6, [](packet::Packet& p) { p.ipv6_ext = {44, 44}; });
    expect_run(*dp, "two atomic fragment headers", packet::Dir::ingress, two_atomic, kV6);
    // The fuzzer's frame: egress UDP, a first fragment header then an atomic one.
    Bytes found = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00,
                   0x01, 0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x18, 0x2c, 0x40};
    found.resize(kL3 + 40, 0);
    Bytes chain = {0x2c, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x11, 0x00, 0x00, 0x00,
                   0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0xde, 0xb7};
    found = with_v6_addrs(padded(found, chain), "2001:db8::10", "2001:db8:1::7");
    expect_run(*dp, "first then atomic fragment header", packet::Dir::egress, found, kV6);
    expect_spec(*dp, tls6, rule(kRuleAccessTls6));
}
