// Differential fuzzing on raw bytes: each input is a short sequence of
// Ethernet frames, each run through the userspace model (Model::run_frame)
// and through the real BPF program of its direction (XDP for ingress, TC for
// egress, BPF_PROG_TEST_RUN), for the reference policy on node edge1. Any
// difference in verdict or in the counter that moved (rule or reason, and
// which) aborts, so libFuzzer keeps the input. Needs root (BPF).
//
// Input: up to kMaxFrames records of
//   ctl (bit 0: 0 ingress / 1 egress; bit 1: role 0 external / 1 internal)
//   length (2 bytes, big-endian; cut to what is left)
//   the frame
// Both sides start every input from empty conntrack and fragment state.
//
// Environment:
//   EDGEFW_FUZZ_CONTINUE=1        report each distinct disagreement once
//                                 (with the frame in hex) and go on, instead
//                                 of aborting on the first
//   EDGEFW_FUZZ_WRITE_SEEDS=DIR   write the seed inputs to DIR and exit
// At exit it prints "fuzz_dataplane: N inputs, N frames, N disagreements ..."
// (libFuzzer counts inputs; an input holds up to 8 frames). To see a saved
// input again (both verdicts, every frame in hex), run the binary on it from
// the repo root: build/fuzz/fuzz_dataplane build/fuzz/artifacts/dataplane-crash-...
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "compile/compile.h"
#include "fuzz_common.h"
#include "image/reasons.h"
#include "kernel/dataplane.h"
#include "model/model.h"
#include "packet/packet.h"
#include "packet_gen.h"
#include "policy/policy.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

using Bytes = std::vector<uint8_t>;

constexpr size_t kMaxFrames = 8;
constexpr size_t kMinFrame = 14;     // BPF_PROG_TEST_RUN takes no less than an Ethernet header
constexpr size_t kMaxFrame = 3520;   // nor more than its linear buffer (see cmd_pcap.cpp)
constexpr size_t kMutateMax = 1600;  // what the custom mutator grows a frame to
const char* const kNode = "edge1";

struct Record {
    uint8_t ctl = 0;
    Bytes frame;
    packet::Dir dir() const { return ctl & 1 ? packet::Dir::egress : packet::Dir::ingress; }
    uint32_t role() const { return ctl & 2 ? EF_ROLE_INTERNAL : EF_ROLE_EXTERNAL; }
};

std::vector<Record> decode(const uint8_t* data, size_t size) {
    std::vector<Record> out;
    size_t off = 0;
    while (off + 3 <= size && out.size() < kMaxFrames) {
        Record r;
        r.ctl = data[off];
        size_t len = size_t(data[off + 1]) << 8 | data[off + 2];
        off += 3;
        len = std::min(len, size - off);
        r.frame.assign(data + off, data + off + len);
        off += len;
        out.push_back(std::move(r));
    }
    return out;
}

Bytes encode(const std::vector<Record>& recs) {
    Bytes out;
    for (const auto& r : recs) {
        out.push_back(r.ctl & 3);
        out.push_back(uint8_t(r.frame.size() >> 8));
        out.push_back(uint8_t(r.frame.size()));
        out.insert(out.end(), r.frame.begin(), r.frame.end());
    }
    return out;
}

struct Totals {
    uint64_t inputs = 0, frames = 0, not_run = 0, disagreements = 0, kernel_pass_model_drop = 0;
    std::map<std::string, uint64_t> classes;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

struct State {
    policy::Policy policy;
    std::unique_ptr<kernel::Dataplane> dp;
    std::unique_ptr<model::Model> model;
    std::unique_ptr<testgen::FrameMutator> mutator;
    uint32_t role = ~0u;
    bool dirty = true;  // the kernel's conntrack/fragment maps may hold entries
    bool keep_going = false;
    Totals totals;
};
State* g = nullptr;

std::string hex(const Bytes& b) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (uint8_t c : b) s += d[c >> 4], s += d[c & 15];
    return s;
}

std::string name(bool pass, bool by_rule, uint32_t index) {
    std::string n = by_rule ? (index < g->policy.rules.size() ? g->policy.rules[index].id
                                                              : "rule#" + std::to_string(index))
                            : image::reason_name(index);
    return std::string(pass ? "pass " : "drop ") + n;
}

void print_totals() {
    if (!g) return;
    const Totals& t = g->totals;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t.start).count();
    std::fprintf(
        stderr,
        "fuzz_dataplane: %llu inputs, %llu frames (%.0f frames/s; %llu short egress frames the "
        "skb test run refuses), %llu disagreements (%zu classes), %llu frames the kernel "
        "passed and the model dropped\n",
        (unsigned long long)t.inputs, (unsigned long long)t.frames,
        secs > 0 ? double(t.frames) / secs : 0.0, (unsigned long long)t.not_run,
        (unsigned long long)t.disagreements, t.classes.size(),
        (unsigned long long)t.kernel_pass_model_drop);
    for (const auto& [k, n] : t.classes)
        std::fprintf(stderr, "fuzz_dataplane:   %6llu  %s\n", (unsigned long long)n, k.c_str());
    // With EDGEFW_FUZZ_CONTINUE the run goes on past disagreements; it still fails.
    if (t.disagreements) {
        std::fflush(stderr);
        std::_Exit(1);
    }
}

// ---- seeds -----------------------------------------------------------------

packet::Addr remote_of(const std::vector<policy::Cidr>& cidrs, bool v4) {
    for (const auto& c : cidrs)
        if (!c.is_any() && c.addr.is_v4() == v4) {
            packet::Addr a = c.addr;
            if (c.plen < 128) a.bytes[15] |= 1;  // a host inside the prefix
            return a;
        }
    return *packet::parse_addr(v4 ? "203.0.113.7" : "2001:db8::7");
}

void add_seed(std::vector<Bytes>& seeds, std::vector<Record> recs) {
    seeds.push_back(encode(recs));
}

Record rec(const packet::Packet& p, uint32_t role) {
    return Record{uint8_t((p.dir == packet::Dir::egress ? 1 : 0) | (role ? 2 : 0)),
                  packet::build_frame(p)};
}

packet::Packet reply_of(packet::Packet p) {
    std::swap(p.src, p.dst);
    std::swap(p.sport, p.dport);
    p.dir = p.dir == packet::Dir::ingress ? packet::Dir::egress : packet::Dir::ingress;
    if (p.proto == 6) p.tcp_flags = packet::tcp_flag::SYN | packet::tcp_flag::ACK;
    if (p.icmp_type == 8) p.icmp_type = 0;
    if (p.icmp_type == 128) p.icmp_type = 129;
    return p;
}

// An ICMP error about packet q, sent by q's destination back to q's source,
// seen on `dir`.
packet::Packet error_about(const packet::Packet& q, packet::Dir dir) {
    packet::Packet e;
    e.dir = dir;
    bool v4 = q.src.is_v4();
    e.proto = v4 ? 1 : 58;
    e.src = q.dst;
    e.dst = q.src;
    e.icmp_type = v4 ? 3 : 1;
    e.icmp_code = v4 ? 4 : 4;
    e.icmp_quote = packet::quote_of(q);
    return e;
}

packet::Packet spec(const char* s) {
    packet::SpecError err;
    auto p = packet::parse_spec(s, packet::Dir::ingress, err);
    if (!p) fuzz::fail(std::string("seed spec '") + s + "': " + err.message);
    return *p;
}

void set16(Bytes& b, size_t off, uint16_t v) {
    b[off] = uint8_t(v >> 8);
    b[off + 1] = uint8_t(v);
}

std::vector<Bytes> make_seeds(const policy::Policy& p) {
    std::vector<Bytes> seeds;
    // A valid frame of every rule and direction of edge1, alone, and opening
    // a flow: the reply, then an error about the reply from the remote side.
    for (const auto& r : p.rules) {
        if (!p.rule_enabled(r)) continue;
        auto src = p.expand(r.src, kNode), dst = p.expand(r.dst, kNode);
        for (uint32_t role : {uint32_t(EF_ROLE_EXTERNAL), uint32_t(EF_ROLE_INTERNAL)}) {
            for (const auto& local : p.local_addresses(kNode, role)) {
                for (packet::Dir dir : {packet::Dir::ingress, packet::Dir::egress}) {
                    const auto& local_side = dir == packet::Dir::ingress ? dst : src;
                    const auto& remote_side = dir == packet::Dir::ingress ? src : dst;
                    bool hit = false;
                    for (const auto& c : local_side) hit |= !c.is_any() && c.contains(local);
                    if (!hit) continue;
                    packet::Packet q;
                    q.dir = dir;
                    q.proto = policy::proto_number(r.proto);
                    packet::Addr remote = remote_of(remote_side, local.is_v4());
                    q.src = dir == packet::Dir::ingress ? remote : local;
                    q.dst = dir == packet::Dir::ingress ? local : remote;
                    if (q.proto == 6 || q.proto == 17) {
                        q.sport = r.sport.empty() ? 40000 : r.sport.front().lo;
                        q.dport = r.dport.empty() ? 443 : r.dport.front().hi;
                        if (q.sport == 0) q.sport = 40000;
                    }
                    if (q.proto == 6) q.tcp_flags = packet::tcp_flag::SYN;
                    if (q.proto == 1 || q.proto == 58) {
                        q.icmp_type = r.icmp_type.value_or(q.proto == 1 ? 8 : 128);
                        q.icmp_code = r.icmp_code.value_or(0);
                    }
                    add_seed(seeds, {rec(q, role)});
                    packet::Packet a = reply_of(q);
                    packet::Packet e = error_about(a, q.dir);
                    add_seed(seeds, {rec(q, role), rec(a, role), rec(e, role)});
                    goto next_role;  // one local address a rule and role is enough
                }
            }
        next_role:;
        }
    }
    // The crafted frames of issue 13 (edge1, external, no site file).
    const uint32_t ext = EF_ROLE_EXTERNAL;
    packet::Packet stun = spec("udp 203.0.113.7:40000 > 131.107.155.130:3478");
    {  // 1: tot_len 20, the UDP header only in the Ethernet padding
        Record r = rec(stun, ext);
        set16(r.frame, 14 + 2, 20);
        add_seed(seeds, {r});
        Record t = rec(spec("tcp 203.0.113.7:40000 > 131.107.155.110:443 flags S"), ext);
        set16(t.frame, 14 + 2, 20);
        add_seed(seeds, {t});
        // IPv6 payload length 0 with a UDP header after it
        Record v6 = rec(spec("udp [2001:db8::7]:40000 > [2001:db8::10]:3478"), ext);
        set16(v6.frame, 14 + 4, 0);
        add_seed(seeds, {v6});
        // an ICMP error whose quoted ports lie past tot_len
        packet::Packet reply = reply_of(stun);
        Record e = rec(error_about(reply, packet::Dir::ingress), ext);
        set16(e.frame, 14 + 2, uint16_t(20 + 8 + 20));
        add_seed(seeds, {rec(stun, ext), rec(reply, ext), e});
    }
    {  // 2: errors related on the quoted tuple alone
        packet::Packet reply = reply_of(stun);
        packet::Packet redirect = error_about(reply, packet::Dir::ingress);
        redirect.icmp_type = 5;
        redirect.icmp_code = 1;
        redirect.dst = *packet::parse_addr("131.107.155.10");
        add_seed(seeds, {rec(stun, ext), rec(redirect, ext)});
        packet::Packet third = error_about(reply, packet::Dir::ingress);
        third.src = *packet::parse_addr("198.51.100.254");
        third.dst = *packet::parse_addr("131.107.155.20");
        add_seed(seeds, {rec(stun, ext), rec(third, ext)});
        packet::Packet own =
            error_about(stun, packet::Dir::ingress);  // quotes the attacker's packet
        own.icmp_type = 12;
        own.icmp_code = 0;
        own.src = stun.src;
        own.dst = *packet::parse_addr("131.107.155.10");
        add_seed(seeds, {rec(stun, ext), rec(own, ext)});
        packet::Packet google = error_about(reply, packet::Dir::ingress);
        google.dst = *packet::parse_addr("8.8.8.8");
        add_seed(seeds, {rec(stun, ext), rec(google, ext)});
        packet::Packet out = error_about(stun, packet::Dir::egress);  // node to a third party
        out.src = *packet::parse_addr("131.107.155.10");
        out.dst = *packet::parse_addr("198.51.100.9");
        add_seed(seeds, {rec(stun, ext), rec(out, ext)});
    }
    {  // 3: IPv4-mapped IPv6 addresses (the spec grammar cannot write them)
        auto mapped = [&](const char* text, bool dst, const char* v4) {
            Record r = rec(spec(text), ext);
            packet::Addr a = *packet::parse_addr(v4);  // stored ::ffff:a.b.c.d
            std::copy(a.bytes.begin(), a.bytes.end(), r.frame.begin() + 14 + (dst ? 24 : 8));
            if (!dst) r.ctl |= 1;
            add_seed(seeds, {r});
        };
        mapped("udp [2001:db8::7]:46001 > [2001:db8::10]:3478", true, "131.107.155.130");
        mapped("tcp [2001:db8::7]:46001 > [2001:db8::10]:443", true, "131.107.155.110");
        mapped("egress udp [2001:db8::10]:53000 > [2001:db8::53]:53", false, "131.107.155.10");
    }
    {  // 4: conntrack direction; the node's own address as an ingress source
        add_seed(seeds,
                 {rec(stun, ext), rec(spec("udp 131.107.155.130:3478 > 203.0.113.7:40000"), ext)});
    }
    {  // 5: fragments: a DNS exchange with a fragmented reply, id reuse
        packet::Packet q = spec("egress udp 131.107.155.10:53000 > 192.0.2.53:53");
        packet::Packet first = reply_of(q);
        first.fragment = true;
        first.more_fragments = true;
        first.frag_id = 77;
        packet::Packet later = first;
        later.frag_offset = 8;
        later.more_fragments = false;
        add_seed(seeds, {rec(q, ext), rec(first, ext), rec(later, ext)});
        packet::Packet denied = spec("udp 203.0.113.7:1 > 131.107.155.10:9");
        denied.fragment = true;
        denied.more_fragments = true;
        denied.frag_id = 77;
        denied.src = first.src;
        add_seed(seeds, {rec(q, ext), rec(first, ext), rec(denied, ext), rec(later, ext)});
        packet::Packet f6 = spec("udp [2001:db8::53]:53 > [2001:db8::10]:53000");
        f6.fragment = true;
        f6.more_fragments = true;
        f6.frag_id = 9;
        packet::Packet l6 = f6;
        l6.frag_offset = 8;
        l6.more_fragments = false;
        add_seed(seeds, {rec(f6, ext), rec(l6, ext)});
    }
    {  // 7: tot_len past the frame, TCP doff < 5, short ICMPv6 error
        Record r = rec(stun, ext);
        set16(r.frame, 14 + 2, 200);
        add_seed(seeds, {r});
        Record t = rec(spec("tcp 203.0.113.7:40000 > 131.107.155.110:443 flags S"), ext);
        t.frame[14 + 20 + 12] = 0x30;
        add_seed(seeds, {t});
        packet::Packet e6 = spec("icmp6 [2001:db8::7] > [2001:db8::10] type 1 code 4");
        add_seed(seeds, {rec(e6, ext)});
    }
    // Layer 2: ARP, ND, another ethertype, two VLAN tags, a runt.
    {
        Bytes arp(42, 0);
        std::fill(arp.begin(), arp.begin() + 6, 0xff);
        arp[12] = 0x08, arp[13] = 0x06;
        add_seed(seeds, {Record{0, arp}});
        add_seed(seeds, {rec(spec("icmp6 [fe80::1] > [ff02::1:ff00:10] type 135"), ext)});
        packet::Packet v = stun;
        v.vlan_tags = {100, 200};
        add_seed(seeds, {rec(v, ext)});
    }
    return seeds;
}

void write_seeds(const std::string& dir) {
    auto seeds = make_seeds(g->policy);
    for (size_t i = 0; i < seeds.size(); i++) {
        char nm[32];
        std::snprintf(nm, sizeof nm, "/seed-%03zu", i);
        std::ofstream(dir + nm, std::ios::binary)
            .write(reinterpret_cast<const char*>(seeds[i].data()),
                   std::streamsize(seeds[i].size()));
    }
    std::fprintf(stderr, "fuzz_dataplane: wrote %zu seeds to %s\n", seeds.size(), dir.c_str());
}

// ---- one frame, both sides ---------------------------------------------------

void judge(const Record& r, size_t pos, const std::vector<Record>& seq) {
    if (r.role() != g->role)
        g->dp->set_iface_role(kernel::Dataplane::kTestRunIfindex, g->role = r.role());
    kernel::RunResult got;
    try {
        got = g->dp->run(r.dir(), r.frame);
    } catch (const kernel::Error& e) {
        // The skb test run refuses a frame whose ethertype names IP but that
        // is shorter than the IP header (EINVAL): the stack never hands TC
        // such a frame. Neither side judges it.
        if (r.dir() == packet::Dir::egress && r.frame.size() < 14 + 40) {
            g->totals.not_run++;
            return;
        }
        fuzz::fail(std::string("BPF_PROG_TEST_RUN: ") + e.what() + " frame " + hex(r.frame));
    }
    model::Verdict want = g->model->run_frame(r.role(), r.dir(), r.frame);
    g->totals.frames++;
    if (got.pass) g->dirty = true;
    bool by_rule = got.kind == EF_LAST_RULE;
    if (got.counted && got.pass == want.pass && by_rule == want.by_rule && got.index == want.index)
        return;
    g->totals.disagreements++;
    if (got.pass && !want.pass) g->totals.kernel_pass_model_drop++;
    const char* dir = r.dir() == packet::Dir::ingress ? "ingress" : "egress";
    std::string kern = got.counted ? name(got.pass, by_rule, got.index)
                                   : std::string(got.pass ? "pass" : "drop") + " (no counter)";
    std::string mod = name(want.pass, want.by_rule, want.index);
    std::string cls = std::string(policy::role_name(r.role())) + " " + dir + ": kernel " + kern +
                      ", model " + mod;
    std::string what = cls + "; frame " + std::to_string(pos + 1) + " of " +
                       std::to_string(seq.size()) + ": " + hex(r.frame);
    for (size_t i = 0; i < pos; i++)
        what += "\n  after frame " + std::to_string(i + 1) + " (" +
                (seq[i].dir() == packet::Dir::ingress ? "ingress" : "egress") + ", " +
                policy::role_name(seq[i].role()) + "): " + hex(seq[i].frame);
    if (!g->keep_going) fuzz::fail("model and kernel disagree: " + what);
    if (g->totals.classes[cls]++ == 0)
        std::fprintf(stderr, "fuzz_dataplane: NEW %s\n", what.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const char* seeds_dir = std::getenv("EDGEFW_FUZZ_WRITE_SEEDS");
    if (geteuid() != 0 && !seeds_dir) {
        std::fprintf(stderr, "fuzz_dataplane: needs root (BPF_PROG_TEST_RUN); skipped\n");
        std::exit(0);
    }
    g = new State;
    policy::Diagnostics diags;
    auto p = policy::load(fuzz::repo_file_path("policies/lync2010-edge-hlb.yaml"), "", diags);
    if (!p) fuzz::fail("cannot load the reference policy");
    g->policy = std::move(*p);
    g->mutator = std::make_unique<testgen::FrameMutator>(g->policy, kNode);
    if (seeds_dir) {
        write_seeds(seeds_dir);
        std::exit(0);
    }
    g->keep_going = std::getenv("EDGEFW_FUZZ_CONTINUE") != nullptr;
    image::MapImage img = compile::compile_node(g->policy, kNode);
    kernel::Options opts = kernel::Options::from_image(img);
    opts.record_last = true;
    opts.ct_size = 1 << 16;  // far more than 8 frames can fill: the LRU never evicts
    // The model has no clock: no flow may time out within an input.
    opts.timeouts = {86400, 86400, 86400, 86400};
    g->dp = std::make_unique<kernel::Dataplane>(opts);
    g->dp->write_image(img);
    g->model = std::make_unique<model::Model>(g->policy, kNode);
    std::atexit(print_totals);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto seq = decode(data, size);
    g->totals.inputs++;
    // Entries come only from frames that pass, so the maps are cleared only
    // after an input where the kernel passed one (clearing walks the tables:
    // it would halve the rate). Checked now and then: after inputs that passed
    // nothing, the tables must be empty.
    if (g->dirty) {
        g->dp->clear_conntrack();
        g->dirty = false;
    } else if (g->totals.inputs % 1024 == 0 &&
               (g->dp->ct_entries() != 0 || g->dp->frag_entries() != 0)) {
        fuzz::fail("the kernel holds conntrack or fragment entries although no frame passed");
    }
    g->model->clear();
    for (size_t i = 0; i < seq.size(); i++) {
        if (seq[i].frame.size() < kMinFrame || seq[i].frame.size() > kMaxFrame) continue;
        judge(seq[i], i, seq);
    }
    return 0;
}

// Structural edits a byte flip rarely finds, on one frame of the sequence or
// on the sequence itself; a quarter of the time libFuzzer's own mutations.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
    std::mt19937_64 rng(seed);
    auto seq = decode(data, size);
    if (seq.empty()) seq.push_back(Record{0, Bytes(kMinFrame, 0)});
    size_t k = rng() % seq.size();
    std::vector<Bytes> others;
    for (size_t i = 0; i < seq.size(); i++)
        if (i != k) others.push_back(seq[i].frame);
    switch (rng() % 12) {
        case 0: {  // libFuzzer's byte-level mutations on one frame
            Bytes& f = seq[k].frame;
            size_t n = f.size();
            f.resize(std::max<size_t>(n, 1) + 64);
            f.resize(LLVMFuzzerMutate(f.data(), n, f.size()));
            break;
        }
        case 1:  // direction / role
            seq[k].ctl ^= uint8_t(1 + rng() % 3);
            break;
        case 2:  // a reply to a frame: reversed on the other hook
            if (seq.size() < kMaxFrames) {
                Record r = seq[k];
                testgen::FrameMutator::reverse(r.frame);
                r.ctl ^= 1;
                seq.insert(seq.begin() + long(k) + 1 + long(rng() % (seq.size() - k)), r);
            }
            break;
        case 3:  // a copy (a later packet of the flow, or a fragment to edit)
            if (seq.size() < kMaxFrames) {
                Record r = seq[k];
                g->mutator->mutate(r.frame, rng, others, kMutateMax);
                seq.insert(seq.begin() + long(k) + 1, r);
            }
            break;
        case 4:
            if (seq.size() > 1) seq.erase(seq.begin() + long(k));
            break;
        case 5:
            if (seq.size() > 1) std::swap(seq[k], seq[rng() % seq.size()]);
            break;
        default: {  // one or a few structural edits
            int n = 1 + int(rng() % 3);
            for (int i = 0; i < n; i++) g->mutator->mutate(seq[k].frame, rng, others, kMutateMax);
            break;
        }
    }
    Bytes out = encode(seq);
    while (out.size() > max_size && seq.size() > 1) {  // drop frames from the end to fit
        seq.pop_back();
        out = encode(seq);
    }
    if (out.size() > max_size) out.resize(max_size);
    std::copy(out.begin(), out.end(), data);
    return out.size();
}
