// parse_spec: one packet spec line -> Packet. Errors name the offending token
// and what was expected, because operators type these by hand.
#include <netinet/in.h>

#include <sstream>
#include <string>
#include <vector>

#include "packet/packet.h"

namespace packet {

namespace {

// BPF_PROG_TEST_RUN takes XDP frames up to one page less headroom and
// skb_shared_info: 3520 bytes on x86-64, so `test` and `explain` agree up to there.
constexpr uint32_t kMaxFrameLen = 3520;

// Whitespace-separated tokens; '>' is a token of its own even when glued
// ("a:1>b:2"), since it appears nowhere else in the grammar.
std::vector<std::string> split_ws(std::string_view line) {
    std::string spaced;
    for (char c : line) spaced += c == '>' ? std::string(" > ") : std::string(1, c);
    std::istringstream in{spaced};
    std::vector<std::string> tokens;
    for (std::string t; in >> t;) tokens.push_back(t);
    return tokens;
}

// Whole-token unsigned decimal; rejects signs, spaces and trailing garbage.
std::optional<uint32_t> parse_uint(std::string_view text, uint32_t max) {
    if (text.empty() || text.size() > 10) return std::nullopt;
    uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + uint64_t(c - '0');
    }
    if (value > max) return std::nullopt;
    return uint32_t(value);
}

bool is_port_proto(uint8_t proto) { return proto == IPPROTO_TCP || proto == IPPROTO_UDP; }
bool is_icmp_proto(uint8_t proto) { return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6; }

std::optional<uint8_t> parse_proto(std::string_view tok) {
    if (tok == "tcp") return IPPROTO_TCP;
    if (tok == "udp") return IPPROTO_UDP;
    if (tok == "icmp") return IPPROTO_ICMP;
    if (tok == "icmp6") return IPPROTO_ICMPV6;
    if (auto n = parse_uint(tok, 255)) return uint8_t(*n);
    return std::nullopt;
}

struct Endpoint {
    Addr addr;
    std::optional<uint16_t> port;
};

// "a.b.c.d", "a.b.c.d:P", "[v6]", "[v6]:P" or bare "v6" (no port possible:
// "2001:db8::1:443" is itself a valid address, hence the brackets).
std::optional<Endpoint> parse_endpoint(const std::string& tok, std::string& err) {
    if (tok == ">") {
        err = "unexpected '>': expected ADDR[:PORT] on each side of one '>'";
        return std::nullopt;
    }
    std::string_view addr_text = tok, port_text;
    bool has_port = false, bracketed = false;
    if (!tok.empty() && tok[0] == '[') {
        size_t close = tok.find(']');
        if (close == std::string::npos) {
            err = "bad address '" + tok + "': missing ']' (expected [IPv6] or [IPv6]:PORT)";
            return std::nullopt;
        }
        bracketed = true;
        addr_text = std::string_view(tok).substr(1, close - 1);
        std::string_view rest = std::string_view(tok).substr(close + 1);
        if (!rest.empty()) {
            if (rest[0] != ':') {
                err = "bad address '" + tok + "': expected ':PORT' after ']'";
                return std::nullopt;
            }
            has_port = true;
            port_text = rest.substr(1);
        }
    } else if (size_t colon = tok.find(':');
               colon != std::string::npos && tok.find(':', colon + 1) == std::string::npos) {
        has_port = true;  // exactly one colon: IPv4:PORT
        addr_text = std::string_view(tok).substr(0, colon);
        port_text = std::string_view(tok).substr(colon + 1);
    }

    Endpoint ep;
    auto addr = parse_addr(addr_text);
    if (!addr) {
        err = "bad address '" + std::string(addr_text) + "' in '" + tok +
              "': expected IPv4 a.b.c.d or IPv6 in brackets";
        return std::nullopt;
    }
    if (bracketed && addr->is_v4()) {
        err = "bad address '" + tok + "': brackets are for IPv6 only, write a.b.c.d[:PORT]";
        return std::nullopt;
    }
    ep.addr = *addr;
    if (has_port) {
        auto port = parse_uint(port_text, 65535);
        if (!port) {
            err = "bad port '" + std::string(port_text) + "' in '" + tok + "': expected 0-65535";
            return std::nullopt;
        }
        ep.port = uint16_t(*port);
    }
    return ep;
}

// Spec letters in header bit order (FIN first), so to_spec and parse agree.
constexpr std::string_view kFlagLetters = "FSRPAUEC";

std::optional<uint8_t> parse_flags(std::string_view tok, std::string& err) {
    if (tok == "none") return 0;
    uint8_t flags = 0;
    for (char c : tok) {
        size_t bit = kFlagLetters.find(c);
        if (bit == std::string_view::npos || (flags & (1u << bit))) {
            err = "bad flags '" + std::string(tok) +
                  "': expected distinct letters of S A F R P U E C, or 'none'";
            return std::nullopt;
        }
        flags |= uint8_t(1u << bit);
    }
    return flags;
}

// The options after DST: "flags F", "type T", "code C", "len N", any order, once each.
struct Options {
    std::optional<uint8_t> flags, type, code;
    std::optional<uint32_t> len;
};

bool parse_options(const std::vector<std::string>& tok, size_t i, uint8_t proto, Options& o,
                   std::string& err) {
    const std::string proto_name = proto == IPPROTO_TCP      ? "tcp"
                                   : proto == IPPROTO_UDP    ? "udp"
                                   : proto == IPPROTO_ICMP   ? "icmp"
                                   : proto == IPPROTO_ICMPV6 ? "icmp6"
                                                             : "protocol " + std::to_string(proto);
    for (; i < tok.size(); i += 2) {
        const std::string& key = tok[i];
        if (key != "flags" && key != "type" && key != "code" && key != "len") {
            err = "unexpected '" + key + "': expected flags, type, code or len";
            return false;
        }
        if (i + 1 >= tok.size()) {
            err = "missing value after '" + key + "'";
            return false;
        }
        const std::string& val = tok[i + 1];
        bool dup = (key == "flags" && o.flags) || (key == "type" && o.type) ||
                   (key == "code" && o.code) || (key == "len" && o.len);
        if (dup) {
            err = "repeated '" + key + "': give it once";
            return false;
        }
        if ((key == "flags" && proto != IPPROTO_TCP) ||
            ((key == "type" || key == "code") && !is_icmp_proto(proto))) {
            err = "'" + key + "' does not apply to " + proto_name + ": " +
                  (key == "flags" ? "flags are for tcp" : "type/code are for icmp and icmp6");
            return false;
        }
        if (key == "flags") {
            if (!(o.flags = parse_flags(val, err))) return false;
        } else if (key == "len") {
            if (!(o.len = parse_uint(val, kMaxFrameLen))) {
                err = "bad len '" + val + "': expected a frame length up to " +
                      std::to_string(kMaxFrameLen) + " bytes";
                return false;
            }
        } else {
            auto n = parse_uint(val, 255);
            if (!n) {
                err = "bad " + key + " '" + val + "': expected 0-255";
                return false;
            }
            (key == "type" ? o.type : o.code) = uint8_t(*n);
        }
    }
    if (o.code && !o.type) {
        err = "'code' without 'type': expected type T code C";
        return false;
    }
    return true;
}

std::string family_name(const Addr& a) { return a.is_v4() ? "IPv4" : "IPv6"; }

std::optional<Packet> parse_tokens(const std::vector<std::string>& tok, Dir default_dir,
                                   std::string& err) {
    if (tok.empty()) {
        err = "empty packet spec: expected [ingress|egress] PROTO SRC[:PORT] > DST[:PORT]";
        return std::nullopt;
    }
    Packet p;
    p.dir = default_dir;
    size_t i = 0;
    if (tok[0] == "ingress" || tok[0] == "egress") {
        p.dir = tok[0] == "ingress" ? Dir::ingress : Dir::egress;
        ++i;
    }
    if (i >= tok.size()) {
        err =
            "missing protocol after '" + tok[i - 1] + "': expected tcp, udp, icmp, icmp6 or 0-255";
        return std::nullopt;
    }
    auto proto = parse_proto(tok[i]);
    if (!proto) {
        err = "bad protocol '" + tok[i] + "': expected tcp, udp, icmp, icmp6 or 0-255";
        return std::nullopt;
    }
    p.proto = *proto;
    const std::string& proto_tok = tok[i++];

    if (i + 3 > tok.size()) {
        err = "incomplete spec after '" + tok.back() + "': expected SRC[:PORT] > DST[:PORT]";
        return std::nullopt;
    }
    if (tok[i + 1] != ">") {
        err = "unexpected '" + tok[i + 1] + "' after source '" + tok[i] + "': expected '>'";
        return std::nullopt;
    }
    Endpoint ends[2];
    for (int k = 0; k < 2; ++k) {
        const std::string& t = tok[i + 2 * k];
        auto ep = parse_endpoint(t, err);
        if (!ep) return std::nullopt;
        if (is_port_proto(p.proto) && !ep->port) {
            err = "missing port in '" + t + "': " + proto_tok +
                  " needs ADDR:PORT (IPv6 as [2001:db8::1]:443)";
            return std::nullopt;
        }
        if (!is_port_proto(p.proto) && ep->port) {
            err = "unexpected port in '" + t + "': " + proto_tok + " has no ports";
            return std::nullopt;
        }
        ends[k] = *ep;
    }
    if (ends[0].addr.is_v4() != ends[1].addr.is_v4()) {
        err = "address family mismatch: '" + tok[i] + "' is " + family_name(ends[0].addr) +
              " but '" + tok[i + 2] + "' is " + family_name(ends[1].addr);
        return std::nullopt;
    }
    bool v4 = ends[0].addr.is_v4();
    if ((p.proto == IPPROTO_ICMP && !v4) || (p.proto == IPPROTO_ICMPV6 && v4)) {
        err = "'" + proto_tok + "' needs " + (v4 ? "IPv6" : "IPv4") + " addresses, got '" + tok[i] +
              "'" + (v4 ? ": use icmp" : ": use icmp6");
        return std::nullopt;
    }
    p.src = ends[0].addr;
    p.dst = ends[1].addr;
    p.sport = ends[0].port.value_or(0);
    p.dport = ends[1].port.value_or(0);

    Options o;
    if (!parse_options(tok, i + 3, p.proto, o, err)) return std::nullopt;
    if (p.proto == IPPROTO_TCP) p.tcp_flags = o.flags.value_or(tcp_flag::SYN);
    if (is_icmp_proto(p.proto)) {
        uint8_t echo_request = p.proto == IPPROTO_ICMP ? 8 : 128;
        p.icmp_type = o.type.value_or(echo_request);
        p.icmp_code = o.code.value_or(0);
    }
    if (o.len) {
        size_t headers = build_frame(p).size();
        if (*o.len < headers) {
            err = "bad len '" + std::to_string(*o.len) + "': the headers alone are " +
                  std::to_string(headers) + " bytes (expected " + std::to_string(headers) + "-" +
                  std::to_string(kMaxFrameLen) + ")";
            return std::nullopt;
        }
        p.frame_len = *o.len;
    }
    return p;
}

}  // namespace

std::optional<Packet> parse_spec(std::string_view line, Dir default_dir, SpecError& err) {
    err.message.clear();
    return parse_tokens(split_ws(line), default_dir, err.message);
}

}  // namespace packet
