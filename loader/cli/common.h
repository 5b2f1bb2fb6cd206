// Pieces the subcommands share: loading a policy with its diagnostics printed,
// reading packet specs, printing one verdict line.
#pragma once

#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "image/map_image.h"
#include "packet/packet.h"
#include "policy/policy.h"

namespace kernel {
class Dataplane;
}

namespace cli {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;  // bad input: policy, site, spec
constexpr int kExitUsage = 2;

// Runs f, a subcommand's body; an exception (lifecycle::Refused, kernel::Error
// and the rest) is printed as "edgefw: WHAT: message" and exits kExitError.
template <class F>
int guarded(const std::string& what, F f) {
    try {
        return f();
    } catch (const std::exception& e) {
        std::cerr << "edgefw: " << what << ": " << e.what() << "\n";
        return kExitError;
    }
}

struct PolicyArgs {
    std::string policy;
    std::string site;
    policy::LoadOptions options;  // --allow-wide-management
};

// Loads and prints every diagnostic to stderr; nullopt on error.
std::optional<policy::Policy> load_policy(const PolicyArgs& a, bool json_errors = false);

std::optional<uint32_t> parse_role(const std::string& s);

struct PacketArgs;

// What explain, test and pcap replay all start from: the policy loaded, the
// node known, the role parsed. nullopt after printing why; exit_code says how.
struct PacketTarget {
    policy::Policy policy;
    uint32_t role = 0;
};
std::optional<PacketTarget> packet_target(const PacketArgs& a, int& exit_code);

// The node's programs loaded for BPF_PROG_TEST_RUN (counters recorded per
// packet), the test-run interface given `role`. Throws compile::Error or
// kernel::Error.
std::unique_ptr<kernel::Dataplane> test_dataplane(const policy::Policy& p, const std::string& node,
                                                  uint32_t role);

struct SpecLine {
    packet::Packet pkt;
    std::string text;
    int line = 0;
};

// From --packet or --packets FILE (one spec a line, '#' comments).
std::optional<std::vector<SpecLine>> read_specs(const std::string& spec, const std::string& file,
                                                packet::Dir default_dir);

// explain and test: the target and its specs, read in --dir's default direction.
struct PacketJob : PacketTarget {
    std::vector<SpecLine> specs;
};
std::optional<PacketJob> packet_job(const PacketArgs& a, int& exit_code);

// Runs f (returning an exit status); a compile::Error or kernel::Error it
// throws is printed and exits kExitError.
int with_kernel_errors(const std::function<int()>& f);

// One verdict line, the same for `explain` and `test`.
struct VerdictLine {
    bool pass = false;
    bool by_rule = false;
    uint32_t index = 0;  // rule index or reason
};

// One frame through the test-run data plane: the counter that moved. Throws
// kernel::Error naming `what` when none did (program and loader out of step).
VerdictLine test_verdict(kernel::Dataplane& dp, packet::Dir dir, std::span<const uint8_t> frame,
                         const std::string& what);
void print_verdict(const policy::Policy& p, uint32_t role, const SpecLine& s, const VerdictLine& v,
                   bool json);
std::string verdict_name(const policy::Policy& p, const VerdictLine& v);

}  // namespace cli
