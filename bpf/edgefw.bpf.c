/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* edgefw: XDP ingress and TC egress port-policy enforcement (docs/dataplane.md). */
/* bpf_helpers.h needs linux/bpf.h first; include sorting would invert them. */
// clang-format off
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
// clang-format on

#include "ef_shadow.h"

/* Headers of a non-linear egress skb are pulled into the linear area up to this
 * many bytes: enough for two VLAN tags, IPv6 with extension headers and an ICMP
 * error's quote, without linearising a whole GSO packet. */
#define EF_TC_PULL_LEN 512

static __always_inline int ef_xdp(struct xdp_md *ctx, bool shadow_slot) {
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;

    __u32 pass = ef_decide(data, data_end, ctx->ingress_ifindex, EF_DIR_INGRESS, data_end - data);

    /* The candidate's slot (ef_decide handed the verdict over); with none
     * loaded the slot is empty and the call falls through. */
    if (shadow_slot && !shadow_mode) bpf_tail_call(ctx, &ef_shadow_xdp, 0);
    return pass ? XDP_PASS : XDP_DROP;
}

/* On the NIC through edgefw's own link. */
SEC("xdp")
int ef_xdp_ingress(struct xdp_md *ctx) { return ef_xdp(ctx, true); }

/* In libxdp's dispatcher (loaded as an freplace program, the other one not
 * loaded): no shadow slot. The verifier counts a tail call as a change of
 * packet data, even one rodata turns off, and since Linux 6.12 refuses an
 * extension that changes packet data in a slot whose original does not. */
SEC("xdp")
int ef_xdp_dispatch(struct xdp_md *ctx) { return ef_xdp(ctx, false); }

SEC("tc")
int ef_tc_egress(struct __sk_buff *skb) {
    __u32 len = skb->len;
    __u32 linear = skb->data_end - skb->data;

    if (linear < len && linear < EF_TC_PULL_LEN)
        bpf_skb_pull_data(skb, len < EF_TC_PULL_LEN ? len : EF_TC_PULL_LEN);

    void *data = (void *)(long)skb->data;
    void *data_end = (void *)(long)skb->data_end;

    __u32 pass = ef_decide(data, data_end, skb->ifindex, EF_DIR_EGRESS, len);

    if (!shadow_mode) bpf_tail_call(skb, &ef_shadow_tc, 0);
    /* An allowed packet goes on to whatever runs after edgefw: TC_ACT_UNSPEC is
     * tcx's TCX_NEXT and, for a cls_bpf filter, "no verdict". TC_ACT_OK would
     * skip the other egress programs and filters on the NIC. */
    return pass ? TC_ACT_UNSPEC : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
