// What the pcap tests share: frames built from specs, an ARP frame, and
// captures written with libpcap's dump API into fresh temporary files.
#pragma once

#include <criterion/criterion.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "packet/packet.h"

namespace capture_files {

using Bytes = std::vector<uint8_t>;

inline Bytes frame_of(const char* spec) {
    packet::SpecError err;
    auto p = packet::parse_spec(spec, packet::Dir::ingress, err);
    cr_assert(p.has_value(), "'%s': %s", spec, err.message.c_str());
    return packet::build_frame(*p);
}

// An ARP request: Ethernet but not IP.
inline Bytes arp_frame() {
    Bytes f(42, 0);
    std::memset(f.data(), 0xff, 6);
    f[11] = 1;
    f[12] = 0x08;
    f[13] = 0x06;
    return f;
}

inline std::string temp_path(const char* suffix) {
    char tmpl[] = "/tmp/edgefw-pcap-XXXXXX";
    int fd = mkstemp(tmpl);
    cr_assert(fd >= 0);
    close(fd);
    std::string path = std::string(tmpl) + suffix;
    std::rename(tmpl, path.c_str());
    return path;
}

// A pcap of the records, 1 ms apart. `cut`: the frame number (1-based) recorded
// with 5 bytes more on the wire than captured (a snaplen-cut frame).
inline std::string write_pcap(const std::vector<Bytes>& records, int linktype = DLT_EN10MB,
                              size_t cut = 0) {
    std::string path = temp_path(".pcap");
    pcap_t* dead = pcap_open_dead(linktype, 65535);
    cr_assert_not_null(dead);
    pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
    cr_assert_not_null(d, "%s", pcap_geterr(dead));
    size_t n = 0;
    for (const auto& f : records) {
        pcap_pkthdr h{};
        h.ts.tv_sec = 1700000000;
        h.ts.tv_usec = long(++n) * 1000;
        h.caplen = h.len = uint32_t(f.size());
        if (n == cut) h.len += 5;
        pcap_dump(reinterpret_cast<u_char*>(d), &h, f.data());
    }
    pcap_dump_close(d);
    pcap_close(dead);
    return path;
}

}  // namespace capture_files
