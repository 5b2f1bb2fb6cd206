/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one definition of every map key, value, limit and counter index shared
 * by the BPF programs (bpf/) and the C++ loader (loader/). Plain C, fixed-width
 * types, explicit padding: an implicit hole in a hash key is a silent miss.
 *
 * Classification layout (docs/classification.md explains the reasoning):
 *
 *   1. ef_port_class  ARRAY  [combo << 16 | destination port]  -> port class,
 *                            and the hull of its rules' source ports
 *   2. ef_local       HASH   {port class, local address}        -> bucket
 *   3. ef_remote      ARRAY  ranges of remote addresses, sorted per bucket
 *                            (ef_remote_index[bucket])          -> remote class
 *   4. ef_sport       ARRAY  ranges of source ports, sorted per remote class
 *                            (ef_sport_index[remote class])     -> rule index + 1
 *
 * "Local" is the node's side of the packet: the destination on ingress (XDP),
 * the source on egress (TC). Ports go by header field whatever the direction:
 * the destination port is the service port, the source port is nearly always
 * "any", so it comes last where it multiplies nothing. First match is resolved
 * by the compiler, so the kernel never scans rules. The compiler's output for
 * steps 3 and 4 is longest-prefix tables (ef_remote_key, ef_sport_key); the
 * loader writes them flattened (loader/image/flat.h) into disjoint ranges that
 * the programs binary-search within one bucket or class: a few array reads,
 * however many buckets the policy has, where an LPM trie walks a node per
 * distinguishing bit of the whole table.
 */
#ifndef EDGEFW_MAPS_ABI_H
#define EDGEFW_MAPS_ABI_H

#include <linux/types.h>

/* ---- limits ------------------------------------------------------------ */
#define EF_MAX_RULES 16384       /* counter slots; rule index < this */
#define EF_MAX_LOCAL 1048576     /* ef_local entries (hash, not preallocated) */
#define EF_MAX_REMOTE 1048576    /* ef_remote entries */
#define EF_MAX_SPORT 1048576     /* ef_sport entries */
#define EF_MAX_IFINDEX 65536     /* ef_ifaces is an array indexed by ifindex */
#define EF_CT_DEFAULT_SIZE 65536 /* ef_ct default max_entries */
#define EF_FRAG_TABLE_SIZE 8192  /* ef_frags max_entries */
#define EF_IPV6_EXT_MAX 8        /* IPv6 extension headers walked */
#define EF_MAX_LOCAL_ADDRS 4096  /* ef_local_addrs: addresses local to a role (anti-spoofing) */
/* A fragment entry lives this long after the first fragment made it (RFC 791's
 * reassembly timer, Linux's ipfrag_time); later fragments do not extend it. */
#define EF_FRAG_TIMEOUT_S 30
/* A later fragment must start at or past this byte offset: one that starts
 * inside the first 24 bytes could overwrite the transport header the first
 * fragment was judged by (RFC 1858, RFC 3128). */
#define EF_FRAG_MIN_LATER_OFFSET 24

/* Conntrack timeouts in seconds (policy `conntrack:`): the loader turns them
 * into the programs' rodata (nanoseconds). Defaults follow common stateful
 * firewalls: TCP established 2 h 4 min, closing 10 s, UDP 3 min, ICMP 30 s. */
struct ef_ct_timeouts {
    __u32 tcp_established;
    __u32 tcp_closing;
    __u32 udp;
    __u32 icmp;
};
/* Seconds between the programs' sweeps of the established conntrack tables. */
#define EF_CT_SWEEP_S 10
#define EF_CT_TIMEOUTS_DEFAULT \
    { 7440, 10, 180, 30 }

/* ---- dimensions ---------------------------------------------------------- */
enum ef_role {
    EF_ROLE_EXTERNAL = 0,
    EF_ROLE_INTERNAL = 1,
    EF_ROLE_COUNT = 2,
};

enum ef_dir {
    EF_DIR_INGRESS = 0, /* XDP on the NIC: local side is the destination */
    EF_DIR_EGRESS = 1,  /* TC egress: local side is the source */
    EF_DIR_COUNT = 2,
};

/* Protocol slot: for ICMP/ICMPv6 the "destination port" is (type << 8 | code)
 * and the source port is 0, so type/code rules reuse the port dimension. */
enum ef_proto_slot {
    EF_PS_TCP = 0,
    EF_PS_UDP = 1,
    EF_PS_ICMP = 2,
    EF_PS_ICMP6 = 3,
    EF_PS_COUNT = 4,
};

#define EF_COMBO(role, dir, ps) ((((role)*EF_DIR_COUNT) + (dir)) * EF_PS_COUNT + (ps))
#define EF_COMBOS ((__u32)EF_ROLE_COUNT * (__u32)EF_DIR_COUNT * (__u32)EF_PS_COUNT)
#define EF_PORT_CLASS_SLOTS (EF_COMBOS * 65536)
#define EF_PORT_SLOT(combo, port) (((__u32)(combo) << 16) | (__u32)(port))

/* Egress mode, per role (rodata). */
enum ef_egress_mode {
    EF_EGRESS_ENFORCE = 0,
    EF_EGRESS_TRACK_ONLY = 1,
};

/* ---- reason counters (ef_reasons, per-CPU array) -------------------------
 * Every packet that is not counted under a rule is counted here exactly once.
 * Keep in step with ef_reason_names in loader/image/reasons.cpp. */
enum ef_reason {
    EF_R_DEFAULT_EXTERNAL_INGRESS = 0, /* no rule: default drop */
    EF_R_DEFAULT_EXTERNAL_EGRESS,      /* no rule: enforce drop / track-only pass */
    EF_R_DEFAULT_INTERNAL_INGRESS,
    EF_R_DEFAULT_INTERNAL_EGRESS,
    EF_R_MALFORMED_L2,       /* truncated Ethernet or VLAN header, > 2 tags */
    EF_R_MALFORMED_IPV4,     /* truncated header, IHL < 5, bad version, total length */
    EF_R_MALFORMED_IPV6,     /* truncated header, extension chain past bound */
    EF_R_MALFORMED_L4,       /* truncated TCP/UDP/ICMP header, TCP doff < 5 */
    EF_R_FRAGMENT_UNTRACKED, /* non-first fragment of a datagram not admitted */
    EF_R_ARP_PASS,
    EF_R_ND_PASS,              /* ICMPv6 133-137: neighbour discovery */
    EF_R_NON_IP_DROP,          /* other ethertypes */
    EF_R_ICMP_ERROR_RELATED,   /* ICMP error quoting a tracked flow: pass */
    EF_R_ICMP_ERROR_UNRELATED, /* ICMP error quoting no tracked flow: drop */
    EF_R_TCP_SYNACK_UNTRACKED, /* SYN+ACK without a tracked flow: drop */
    EF_R_PROTO_UNSUPPORTED,    /* IP protocol rules cannot name: the (role, dir) default verdict */
    EF_R_UNKNOWN_IFACE_PASS,   /* attached to an interface with no role: pass */
    EF_R_SPOOFED_SOURCE,       /* ingress packet whose source is a local address of the NIC */
    EF_R_IPV6_MAPPED_ADDRESS,  /* IPv6 packet with an IPv4-mapped or IPv4-compatible address */
    EF_R_COUNT,
};

/* ---- map keys and values -------------------------------------------------- */

/* ef_port_class's value. The hull is the smallest port range holding every
 * source port the class's rules name (ICMP: 0). A conntrack entry opened on
 * this hook by a packet with destination port p has a source port inside the
 * hull of p's class, so a packet of the other hook whose ports do not fit it
 * cannot belong to any entry and skips the conntrack lookups (ef_ct_may_accept).
 * The kernel lays array values out 8 bytes apart: the hull costs no memory. */
struct ef_port_class_value {
    __u32 port_class; /* 0: no rule of the hook names the port */
    __u16 sport_lo;
    __u16 sport_hi;
};

/* Addresses are 16 bytes everywhere; IPv4 is IPv4-mapped (::ffff:a.b.c.d). */
struct ef_local_key {
    __u32 port_class;
    __u8 addr[16];
};

/* LPM trie keys: prefixlen counts bits of everything after it, so the class
 * fields are always fully matched (prefixlen >= 32) and the address or port
 * supplies the variable part. Ports are big-endian so prefix bits run MSB first. */
struct ef_remote_key {
    __u32 prefixlen; /* 32 + address prefix length (0..128) */
    __u32 bucket;
    __u8 addr[16];
};

struct ef_sport_key {
    __u32 prefixlen; /* 32 + port prefix length (0..16) */
    __u32 remote_class;
    __u16 port_be;
    __u16 pad; /* always 0 */
};

/* Value of ef_sport: rule index + 1 (0 never stored). */

/* The flattened steps 3 and 4. A group (a bucket's remote addresses, a remote
 * class's source ports) is ef_range_index.count ranges from .offset on, sorted
 * by start; the first starts at 0 and each runs to the next one's start, so
 * the range holding a value is the last whose start is <= it. A range's value
 * 0 is "no match". */
struct ef_range_index {
    __u32 offset;
    __u32 count;
};

struct ef_remote_range {
    __u64 start_hi;     /* the address's first 8 bytes as a big-endian number */
    __u64 start_lo;     /* its last 8 bytes */
    __u32 remote_class; /* 0: no match; EF_DIRECT_RULE | rule as in ef_local */
    __u32 pad;
};

struct ef_sport_range {
    __u32 start;         /* source port */
    __u32 rule_plus_one; /* 0: no match */
};

/* Binary-search steps: enough for a group of 2^EF_RANGE_SEARCH_STEPS ranges
 * (a group of n prefixes flattens to at most 2n + 1). */
#define EF_RANGE_SEARCH_STEPS 22

/* A value of ef_local (bucket) or ef_remote (remote class) with this bit set
 * is already the answer: rule index = value & ~EF_DIRECT_RULE, no further
 * lookup. The compiler sets it where the rest of the match is "any" (remote
 * any and source port any, as most published rows are), which skips the LPM
 * lookups on the common path. */
#define EF_DIRECT_RULE 0x80000000u

struct ef_counter {
    __u64 packets;
    __u64 bytes;
    __u64 last_ns; /* rule counters: CLOCK_MONOTONIC_COARSE of the last packet */
};

/* Drop log (ef_log ring buffer): sampled drop events, rate-limited per CPU by
 * rodata log_per_sec_per_cpu; what the limit suppressed is counted in
 * ef_log_counters[EF_LOG_SUPPRESSED]. */
#define EF_LOG_RING_BYTES (256 * 1024)
enum ef_log_counter {
    EF_LOG_EMITTED = 0,
    EF_LOG_SUPPRESSED = 1,
    EF_LOG_COUNTERS = 2,
};

struct ef_drop_event {
    __u64 ts_ns; /* CLOCK_MONOTONIC */
    __u32 ifindex;
    __u32 reason; /* enum ef_reason */
    __u8 src[16];
    __u8 dst[16];
    __u16 sport;
    __u16 dport;
    __u8 proto;
    __u8 dir;  /* enum ef_dir */
    __u8 role; /* enum ef_role */
    __u8 icmp_type;
    __u32 len;
    __u32 pad;
};

struct ef_log_window {
    __u64 start_ns;
    __u64 count;
};

/* Shadow policy (docs/shadow.md). A candidate policy is loaded as a second
 * object of the same programs with rodata shadow_mode set, its own policy maps,
 * counters, conntrack and fragment tables. The enforced programs hand their
 * verdict over in ef_shadow_handoff[dir] and tail-call the candidate through
 * ef_shadow_xdp / ef_shadow_tc (an empty slot: the tail call falls through and
 * the enforced program returns its own verdict). The candidate judges the
 * packet, counts, compares and returns the enforced verdict. */
struct ef_shadow_handoff {
    __u32 pass;
    __u32 kind;  /* enum ef_last_kind of the enforced verdict */
    __u32 index; /* its rule index or enum ef_reason */
    __u32 pad;
};

/* ef_shadow_would (per-CPU array of struct ef_counter): would_drop at the
 * enforced verdict's slot (the packet passed, the candidate would drop it),
 * would_pass at EF_SHADOW_SLOTS + the candidate verdict's slot (dropped, the
 * candidate would pass it). A verdict's slot: its rule index, or EF_MAX_RULES +
 * its reason. */
enum ef_shadow_kind {
    EF_SHADOW_WOULD_DROP = 0,
    EF_SHADOW_WOULD_PASS = 1,
};
#define EF_SHADOW_SLOTS ((__u32)EF_MAX_RULES + (__u32)EF_R_COUNT)
#define EF_SHADOW_WOULD_SLOTS (2 * EF_SHADOW_SLOTS)
#define EF_SHADOW_SLOT(kind, index) \
    ((kind) == 0 ? (__u32)(index) : (__u32)EF_MAX_RULES + (__u32)(index))

/* `edgefw shadow log`: a disagreement, sampled like the drop log (the
 * candidate's own ring buffer and per-CPU window). */
struct ef_shadow_event {
    __u64 ts_ns; /* CLOCK_MONOTONIC */
    __u32 ifindex;
    __u32 kind; /* enum ef_shadow_kind */
    __u8 src[16];
    __u8 dst[16];
    __u16 sport;
    __u16 dport;
    __u8 proto;
    __u8 dir;  /* enum ef_dir */
    __u8 role; /* enum ef_role */
    __u8 icmp_type;
    __u32 len;
    __u8 enforced_kind; /* enum ef_last_kind */
    __u8 candidate_kind;
    __u16 pad;
    __u32 enforced_index; /* rule slot or enum ef_reason */
    __u32 candidate_index;
    __u32 pad2;
};

/* Test mode only (rodata record_last): the counter the last packet moved. */
enum ef_last_kind {
    EF_LAST_RULE = 0,
    EF_LAST_REASON = 1,
};

struct ef_last {
    __u32 kind; /* enum ef_last_kind */
    __u32 index;
};

/* ef_ifaces[ifindex]: an array, not a hash (a hash lookup cost ~9 ns of a
 * ~50 ns conntrack hit). Slots of NICs edgefw does not protect stay zero. */
struct ef_iface_value {
    __u32 role;       /* enum ef_role */
    __u32 protected_; /* 1 when the NIC is protected */
};

/* Conntrack: normalised five-tuple + role. (addr_a, port_a) is the smaller
 * endpoint by memcmp of the address then the port, so both directions of a
 * flow find the same entry. ICMP echo uses port_a = port_b = 0. */
struct ef_ct_key {
    __u8 addr_a[16];
    __u8 addr_b[16];
    __u16 port_a; /* host order */
    __u16 port_b;
    __u8 proto; /* IPPROTO_* */
    __u8 role;
    __u16 pad;
};

enum ef_ct_state {
    EF_CT_OPEN = 0,    /* UDP/ICMP, or TCP after SYN */
    EF_CT_CLOSING = 1, /* TCP FIN seen */
    EF_CT_RESET = 2,   /* TCP RST seen: the closing timeout until a non-RST packet reopens it */
};

/* Conntrack tables. A flow starts in its protocol's "new" table (LRU: a flood
 * of new flows evicts only unanswered flows) and moves to the "established"
 * table (a plain hash: nothing evicts it) on its first packet in the reply
 * direction. A full established table refuses the move (counted) and the flow
 * stays in the new table. A key lives in one table at a time. */
enum ef_ct_table {
    EF_CT_TCP_NEW = 0,   /* ef_ct */
    EF_CT_TCP_EST = 1,   /* ef_ct_est */
    EF_CT_DGRAM_NEW = 2, /* ef_ct_dgram: UDP, ICMP */
    EF_CT_DGRAM_EST = 3, /* ef_ct_dgram_est */
    EF_CT_TABLES = 4,
};

/* ef_ct_stats (per-CPU array of __u64) at EF_CT_STAT_SLOT(table, stat). An LRU
 * table cannot report its evictions: inserts - removed - live entries bounds
 * them from above (an insert that replaced an entry of the same key counts as
 * an insert too). */
enum ef_ct_stat {
    EF_CT_S_INSERTS = 0, /* entries written: new flows (new tables), promotions (established) */
    EF_CT_S_REMOVED = 1, /* entries the programs deleted: expired, promoted out, replaced */
    EF_CT_S_REFUSED = 2, /* inserts the table refused (established: full, promotion refused) */
    EF_CT_S_RST = 3,     /* RSTs that hit a flow of the table (blind ones included) */
    EF_CT_STATS = 4,
};
#define EF_CT_STAT_SLOT(table, stat) ((__u32)(table) * (__u32)EF_CT_STATS + (__u32)(stat))
#define EF_CT_STAT_SLOTS ((__u32)EF_CT_TABLES * (__u32)EF_CT_STATS)

/* The generation tag of a policy generation (1, 2, ...): 1..65535, never 0. */
#define EF_CT_GEN(generation) ((__u16)((generation) % 65535 + 1))

/* Conntrack is directional: the entry remembers on which hook the flow was
 * opened and whether the opener's source was endpoint a of the key. A packet
 * on the same hook must come from the opener's source, a packet on the other
 * hook from the opener's destination (the reply); any other packet with the
 * same key is a miss. */
struct ef_ct_value {
    __u64 last_seen_ns;
    __u16 rule; /* rule index that admitted the flow: later packets count there */
    /* The policy generation that judged the flow (EF_CT_GEN of the reload
     * generation; 0: unknown, an entry of an older edgefw). A hit on an entry
     * of another generation judges the flow again first (bpf/ef_verdict.h
     * ef_ct_rejudge): a reload's new programs never count a packet under a
     * rule the new policy does not have, even before the reload's walk of the
     * tables has reached the entry. It was the upper half of a 32-bit rule
     * index (always 0): the layout is unchanged for kept tables. */
    __u16 gen;
    __u8 state;
    __u8 opened_dir;  /* enum ef_dir of the first packet */
    __u8 opener_is_a; /* 1: the first packet's source was (addr_a, port_a) */
    __u8 replied;     /* TCP in a new table: a reply has passed (promotion on the opener's next) */
};

/* Fragments: the first fragment of a datagram records its verdict, whatever
 * gave it (a rule, a conntrack hit, a related ICMP error), so later fragments
 * (which carry no ports) follow it and count where it counted. The key is the
 * datagram's identity as the RFCs define it: IPv4 (src, dst, protocol, id),
 * RFC 791; IPv6 (src, dst, id), RFC 8200 4.5, so proto is 0 for IPv6. A first
 * fragment that drops deletes the entry: a reused id cannot inherit a verdict. */
struct ef_frag_key {
    __u8 src[16];
    __u8 dst[16];
    __u32 id;
    __u8 proto; /* IPv4: the protocol field; IPv6: 0 */
    __u8 role;
    __u8 dir; /* enum ef_dir */
    __u8 pad;
};

struct ef_frag_value {
    __u64 first_ns; /* when the first fragment passed; the entry ends EF_FRAG_TIMEOUT_S later */
    __u32 index;    /* rule index or enum ef_reason */
    __u32 kind;     /* enum ef_last_kind */
};

/* ef_local_addrs: every address local to a role on this node (its own and the
 * VIPs it backs). An ingress packet from one of them is spoofed. */
struct ef_local_addr_key {
    __u32 role;
    __u8 addr[16];
};

/* ef_local_hint[role]: a bitmap in front of ef_local_addrs. Bit
 * ef_local_hint_bit(addr) is set for every address local to the role, so an
 * ingress source whose bit is clear is not local without a hash lookup; a set
 * bit only means "look it up". Derived from ef_local_addrs when the image is
 * written; it decides nothing on its own. */
#define EF_LOCAL_HINT_BITS 65536
struct ef_local_hint {
    __u64 words[EF_LOCAL_HINT_BITS / 64];
};

/* The 16-bit fold of a 16-byte address that indexes ef_local_hint. Native byte
 * order: the programs and the loader run on the same host. */
static inline __u32 ef_local_hint_bit(const __u8 *addr) {
    __u32 w[4];

    __builtin_memcpy(w, addr, sizeof(w));
    __u32 h = w[0] ^ w[1] ^ w[2] ^ w[3];
    return (h ^ (h >> 16)) & (EF_LOCAL_HINT_BITS - 1);
}

#ifdef __cplusplus
#define EF_STATIC_ASSERT static_assert
#else
#define EF_STATIC_ASSERT _Static_assert
#endif
EF_STATIC_ASSERT(sizeof(struct ef_port_class_value) == 8, "ef_port_class_value size");
EF_STATIC_ASSERT(sizeof(struct ef_local_key) == 20, "ef_local_key size");
EF_STATIC_ASSERT(sizeof(struct ef_remote_key) == 24, "ef_remote_key size");
EF_STATIC_ASSERT(sizeof(struct ef_sport_key) == 12, "ef_sport_key size");
EF_STATIC_ASSERT(sizeof(struct ef_counter) == 24, "ef_counter size");
EF_STATIC_ASSERT(sizeof(struct ef_drop_event) == 64, "ef_drop_event size");
EF_STATIC_ASSERT(sizeof(struct ef_log_window) == 16, "ef_log_window size");
EF_STATIC_ASSERT(sizeof(struct ef_shadow_handoff) == 16, "ef_shadow_handoff size");
EF_STATIC_ASSERT(sizeof(struct ef_shadow_event) == 80, "ef_shadow_event size");
EF_STATIC_ASSERT(sizeof(struct ef_iface_value) == 8, "ef_iface_value size");
EF_STATIC_ASSERT(sizeof(struct ef_last) == 8, "ef_last size");
EF_STATIC_ASSERT(sizeof(struct ef_ct_key) == 40, "ef_ct_key size");
EF_STATIC_ASSERT(sizeof(struct ef_ct_value) == 16, "ef_ct_value size");
EF_STATIC_ASSERT(EF_MAX_RULES <= 65536, "a rule index fits ef_ct_value.rule");
EF_STATIC_ASSERT(sizeof(struct ef_frag_key) == 40, "ef_frag_key size");
EF_STATIC_ASSERT(sizeof(struct ef_frag_value) == 16, "ef_frag_value size");
EF_STATIC_ASSERT(sizeof(struct ef_local_addr_key) == 20, "ef_local_addr_key size");
EF_STATIC_ASSERT(sizeof(struct ef_range_index) == 8, "ef_range_index size");
EF_STATIC_ASSERT(sizeof(struct ef_remote_range) == 24, "ef_remote_range size");
EF_STATIC_ASSERT(sizeof(struct ef_sport_range) == 8, "ef_sport_range size");
EF_STATIC_ASSERT((1ull << EF_RANGE_SEARCH_STEPS) >= 2ull * EF_MAX_REMOTE + 1, "range search steps");

#endif /* EDGEFW_MAPS_ABI_H */
