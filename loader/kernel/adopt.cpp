#include "kernel/adopt.h"

#include <bpf/bpf.h>
#include <netinet/in.h>
#include <time.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "image/rejudge.h"
#include "kernel/dataplane.h"

namespace kernel {

namespace {

constexpr int kTcpEstablished = 1;  // include/net/tcp_states.h

// One address as /proc/net/tcp{,6} prints it: the kernel's 32-bit words in
// host byte order, in hex (8 digits for IPv4, 32 for IPv6).
bool parse_proc_addr(const std::string& hex, packet::Addr& out) {
    uint8_t raw[16];
    size_t words = hex.size() / 8;
    if ((words != 1 && words != 4) || hex.size() % 8) return false;
    for (size_t w = 0; w < words; w++) {
        uint32_t v = 0;
        if (std::sscanf(hex.c_str() + w * 8, "%8x", &v) != 1) return false;
        std::memcpy(raw + w * 4, &v, 4);  // host order, as the kernel printed it
    }
    out = packet::Addr{};
    if (words == 1) {
        out.bytes[10] = out.bytes[11] = 0xff;
        std::memcpy(out.bytes.data() + 12, raw, 4);
    } else {
        std::memcpy(out.bytes.data(), raw, 16);  // an IPv4-mapped socket reads as IPv4 already
    }
    return true;
}

bool parse_endpoint(const std::string& text, packet::Addr& addr, uint16_t& port) {
    auto colon = text.find(':');
    unsigned p = 0;
    if (colon == std::string::npos || !parse_proc_addr(text.substr(0, colon), addr) ||
        std::sscanf(text.c_str() + colon + 1, "%4x", &p) != 1)
        return false;
    port = static_cast<uint16_t>(p);
    return true;
}

void read_table(const char* path, std::vector<TcpConnection>& out) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string slot, local, remote, state;
        if (!(fields >> slot >> local >> remote >> state)) continue;
        TcpConnection c;
        if (std::stoi(state, nullptr, 16) != kTcpEstablished ||
            !parse_endpoint(local, c.local, c.local_port) ||
            !parse_endpoint(remote, c.remote, c.remote_port))
            continue;
        out.push_back(c);
    }
}

}  // namespace

std::vector<TcpConnection> established_tcp() {
    std::vector<TcpConnection> out;
    // thread-self: the namespace this thread entered (NetnsGuard), not the process's.
    read_table("/proc/thread-self/net/tcp", out);
    read_table("/proc/thread-self/net/tcp6", out);
    return out;
}

std::vector<Adopted> adopt_connections(Dataplane& dp, const image::MapImage& img,
                                       const std::vector<uint32_t>& roles,
                                       const std::vector<TcpConnection>& conns) {
    const image::Lookup lookup(img);
    const int fd = dp.shared_maps().ct_est;
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);  // the programs' clock
    std::vector<Adopted> out;
    std::set<std::pair<uint32_t, packet::Addr>> local;  // (role, address local to it)
    for (const auto& i : img.ifaces)
        for (const auto& a : i.addresses)
            if (auto addr = packet::parse_addr(a)) local.insert({i.role, *addr});
    for (const auto& c : conns) {
        for (uint32_t role : roles) {
            if (!local.count({role, c.local})) continue;
            // Who opened it is not recorded; the peer's SYN to our port is
            // judged first (a service), then ours to the peer's (a client).
            for (uint32_t dir : {uint32_t{EF_DIR_INGRESS}, uint32_t{EF_DIR_EGRESS}}) {
                bool in = dir == EF_DIR_INGRESS;
                auto rule = lookup.classify(EF_COMBO(role, dir, EF_PS_TCP), c.local.bytes,
                                            c.remote.bytes, in ? c.local_port : c.remote_port,
                                            in ? c.remote_port : c.local_port);
                if (!rule) continue;
                ef_ct_key k;
                bool opener_is_a =
                    in ? image::ct_key_of(k, c.remote.bytes, c.remote_port, c.local.bytes,
                                          c.local_port, IPPROTO_TCP, role)
                       : image::ct_key_of(k, c.local.bytes, c.local_port, c.remote.bytes,
                                          c.remote_port, IPPROTO_TCP, role);
                ef_ct_value v{};
                v.last_seen_ns = uint64_t(now.tv_sec) * 1000000000ULL + uint64_t(now.tv_nsec);
                v.rule = static_cast<uint16_t>(*rule);  // gen 0: retagged on its next packet
                v.state = EF_CT_OPEN;
                v.opened_dir = static_cast<uint8_t>(dir);
                v.opener_is_a = opener_is_a;
                v.replied = 1;
                // BPF_NOEXIST: a packet of the flow may have made its entry already.
                if (bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST) == 0)
                    out.push_back({c, role, dir, *rule});
                break;
            }
        }
    }
    return out;
}

}  // namespace kernel
