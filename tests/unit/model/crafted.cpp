// Issue 13's crafted frames against edge1's external NIC of the reference
// policy (no site file), each with the exact verdict docs/dataplane.md gives
// it: sections 1-5 and 7 of the issue, one test per example, plus the edges
// around them (UDP length, IPv6 payload 0, source quench and redirect, quote
// versions, spoofed VIP sources, ND from ::, fragment ids and offsets).
#include <criterion/criterion.h>
#include <netinet/in.h>

#include <string>

#include "crafting.h"
#include "image/reasons.h"
#include "model/model.h"

using namespace crafting;
using packet::Dir;
using packet::Packet;

namespace {

const policy::Policy& reference() {
    static const policy::Policy p = [] {
        policy::Diagnostics d;
        auto loaded = policy::load("policies/lync2010-edge-hlb.yaml", "", d);
        cr_assert(loaded.has_value());
        return *loaded;
    }();
    return p;
}

std::string name_of(const model::Verdict& v) {
    return v.by_rule ? reference().rules.at(v.index).id : image::reason_name(v.index);
}

// The verdict and the counter it moved, exactly.
void expect(const model::Verdict& v, bool pass, const std::string& counter, const char* what) {
    std::string got = name_of(v);
    cr_expect_eq(got, counter, "%s: counted under %s, want %s", what, got.c_str(), counter.c_str());
    cr_expect_eq(v.pass, pass, "%s: %s, want %s", what, v.pass ? "pass" : "drop",
                 pass ? "pass" : "drop");
}

constexpr uint32_t kExt = EF_ROLE_EXTERNAL;

struct Edge1 {
    model::Model m{reference(), "edge1"};

    model::Verdict frame(const Bytes& f, Dir dir = Dir::ingress) {
        return m.run_frame(kExt, dir, f);
    }
    model::Verdict packet(const Packet& p) { return m.run(kExt, p); }
    model::Verdict spec(const std::string& line) { return m.run(kExt, crafting::spec(line)); }
};

// Section 2's flow: a STUN client on the Internet to the A/V VIP.
const char* const kStun = "udp 203.0.113.7:40000 > 131.107.155.130:3478";
const char* const kStunReply = "egress udp 131.107.155.130:3478 > 203.0.113.7:40000";

// Edge1's DNS query and the reply to it (section 5).
const char* const kDnsQuery = "egress udp 131.107.155.10:40000 > 192.0.2.53:53";
const char* const kDnsReply = "udp 192.0.2.53:53 > 131.107.155.10:40000";

Packet fragment_of(const std::string& line, uint32_t id, uint16_t offset, bool more) {
    Packet p = crafting::spec(line);
    p.fragment = true;
    p.frag_id = id;
    p.frag_offset = offset;
    p.more_fragments = more;
    return p;
}

}  // namespace

// ---- 1. L4 header read outside the IP datagram ----------------------------

Test(model_crafted, s1_ipv4_total_length_20_udp_only_in_padding) {
    Edge1 e;
    Bytes f = frame(kStun);
    expect(Edge1{}.frame(f), true, "ext-vip-av-stun-udp", "intact STUN frame");
    set_ipv4_total_length(f, 20);  // the UDP header is now Ethernet padding
    expect(e.frame(f), false, "malformed_l4", "tot_len 20, UDP header past the datagram");
    cr_expect_eq(e.m.conntrack_entries(), 0u);
}

Test(model_crafted, s1_ipv4_total_length_20_tcp_syn_creates_no_flow) {
    Edge1 e;
    Bytes f = frame("tcp 203.0.113.7:40000 > 131.107.155.130:443 flags S");
    set_ipv4_total_length(f, 20);
    expect(e.frame(f), false, "malformed_l4", "tot_len 20, TCP SYN past the datagram");
    cr_expect_eq(e.m.conntrack_entries(), 0u, "no conntrack entry from a malformed SYN");
}

Test(model_crafted, s1_ipv6_payload_length_0_with_udp_after) {
    Edge1 e;
    Bytes f = frame("udp [2001:db8::7]:40000 > [2001:db8::1]:3478");
    expect(Edge1{}.frame(f), false, "default_external_ingress", "intact IPv6 UDP");
    set_ipv6_payload_length(f, 0);
    expect(e.frame(f), false, "malformed_l4", "payload length 0, UDP header past the datagram");
}

Test(model_crafted, s1_icmp_error_quoted_ports_past_total_length) {
    Packet err =
        error_quoting("icmp 198.51.100.254 > 131.107.155.130 type 3 code 4", spec(kStunReply));
    Bytes f = packet::build_frame(err);
    {
        Edge1 e;
        e.spec(kStun);
        expect(e.frame(f), true, "icmp_error_related", "intact error for the STUN flow");
    }
    for (uint16_t total : {uint16_t(20 + 8 + 20 + 4), uint16_t(20 + 8 + 20 + 7)}) {
        Edge1 e;
        expect(e.spec(kStun), true, "ext-vip-av-stun-udp", "STUN flow");
        Bytes cut = f;
        set_ipv4_total_length(cut, total);  // the quoted ports are padding now
        expect(e.frame(cut), false, "malformed_l4", "quote's L4 bytes past tot_len");
    }
}

// ---- 2. ICMP errors: the outer header and the direction count ------------

Test(model_crafted, s2_redirect_to_node_quoting_the_flow) {
    Edge1 e;
    e.spec(kStun);
    Packet redirect =
        error_quoting("icmp 198.51.100.254 > 131.107.155.10 type 5 code 1", spec(kStunReply));
    expect(e.packet(redirect), false, "icmp_error_unrelated", "redirect to .10");
    redirect.dst = addr("131.107.155.130");  // even addressed to the quoted source
    expect(e.packet(redirect), false, "icmp_error_unrelated", "redirect to .130");
}

Test(model_crafted, s2_frag_needed_to_another_local_address) {
    Edge1 e;
    e.spec(kStun);
    Packet err =
        error_quoting("icmp 198.51.100.254 > 131.107.155.20 type 3 code 4", spec(kStunReply));
    expect(e.packet(err), false, "icmp_error_unrelated", "3/4 to .20 quoting .130's packet");
    err.dst = addr("131.107.155.130");
    expect(e.packet(err), true, "icmp_error_related", "3/4 to .130 quoting .130's packet");
}

Test(model_crafted, s2_parameter_problem_quoting_the_attackers_own_packet) {
    Edge1 e;
    e.spec(kStun);
    Packet err = error_quoting("icmp 198.51.100.254 > 131.107.155.10 type 12 code 0", spec(kStun));
    expect(e.packet(err), false, "icmp_error_unrelated", "type 12 to .10 quoting the inbound");
    // Addressed to the quoted source, but that packet travelled inbound: an
    // inbound error can only quote what the node sent.
    err.dst = addr("203.0.113.7");
    expect(e.packet(err), false, "icmp_error_unrelated", "inbound error quoting an inbound");
}

Test(model_crafted, s2_error_addressed_to_a_third_party) {
    Edge1 e;
    e.spec(kStun);
    Packet err = error_quoting("icmp 198.51.100.254 > 8.8.8.8 type 3 code 3", spec(kStunReply));
    expect(e.packet(err), false, "icmp_error_unrelated", "error to 8.8.8.8");
}

Test(model_crafted, s2_egress_error_to_a_third_party) {
    Edge1 e;
    e.spec(kStun);
    Packet err = error_quoting("egress icmp 131.107.155.130 > 8.8.8.8 type 3 code 3", spec(kStun));
    expect(e.packet(err), false, "icmp_error_unrelated", "egress error to 8.8.8.8");
    // To the flow's remote side, quoting a packet it sent: related.
    err.dst = addr("203.0.113.7");
    expect(e.packet(err), true, "icmp_error_related", "egress error to the peer");
    // To the remote side, but quoting the node's own packet: not.
    Packet own =
        error_quoting("egress icmp 131.107.155.130 > 203.0.113.7 type 3 code 3", spec(kStunReply));
    expect(e.packet(own), false, "icmp_error_unrelated", "egress error quoting the node");
}

// ---- 3. IPv4-mapped IPv6 addresses ----------------------------------------

Test(model_crafted, s3_udp_to_mapped_vip) {
    Edge1 e;
    Packet p = spec("udp [2001:db8::7]:46001 > [2001:db8::1]:3478");
    p.dst = addr("131.107.155.130");  // stored ::ffff:131.107.155.130; the frame is IPv6
    Bytes f = packet::build_frame(p);
    cr_assert_eq(get16(f, 12), 0x86dd);
    expect(e.frame(f), false, "ipv6_mapped_address", "udp to [::ffff:131.107.155.130]:3478");
}

Test(model_crafted, s3_tcp_to_mapped_access_vip) {
    Edge1 e;
    Packet p = spec("tcp [2001:db8::7]:46001 > [2001:db8::1]:443 flags S");
    p.dst = addr("131.107.155.110");
    expect(e.packet(p), false, "ipv6_mapped_address", "tcp to [::ffff:131.107.155.110]:443");
    cr_expect_eq(e.m.conntrack_entries(), 0u);
}

Test(model_crafted, s3_egress_from_mapped_node_address) {
    Edge1 e;
    Bytes f = frame("egress udp [2001:db8::99]:40000 > [2001:db8::53]:53");
    packet::Addr src = addr("131.107.155.10");  // ::ffff:131.107.155.10
    std::copy(src.bytes.begin(), src.bytes.end(), f.begin() + long(kL3 + 8));
    expect(e.frame(f, Dir::egress), false, "ipv6_mapped_address",
           "egress from [::ffff:131.107.155.10] to [2001:db8::53]:53");
}

Test(model_crafted, s3_compatible_addresses_drop_but_unspecified_and_loopback_do_not) {
    Edge1 e;
    expect(e.spec("udp [2001:db8::7]:46001 > [::131.107.155.130]:3478"), false,
           "ipv6_mapped_address", "IPv4-compatible destination");
    expect(e.spec("udp [::2]:46001 > [2001:db8::1]:3478"), false, "ipv6_mapped_address",
           "::2 is IPv4-compatible");
    expect(e.spec("udp [::1]:46001 > [2001:db8::1]:3478"), false, "default_external_ingress",
           "::1 is not IPv4-compatible");
    expect(e.spec("udp [::]:46001 > [2001:db8::1]:3478"), false, "default_external_ingress",
           ":: is not IPv4-compatible");
}

// ---- 4. Conntrack is directional ------------------------------------------

Test(model_crafted, s4_node_address_as_source_arriving_from_outside) {
    Edge1 e;
    expect(e.spec(kStun), true, "ext-vip-av-stun-udp", "STUN flow");
    expect(e.spec("udp 131.107.155.130:3478 > 203.0.113.7:40000"), false, "spoofed_source",
           "the flow's reverse tuple on ingress");
    expect(e.spec(kStunReply), true, "ext-vip-av-stun-udp", "the real reply, on egress");
}

Test(model_crafted, s4_same_tuple_on_the_wrong_hook_is_a_miss) {
    Edge1 e;
    expect(e.spec(kDnsQuery), true, "edge1-ext-dns", "DNS query");
    // The reply's tuple leaving the node: not the flow (and no rule).
    expect(e.spec("egress udp 192.0.2.53:53 > 131.107.155.10:40000"), false,
           "default_external_egress", "reply tuple on egress");
    // The query's tuple arriving: spoofed. The STUN flow's opener on egress: a miss.
    expect(e.spec("udp 131.107.155.10:40000 > 192.0.2.53:53"), false, "spoofed_source",
           "query tuple on ingress");
    expect(e.spec(kStun), true, "ext-vip-av-stun-udp", "STUN flow");
    expect(e.spec("egress udp 203.0.113.7:40000 > 131.107.155.130:3478"), false,
           "default_external_egress", "STUN opener's tuple on egress");
    expect(e.spec(kDnsReply), true, "edge1-ext-dns", "the real DNS reply");
}

Test(model_crafted, s4_reply_and_opener_on_their_own_hooks_share_one_entry) {
    Edge1 e;
    // A/V RTP: edge1 may send from 50000-59999 and receive on them.
    expect(e.spec("egress udp 131.107.155.30:50000 > 203.0.113.9:50000"), true,
           "edge1-ext-av-rtp-udp-out", "RTP out opens the flow on egress");
    // The reverse tuple on ingress is the reply: the same flow, its rule.
    expect(e.spec("udp 203.0.113.9:50000 > 131.107.155.30:50000"), true, "edge1-ext-av-rtp-udp-out",
           "reply counts under the opening rule");
    expect(e.spec("egress udp 131.107.155.30:50000 > 203.0.113.9:50000"), true,
           "edge1-ext-av-rtp-udp-out", "opener again");
    cr_expect_eq(e.m.conntrack_entries(), 1u);
}

// ---- 5. Fragments ----------------------------------------------------------

Test(model_crafted, s5_first_fragment_by_conntrack_then_later_fragment_passes) {
    Edge1 e;
    expect(e.spec(kDnsQuery), true, "edge1-ext-dns", "DNS query");
    expect(e.packet(fragment_of(kDnsReply, 77, 0, true)), true, "edge1-ext-dns",
           "first fragment of the reply (conntrack hit)");
    expect(e.packet(fragment_of(kDnsReply, 77, 185, false)), true, "edge1-ext-dns",
           "later fragment follows the first");
    cr_expect_eq(e.m.fragment_entries(), 1u);
}

Test(model_crafted, s5_ipv6_fragments_keyed_without_the_protocol) {
    Edge1 e;
    // Neighbour solicitation in two fragments; the first has a destination
    // options header after the fragment header, so the fragment header's
    // next header (60) differs from the final protocol (58).
    const char* ns = "icmp6 [fe80::7] > [ff02::1:ff00:1] type 135";
    Packet first = fragment_of(ns, 0x01020304, 0, true);
    first.ipv6_ext = {44, 60};
    expect(e.packet(first), true, "nd_pass", "first fragment");
    Packet later = fragment_of(ns, 0x01020304, 10, false);
    later.ipv6_ext = {44, 60};
    expect(e.packet(later), true, "nd_pass", "later fragment, next header 60");
    later.ipv6_ext.clear();  // the fragment header names ICMPv6 directly
    expect(e.packet(later), true, "nd_pass", "later fragment, next header 58");
    later.frag_id = 0x01020305;
    expect(e.packet(later), false, "fragment_untracked", "another datagram");
}

Test(model_crafted, s5_reused_id_after_a_dropped_first_fragment) {
    Edge1 e;
    e.spec(kDnsQuery);
    expect(e.packet(fragment_of(kDnsReply, 77, 0, true)), true, "edge1-ext-dns", "first");
    expect(e.packet(fragment_of(kDnsReply, 77, 185, false)), true, "edge1-ext-dns", "later");
    // Same (src, dst, proto, id), another datagram whose first fragment drops
    // (no flow to port 40001): its later fragment must not inherit the verdict.
    expect(e.packet(fragment_of("udp 192.0.2.53:53 > 131.107.155.10:40001", 77, 0, true)), false,
           "default_external_ingress", "first fragment of the reusing datagram");
    cr_expect_eq(e.m.fragment_entries(), 0u, "a dropped first fragment deletes the entry");
    expect(e.packet(fragment_of(kDnsReply, 77, 185, false)), false, "fragment_untracked",
           "later fragment after the drop");
}

Test(model_crafted, s5_reused_id_after_rst) {
    Edge1 e;
    const char* syn = "egress tcp 131.107.155.10:40000 > 192.0.2.1:80 flags S";
    const char* data = "tcp 192.0.2.1:80 > 131.107.155.10:40000 flags A";
    expect(e.spec(syn), true, "edge1-ext-crl-http", "SYN");
    expect(e.packet(fragment_of(data, 9, 0, true)), true, "edge1-ext-crl-http", "first");
    expect(e.packet(fragment_of(data, 9, 100, false)), true, "edge1-ext-crl-http", "later");
    expect(e.spec("tcp 192.0.2.1:80 > 131.107.155.10:40000 flags R"), true, "edge1-ext-crl-http",
           "RST (it may be blind) keeps the flow");
    expect(e.packet(fragment_of(data, 9, 0, true)), true, "edge1-ext-crl-http",
           "first fragment after the RST");
    expect(e.packet(fragment_of(data, 9, 100, false)), true, "edge1-ext-crl-http",
           "later fragment after the RST");
    // A datagram the policy denies that reuses the id clears the entry.
    expect(e.packet(fragment_of("tcp 192.0.2.1:80 > 131.107.155.10:40001 flags A", 9, 0, true)),
           false, "default_external_ingress", "denied first fragment, same id");
    expect(e.packet(fragment_of(data, 9, 100, false)), false, "fragment_untracked",
           "later fragment after the denied one");
}

Test(model_crafted, s5_later_fragment_offsets_below_24_bytes) {
    Edge1 e;
    e.spec(kDnsQuery);
    e.packet(fragment_of(kDnsReply, 5, 0, true));
    expect(e.packet(fragment_of(kDnsReply, 5, 1, true)), false, "malformed_ipv4", "offset 8");
    expect(e.packet(fragment_of(kDnsReply, 5, 2, false)), false, "malformed_ipv4", "offset 16");
    expect(e.packet(fragment_of(kDnsReply, 5, 3, false)), true, "edge1-ext-dns", "offset 24");

    const char* ns = "icmp6 [fe80::7] > [ff02::1:ff00:1] type 135";
    e.packet(fragment_of(ns, 6, 0, true));
    expect(e.packet(fragment_of(ns, 6, 1, false)), false, "malformed_ipv6", "IPv6 offset 8");
    expect(e.packet(fragment_of(ns, 6, 3, false)), true, "nd_pass", "IPv6 offset 24");
}

Test(model_crafted, s5_fragments_are_keyed_by_direction_and_atomic_ones_are_not_fragments) {
    Edge1 e;
    e.spec(kDnsQuery);
    e.packet(fragment_of(kDnsReply, 8, 0, true));
    Packet later = fragment_of(kDnsReply, 8, 185, false);
    later.dir = Dir::egress;
    expect(e.packet(later), false, "fragment_untracked", "the later fragment on the other hook");
    later.dir = Dir::ingress;
    expect(e.packet(later), true, "edge1-ext-dns", "the later fragment on its own hook");

    // IPv6 atomic fragment (offset 0, M clear): judged as a whole packet.
    Packet atomic = fragment_of("icmp6 [fe80::7] > [ff02::1:ff00:1] type 135", 9, 0, false);
    Edge1 fresh;
    expect(fresh.packet(atomic), true, "nd_pass", "atomic fragment");
    cr_expect_eq(fresh.m.fragment_entries(), 0u, "an atomic fragment records nothing");
}

Test(model_crafted, s5_first_fragment_udp_length_covers_the_whole_datagram) {
    Edge1 e;
    Bytes f = packet::build_frame(fragment_of(kStun, 3, 0, true));
    set16(f, kL4v4 + 4, 1400);  // the UDP datagram continues in later fragments
    expect(e.frame(f), true, "ext-vip-av-stun-udp", "first fragment, UDP length 1400");
    expect(e.packet(fragment_of(kStun, 3, 1, false)), false, "malformed_ipv4", "overlap");
    expect(e.packet(fragment_of(kStun, 3, 3, false)), true, "ext-vip-av-stun-udp", "later");
}

// ---- 7. Fields the old model could not see --------------------------------

Test(model_crafted, s7_total_length_larger_than_the_frame) {
    Edge1 e;
    Bytes f = frame(kStun);
    set_ipv4_total_length(f, uint16_t(f.size() - kL3 + 1));
    expect(e.frame(f), false, "malformed_ipv4", "tot_len one byte past the frame");
}

Test(model_crafted, s7_tcp_data_offset_below_5_or_past_the_data) {
    const char* syn = "tcp 203.0.113.7:40000 > 131.107.155.130:443 flags S";
    Bytes f = frame(syn);
    for (uint8_t doff : {0, 4, 6, 15}) {
        Edge1 e;
        Bytes g = f;
        g[kL4v4 + 12] = uint8_t(doff << 4);
        expect(e.frame(g), false, "malformed_l4", ("doff " + std::to_string(doff)).c_str());
        cr_expect_eq(e.m.conntrack_entries(), 0u);
    }
    // doff 6 with the 4 option bytes inside the datagram: fine.
    Edge1 e;
    Bytes g = packet::build_frame(spec(std::string(syn) + " len 58"));
    g[kL4v4 + 12] = 6 << 4;
    expect(e.frame(g), true, "ext-vip-av-stun-tcp", "doff 6 with 24 header bytes");
}

Test(model_crafted, s7_icmpv6_error_with_a_short_body) {
    for (int type = 1; type <= 4; type++) {
        Edge1 e;
        std::string s = "icmp6 [2001:db8::7] > [2001:db8::1] type " + std::to_string(type);
        expect(e.spec(s), false, "malformed_l4", (s + ", no quote").c_str());
        // 47 quote bytes: one short of the IPv6 header and 8 L4 bytes.
        Packet p = spec(s);
        p.icmp_quote = packet::quote_of(spec("udp [2001:db8::1]:3478 > [2001:db8::7]:40000"));
        p.icmp_quote->resize(47);
        expect(e.packet(p), false, "malformed_l4", (s + ", 47-byte quote").c_str());
        p.icmp_quote->resize(48);
        expect(e.packet(p), false, "icmp_error_unrelated", (s + ", 48-byte quote").c_str());
        (*p.icmp_quote)[0] = 0x45;  // 48 bytes, but an IPv4 header
        expect(e.packet(p), false, "malformed_l4", (s + ", version 4 quote").c_str());
    }
}

// ---- The edges around them --------------------------------------------------

Test(model_crafted, udp_length_lies) {
    Bytes f = frame(kStun);  // 8-byte UDP header, no payload
    for (uint16_t len : {0, 7, 9, 100}) {
        Edge1 e;
        Bytes g = f;
        set16(g, kL4v4 + 4, len);
        expect(e.frame(g), false, "malformed_l4", ("UDP length " + std::to_string(len)).c_str());
    }
    // A UDP length short of the datagram's end leaves trailing bytes inside
    // it: allowed, the header is complete.
    Edge1 e;
    Bytes g = packet::build_frame(spec(std::string(kStun) + " len 100"));
    set16(g, kL4v4 + 4, 8);
    expect(e.frame(g), true, "ext-vip-av-stun-udp", "UDP length 8 in a longer datagram");
}

Test(model_crafted, ipv6_payload_length_0_leaves_no_room_for_extension_headers) {
    Edge1 e;
    Packet p = spec("udp [2001:db8::7]:40000 > [2001:db8::1]:3478");
    p.ipv6_ext = {0};
    Bytes f = packet::build_frame(p);
    set_ipv6_payload_length(f, 0);
    expect(e.frame(f), false, "malformed_ipv6", "hop-by-hop past a 0 payload length");
    Bytes nd = frame("icmp6 [::] > [ff02::1:ff00:1] type 135");
    set_ipv6_payload_length(nd, 0);
    expect(e.frame(nd), false, "malformed_l4", "ND with payload length 0");
}

Test(model_crafted, source_quench_and_redirect_never_relate) {
    Edge1 e;
    e.spec(kStun);
    for (const char* outer : {"icmp 198.51.100.254 > 131.107.155.130 type 4",
                              "icmp 198.51.100.254 > 131.107.155.130 type 5 code 0"}) {
        expect(e.packet(error_quoting(outer, spec(kStunReply))), false, "icmp_error_unrelated",
               outer);
        // No quote at all: still unrelated, the quote is never read.
        expect(e.spec(outer), false, "icmp_error_unrelated", outer);
    }
}

Test(model_crafted, quote_version_must_match_the_outer_header) {
    Edge1 e;
    e.spec(kStun);
    Packet v6quote = spec("udp [2001:db8::1]:3478 > [2001:db8::7]:40000");
    expect(e.packet(error_quoting("icmp 198.51.100.254 > 131.107.155.130 type 3 code 3", v6quote)),
           false, "malformed_l4", "IPv4 error quoting an IPv6 packet");
    // An ICMPv6 error long enough for an IPv6 quote, but quoting IPv4.
    Packet err = spec("icmp6 [2001:db8::fe] > [2001:db8::1] type 1");
    err.icmp_quote = packet::quote_of(spec(kStunReply));
    err.icmp_quote->resize(48, 0);
    expect(e.packet(err), false, "malformed_l4", "ICMPv6 error quoting an IPv4 packet");
}

Test(model_crafted, spoofed_vip_and_node_sources) {
    Edge1 e;
    expect(e.spec("udp 131.107.155.130:5000 > 131.107.155.30:3478"), false, "spoofed_source",
           "A/V VIP as source");
    expect(e.spec("tcp 131.107.155.110:5000 > 131.107.155.110:443"), false, "spoofed_source",
           "access VIP to itself");
    expect(e.spec("udp 131.107.155.20:5000 > 131.107.155.30:3478"), false, "spoofed_source",
           "node address as source");
    // A VIP edge1 does not back on this role, or an internal address, is not local here.
    expect(e.spec("udp 172.25.33.110:5000 > 131.107.155.30:3478"), true, "ext-vip-av-stun-udp",
           "internal VIP on the external NIC");
    // Egress from a local address is the normal case.
    expect(e.spec("egress udp 131.107.155.130:5000 > 203.0.113.7:9"), false,
           "default_external_egress", "egress from the VIP, no rule");
}

Test(model_crafted, nd_from_unspecified_passes) {
    Edge1 e;
    expect(e.spec("icmp6 [::] > [ff02::1:ff00:1] type 135"), true, "nd_pass", "DAD from ::");
    expect(e.spec("icmp6 [fe80::1] > [ff02::1] type 134"), true, "nd_pass", "RA");
    expect(e.spec("egress icmp6 [fe80::2] > [fe80::1] type 136"), true, "nd_pass", "NA out");
}

Test(model_crafted, icmp_of_the_other_family_is_an_unsupported_protocol) {
    Edge1 e;
    Packet icmp_over_v6 = spec("udp [2001:db8::7]:1 > [2001:db8::1]:2");
    icmp_over_v6.proto = IPPROTO_ICMP;
    icmp_over_v6.icmp_type = 8;
    expect(e.packet(icmp_over_v6), false, "proto_unsupported", "ICMP over IPv6");
    Bytes short_icmp = packet::build_frame(icmp_over_v6);
    set_ipv6_payload_length(short_icmp, 4);  // not read as ICMP at all
    expect(e.frame(short_icmp), false, "proto_unsupported", "4 bytes of ICMP over IPv6");
    Packet icmp6_over_v4 = spec("udp 203.0.113.7:1 > 131.107.155.30:2");
    icmp6_over_v4.proto = IPPROTO_ICMPV6;
    icmp6_over_v4.icmp_type = 135;
    expect(e.packet(icmp6_over_v4), false, "proto_unsupported", "ICMPv6 (ND type) over IPv4");

    policy::Policy track = reference();
    track.egress_mode = EF_EGRESS_TRACK_ONLY;
    model::Model m(track, "edge1");
    icmp6_over_v4.dir = Dir::egress;
    std::swap(icmp6_over_v4.src, icmp6_over_v4.dst);
    auto v = m.run(kExt, icmp6_over_v4);
    cr_expect(v.pass && !v.by_rule && v.index == EF_R_PROTO_UNSUPPORTED,
              "track-only egress: the default's pass, counted as proto_unsupported");
}

Test(model_crafted, layer_2_frames) {
    Edge1 e;
    Bytes arp(42, 0);
    set16(arp, 12, 0x0806);
    expect(e.frame(arp), true, "arp_pass", "ARP");
    Bytes lldp(60, 0);
    set16(lldp, 12, 0x88cc);
    expect(e.frame(lldp), false, "non_ip_drop", "LLDP");
    expect(e.frame(Bytes(13, 0)), false, "malformed_l2", "13 bytes");
    Packet tagged = spec(kStun);
    tagged.vlan_tags = {10, 20};
    expect(e.packet(tagged), true, "ext-vip-av-stun-udp", "two tags");
    tagged.vlan_tags = {10, 20, 30};
    expect(e.packet(tagged), false, "malformed_l2", "three tags");
}

// Step 9: a rule match replaces an entry of the same key that step 6 did not
// accept. Two local addresses talk through the NIC (both ends local, the only
// way the same key can be refused on egress and then matched by a rule); an
// ICMP error quoting A's packet shows which endpoint the entry holds as opener.
Test(model_crafted, rule_match_replaces_an_entry_step_6_refused) {
    const char* text = R"(edgefw: 1
name: replace
features:
  f: {description: f}
nodes:
  n1:
    interfaces:
      external: {addresses: [198.51.100.10, 198.51.100.11]}
rules:
  - id: from-a
    app: T
    feature: f
    proto: udp
    src: 198.51.100.10
    dst: any
    dport: 9000
  - id: from-b
    app: T
    feature: f
    proto: udp
    src: 198.51.100.11
    sport: 9000
    dst: any
)";
    policy::Diagnostics d;
    auto p = policy::load_text(text, "replace.yaml", "", "", d);
    cr_assert(p.has_value());
    model::Model m(*p, "n1");
    auto rule_of = [&](const model::Verdict& v) {
        return v.by_rule ? p->rules.at(v.index).id : std::string(image::reason_name(v.index));
    };
    auto run = [&](const std::string& s) { return m.run(kExt, spec(s)); };
    const char* a_to_b = "egress udp 198.51.100.10:1000 > 198.51.100.11:9000";
    const char* b_to_a = "egress udp 198.51.100.11:9000 > 198.51.100.10:1000";
    // An error leaving the node for A, quoting A's packet as one that arrived.
    Packet err = error_quoting("egress icmp 198.51.100.11 > 198.51.100.10 type 3 code 3",
                               spec("udp 198.51.100.10:1000 > 198.51.100.11:9000"));

    cr_expect_eq(rule_of(run(a_to_b)), "from-a", "A opens the flow on egress");
    cr_expect_eq(rule_of(m.run(kExt, err)), "icmp_error_unrelated",
                 "A is the opener: A's packet never arrives on ingress");
    // B's packet on the same hook is not the flow (B is not the opener): a
    // miss, then rule from-b, whose entry replaces A's.
    cr_expect_eq(rule_of(run(b_to_a)), "from-b", "B's packet matches its own rule");
    cr_expect_eq(m.conntrack_entries(), 1u);
    cr_expect_eq(rule_of(m.run(kExt, err)), "icmp_error_related",
                 "B is the opener now: A's packet on ingress is its reply");
    cr_expect_eq(rule_of(run(b_to_a)), "from-b", "B again: a hit");
    cr_expect_eq(rule_of(run(a_to_b)), "from-a", "A again: a miss, replaced again");
}

// A second fragment header (the raw-frame differential fuzzer's find): the
// chain says twice which datagram, and which part of it, this is.
Test(model_crafted, second_fragment_header_is_malformed) {
    Edge1 e;
    Packet two_first = fragment_of("udp [2001:db8::7]:40000 > [2001:db8::1]:3478", 9, 0, true);
    two_first.ipv6_ext = {44, 44};
    expect(e.packet(two_first), false, "malformed_ipv6", "two first-fragment headers");
    Packet two_atomic = spec("udp [2001:db8::7]:40000 > [2001:db8::1]:3478");
    two_atomic.ipv6_ext = {44, 44};
    expect(e.packet(two_atomic), false, "malformed_ipv6", "two atomic fragment headers");
}
