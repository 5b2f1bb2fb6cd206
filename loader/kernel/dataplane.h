// kernel::Dataplane owns one loaded edgefw BPF object (skeleton): the XDP
// ingress program, the TC egress program and every map they share. It writes
// a map image into the maps, runs frames through BPF_PROG_TEST_RUN and reads
// the counters back. Attaching to devices is the caller's business (skeleton()).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "image/lookup.h"
#include "image/map_image.h"
#include "kernel/fd.h"
#include "packet/packet.h"

struct edgefw;  // build/gen/edgefw.skel.h
struct bpf_program;

namespace kernel {

// What failed, on what object, strerror, and how to fix it.
class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Number of keys in a map: max_entries for an array, else counted by batch
// lookups (bpf_map_get_next_key where the kernel has none for the type).
// Bounded: a map that changes while it is walked can restart the walk; the
// count is capped at max_entries.
size_t count_map_entries(int map_fd);

// Entries 0..n-1 of a per-CPU array of ef_counter, each summed over CPUs
// (packets and bytes added, the latest last_ns), read in batches.
std::vector<ef_counter> read_counters(int map_fd, uint32_t n);

// libbpf's own messages go to stderr only when verbose (process-wide).
void set_verbose(bool verbose);

// Maps that outlive a policy: a reload loads a new object that reuses these
// (conntrack survives, counters keep counting). -1: create a new map.
struct SharedMaps {
    int ifaces = -1;
    int rule_counters = -1;
    int reason_counters = -1;
    int ct = -1;        // TCP, new (LRU)
    int ct_est = -1;    // TCP, established (hash)
    int ct_dgram = -1;  // UDP and ICMP, new (LRU)
    int ct_dgram_est = -1;
    int ct_stats = -1;  // enum ef_ct_stat per enum ef_ct_table
    int frags = -1;
    int log = -1;  // ef_log ring buffer: `edgefw log` readers survive reloads
    int log_counters = -1;
    // Shadow policy (edgefw_abi.h): the slots a candidate sits in and the
    // enforced verdict's hand-over. Kept, so a candidate outlives reloads.
    int shadow_xdp = -1;
    int shadow_tc = -1;
    int shadow_handoff = -1;
};

// The kept maps, one row each: a Dataplane reuses the fds it is given,
// pins them (leaving a pin that is there already), and a reload opens them
// from their pins -- all by iterating this table.
struct KeptMap {
    const char* name;  // map name and pin name
    int SharedMaps::*fd;
    bool optional;  // an instance loaded by an earlier edgefw may lack it: created then
};
inline constexpr KeptMap kKeptMaps[] = {
    {"ef_ifaces", &SharedMaps::ifaces, false},
    {"ef_rule_counters", &SharedMaps::rule_counters, false},
    {"ef_reason_counters", &SharedMaps::reason_counters, false},
    {"ef_ct", &SharedMaps::ct, false},
    {"ef_ct_est", &SharedMaps::ct_est, true},
    {"ef_ct_dgram", &SharedMaps::ct_dgram, false},
    {"ef_ct_dgram_est", &SharedMaps::ct_dgram_est, true},
    {"ef_ct_stats", &SharedMaps::ct_stats, true},
    {"ef_frags", &SharedMaps::frags, false},
    {"ef_log", &SharedMaps::log, false},
    {"ef_log_counters", &SharedMaps::log_counters, false},
    {"ef_shadow_xdp", &SharedMaps::shadow_xdp, true},
    {"ef_shadow_tc", &SharedMaps::shadow_tc, true},
    {"ef_shadow_handoff", &SharedMaps::shadow_handoff, true},
};

// A shadow candidate's pins, beside the enforced policy's in the instance's
// directory: "shadow_" + the map's name, and shadow_prog_xdp, shadow_prog_tc.
// Its counters, disagreements and log are read through them; ef_ct_sweep
// keeps its conntrack sweep's timer alive.
inline constexpr const char* kShadowPinPrefix = "shadow_";
inline constexpr const char* kShadowPins[] = {
    "ef_rule_counters", "ef_reason_counters", "ef_shadow_would", "ef_log",
    "ef_log_counters",  "ef_ct_sweep",        "prog_xdp",        "prog_tc"};

// The pins a policy replaces on every load and reload: its maps (ef_ct_sweep
// holds the sweep timer, which lives while its map has a pin or an open fd),
// then the programs (Dataplane::pin writes them; a reload keeps the old ones to
// put back when a swap is refused).
inline constexpr const char* kPolicyPins[] = {"ef_port_class", "ef_local",       "ef_remote",
                                              "ef_sport",      "ef_local_addrs", "ef_ct_sweep",
                                              "prog_xdp",      "prog_tc"};

struct Options {
    // max_entries of each conntrack table: ef_ct, ef_ct_est (TCP), ef_ct_dgram, ef_ct_dgram_est
    uint32_t ct_size = EF_CT_DEFAULT_SIZE;
    SharedMaps shared;
    ef_ct_timeouts timeouts = EF_CT_TIMEOUTS_DEFAULT;
    uint32_t frag_timeout = EF_FRAG_TIMEOUT_S;  // seconds a fragment entry lives (tests shorten it)
    uint32_t ct_sweep = EF_CT_SWEEP_S;          // seconds between sweeps of the established tables
    uint32_t egress_mode[EF_ROLE_COUNT] = {EF_EGRESS_ENFORCE, EF_EGRESS_ENFORCE};
    bool ct_create = true;  // false only for benchmarks: rules then never create flows
    // The new (LRU) conntrack tables, ef_ct and ef_ct_dgram, with one LRU list
    // per CPU (BPF_F_NO_COMMON_LRU): an insert takes no table-wide lock and
    // evicts from its own CPU's share, ct_size / possible CPUs (the kernel
    // rounds ct_size to a multiple of them). A reused map keeps its own flags.
    bool ct_lru_per_cpu = false;
    // Look up every TCP/UDP packet in conntrack: the reload kept flows that no
    // rule may admit (--keep-flows), so port classes cannot tell where entries are.
    bool ct_lookup_all = false;
    // The policy generation's tag, EF_CT_GEN(generation) (maps/edgefw_abi.h):
    // the programs judge an entry with another tag again on its next packet
    // (not with ct_lookup_all).
    uint16_t policy_gen = 1;
    bool record_last = false;          // write ef_last on every packet (test/explain runs)
    uint32_t log_per_sec_per_cpu = 0;  // drop log events per second and CPU; 0: off
    // Entries of the flattened step 3 and 4 arrays (image/flat.h): ef_remote_index,
    // ef_remote, ef_sport_index, ef_sport. from_image fits them to the image; the
    // defaults hold small policies (tests).
    struct FlatSizes {
        uint32_t remote_index = 4096;
        uint32_t remote_ranges = 16384;
        uint32_t sport_index = 4096;
        uint32_t sport_ranges = 16384;
    } flat;
    // A libxdp dispatcher's program fd: ef_xdp_ingress is then loaded as an
    // freplace program against its first slot, ready to sit in any
    // dispatcher's slot (kernel/multiprog.h). -1: loaded as XDP.
    int xdp_ext_target = -1;
    // A shadow candidate (docs/shadow.md): rodata shadow_mode, ef_shadow_would
    // sized for every slot. Share only shared.ifaces and shared.shadow_handoff
    // with the enforced object: everything else of a candidate is its own.
    bool shadow = false;

    // Egress modes, timeouts and array sizes as the image needs them.
    static Options from_image(const image::MapImage& img);
};

// A shadow candidate's options (opts: from its own image), beside the enforced
// object whose kept maps are `enforced`: shadow set, and only the NIC roles and
// the verdict's hand-over shared.
Options shadow_options(Options opts, const SharedMaps& enforced);

struct RunResult {
    uint32_t retval = 0;  // XDP_* or TC_ACT_*
    bool pass = false;
    bool counted = false;      // a counter moved (needs Options::record_last)
    uint32_t kind = 0;         // enum ef_last_kind, when counted
    uint32_t index = 0;        // rule index or enum ef_reason, when counted
    uint32_t duration_ns = 0;  // kernel's average per run
};

// The conntrack tables in enum ef_ct_table order, by map (and pin) name.
extern const char* const kCtTableNames[EF_CT_TABLES];

// The conntrack tables pinned under dir (a pin directory path), opened: fds in
// enum ef_ct_table order, -1 where a table is not pinned. The fds close with it.
struct PinnedCtTables {
    std::array<Fd, EF_CT_TABLES> owned;
    std::array<int, EF_CT_TABLES> fds{};
};
PinnedCtTables open_ct_tables(const std::string& dir);

// One conntrack table's counters (ef_ct_stats, summed over CPUs) and fill.
struct CtTableStats {
    uint64_t inserts = 0, removed = 0, refused = 0, rst = 0;
    size_t entries = 0, max = 0;
    bool lru = false;  // a new table
    // New (LRU) tables: what inserts - removed - entries leaves, an upper
    // bound of the entries the LRU evicted. 0 for the established tables.
    uint64_t evicted_bound() const;
};

// Reads ef_ct_stats (stats_fd) for every table; table_fds in enum ef_ct_table
// order, -1 where a table is absent (its fill stays 0).
std::array<CtTableStats, EF_CT_TABLES> read_ct_stats(
    int stats_fd, const std::array<int, EF_CT_TABLES>& table_fds);

// Deletes the expired entries of an established table (nothing evicts them,
// and the programs delete an expired entry only when its flow shows up again).
// The clock is CLOCK_MONOTONIC_COARSE, the programs' clock. Returns how many.
size_t sweep_conntrack(int table_fd, const ef_ct_timeouts& timeouts);

// A reload's judgment of the open flows (image::rejudge_flow): entries whose
// rule stays, entries moved to another rule, entries deleted (no rule admits
// the flow any more; its next packets are classified, and drop or pass as the
// policy's default says, counted there).
struct FlowsRejudged {
    size_t kept = 0, moved = 0, closed = 0;
};

// Judges every entry of the four conntrack tables (enum ef_ct_table order, -1
// where absent) with `lookup` (built from the image as written: counter
// slots). Throws kernel::Error when a table cannot be read; entries judged
// before that stay judged. apply false: only counts what the judgment would
// do (`diff --instance`); nothing is deleted or moved.
// A moved entry is written with `gen` (the new programs' Options::policy_gen)
// as its generation tag; a kept one is left as it is (the programs retag it
// on its next packet, with the same answer).
FlowsRejudged rejudge_conntrack(const std::array<int, EF_CT_TABLES>& table_fds,
                                const image::Lookup& lookup, bool apply = true, uint16_t gen = 0);

struct ProgInfo {
    int fd = -1;
    uint32_t id = 0;
    uint32_t xlated_insns = 0;  // after the verifier's rewrites
    uint32_t jited_bytes = 0;
    uint32_t verified_insns = 0;  // instructions the verifier processed
};

class Dataplane {
  public:
    // Opens the skeleton, applies the options as rodata and map sizes, loads.
    explicit Dataplane(const Options& opts);
    ~Dataplane() = default;
    Dataplane(const Dataplane&) = delete;
    Dataplane& operator=(const Dataplane&) = delete;

    // Writes the image into the maps. Meant for freshly loaded maps: called
    // again it replaces everything, but not atomically (no hitless swap here).
    void write_image(const image::MapImage& img);

    void set_iface_role(uint32_t ifindex, uint32_t role);
    void clear_iface_role(uint32_t ifindex);

    // One frame through the program of that direction (ingress: XDP, egress:
    // TC), as seen on ifindex 1 (loopback) -- see kTestRunIfindex.
    RunResult run(packet::Dir dir, std::span<const uint8_t> frame, uint32_t repeat = 1);

    // The counter the last packet moved (Options::record_last), and forgets it:
    // false when none moved since. For a candidate, whose packets arrive by
    // the enforced program's tail call rather than run().
    bool take_last(uint32_t& kind, uint32_t& index);

    ef_counter rule_counter(uint32_t rule) const;      // summed over CPUs
    ef_counter reason_counter(uint32_t reason) const;  // enum ef_reason
    size_t ct_entries() const;                         // all four conntrack tables
    size_t frag_entries() const;
    void clear_conntrack();  // the four conntrack tables and ef_frags (not ef_ct_stats)
    std::array<CtTableStats, EF_CT_TABLES> ct_stats() const;
    size_t sweep_conntrack();  // ::sweep_conntrack on both established tables
    FlowsRejudged rejudge_conntrack(const image::Lookup& lookup);  // the four tables

    // A candidate (Options::shadow): its conntrack tables filled with the
    // enforced tables' flows (enum ef_ct_table order, -1 where absent) that
    // its own policy (lookup: its image) admits, under its rule; entries it
    // has made itself stay. Returns how many flows it took, and how many it
    // would not have admitted.
    FlowsRejudged seed_conntrack(const std::array<int, EF_CT_TABLES>& enforced_tables,
                                 const image::Lookup& lookup);
    // Puts the candidate's programs in the enforced programs' shadow slots
    // (shadow_xdp, shadow_tc: kept map fds); from then on every packet the
    // enforced programs judge is judged by the candidate as well.
    void plug_into(int shadow_xdp, int shadow_tc) const;
    // Pins a candidate's objects under dir as kShadowPinPrefix + kShadowPins.
    void pin_candidate(const std::string& dir) const;
    // Disagreement counters (a candidate's ef_shadow_would), summed over CPUs.
    ef_counter would_counter(uint32_t slot) const;
    std::vector<ef_counter> would_counters() const;  // every slot, in batches

    ProgInfo prog_info(packet::Dir dir) const;
    int prog_fd(packet::Dir dir) const;
    SharedMaps shared_maps() const;

    // Pins every map under dir/<map name> and the programs as dir/prog_xdp and
    // dir/prog_tc. Per-policy objects replace existing pins; shared maps that
    // are pinned already stay as they are.
    void pin(const std::string& dir) const;
    const Options& options() const { return opts_; }
    ::edgefw* skeleton() { return skel_.get(); }

    // The interface BPF_PROG_TEST_RUN reports to both programs.
    static constexpr uint32_t kTestRunIfindex = 1;

  private:
    ::bpf_program* xdp_prog() const;  // the XDP program loaded (Options::xdp_ext_target)
    ef_counter percpu_counter(int map_fd, uint32_t index, const char* map_name) const;
    void clear_map(int map_fd, size_t key_size, const char* map_name);

    struct SkelDestroy {
        void operator()(::edgefw* s) const;
    };
    // mmap of ef_port_class. The kernel lays array elements out at
    // round_up(value_size, 8).
    using PortClassSlot = ef_port_class_value;
    static_assert(sizeof(PortClassSlot) % 8 == 0, "ef_port_class values are 8 bytes apart");
    struct Unmap {
        size_t len;  // no initializer: default-constructible inside Dataplane
        void operator()(PortClassSlot* p) const;
    };

    Options opts_;
    std::unique_ptr<::edgefw, SkelDestroy> skel_;
    // Declared after skel_: unmapped before the skeleton (and its map) goes.
    std::unique_ptr<PortClassSlot, Unmap> port_class_;
    size_t port_class_len_ = 0;
    // mmap of ef_last (Options::record_last): one page.
    static constexpr size_t kLastLen = 4096;
    struct UnmapLast {
        void operator()(volatile ef_last* p) const;
    };
    std::unique_ptr<volatile ef_last, UnmapLast> last_;
    int ncpus_ = 0;
};

}  // namespace kernel
