/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* `make bench` reference programs (docs/bench.md): the floor, the oracle, and a
 * wrapper that gives every BPF_PROG_TEST_RUN repetition a new flow. Not part of
 * the data plane; nothing here is attached to a device. */
/* bpf_helpers.h needs linux/bpf.h first; include sorting would invert them. */
// clang-format off
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
// clang-format on

/* The oracle's key: the IPv4 five-tuple as it sits in the headers. */
struct bench_tuple {
    __u32 saddr;
    __u32 daddr;
    __u16 sport;
    __u16 dport;
    __u8 proto;
    __u8 pad[3];
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, struct bench_tuple);
    __type(value, __u32);
} bench_flows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1024);
    __type(key, __u32);
    __type(value, __u64);
} bench_counters SEC(".maps");

/* Tail-call targets of bench_new_flow, set by the driver: edgefw's XDP program with
 * conntrack creation on (0) and off (1), bench_floor (2: the wrapper's own cost),
 * creation on with per-CPU LRU lists (3). */
struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u32);
} bench_next SEC(".maps");

/* Which bench_next slot bench_new_flow jumps to; set between runs. */
__u32 next_slot = 0;
/* Flows made so far: the source address of the next one. */
__u32 flow_seq = 0;

/* The cost of BPF_PROG_TEST_RUN itself: nothing to do. */
SEC("xdp")
int bench_floor(struct xdp_md *ctx) {
    (void)ctx;
    return XDP_PASS;
}

/* The least a port filter can do: parse Ethernet/IPv4/UDP, one hash lookup on
 * the five-tuple, one per-CPU counter. Anything else drops. */
SEC("xdp")
int bench_oracle(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    struct udphdr *udp;
    struct bench_tuple t = {};
    __u32 *slot;
    __u64 *count;

    if ((void *)(ip + 1) > data_end) return XDP_DROP;
    if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
        return XDP_DROP;
    udp = (void *)(ip + 1);
    if ((void *)(udp + 1) > data_end) return XDP_DROP;

    t.saddr = ip->saddr;
    t.daddr = ip->daddr;
    t.sport = udp->source;
    t.dport = udp->dest;
    t.proto = IPPROTO_UDP;
    slot = bpf_map_lookup_elem(&bench_flows, &t);
    if (!slot) return XDP_DROP;
    count = bpf_map_lookup_elem(&bench_counters, slot);
    if (count) *count += 1;
    return XDP_PASS;
}

/* Rewrites the IPv4 source address to a new one on every run (100.64.0.0/10,
 * 4M addresses before it repeats), then tail-calls bench_next[next_slot]: with
 * BPF_PROG_TEST_RUN's repeat, every repetition is the first packet of a flow.
 * The IPv4 checksum goes stale; no program here checks it. */
SEC("xdp")
int bench_new_flow(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);

    if ((void *)(ip + 1) > data_end) return XDP_ABORTED;
    ip->saddr = bpf_htonl(0x64400000 | (flow_seq++ & 0x3fffff));
    bpf_tail_call(ctx, &bench_next, next_slot);
    return XDP_ABORTED;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
