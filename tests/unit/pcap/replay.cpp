// pcap replay (loader/pcap): a capture written with libpcap's pcap_dump API,
// and a pcapng crafted by hand, replayed through the model on the reference
// policy (node edge1, external interface); per-rule counts are checked. The
// kernel side runs the same capture when root and must agree frame by frame.
#include <criterion/criterion.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "capture_files.h"
#include "compile/compile.h"
#include "image/reasons.h"
#include "kernel/dataplane.h"
#include "pcap/reader.h"
#include "policy/policy.h"

using Bytes = std::vector<uint8_t>;
using namespace capture_files;

namespace {

const char* kPolicy = "policies/lync2010-edge-hlb.yaml";

// The capture: what edge1's external NIC would see.
const char* const kSpecs[] = {
    "udp 203.0.113.7:40000 > 131.107.155.30:3478",      // STUN request in
    "udp 203.0.113.7:40002 > 131.107.155.30:50000",     // RTP in range
    "udp 203.0.113.7:40002 > 131.107.155.30:49999",     // RTP out of range: default drop
    "egress udp 131.107.155.10:53000 > 192.0.2.53:53",  // DNS query out
    "udp 192.0.2.53:53 > 131.107.155.10:53000",         // its reply: tracked
    "udp 203.0.113.7:1000 > 198.51.100.1:2000",         // neither to nor from edge1
};

std::vector<Bytes> capture_frames() {
    std::vector<Bytes> out;
    for (const char* s : kSpecs) out.push_back(frame_of(s));
    out.push_back(arp_frame());
    return out;
}

void put32(Bytes& b, uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i)));  // little-endian section
}
void put16(Bytes& b, uint16_t v) {
    b.push_back(uint8_t(v));
    b.push_back(uint8_t(v >> 8));
}

// pcapng by hand (libpcap cannot write it): a Section Header Block, an
// Interface Description Block (LINKTYPE_ETHERNET), one Enhanced Packet Block a frame.
std::string write_pcapng(const std::vector<Bytes>& frames) {
    Bytes b;
    put32(b, 0x0A0D0D0A);  // SHB
    put32(b, 28);
    put32(b, 0x1A2B3C4D);  // byte-order magic
    put16(b, 1);
    put16(b, 0);
    put32(b, 0xffffffff);  // section length: unknown (-1, 64 bits)
    put32(b, 0xffffffff);
    put32(b, 28);
    put32(b, 1);  // IDB
    put32(b, 20);
    put16(b, 1);  // LINKTYPE_ETHERNET
    put16(b, 0);
    put32(b, 65535);  // snaplen
    put32(b, 20);
    uint32_t ts = 0;
    for (const auto& f : frames) {
        uint32_t padded = uint32_t((f.size() + 3) & ~size_t(3));
        uint32_t len = 32 + padded;
        put32(b, 6);  // EPB
        put32(b, len);
        put32(b, 0);  // interface 0
        put32(b, 0);  // timestamp high
        put32(b, ts += 1000);
        put32(b, uint32_t(f.size()));  // captured
        put32(b, uint32_t(f.size()));  // on the wire
        b.insert(b.end(), f.begin(), f.end());
        b.resize(b.size() + (padded - f.size()), 0);
        put32(b, len);
    }
    std::string path = temp_path(".pcapng");
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
    return path;
}

policy::Policy reference() {
    policy::Diagnostics diags;
    auto p = policy::load(kPolicy, "", diags);
    cr_assert(p.has_value(), "cannot load %s", kPolicy);
    return *p;
}

const capture::Row* row(const capture::Summary& s, const policy::Policy& p, const char* rule) {
    const policy::Rule* r = p.find_rule(rule);
    cr_assert_not_null(r, "no rule %s", rule);
    auto it = s.rows.find({false, r->index});
    return it == s.rows.end() ? nullptr : &it->second;
}

void check_model_summary(const std::string& path) {
    policy::Policy p = reference();
    capture::Summary s;
    std::string err;
    std::vector<std::string> dirs;
    bool ok = capture::replay_model(
        p, "edge1", EF_ROLE_EXTERNAL, path,
        [&](const capture::Frame&, capture::Outcome o, const packet::Packet* pkt,
            const capture::Verdict*) {
            if (o == capture::Outcome::judged)
                dirs.push_back(pkt->dir == packet::Dir::ingress ? "in" : "out");
        },
        s, err);
    cr_assert(ok, "%s", err.c_str());
    cr_assert_eq(s.frames, 7);
    cr_assert_eq(s.packets, 5);
    cr_assert_eq(s.skipped, 1);
    cr_assert_eq(s.unparsed, 1);
    cr_assert_eq(dirs, (std::vector<std::string>{"in", "in", "in", "out", "in"}));

    const capture::Row* stun = row(s, p, "ext-vip-av-stun-udp");
    cr_assert_not_null(stun);
    cr_assert_eq(stun->packets, 1);
    cr_assert_eq(stun->passed, 1);
    cr_assert_eq(stun->bytes, 14 + 20 + 8);
    const capture::Row* rtp = row(s, p, "edge1-ext-av-rtp-udp-in");
    cr_assert_not_null(rtp);
    cr_assert_eq(rtp->packets, 1);
    cr_assert_eq(rtp->passed, 1);
    const capture::Row* dns = row(s, p, "edge1-ext-dns");
    cr_assert_not_null(dns);
    cr_assert_eq(dns->packets, 2);  // query and tracked reply
    cr_assert_eq(dns->passed, 2);
    cr_assert_eq(dns->bytes, 2 * (14 + 20 + 8));

    auto dflt = s.rows.find({true, EF_R_DEFAULT_EXTERNAL_INGRESS});
    cr_assert(dflt != s.rows.end(), "no default_external_ingress row");
    cr_assert_eq(dflt->second.packets, 1);
    cr_assert_eq(dflt->second.dropped, 1);
    cr_assert_eq(s.rows.size(), 4);
    std::remove(path.c_str());
}

}  // namespace

Test(pcap_replay, model_counts_per_rule_pcap) { check_model_summary(write_pcap(capture_frames())); }

Test(pcap_replay, model_counts_per_rule_pcapng) {
    check_model_summary(write_pcapng(capture_frames()));
}

Test(pcap_replay, direction_from_local_addresses) {
    policy::Policy p = reference();
    auto locals = p.local_addresses("edge1", EF_ROLE_EXTERNAL);
    packet::SpecError err;
    auto vip_in = packet::parse_spec("udp 203.0.113.7:1 > 131.107.155.130:3478",
                                     packet::Dir::egress, err);  // a VIP edge1 backs
    cr_assert(vip_in.has_value());
    cr_assert(capture::direction(locals, *vip_in) == packet::Dir::ingress);
    auto other = packet::parse_spec("udp 131.107.155.11:1 > 203.0.113.7:2", packet::Dir::ingress,
                                    err);  // edge2's address
    cr_assert(other.has_value());
    cr_assert(!capture::direction(locals, *other).has_value());
}

Test(pcap_replay, rejects_non_ethernet_link_type) {
    std::string path = write_pcap({Bytes(40, 0x45)}, DLT_RAW);
    policy::Policy p = reference();
    capture::Summary s;
    std::string err;
    cr_assert_not(capture::replay_model(p, "edge1", EF_ROLE_EXTERNAL, path, nullptr, s, err));
    cr_assert(err.find("Ethernet") != std::string::npos, "%s", err.c_str());
    cr_assert_eq(s.frames, 0);
    std::remove(path.c_str());
}

Test(pcap_replay, truncated_capture_reports_error_after_good_frames) {
    std::string path = write_pcap(capture_frames());
    std::ifstream in(path, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    in.close();
    data.resize(data.size() - 10);  // cut the last record short
    std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
    policy::Policy p = reference();
    capture::Summary s;
    std::string err;
    cr_assert_not(capture::replay_model(p, "edge1", EF_ROLE_EXTERNAL, path, nullptr, s, err));
    cr_assert_eq(s.frames, 6, "frames %lu", (unsigned long)s.frames);
    cr_assert(!err.empty());
    std::remove(path.c_str());
}

Test(pcap_replay, missing_file_is_an_error) {
    policy::Policy p = reference();
    capture::Summary s;
    std::string err;
    cr_assert_not(
        capture::replay_model(p, "edge1", EF_ROLE_EXTERNAL, "/nonexistent.pcap", nullptr, s, err));
    cr_assert(err.find("/nonexistent.pcap") != std::string::npos, "%s", err.c_str());
}

// The kernel programs judge the same capture as the model, frame by frame.
Test(pcap_replay, kernel_agrees_with_model) {
    if (geteuid() != 0) cr_skip_test("BPF_PROG_TEST_RUN needs root");
    std::string path = write_pcap(capture_frames());
    policy::Policy p = reference();
    capture::Summary model_sum;
    std::vector<capture::Verdict> model_v;
    std::string err;
    auto collect = [](std::vector<capture::Verdict>& into) {
        return [&into](const capture::Frame&, capture::Outcome o, const packet::Packet*,
                       const capture::Verdict* v) {
            if (o == capture::Outcome::judged) into.push_back(*v);
        };
    };
    cr_assert(
        capture::replay_model(p, "edge1", EF_ROLE_EXTERNAL, path, collect(model_v), model_sum, err),
        "%s", err.c_str());

    image::MapImage img = compile::compile_node(p, "edge1");
    kernel::Options opts = kernel::Options::from_image(img);
    opts.record_last = true;
    kernel::Dataplane dp(opts);
    dp.write_image(img);
    dp.set_iface_role(kernel::Dataplane::kTestRunIfindex, EF_ROLE_EXTERNAL);
    capture::Summary kern_sum;
    std::vector<capture::Verdict> kern_v;
    auto judge = [&](const capture::Frame& f,
                     const packet::Packet& pkt) -> std::optional<capture::Verdict> {
        auto r = dp.run(pkt.dir, {f.data, f.caplen});
        cr_assert(r.counted);
        return capture::Verdict{r.pass, r.kind == EF_LAST_RULE, r.index};
    };
    cr_assert(capture::replay(path, p.local_addresses("edge1", EF_ROLE_EXTERNAL), judge,
                              collect(kern_v), kern_sum, err),
              "%s", err.c_str());
    cr_assert_eq(kern_v.size(), model_v.size());
    for (size_t i = 0; i < kern_v.size(); ++i) {
        cr_assert_eq(kern_v[i].pass, model_v[i].pass, "frame %zu", i);
        cr_assert_eq(kern_v[i].by_rule, model_v[i].by_rule, "frame %zu", i);
        cr_assert_eq(kern_v[i].index, model_v[i].index, "frame %zu", i);
    }
    cr_assert_eq(kern_sum.packets, model_sum.packets);
    std::remove(path.c_str());
}
