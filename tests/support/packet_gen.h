// Random and adversarial packets for a policy: boundary ports (each range's
// edges and their neighbours), every local address, VIPs and backends,
// near-miss addresses next to every literal, both directions, flags that
// open, answer and close flows. Reproducible from a seed.
#pragma once

#include <random>
#include <vector>

#include "packet/packet.h"
#include "policy/policy.h"

namespace testgen {

class PacketGen {
  public:
    PacketGen(const policy::Policy& p, const std::string& node, uint64_t seed);

    packet::Packet next();  // a well-formed packet (no truncation)
    uint32_t role();        // the role of the last packet: its local address's, or random
    uint64_t seed() const { return seed_; }

  private:
    packet::Addr addr(bool v6);
    uint16_t port();
    packet::Addr inside(const policy::Cidr& c, bool v6);
    bool aim(packet::Packet& p);  // a packet aimed at one rule's match space
    void remember(const packet::Packet& p);

    const policy::Policy& policy_;
    std::string node_;
    uint32_t role_ = 0;

    uint64_t seed_;
    std::mt19937_64 rng_;
    std::vector<packet::Addr> v4_, v6_;
    std::vector<uint16_t> ports_;
    std::vector<uint32_t> roles_;
    std::vector<packet::Packet> recent_;  // replayed reversed, to hit conntrack
};

}  // namespace testgen

namespace testgen {

// Where the headers of an Ethernet frame start, read without trusting any
// length field beyond "the bytes are there" (offsets are 0 when absent).
struct FrameLayout {
    size_t l3 = 0;               // IP header
    int family = 0;              // 4, 6, or 0 (not IP)
    size_t l4 = 0;               // first byte after the IP header and its extensions
    uint8_t proto = 0;           // IPv4 protocol / last IPv6 next header
    size_t v6_frag = 0;          // IPv6 fragment header
    std::vector<size_t> v6_ext;  // IPv6 extension headers with a length byte (0, 43, 60)
};
FrameLayout layout_of(const std::vector<uint8_t>& f);

// Byte-level edits that keep a frame close to something a parser must judge:
// length fields (IPv4 tot_len/IHL, IPv6 payload length, extension lengths,
// TCP doff, UDP length), flags, addresses (the policy's local addresses,
// IPv4-mapped/compatible IPv6, broadcast, multicast), ports, ICMP types and
// quotes, fragment fields, truncation and padding, ethertypes and VLAN tags.
class FrameMutator {
  public:
    FrameMutator(const policy::Policy& p, const std::string& node);

    // One random edit; returns its name. `others` are earlier frames of the
    // same sequence: an ICMP error may quote one, a fragment may reuse its id.
    // The frame never grows past max_size.
    const char* mutate(std::vector<uint8_t>& f, std::mt19937_64& rng,
                       const std::vector<std::vector<uint8_t>>& others = {},
                       size_t max_size = 1514);

    // Sets IPv4 total length, IPv6 payload length and UDP length to what the
    // frame holds (a "repair" after edits that moved bytes).
    static void fix_lengths(std::vector<uint8_t>& f);
    // The reverse packet: addresses and ports swapped (a reply).
    static void reverse(std::vector<uint8_t>& f);

  private:
    packet::Addr pick_addr(std::mt19937_64& rng, bool v6);
    std::vector<packet::Addr> v4_, v6_;
    std::vector<uint16_t> ports_;
};

}  // namespace testgen
