/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* edgefw's entry in a libxdp multi-program dispatcher (docs/multiprog.md).
 *
 * libxdp runs the programs of a NIC from one dispatcher whose slots take
 * freplace (BPF_PROG_TYPE_EXT) programs loaded against that very dispatcher,
 * so the policy program edgefw loads as XDP cannot sit in a slot itself, and
 * a freplace link cannot swap its program in place. This entry is loaded
 * once per NIC and stays in its slot for the life of the instance; it
 * tail-calls the policy program through ef_xdp_next (one slot), and a reload
 * swaps that slot: one atomic pointer store, every packet sees the old or
 * the new program, and the dispatcher and the other programs are never
 * touched. The loader fills the slot before the entry is attached. */
// clang-format off
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
// clang-format on

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} ef_xdp_next SEC(".maps");

/* No XDP_RUN_CONFIG section: the run priority (--xdp-priority) and the
 * chain-call actions (a pass goes on to the next program, a drop ends the
 * chain) are set through libxdp's API at load, and libxdp keeps them in the
 * dispatcher's configuration, where every later rebuild of the dispatcher
 * (another program added or removed) reads them from. */
SEC("xdp")
int edgefw_xdp(struct xdp_md *ctx) {
    bpf_tail_call(ctx, &ef_xdp_next, 0);
    /* Only an empty slot gets here (the loader fills it before attaching):
     * a firewall fails closed. */
    return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
