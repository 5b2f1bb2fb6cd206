#include "pcap/reader.h"

#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "model/model.h"
#include "util/input_file.h"

namespace capture {

namespace {

constexpr size_t kEthHeader = 14;
constexpr size_t kSllHeader = 16;   // LINUX_SLL: protocol type at offset 14
constexpr size_t kSll2Header = 20;  // LINUX_SLL2: protocol type at offset 0

std::string frame_label(const std::string& path, uint64_t n) {
    return "capture '" + path + "': frame " + std::to_string(n);
}

}  // namespace

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
    if (link != DLT_EN10MB && link != DLT_LINUX_SLL && link != DLT_LINUX_SLL2) {
        const char* name = pcap_datalink_val_to_name(link);
        err = "capture '" + path + "' has link type " + (name ? name : "?") + " (" +
              std::to_string(link) +
              "); only Ethernet (EN10MB) and Linux cooked (LINUX_SLL, LINUX_SLL2: tcpdump -i "
              "any) captures can be replayed: capture on the Ethernet device itself or on 'any'";
        return false;
    }
    const size_t cooked = link == DLT_LINUX_SLL    ? kSllHeader
                          : link == DLT_LINUX_SLL2 ? kSll2Header
                                                   : 0;
    std::vector<uint8_t> buf;  // a cooked frame rewritten with an Ethernet header
    Frame f;
    for (;;) {
        pcap_pkthdr* hdr = nullptr;
        const u_char* data = nullptr;
        int rc = pcap_next_ex(pc, &hdr, &data);
        if (rc == PCAP_ERROR_BREAK) return true;  // end of file
        if (rc != 1) {
            err = frame_label(path, f.number + 1) + ": cannot read the record (" + pcap_geterr(pc) +
                  "): the file is truncated or damaged";
            return false;
        }
        f.number++;
        if (hdr->caplen < hdr->len) {
            err = frame_label(path, f.number) + ": " + std::to_string(hdr->caplen) + " of " +
                  std::to_string(hdr->len) +
                  " bytes captured (cut by the snap length): a cut frame cannot be judged as the "
                  "NIC saw it; capture with -s 0";
            return false;
        }
        f.data = data;
        f.caplen = hdr->caplen;
        f.wire_len = hdr->len;
        if (cooked) {
            if (hdr->caplen < cooked) {
                err = frame_label(path, f.number) + ": " + std::to_string(hdr->caplen) +
                      " bytes, shorter than its " + std::to_string(cooked) +
                      "-byte Linux cooked header";
                return false;
            }
            // Zero MACs, the cooked header's protocol type, then the payload.
            const uint8_t* proto = data + (link == DLT_LINUX_SLL ? 14 : 0);
            buf.assign(kEthHeader, 0);
            buf[12] = proto[0];
            buf[13] = proto[1];
            buf.insert(buf.end(), data + cooked, data + hdr->caplen);
            f.data = buf.data();
            f.caplen = uint32_t(buf.size());
            f.wire_len = hdr->len - uint32_t(cooked) + uint32_t(kEthHeader);
        }
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

namespace {

// The ethertype after up to two VLAN tags and where the L3 header starts;
// 0 when the frame ends first.
uint16_t l3_type(const uint8_t* data, size_t len, size_t& l3) {
    if (len < kEthHeader) return 0;
    auto type_at = [&](size_t o) { return uint16_t(data[o] << 8 | data[o + 1]); };
    size_t off = 12;
    uint16_t type = type_at(off);
    for (int tags = 0; (type == 0x8100 || type == 0x88a8) && tags < 2; tags++) {
        off += 4;
        if (off + 2 > len) return 0;
        type = type_at(off);
    }
    l3 = off + 2;
    return type;
}

}  // namespace

std::optional<packet::Addr> frame_source(const uint8_t* data, size_t len) {
    size_t l3 = 0;
    uint16_t type = l3_type(data, len, l3);
    packet::Addr a;
    if (type == 0x0800 && l3 + 16 <= len) {
        a.bytes[10] = a.bytes[11] = 0xff;  // stored IPv4-mapped, as packet::Addr does
        std::copy(data + l3 + 12, data + l3 + 16, a.bytes.begin() + 12);
        return a;
    }
    if (type == 0x86dd && l3 + 24 <= len) {
        std::copy(data + l3 + 8, data + l3 + 24, a.bytes.begin());
        return a;
    }
    return std::nullopt;
}

packet::Dir frame_direction(const std::vector<packet::Addr>& locals, const uint8_t* data,
                            size_t len) {
    auto src = frame_source(data, len);
    if (!src) return packet::Dir::ingress;
    size_t l3 = 0;
    // An IPv6 source written IPv4-mapped is not the IPv4 address it spells.
    bool v6 = l3_type(data, len, l3) == 0x86dd;
    for (const auto& l : locals)
        if (l == *src && l.is_v4() != v6) return packet::Dir::egress;
    return packet::Dir::ingress;
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

bool replay_every_frame(const policy::Policy& p, const std::string& node, uint32_t role,
                        const std::string& path, const KernelJudge& kernel,
                        const OnResult& on_result, Summary& out, std::string& err) {
    model::Model m(p, node);
    const auto locals = p.local_addresses(node, role);
    return read_frames(
        path,
        [&](const Frame& f) {
            out.frames++;
            FrameResult r;
            r.frame = &f;
            if (f.caplen < kEthHeader) {
                r.not_run_why = "shorter than an Ethernet header";
                out.not_run++;
                if (on_result) on_result(r);
                return true;
            }
            r.dir = frame_direction(locals, f.data, f.caplen);
            r.pkt = packet::parse_frame(f.data, f.caplen);
            if (r.pkt) r.pkt->dir = r.dir;
            r.kernel = kernel(f, r.dir, r.not_run_why);
            if (r.kernel) {
                out.add(*r.kernel, f.wire_len);
            } else {
                out.not_run++;
            }
            auto v = m.run_frame(role, r.dir, {f.data, f.caplen});
            r.model = Verdict{v.pass, v.by_rule, v.index};
            if (r.kernel) {
                r.agree = r.kernel->pass == r.model->pass &&
                          r.kernel->by_rule == r.model->by_rule &&
                          r.kernel->index == r.model->index;
                (*r.agree ? out.agreed : out.disagreed)++;
            }
            if (on_result) on_result(r);
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
