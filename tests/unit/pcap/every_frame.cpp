// `test --pcap` replays every frame (loader/pcap: replay_every_frame): the
// direction a NIC would give it, Linux cooked captures (SLL, SLL2), the errors
// for unsupported link types, truncated records and snaplen-cut frames (each
// naming the frame), and the JSON line a frame of `edgefw test --pcap --json`.
#include <criterion/criterion.h>
#include <pcap/pcap.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "capture_files.h"
#include "pcap/reader.h"
#include "policy/policy.h"

using Bytes = std::vector<uint8_t>;
using namespace capture_files;

namespace {

const char* kPolicy = "policies/lync2010-edge-hlb.yaml";

// The frames of the capture, as edge1's external NIC would see them.
std::vector<Bytes> frames() {
    return {
        frame_of("udp 203.0.113.7:40000 > 131.107.155.30:3478"),      // 1 STUN in
        frame_of("egress udp 131.107.155.10:53000 > 192.0.2.53:53"),  // 2 DNS query out
        frame_of("udp 192.0.2.53:53 > 131.107.155.10:53000"),         // 3 its reply
        frame_of("udp 203.0.113.7:1 > 198.51.100.1:2"),               // 4 another host
        arp_frame(),                                                  // 5 ARP
    };
}

// Linux cooked headers: SLL (16 bytes, protocol last) and SLL2 (20 bytes,
// protocol first), in place of the Ethernet header.
Bytes sll(const Bytes& eth, uint16_t pkttype) {
    Bytes b = {uint8_t(pkttype >> 8),
               uint8_t(pkttype),
               0,
               1,
               0,
               6,
               2,
               2,
               2,
               2,
               2,
               2,
               0,
               0,
               eth[12],
               eth[13]};
    b.insert(b.end(), eth.begin() + 14, eth.end());
    return b;
}
Bytes sll2(const Bytes& eth, uint8_t pkttype) {
    Bytes b = {eth[12], eth[13], 0, 0, 0, 0, 0, 2, 0, 1, pkttype, 6, 2, 2, 2, 2, 2, 2, 0, 0};
    b.insert(b.end(), eth.begin() + 14, eth.end());
    return b;
}

policy::Policy reference() {
    policy::Diagnostics diags;
    auto p = policy::load(kPolicy, "", diags);
    cr_assert(p.has_value(), "cannot load %s", kPolicy);
    return *p;
}

std::vector<Bytes> read_all(const std::string& path, std::string& err, bool& ok) {
    std::vector<Bytes> out;
    ok = capture::read_frames(
        path,
        [&](const capture::Frame& f) {
            out.emplace_back(f.data, f.data + f.caplen);
            cr_assert_eq(f.number, out.size());
            return true;
        },
        err);
    return out;
}

// A cooked capture reads back as the Ethernet frames with zero MACs.
void check_cooked(int linktype, const std::vector<Bytes>& records) {
    std::string path = write_pcap(records, linktype);
    std::string err;
    bool ok = false;
    auto got = read_all(path, err, ok);
    cr_assert(ok, "%s", err.c_str());
    auto want = frames();
    cr_assert_eq(got.size(), want.size());
    for (size_t i = 0; i < want.size(); i++) {
        Bytes w = want[i];
        std::fill(w.begin(), w.begin() + 12, 0);
        cr_assert(got[i] == w, "frame %zu differs", i + 1);
    }
    // And replays as the Ethernet capture does.
    policy::Policy p = reference();
    capture::Summary s;
    std::vector<packet::Dir> dirs;
    auto judge = [](const capture::Frame&, packet::Dir,
                    std::string&) -> std::optional<capture::Verdict> {
        return capture::Verdict{true, false, EF_R_ARP_PASS};
    };
    cr_assert(capture::replay_every_frame(
                  p, "edge1", EF_ROLE_EXTERNAL, path, judge,
                  [&](const capture::FrameResult& r) { dirs.push_back(r.dir); }, s, err),
              "%s", err.c_str());
    using packet::Dir;
    cr_assert(dirs == (std::vector<Dir>{Dir::ingress, Dir::egress, Dir::ingress, Dir::ingress,
                                        Dir::ingress}));
    std::remove(path.c_str());
}

}  // namespace

Test(pcap_every_frame, linux_sll) {
    std::vector<Bytes> recs;
    for (const auto& f : frames()) recs.push_back(sll(f, 0));
    check_cooked(DLT_LINUX_SLL, recs);
}

Test(pcap_every_frame, linux_sll2) {
    std::vector<Bytes> recs;
    for (const auto& f : frames()) recs.push_back(sll2(f, 4));
    check_cooked(DLT_LINUX_SLL2, recs);
}

Test(pcap_every_frame, short_cooked_header_names_the_frame) {
    std::vector<Bytes> recs = {sll2(frames()[0], 0), Bytes(12, 0)};
    std::string path = write_pcap(recs, DLT_LINUX_SLL2);
    std::string err;
    bool ok = true;
    auto got = read_all(path, err, ok);
    cr_assert_not(ok);
    cr_assert_eq(got.size(), 1);
    cr_assert(err.find("frame 2") != std::string::npos, "%s", err.c_str());
    std::remove(path.c_str());
}

Test(pcap_every_frame, unsupported_link_type) {
    for (int link : {DLT_RAW, DLT_IEEE802_11, DLT_NULL}) {
        std::string path = write_pcap({Bytes(40, 0x45)}, link);
        std::string err;
        bool ok = true;
        auto got = read_all(path, err, ok);
        cr_assert_not(ok);
        cr_assert(got.empty());
        cr_assert(err.find("link type") != std::string::npos, "%s", err.c_str());
        cr_assert(err.find("(" + std::to_string(link) + ")") != std::string::npos, "%s",
                  err.c_str());
        cr_assert(err.find("LINUX_SLL") != std::string::npos, "%s", err.c_str());
        std::remove(path.c_str());
    }
}

Test(pcap_every_frame, truncated_record_names_the_frame) {
    std::string path = write_pcap(frames(), DLT_EN10MB);
    std::ifstream in(path, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    in.close();
    data.resize(data.size() - 10);  // cut the last record short
    std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
    std::string err;
    bool ok = true;
    auto got = read_all(path, err, ok);
    cr_assert_not(ok);
    cr_assert_eq(got.size(), 4);
    cr_assert(err.find("frame 5") != std::string::npos, "%s", err.c_str());
    cr_assert(err.find("truncated") != std::string::npos, "%s", err.c_str());
    std::remove(path.c_str());
}

Test(pcap_every_frame, snaplen_cut_frame_names_the_frame) {
    std::string path = write_pcap(frames(), DLT_EN10MB, 3);
    std::string err;
    bool ok = true;
    auto got = read_all(path, err, ok);
    cr_assert_not(ok);
    cr_assert_eq(got.size(), 2);
    cr_assert(err.find("frame 3") != std::string::npos, "%s", err.c_str());
    cr_assert(err.find("snap length") != std::string::npos, "%s", err.c_str());
    std::remove(path.c_str());
}

Test(pcap_every_frame, direction_as_the_nic_sees_it) {
    policy::Policy p = reference();
    auto locals = p.local_addresses("edge1", EF_ROLE_EXTERNAL);
    auto dir = [&](const Bytes& f) { return capture::frame_direction(locals, f.data(), f.size()); };
    using packet::Dir;
    cr_assert(dir(frame_of("udp 131.107.155.10:1 > 203.0.113.7:2")) == Dir::egress);
    cr_assert(dir(frame_of("udp 131.107.155.130:1 > 203.0.113.7:2")) == Dir::egress);  // its VIP
    cr_assert(dir(frame_of("udp 203.0.113.7:1 > 198.51.100.1:2")) == Dir::ingress);  // other hosts
    cr_assert(dir(frame_of("udp 131.107.155.11:1 > 203.0.113.7:2")) == Dir::ingress);  // edge2's
    cr_assert(dir(arp_frame()) == Dir::ingress);
    // An IPv6 source spelled ::ffff:131.107.155.10 is not the node's IPv4 address.
    Bytes v6 = frame_of("udp [2001:db8::7]:1 > [2001:db8::9]:2");
    packet::Addr mapped = *packet::parse_addr("131.107.155.10");
    std::copy(mapped.bytes.begin(), mapped.bytes.end(), v6.begin() + 14 + 8);
    cr_assert(dir(v6) == Dir::ingress);
    // A VLAN-tagged frame from the node.
    packet::SpecError e;
    auto tagged = packet::parse_spec("udp 131.107.155.10:1 > 203.0.113.7:2", Dir::ingress, e);
    tagged->vlan_tags = {100, 200};
    cr_assert(dir(packet::build_frame(*tagged)) == Dir::egress);
}

Test(pcap_every_frame, every_frame_judged_runts_unparsed) {
    auto recs = frames();
    recs.push_back(Bytes(10, 0xab));  // 6: shorter than an Ethernet header
    std::string path = write_pcap(recs, DLT_EN10MB);
    policy::Policy p = reference();
    capture::Summary s;
    std::string err;
    std::vector<capture::FrameResult> got;
    std::vector<uint64_t> numbers;
    size_t calls = 0;
    auto judge = [&](const capture::Frame& f, packet::Dir,
                     std::string& why) -> std::optional<capture::Verdict> {
        calls++;
        if (f.number == 4) {  // a frame the kernel cannot run
            why = "test";
            return std::nullopt;
        }
        return capture::Verdict{false, false, EF_R_DEFAULT_EXTERNAL_INGRESS};
    };
    cr_assert(capture::replay_every_frame(
                  p, "edge1", EF_ROLE_EXTERNAL, path, judge,
                  [&](const capture::FrameResult& r) {
                      got.push_back(r);
                      numbers.push_back(r.frame->number);
                  },
                  s, err),
              "%s", err.c_str());
    cr_assert_eq(got.size(), 6);
    cr_assert(numbers == (std::vector<uint64_t>{1, 2, 3, 4, 5, 6}));
    cr_assert_eq(calls, 5);  // every frame but the runt
    cr_assert_eq(s.frames, 6);
    cr_assert_eq(s.packets, 4);
    cr_assert_eq(s.not_run, 2);
    for (size_t i = 0; i < 5; i++) cr_assert(got[i].model.has_value(), "frame %zu", i + 1);
    cr_assert_not(got[5].model.has_value());  // unparsed
    cr_assert_not(got[5].kernel.has_value());
    cr_assert_not(got[3].kernel.has_value());
    cr_assert_not(got[3].agree.has_value());
    cr_assert_eq(got[3].not_run_why, "test");
    // The model drops frame 4 (no rule, like the judge says) and passes frame 1.
    cr_assert(got[3].model->pass == false);
    cr_assert(*got[0].agree == false);
    cr_assert_eq(s.agreed + s.disagreed, 4);
    std::remove(path.c_str());
}

// The JSON line a frame of `edgefw test --pcap --json` (runs the programs: root).
Test(pcap_every_frame, cli_json_line_a_frame) {
    if (geteuid() != 0) cr_skip_test("BPF_PROG_TEST_RUN needs root");
    std::string path = write_pcap(frames(), DLT_EN10MB);
    std::string cmd = std::string("build/edgefw test ") + kPolicy +
                      " --node edge1 --iface external --json --pcap " + path + " 2>&1";
    FILE* f = popen(cmd.c_str(), "r");
    cr_assert(f);
    std::string out;
    char buf[4096];
    while (fgets(buf, sizeof buf, f)) out += buf;
    int status = pclose(f);
    std::remove(path.c_str());
    cr_assert_eq(WEXITSTATUS(status), 0, "exit %d:\n%s", WEXITSTATUS(status), out.c_str());
    std::vector<nlohmann::json> lines;
    size_t pos = 0;
    while (pos < out.size()) {
        size_t nl = out.find('\n', pos);
        std::string line = out.substr(pos, nl - pos);
        pos = nl == std::string::npos ? out.size() : nl + 1;
        if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
    }
    cr_assert_eq(lines.size(), 6, "%s", out.c_str());  // 5 frames, then the summary
    const char* rules[] = {"ext-vip-av-stun-udp", "edge1-ext-dns", "edge1-ext-dns",
                           "default_external_ingress", "arp_pass"};
    const char* verdicts[] = {"pass", "pass", "pass", "drop", "pass"};
    const char* dirs[] = {"ingress", "egress", "ingress", "ingress", "ingress"};
    for (size_t i = 0; i < 5; i++) {
        const auto& j = lines[i];
        cr_assert_eq(j.at("frame").get<int>(), int(i + 1));
        cr_assert_eq(j.at("verdict").get<std::string>(), verdicts[i], "%s", j.dump().c_str());
        cr_assert_eq(j.at("rule").get<std::string>(), rules[i], "%s", j.dump().c_str());
        cr_assert_eq(j.at("dir").get<std::string>(), dirs[i]);
        cr_assert_eq(j.at("iface").get<std::string>(), "external");
        cr_assert(j.at("model").is_object(), "%s", j.dump().c_str());
        cr_assert(j.at("model").contains("verdict") && j.at("model").contains("rule"));
        cr_assert(j.at("agree").is_boolean());
        bool same = j["model"]["verdict"] == j["verdict"] && j["model"]["rule"] == j["rule"];
        cr_assert_eq(j["agree"].get<bool>(), same, "%s", j.dump().c_str());
    }
    cr_assert(lines[0].contains("packet"));
    cr_assert_not(lines[4].contains("packet"));  // ARP has no spec
    const auto& sum = lines[5];
    cr_assert_eq(sum.at("frames").get<int>(), 5);
    cr_assert_eq(sum.at("packets").get<int>(), 5);
    cr_assert(sum.contains("agreed") && sum.contains("disagreed") && sum.contains("summary"));
}
