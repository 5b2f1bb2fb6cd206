// Reading captures (pcap and pcapng, through libpcap) and replaying them
// against a node: the engine behind `explain --pcap` and `test --pcap`.
//
// Link types: Ethernet, and Linux cooked captures (`tcpdump -i any`: SLL and
// SLL2), whose frames get an Ethernet header with zero MACs and the protocol
// type of the cooked header.
//
// `test --pcap` (replay_every_frame) runs every frame through the kernel
// program, as the NIC would see it: egress if its source is a local address
// of the interface, ingress otherwise; the model judges the same bytes.
//
// `explain --pcap` (replay_model): a frame whose destination is a local address of the node's
// interface of the given role (policy::Policy::local_addresses: its addresses and the VIPs it
// backs) is judged as ingress (XDP); one whose source is local as egress (TC);
// any other is skipped ("not for this node"). A frame parse_frame cannot read
// (not IPv4/IPv6 over Ethernet, or a truncated IP header) is counted as
// unparsed: its direction cannot be known, so neither side judges it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "packet/packet.h"
#include "policy/policy.h"

namespace capture {

struct Frame {
    const uint8_t* data = nullptr;
    uint32_t caplen = 0;    // bytes captured (what is replayed)
    uint32_t wire_len = 0;  // bytes on the wire (what the summary counts)
    uint64_t number = 0;    // 1-based position in the capture
};

// Calls `fn` for every frame in file order; `fn` returns false to stop early.
// False with `err` set when the file cannot be opened, its link type is not
// Ethernet (DLT_EN10MB) or Linux cooked (DLT_LINUX_SLL, DLT_LINUX_SLL2), a
// record cannot be read (truncated file), a frame was cut by the snap length
// (captured < on the wire) or a cooked header is short; `err` names the frame.
bool read_frames(const std::string& path, const std::function<bool(const Frame&)>& fn,
                 std::string& err);

// Ingress when dst is local, egress when src is local, nullopt otherwise.
std::optional<packet::Dir> direction(const std::vector<packet::Addr>& locals,
                                     const packet::Packet& p);

// The IP source address of a raw Ethernet frame (up to two VLAN tags), read
// only as far as the bytes go; nullopt for a frame with no IPv4/IPv6 source.
std::optional<packet::Addr> frame_source(const uint8_t* data, size_t len);
// The hook a NIC runs a raw frame through: egress if its source is one of
// `locals` (an IPv6 source only matches IPv6 locals), ingress otherwise
// (non-IP frames too).
packet::Dir frame_direction(const std::vector<packet::Addr>& locals, const uint8_t* data,
                            size_t len);

struct Verdict {
    bool pass = false;
    bool by_rule = false;
    uint32_t index = 0;  // rule index or enum ef_reason
};

struct Row {
    bool by_rule = false;
    uint32_t index = 0;
    uint64_t packets = 0, bytes = 0, passed = 0, dropped = 0;
};

struct Summary {
    std::map<std::pair<bool, uint32_t>, Row> rows;  // key: (!by_rule, index): rules first
    uint64_t packets = 0;                           // judged
    uint64_t bytes = 0;                             // judged, on the wire
    uint64_t skipped = 0;   // not to or from the node's addresses on this interface
    uint64_t unparsed = 0;  // parse_frame returned nullopt
    uint64_t not_run = 0;   // the judge declined (test: too large for BPF_PROG_TEST_RUN)
    uint64_t frames = 0;    // read from the capture
    uint64_t agreed = 0, disagreed = 0;  // replay_every_frame: model vs kernel

    void add(const Verdict& v, uint64_t wire_bytes);
    std::vector<Row> table() const;  // rules in file order, then reasons
};

enum class Outcome { judged, not_for_node, unparsed, not_run };

// One callback per frame read; `pkt` and `v` are set only for judged frames
// (pkt.dir is the direction it was judged in).
using OnFrame =
    std::function<void(const Frame&, Outcome, const packet::Packet* pkt, const Verdict* v)>;
// Judges one frame already known to be for the node (pkt.dir set); nullopt
// when it cannot (counted as not_run).
using Judge = std::function<std::optional<Verdict>(const Frame&, const packet::Packet& pkt)>;

// Replays a capture. On a read error the summary holds what was replayed
// before it and `err` says what went wrong (returns false).
bool replay(const std::string& path, const std::vector<packet::Addr>& locals, const Judge& judge,
            const OnFrame& on_frame, Summary& out, std::string& err);

// test --pcap: every frame through the kernel (`kernel`; nullopt with `why`
// set when it cannot run the frame) and through the model (Model::run_frame,
// state carried across the capture). Frames shorter than an Ethernet header
// go to neither (no NIC delivers them): model unparsed, kernel not run.
struct FrameResult {
    const Frame* frame = nullptr;
    packet::Dir dir = packet::Dir::ingress;
    std::optional<packet::Packet> pkt;  // what parse_frame reads, when it can
    std::optional<Verdict> kernel;      // nullopt: not run (not_run_why says why)
    std::string not_run_why;
    std::optional<Verdict> model;  // nullopt: unparsed
    // Both judged the frame and moved the same counter; nullopt when one did not judge it.
    std::optional<bool> agree;
};
using KernelJudge =
    std::function<std::optional<Verdict>(const Frame&, packet::Dir, std::string& why)>;
using OnResult = std::function<void(const FrameResult&)>;
bool replay_every_frame(const policy::Policy& p, const std::string& node, uint32_t role,
                        const std::string& path, const KernelJudge& kernel,
                        const OnResult& on_result, Summary& out, std::string& err);

// The userspace model's replay of a capture for `node` on the interface of `role`.
bool replay_model(const policy::Policy& p, const std::string& node, uint32_t role,
                  const std::string& path, const OnFrame& on_frame, Summary& out, std::string& err);

}  // namespace capture
