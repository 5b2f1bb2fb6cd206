/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps and load-time settings shared by the XDP and TC programs. */
#ifndef EDGEFW_BPF_MAPS_H
#define EDGEFW_BPF_MAPS_H

/* bpf_helpers.h needs linux/bpf.h first; include sorting would invert them. */
// clang-format off
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
// clang-format on

#include "edgefw_abi.h"

/* Set through the skeleton's rodata before load; the verifier prunes what is off. */
const volatile __u32 egress_mode[EF_ROLE_COUNT] = {EF_EGRESS_ENFORCE, EF_EGRESS_ENFORCE};
const volatile __u64 tcp_established_ns = 7440ULL * 1000000000ULL;
const volatile __u64 tcp_closing_ns = 10ULL * 1000000000ULL;
const volatile __u64 udp_ns = 180ULL * 1000000000ULL;
const volatile __u64 icmp_ns = 30ULL * 1000000000ULL;
/* A fragment entry lives this long after its first fragment (docs/dataplane.md step 3). */
const volatile __u64 frag_ns = EF_FRAG_TIMEOUT_S * 1000000000ULL;
/* How often the programs' timer sweeps expired entries out of the established
 * conntrack tables (ef_ct_sweep). */
const volatile __u64 ct_sweep_ns = EF_CT_SWEEP_S * 1000000000ULL;
/* Length of a jiffy (clock_getres(CLOCK_MONOTONIC_COARSE) is one tick). */
const volatile __u64 ns_per_jiffy = 4000000;
/* CLOCK_MONOTONIC_COARSE minus jiffies * ns_per_jiffy, set by the first packet (ef_now). */
__u64 ef_clock_base_ns = 0;
const volatile bool ct_create = true;
/* Look every TCP/UDP packet up in conntrack, not only those a rule's ports say
 * can have an entry: set when a reload kept flows no rule may admit any more
 * (`reload --keep-flows`), see ef_ct_may_accept. */
const volatile bool ct_lookup_all = false;
/* The policy generation's tag (EF_CT_GEN), written into the entries it makes;
 * an entry with another tag is judged again on its next packet, unless the
 * reload kept flows (ct_lookup_all). */
const volatile __u16 policy_gen = 1;
const volatile bool record_last = false;
/* Drop events per second and CPU; 0 turns the drop log off. */
const volatile __u32 log_per_sec_per_cpu = 0;
/* This object is a shadow candidate (edgefw_abi.h, struct ef_shadow_handoff):
 * its verdict only counts, the enforced program's is returned. */
const volatile bool shadow_mode = false;

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, EF_MAX_IFINDEX);
    __type(key, __u32);
    __type(value, struct ef_iface_value);
} ef_ifaces SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, EF_PORT_CLASS_SLOTS);
    __uint(map_flags, BPF_F_MMAPABLE);
    __type(key, __u32);
    __type(value, struct ef_port_class_value);
} ef_port_class SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, EF_MAX_LOCAL);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct ef_local_key);
    __type(value, __u32);
} ef_local SEC(".maps");

/* Anti-spoofing: the addresses local to each role (the node's own and the VIPs it
 * backs). Part of the policy's image, like ef_local: a reload swaps it with the
 * programs. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, EF_MAX_LOCAL_ADDRS);
    __type(key, struct ef_local_addr_key);
    __type(value, __u32);
} ef_local_addrs SEC(".maps");

/* ef_local_addrs' bitmap per role (edgefw_abi.h): most sources skip its lookup. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, EF_ROLE_COUNT);
    __type(key, __u32);
    __type(value, struct ef_local_hint);
} ef_local_hint SEC(".maps");

/* Steps 3 and 4, flattened (edgefw_abi.h): each group's ranges, sorted, and
 * where each group's ranges are. The loader sizes all four to the image. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct ef_range_index);
} ef_remote_index SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct ef_remote_range);
} ef_remote SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct ef_range_index);
} ef_sport_index SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct ef_sport_range);
} ef_sport SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, EF_MAX_RULES);
    __type(key, __u32);
    __type(value, struct ef_counter);
} ef_rule_counters SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, EF_R_COUNT);
    __type(key, __u32);
    __type(value, struct ef_counter);
} ef_reason_counters SEC(".maps");

/* Conntrack (edgefw_abi.h, enum ef_ct_table): per protocol family, a "new"
 * LRU table for flows that have not been answered yet and an "established"
 * hash for flows that have seen a packet each way. A flood of new flows (SYNs
 * or STUN from spoofed sources) only ever evicts unanswered flows of its own
 * family; nothing evicts an established flow. All four are sized ct_size. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, EF_CT_DEFAULT_SIZE);
    __type(key, struct ef_ct_key);
    __type(value, struct ef_ct_value);
} ef_ct SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, EF_CT_DEFAULT_SIZE);
    __type(key, struct ef_ct_key);
    __type(value, struct ef_ct_value);
} ef_ct_est SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, EF_CT_DEFAULT_SIZE);
    __type(key, struct ef_ct_key);
    __type(value, struct ef_ct_value);
} ef_ct_dgram SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, EF_CT_DEFAULT_SIZE);
    __type(key, struct ef_ct_key);
    __type(value, struct ef_ct_value);
} ef_ct_dgram_est SEC(".maps");

#ifndef CLOCK_MONOTONIC
#define CLOCK_MONOTONIC 1 /* linux/time.h */
#endif

/* The sweep's timer: armed by the first packet of a program generation, it
 * re-arms itself. One per generation; the loader pins it with the programs, so
 * a reload's replaced pin ends the old generation's timer. */
struct ef_ct_sweep {
    struct bpf_timer timer;
    __u32 armed;
    __u32 pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct ef_ct_sweep);
} ef_ct_sweep SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, EF_CT_STAT_SLOTS);
    __type(key, __u32);
    __type(value, __u64);
} ef_ct_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, EF_FRAG_TABLE_SIZE);
    __type(key, struct ef_frag_key);
    __type(value, struct ef_frag_value);
} ef_frags SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct ef_last);
} ef_last SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, EF_LOG_RING_BYTES);
} ef_log SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct ef_log_window);
} ef_log_window SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, EF_LOG_COUNTERS);
    __type(key, __u32);
    __type(value, __u64);
} ef_log_counters SEC(".maps");

/* Shadow policy (edgefw_abi.h). The enforced programs tail-call slot 0 of
 * their hook's array; XDP and TC programs cannot share one program array. */
struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} ef_shadow_xdp SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} ef_shadow_tc SEC(".maps");

/* The enforced verdict, per CPU and direction, from the enforced program to
 * the candidate it tail-calls (nothing runs between the two on a CPU). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, EF_DIR_COUNT);
    __type(key, __u32);
    __type(value, struct ef_shadow_handoff);
} ef_shadow_handoff SEC(".maps");

/* The candidate's disagreement counters: one entry in the enforced object,
 * EF_SHADOW_WOULD_SLOTS in a candidate (the loader sizes it). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct ef_counter);
} ef_shadow_would SEC(".maps");

#endif /* EDGEFW_BPF_MAPS_H */
