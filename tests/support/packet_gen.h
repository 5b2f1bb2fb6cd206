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
