// Shared pieces of the data-plane tests: a hand-built map image for a few
// rules, a loaded Dataplane per test, and a table runner that checks verdict,
// counter and counter delta for each row.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "image/map_image.h"
#include "kernel/dataplane.h"
#include "packet/packet.h"

namespace dptest {

// The rules of the test image (rule index = position).
enum TestRule : uint32_t {
    kRuleAccessTls = 0,   // ext ingress tcp any > 198.18.155.110:443
    kRuleAvRelay = 1,     // ext ingress udp any > 198.18.155.30:50000-59999
    kRuleCrlHttp = 2,     // ext egress tcp 198.18.155.10 > any:80
    kRuleSipPool = 3,     // ext ingress tcp 198.19.10.90/31 > 198.18.155.10:5061
    kRuleAccessTls6 = 4,  // ext ingress tcp any > [2001:db8::10]:443
    kRulePing = 5,        // ext ingress icmp echo request any > 198.18.155.10
    kRuleDns = 6,         // ext egress udp 198.18.155.10 > 198.51.100.53:53
    kRulePing6 = 7,       // ext ingress icmp6 echo request any > 2001:db8::10
    kRuleMgmtSsh = 8,     // int ingress tcp 198.19.200.0/24 > 198.19.0.10:22
    kRuleCount = 9,
};

// One rule in the hand-built image. Local ports are a range (ICMP: type<<8|code);
// the remote side is a CIDR ("any" allowed) and one port or any.
struct RuleSpec {
    uint32_t role;
    uint32_t dir;
    uint32_t slot;                // enum ef_proto_slot
    uint16_t dport_lo, dport_hi;  // ICMP: type << 8 | code
    std::string local;
    std::string remote;  // "any" or CIDR
    int sport = -1;      // -1: any
};

std::vector<RuleSpec> test_rules();
image::MapImage build_image(const std::vector<RuleSpec>& rules);

// Expected outcome: verdict and the one counter that moves.
struct Expect {
    bool pass;
    uint32_t kind;  // EF_LAST_RULE / EF_LAST_REASON
    uint32_t index;
};
inline Expect rule(uint32_t r) { return {true, EF_LAST_RULE, r}; }
inline Expect pass_reason(uint32_t r) { return {true, EF_LAST_REASON, r}; }
inline Expect drop_reason(uint32_t r) { return {false, EF_LAST_REASON, r}; }

// Loads the programs with the test image; ifindex 1 gets `role`.
std::unique_ptr<kernel::Dataplane> make_dataplane(uint32_t role = EF_ROLE_EXTERNAL,
                                                  kernel::Options opts = {});

// Skips the current test unless running as root.
void require_root();

packet::Packet spec(const std::string& line);
std::vector<uint8_t> frame_of(const std::string& line);

// Runs one frame and checks verdict, counter identity and the +1 packet / +len
// bytes delta on exactly that counter. `what` names the row in failures.
void expect_run(kernel::Dataplane& dp, const std::string& what, packet::Dir dir,
                const std::vector<uint8_t>& frame, const Expect& want);
void expect_spec(kernel::Dataplane& dp, const std::string& line, const Expect& want);

struct Row {
    std::string name;
    std::string spec;
    std::function<void(packet::Packet&)> shape;  // optional frame shaping
    Expect want;
};
void run_table(kernel::Dataplane& dp, const std::vector<Row>& rows);

// Fragment shaping for rows: a first fragment (offset 0, more fragments) and a
// later one (offset in 8-byte units; 185 is past any header).
std::function<void(packet::Packet&)> first_fragment(uint32_t id);
std::function<void(packet::Packet&)> later_fragment(uint32_t id, uint16_t offset = 185,
                                                    bool more = false);

// A raw Ethernet frame with the given ethertype and payload length.
std::vector<uint8_t> raw_frame(uint16_t ethertype, size_t payload);

}  // namespace dptest
