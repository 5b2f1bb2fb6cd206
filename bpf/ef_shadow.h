/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Shadow policy (docs/shadow.md): the enforced program's hand-over and the
 * candidate's comparison, and ef_decide, the verdict with its counting. */
#ifndef EDGEFW_BPF_SHADOW_H
#define EDGEFW_BPF_SHADOW_H

#include "ef_verdict.h"

/* Enforced side: the verdict for the candidate the caller tail-calls next. */
static __always_inline void ef_shadow_hand_over(const struct ef_verdict *v, __u32 dir) {
    struct ef_shadow_handoff *h = bpf_map_lookup_elem(&ef_shadow_handoff, &dir);

    if (!h) return;
    h->pass = v->pass;
    h->kind = v->kind;
    h->index = v->index;
}

static __always_inline void ef_shadow_count(__u32 slot, __u64 bytes) {
    struct ef_counter *c = bpf_map_lookup_elem(&ef_shadow_would, &slot);

    if (!c) return;
    c->packets++;
    c->bytes += bytes;
}

static __always_inline void ef_shadow_log(const struct ef_shadow_handoff *h,
                                          const struct ef_verdict *v, const struct ef_pkt *p,
                                          __u32 ifindex, __u32 dir, __u64 bytes) {
    struct ef_shadow_event *e = NULL;
    __u64 now = 0;

    if (ef_log_window_take(&now)) e = bpf_ringbuf_reserve(&ef_log, sizeof(*e), 0);
    /* One null test of the record: see ef_log_drop. */
    if (!e) {
        ef_log_count(EF_LOG_SUPPRESSED);
        return;
    }
    ef_log_count(EF_LOG_EMITTED);
    e->ts_ns = now;
    e->ifindex = ifindex;
    e->kind = h->pass ? EF_SHADOW_WOULD_DROP : EF_SHADOW_WOULD_PASS;
    ef_copy16(e->src, p->t.src);
    ef_copy16(e->dst, p->t.dst);
    e->sport = p->t.sport;
    e->dport = p->t.dport;
    e->proto = p->t.proto;
    e->dir = dir;
    e->role = v->role;
    e->icmp_type = p->icmp_type;
    e->len = bytes;
    e->enforced_kind = h->kind;
    e->candidate_kind = v->kind;
    e->pad = 0;
    e->enforced_index = h->index;
    e->candidate_index = v->index;
    e->pad2 = 0;
    bpf_ringbuf_submit(e, 0);
}

/* Candidate side, after its own verdict v (counted by ef_decide under the
 * candidate's rule or reason): a disagreement is counted under the enforced
 * verdict (would_drop) or the candidate's (would_pass). Returns the enforced
 * verdict, which decides. The hand-over is always there (a per-CPU array's
 * slot); should it not be, the packet drops. */
static __always_inline __u32 ef_shadow_compare(const struct ef_verdict *v, const struct ef_pkt *p,
                                               __u32 ifindex, __u32 dir, __u64 bytes) {
    struct ef_shadow_handoff *h = bpf_map_lookup_elem(&ef_shadow_handoff, &dir);

    if (!h) return 0;
    if (h->pass == v->pass) return h->pass;
    if (h->pass)
        ef_shadow_count(EF_SHADOW_SLOT(h->kind, h->index), bytes);
    else
        ef_shadow_count(EF_SHADOW_SLOTS + EF_SHADOW_SLOT(v->kind, v->index), bytes);
    if (log_per_sec_per_cpu) ef_shadow_log(h, v, p, ifindex, dir, bytes);
    return h->pass;
}

/* Step 0 (the interface's role), then counting: exactly one counter per
 * packet. The enforced object hands its verdict over for a candidate (its
 * caller then tail-calls the shadow slot); a candidate compares and returns
 * the enforced verdict. Everything a candidate needs is in scope here, so the
 * callers keep nothing live across the verdict but its answer. */
static __always_inline __u32 ef_decide(void *data, void *data_end, __u32 ifindex, __u32 dir,
                                       __u64 bytes) {
    struct ef_verdict v = {};
    struct ef_iface_value *iv = bpf_map_lookup_elem(&ef_ifaces, &ifindex);
    struct ef_counter *c;
    struct ef_pkt p;
    __u64 now = 0;

    __builtin_memset(&p, 0, sizeof(p));
    v.role = EF_ROLE_COUNT;
    ef_sweep_arm();
    if (!iv || !iv->protected_ || iv->role >= EF_ROLE_COUNT) {
        ef_set_reason(&v, EF_R_UNKNOWN_IFACE_PASS, 1);
    } else {
        v.role = iv->role;
        ef_decide_role(data, data_end, bytes, iv->role, dir, &v, &p, &now);
    }

    if (v.kind == EF_LAST_RULE) {
        c = bpf_map_lookup_elem(&ef_rule_counters, &v.index);
        if (c) {
            c->packets++;
            c->bytes += bytes;
            /* The clock was read already on every rule path that tracks. */
            c->last_ns = now ? now : ef_now();
        }
    } else {
        c = bpf_map_lookup_elem(&ef_reason_counters, &v.index);
        if (c) {
            c->packets++;
            c->bytes += bytes;
        }
        /* A candidate's ring carries its disagreements, not drops. */
        if (!v.pass && log_per_sec_per_cpu && !shadow_mode && v.role < EF_ROLE_COUNT)
            ef_log_drop(&v, &p, ifindex, dir, bytes);
    }
    if (record_last) {
        __u32 zero = 0;
        struct ef_last *last = bpf_map_lookup_elem(&ef_last, &zero);

        if (last) {
            last->kind = v.kind;
            last->index = v.index;
        }
    }
    if (shadow_mode) return ef_shadow_compare(&v, &p, ifindex, dir, bytes);
    ef_shadow_hand_over(&v, dir);
    return v.pass;
}

#endif /* EDGEFW_BPF_SHADOW_H */
