// Connections that were open before `load`: the operator's SSH session, an
// Ansible control connection, a CMS replication stream. They have no conntrack
// entry, and with egress enforced the node's next packet of each would drop
// until the peer happened to send one (a session waiting for output hangs).
// `load` gives every established TCP connection of the namespace whose opening
// packet the new policy admits the entry its SYN would have made.
#pragma once

#include <cstdint>
#include <vector>

#include "image/lookup.h"
#include "image/map_image.h"
#include "packet/packet.h"

namespace kernel {

class Dataplane;

struct TcpConnection {
    packet::Addr local;
    packet::Addr remote;
    uint16_t local_port = 0;
    uint16_t remote_port = 0;
};

// The established TCP connections of the calling thread's network namespace
// (/proc/thread-self/net/tcp and tcp6; IPv4-mapped IPv6 sockets as IPv4).
std::vector<TcpConnection> established_tcp();

// An adopted connection: the entry written and the rule it counts under.
struct Adopted {
    TcpConnection conn;
    uint32_t role = 0;        // enum ef_role
    uint32_t opened_dir = 0;  // enum ef_dir: ingress when the peer connected to us
    uint32_t rule = 0;        // counter slot
};

// For each connection and each protected role with its local address, the
// opening packet is judged by the image (the peer's SYN on ingress when the
// local port is the one a rule names, else ours on egress); an admitted one
// gets an established entry (ef_ct_est). The image must be the one written
// (counter slots). Returns what was adopted.
std::vector<Adopted> adopt_connections(Dataplane& dp, const image::MapImage& img,
                                       const std::vector<uint32_t>& roles,
                                       const std::vector<TcpConnection>& conns);

}  // namespace kernel
