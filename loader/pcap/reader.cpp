#include "pcap/reader.h"

#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "model/model.h"
#include "util/input_file.h"

namespace capture {

bool read_frames(const std::string& path, const std::function<bool(const Frame&)>& fn,
                 std::string& err) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    int fd = util::open_input(path, "capture", err);  // a regular file: never a FIFO or device
    if (fd < 0) return false;
    FILE* file = fdopen(fd, "rb");
    if (file == nullptr) close(fd);
    pcap_t* pc = file ? pcap_fopen_offline(file, errbuf) : nullptr;  // owns file from here
    if (pc == nullptr) {
        if (file) fclose(file);
        err = "cannot read capture '" + path + "': " + errbuf;
        return false;
    }
    struct Closer {
        pcap_t* pc;
        ~Closer() { pcap_close(pc); }
    } closer{pc};
    int link = pcap_datalink(pc);
    if (link != DLT_EN10MB) {
        const char* name = pcap_datalink_val_to_name(link);
        err = "capture '" + path + "' has link type " + (name ? name : "?") + " (" +
              std::to_string(link) +
              "); only Ethernet (EN10MB) captures can be replayed: capture on the Ethernet "
              "device itself, not on 'any' (Linux cooked) or a tunnel";
        return false;
    }
    Frame f;
    for (;;) {
        pcap_pkthdr* hdr = nullptr;
        const u_char* data = nullptr;
        int rc = pcap_next_ex(pc, &hdr, &data);
        if (rc == PCAP_ERROR_BREAK) return true;  // end of file
        if (rc != 1) {
            err = "capture '" + path + "': cannot read packet " + std::to_string(f.number + 1) +
                  ": " + pcap_geterr(pc);
            return false;
        }
        f.number++;
        f.data = data;
        f.caplen = hdr->caplen;
        f.wire_len = std::max(hdr->len, hdr->caplen);
        if (!fn(f)) return true;
    }
}

std::optional<packet::Dir> direction(const std::vector<packet::Addr>& locals,
                                     const packet::Packet& p) {
    auto local = [&](const packet::Addr& a) {
        return std::find(locals.begin(), locals.end(), a) != locals.end();
    };
    if (local(p.dst)) return packet::Dir::ingress;
    if (local(p.src)) return packet::Dir::egress;
    return std::nullopt;
}

void Summary::add(const Verdict& v, uint64_t wire_bytes) {
    Row& r = rows[{!v.by_rule, v.index}];
    r.by_rule = v.by_rule;
    r.index = v.index;
    r.packets++;
    r.bytes += wire_bytes;
    (v.pass ? r.passed : r.dropped)++;
    packets++;
    bytes += wire_bytes;
}

std::vector<Row> Summary::table() const {
    std::vector<Row> out;
    for (const auto& [key, row] : rows) out.push_back(row);
    return out;
}

bool replay(const std::string& path, const std::vector<packet::Addr>& locals, const Judge& judge,
            const OnFrame& on_frame, Summary& out, std::string& err) {
    return read_frames(
        path,
        [&](const Frame& f) {
            out.frames++;
            auto pkt = packet::parse_frame(f.data, f.caplen);
            if (!pkt) {
                out.unparsed++;
                if (on_frame) on_frame(f, Outcome::unparsed, nullptr, nullptr);
                return true;
            }
            auto dir = direction(locals, *pkt);
            if (!dir) {
                out.skipped++;
                if (on_frame) on_frame(f, Outcome::not_for_node, nullptr, nullptr);
                return true;
            }
            pkt->dir = *dir;
            std::optional<Verdict> v = judge(f, *pkt);
            if (!v) {
                out.not_run++;
                if (on_frame) on_frame(f, Outcome::not_run, &*pkt, nullptr);
                return true;
            }
            out.add(*v, f.wire_len);
            if (on_frame) on_frame(f, Outcome::judged, &*pkt, &*v);
            return true;
        },
        err);
}

bool replay_model(const policy::Policy& p, const std::string& node, uint32_t role,
                  const std::string& path, const OnFrame& on_frame, Summary& out,
                  std::string& err) {
    model::Model m(p, node);
    auto judge = [&](const Frame&, const packet::Packet& pkt) -> std::optional<Verdict> {
        auto v = m.run(role, pkt);
        return Verdict{v.pass, v.by_rule, v.index};
    };
    return replay(path, p.local_addresses(node, role), judge, on_frame, out, err);
}

}  // namespace capture
