/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The verdict: docs/dataplane.md, steps 0-10, shared by XDP and TC. */
#ifndef EDGEFW_BPF_VERDICT_H
#define EDGEFW_BPF_VERDICT_H

#include "ef_maps.h"
#include "ef_parse.h"

struct ef_verdict {
    __u32 pass;
    __u32 kind;  /* enum ef_last_kind: which counter moves */
    __u32 index; /* rule index or enum ef_reason */
    __u32 role;  /* enum ef_role of the NIC; EF_ROLE_COUNT when it has none */
};

static __always_inline void ef_set_reason(struct ef_verdict *v, __u32 reason, __u32 pass) {
    v->pass = pass;
    v->kind = EF_LAST_REASON;
    v->index = reason;
}

static __always_inline void ef_set_rule(struct ef_verdict *v, __u32 rule) {
    v->pass = 1;
    v->kind = EF_LAST_RULE;
    v->index = rule;
}

/* memcmp order of two 16-byte addresses: big-endian comparison of two words. */
static __always_inline int ef_addr_cmp(const __u8 *a, const __u8 *b) {
    __u64 a0 = __builtin_bswap64(*(const __u64 *)a);
    __u64 b0 = __builtin_bswap64(*(const __u64 *)b);
    __u64 a1, b1;

    if (a0 != b0) return a0 < b0 ? -1 : 1;
    a1 = __builtin_bswap64(*(const __u64 *)(a + 8));
    b1 = __builtin_bswap64(*(const __u64 *)(b + 8));
    if (a1 != b1) return a1 < b1 ? -1 : 1;
    return 0;
}

/* Word copies: the verifier rejects misaligned stack access and key addresses sit
 * at offset 4 (ef_local_key), so 4-byte words are the widest safe unit. */
static __always_inline void ef_copy16(__u8 *dst, const __u8 *src) {
    __u32 *d = (__u32 *)dst;
    const __u32 *s = (const __u32 *)src;

    d[0] = s[0];
    d[1] = s[1];
    d[2] = s[2];
    d[3] = s[3];
}

static __always_inline bool ef_addr_eq(const __u8 *a, const __u8 *b) {
    return *(const __u64 *)a == *(const __u64 *)b &&
           *(const __u64 *)(a + 8) == *(const __u64 *)(b + 8);
}

/* Step 2's anti-spoofing: is addr local to the role (ef_local_addrs)? The
 * role's bitmap answers "no" for most sources without the hash lookup. */
static __always_inline bool ef_is_local(__u32 role, const __u8 *addr) {
    struct ef_local_addr_key k __attribute__((aligned(8)));
    struct ef_local_hint *hint = bpf_map_lookup_elem(&ef_local_hint, &role);
    __u32 bit = ef_local_hint_bit(addr);

    if (hint && !(hint->words[bit / 64] & (1ULL << (bit % 64)))) return false;
    k.role = role;
    ef_copy16(k.addr, addr);
    return bpf_map_lookup_elem(&ef_local_addrs, &k) != NULL;
}

/* Returns 1 when the tuple's source is endpoint a of the key. */
static __always_inline __u32 ef_ct_key_of(struct ef_ct_key *k, const struct ef_tuple *t,
                                          __u32 role) {
    int c = ef_addr_cmp(t->src, t->dst);
    __u32 src_is_a = c < 0 || (c == 0 && t->sport <= t->dport);

    /* Every byte of the key is written below (no implicit padding), so no
     * memset: the verifier sees the whole key initialised. */
    if (src_is_a) {
        ef_copy16(k->addr_a, t->src);
        ef_copy16(k->addr_b, t->dst);
        k->port_a = t->sport;
        k->port_b = t->dport;
    } else {
        ef_copy16(k->addr_a, t->dst);
        ef_copy16(k->addr_b, t->src);
        k->port_a = t->dport;
        k->port_b = t->sport;
    }
    k->proto = t->proto;
    k->role = role;
    k->pad = 0;
    return src_is_a;
}

/* Step 6's direction rule: on the hook the flow was opened on, the packet must
 * come from the opener; on the other hook, from the other endpoint (the reply
 * is the reverse tuple on the opposite hook). */
static __always_inline bool ef_ct_accepts(const struct ef_ct_value *cv, __u32 dir, __u32 src_is_a) {
    return (cv->opened_dir == dir) == (cv->opener_is_a == src_is_a);
}

static __always_inline __u64 ef_ct_timeout(__u8 proto, __u8 state) {
    if (proto == IPPROTO_TCP) return state != EF_CT_OPEN ? tcp_closing_ns : tcp_established_ns;
    if (proto == IPPROTO_UDP) return udp_ns;
    return icmp_ns;
}

/* The programs' clock: CLOCK_MONOTONIC_COARSE's time, counted in jiffies.
 * Timeouts are seconds, so a jiffy's resolution is enough, and reading jiffies
 * is a plain load where bpf_ktime_get_coarse_ns() reads the timekeeper under
 * its seqcount (about 12 ns a packet on the conntrack-hit path). The kernel
 * advances jiffies from the monotonic clock, so base + jiffies * ns_per_jiffy
 * stays within a tick of CLOCK_MONOTONIC_COARSE, the clock the loader reads.
 * The base is taken on the first packet of each program generation; two CPUs
 * racing to set it write values a tick apart at most. */
static __always_inline __u64 ef_now(void) {
    __u64 j = bpf_jiffies64() * ns_per_jiffy;
    __u64 base = ef_clock_base_ns;

    if (!base) {
        base = bpf_ktime_get_coarse_ns() - j;
        ef_clock_base_ns = base;
    }
    return base + j;
}

/* enum ef_ct_table of a key's table: new or established (est). */
static __always_inline __u32 ef_ct_table(const struct ef_ct_key *k, __u32 est) {
    return (k->proto == IPPROTO_TCP ? EF_CT_TCP_NEW : EF_CT_DGRAM_NEW) + (est ? 1 : 0);
}

static __always_inline void ef_ct_count(__u32 table, __u32 stat) {
    __u32 slot = EF_CT_STAT_SLOT(table, stat);
    __u64 *c = bpf_map_lookup_elem(&ef_ct_stats, &slot);

    if (c) (*c)++;
}

/* The established table first: a packet of an established flow costs one
 * lookup. A key lives in one table at a time, so the first hit is the entry.
 * One call site per table (not a map pointer chosen at run time), so the
 * verifier can inline each lookup. */
static __always_inline struct ef_ct_value *ef_ct_lookup(struct ef_ct_key *k, __u32 *est) {
    struct ef_ct_value *cv;

    if (k->proto == IPPROTO_TCP) {
        cv = bpf_map_lookup_elem(&ef_ct_est, k);
        *est = cv != NULL;
        if (cv) return cv;
        return bpf_map_lookup_elem(&ef_ct, k);
    }
    cv = bpf_map_lookup_elem(&ef_ct_dgram_est, k);
    *est = cv != NULL;
    if (cv) return cv;
    return bpf_map_lookup_elem(&ef_ct_dgram, k);
}

static __always_inline void ef_ct_delete(struct ef_ct_key *k, __u32 est) {
    long err;

    if (k->proto == IPPROTO_TCP)
        err = est ? bpf_map_delete_elem(&ef_ct_est, k) : bpf_map_delete_elem(&ef_ct, k);
    else
        err = est ? bpf_map_delete_elem(&ef_ct_dgram_est, k) : bpf_map_delete_elem(&ef_ct_dgram, k);
    if (!err) ef_ct_count(ef_ct_table(k, est), EF_CT_S_REMOVED);
}

/* A live entry, or NULL; an expired one is deleted. Another CPU may have refreshed
 * last_seen after our clock read, so a last_seen in the future is live. */
static __always_inline struct ef_ct_value *ef_ct_live(struct ef_ct_key *k, __u64 *now, __u32 *est) {
    struct ef_ct_value *cv = ef_ct_lookup(k, est);

    if (!cv) return NULL;
    *now = ef_now();
    if (*now > cv->last_seen_ns && *now - cv->last_seen_ns > ef_ct_timeout(k->proto, cv->state)) {
        ef_ct_delete(k, *est);
        return NULL;
    }
    return cv;
}

/* The sweep (ef_ct_sweep): nothing evicts an established entry, so one whose
 * flow ended without a FIN or RST (UDP, ICMP, a peer gone) would hold its slot
 * until its flow showed up again. Every ct_sweep_ns the timer walks both
 * established tables and deletes what has expired, as a packet of the flow
 * would (counted `removed`). */
struct ef_sweep_ctx {
    __u64 now;
    __u32 table;
};

static long ef_sweep_entry(void *map, const struct ef_ct_key *k, struct ef_ct_value *cv,
                           struct ef_sweep_ctx *ctx) {
    if (ctx->now > cv->last_seen_ns &&
        ctx->now - cv->last_seen_ns > ef_ct_timeout(k->proto, cv->state) &&
        bpf_map_delete_elem(map, k) == 0)
        ef_ct_count(ctx->table, EF_CT_S_REMOVED);
    return 0;
}

static int ef_sweep_fire(void *map, __u32 *key, struct ef_ct_sweep *sw) {
    struct ef_sweep_ctx ctx = {.now = ef_now(), .table = EF_CT_TCP_EST};

    (void)map;
    (void)key;
    bpf_for_each_map_elem(&ef_ct_est, ef_sweep_entry, &ctx, 0);
    ctx.table = EF_CT_DGRAM_EST;
    bpf_for_each_map_elem(&ef_ct_dgram_est, ef_sweep_entry, &ctx, 0);
    bpf_timer_start(&sw->timer, ct_sweep_ns, 0);
    return 0;
}

/* Arms the sweep on a generation's first packet; after that one load and test. */
static __always_inline void ef_sweep_arm(void) {
    __u32 zero = 0;
    struct ef_ct_sweep *sw = bpf_map_lookup_elem(&ef_ct_sweep, &zero);

    if (!sw || sw->armed) return;
    sw->armed = 1;
    /* Another CPU may have initialised it first (-EBUSY): its start stands. */
    if (bpf_timer_init(&sw->timer, &ef_ct_sweep, CLOCK_MONOTONIC) != 0) return;
    bpf_timer_set_callback(&sw->timer, ef_sweep_fire);
    bpf_timer_start(&sw->timer, ct_sweep_ns, 0);
}

/* The flow's first packet in the reply direction: move the entry from the new
 * table to the established one. A full established table refuses (counted);
 * the flow then stays in the new table and tries again on its next reply. */
static __always_inline void ef_ct_promote(struct ef_ct_key *k, const struct ef_ct_value *cv) {
    struct ef_ct_value nv = *cv;
    long err;

    if (k->proto == IPPROTO_TCP)
        err = bpf_map_update_elem(&ef_ct_est, k, &nv, BPF_NOEXIST);
    else
        err = bpf_map_update_elem(&ef_ct_dgram_est, k, &nv, BPF_NOEXIST);
    if (err) {
        ef_ct_count(ef_ct_table(k, 1), EF_CT_S_REFUSED);
        return;
    }
    ef_ct_count(ef_ct_table(k, 1), EF_CT_S_INSERTS);
    ef_ct_delete(k, 0);
}

/* The datagram as the RFCs identify it (IPv4: src, dst, protocol, id; IPv6:
 * src, dst, id with protocol 0), plus the NIC's role and the direction. */
static __always_inline void ef_frag_key_of(struct ef_frag_key *k, const struct ef_pkt *p,
                                           __u32 role, __u32 dir) {
    ef_copy16(k->src, p->t.src);
    ef_copy16(k->dst, p->t.dst);
    k->id = p->frag_id;
    k->proto = p->frag_proto;
    k->role = role;
    k->dir = dir;
    k->pad = 0;
}

static __always_inline __u32 ef_rule_plus_one(__u32 direct) {
    __u32 rule = direct & ~EF_DIRECT_RULE;

    return rule < EF_MAX_RULES ? rule + 1 : 0;
}

/* The classification's view of the ports: the protocol slot, the port that
 * selects the port class (ICMP: type << 8 | code) and the source port. */
struct ef_ports {
    __u32 ps;
    __u32 dport;
    __u32 sport;
};

static __always_inline void ef_ports_of(const struct ef_pkt *p, struct ef_ports *o) {
    if (p->t.proto == IPPROTO_TCP)
        o->ps = EF_PS_TCP;
    else if (p->t.proto == IPPROTO_UDP)
        o->ps = EF_PS_UDP;
    else if (p->t.proto == IPPROTO_ICMP)
        o->ps = EF_PS_ICMP;
    else
        o->ps = EF_PS_ICMP6;
    o->dport = p->t.dport;
    o->sport = p->t.sport;
    if (o->ps >= EF_PS_ICMP) {
        o->dport = (__u32)p->icmp_type << 8 | p->icmp_code;
        o->sport = 0;
    }
}

/* ef_port_class[role, dir, slot, port]: the port class is 0 when no rule of
 * that hook names the port. */
static __always_inline const struct ef_port_class_value *ef_port_class_at(__u32 role, __u32 dir,
                                                                          __u32 ps, __u32 port) {
    __u32 slot = EF_PORT_SLOT(EF_COMBO(role, dir, ps), port);

    return bpf_map_lookup_elem(&ef_port_class, &slot);
}

static __always_inline __u32 ef_port_class_of(__u32 role, __u32 dir, __u32 ps, __u32 port) {
    const struct ef_port_class_value *pc = ef_port_class_at(role, dir, ps, port);

    return pc ? pc->port_class : 0;
}

/* Can a conntrack entry accept this TCP or UDP packet? Only a rule's admission
 * makes an entry (step 9), and an entry of an earlier policy generation is
 * judged again by this one before it counts, so every entry's first packet
 * has a port class on its hook and a source port inside that class's hull. An
 * entry accepts the opener's packets on that hook (same destination port) and
 * the other endpoint's on the other hook: its source port is the first
 * packet's destination port, its destination port one of the first packet's
 * possible source ports. A packet that is neither skips both table lookups;
 * the verdict is the one the lookups would have given (a miss). ICMP echo
 * replies change type, so ICMP is always looked up, as is everything after a
 * --keep-flows reload (ct_lookup_all). */
static __always_inline bool ef_ct_may_accept(const struct ef_ports *pt, __u32 port_class,
                                             __u32 role, __u32 dir) {
    if (ct_lookup_all || pt->ps >= EF_PS_ICMP || port_class) return true;
    const struct ef_port_class_value *rev = ef_port_class_at(role, dir ^ 1, pt->ps, pt->sport);

    return rev && rev->port_class && rev->sport_lo <= pt->dport && pt->dport <= rev->sport_hi;
}

/* Step 8's range searches: the last range of a group whose start is <= the
 * value (groups start at 0, so the range at the group's offset qualifies);
 * each step halves [base, base + n). They are global functions, which the
 * verifier checks once, on their own, with scalar arguments: inlined at each
 * call site, the loop's exit at every step forked the walk of everything after
 * it (the programs went from 110k to 460k verified instructions on 6.18).
 * Through bpf_loop each step was a callback: 4-8 ns more a packet at 10,000
 * rules. A branch-free step (the comparison as a 0/1 mask) measured slower:
 * its steps wait on each other's reads, where predicted branches run ahead. */

/* The remote class of the address (hi, lo: its two big-endian halves) in
 * ef_remote[base, base + n), or 0. */
__attribute__((noinline)) __u32 ef_remote_search(__u32 base, __u32 n, __u64 hi, __u64 lo) {
    struct ef_remote_range *r;

    for (__u32 i = 0; i < EF_RANGE_SEARCH_STEPS && n > 1; i++) {
        __u32 half = n / 2;
        __u32 mid = base + half;

        r = bpf_map_lookup_elem(&ef_remote, &mid);
        if (!r) return 0;
        if (r->start_hi < hi || (r->start_hi == hi && r->start_lo <= lo)) {
            base = mid;
            n -= half;
        } else {
            n = half;
        }
    }
    r = bpf_map_lookup_elem(&ef_remote, &base);
    return r ? r->remote_class : 0;
}

/* The rule + 1 of the source port in ef_sport[base, base + n), or 0. */
__attribute__((noinline)) __u32 ef_sport_search(__u32 base, __u32 n, __u32 port) {
    struct ef_sport_range *r;

    for (__u32 i = 0; i < EF_RANGE_SEARCH_STEPS && n > 1; i++) {
        __u32 half = n / 2;
        __u32 mid = base + half;

        r = bpf_map_lookup_elem(&ef_sport, &mid);
        if (!r) return 0;
        if (r->start <= port) {
            base = mid;
            n -= half;
        } else {
            n = half;
        }
    }
    r = bpf_map_lookup_elem(&ef_sport, &base);
    return r ? r->rule_plus_one : 0;
}

static __always_inline __u32 ef_remote_find(__u32 bucket, const __u8 *addr) {
    struct ef_range_index *ix = bpf_map_lookup_elem(&ef_remote_index, &bucket);

    if (!ix || !ix->count) return 0;
    return ef_remote_search(ix->offset, ix->count, __builtin_bswap64(*(const __u64 *)addr),
                            __builtin_bswap64(*(const __u64 *)(addr + 8)));
}

static __always_inline __u32 ef_sport_find(__u32 remote_class, __u32 port) {
    struct ef_range_index *ix = bpf_map_lookup_elem(&ef_sport_index, &remote_class);

    if (!ix || !ix->count) return 0;
    return ef_sport_search(ix->offset, ix->count, port);
}

/* Step 8: after the port class, the local lookup and two range searches, on
 * the packet's local and remote address; 0 = no rule, else rule index + 1. */
static __always_inline __u32 ef_classify_addrs(const __u8 *laddr, const __u8 *raddr,
                                               const struct ef_ports *pt, __u32 port_class) {
    __u32 *bucket, rclass, rule1;

    if (!port_class) return 0;
    struct ef_local_key lk __attribute__((aligned(8)));
    __builtin_memset(&lk, 0, sizeof(lk));
    lk.port_class = port_class;
    ef_copy16(lk.addr, laddr);
    bucket = bpf_map_lookup_elem(&ef_local, &lk);
    if (!bucket) return 0;
    if (*bucket & EF_DIRECT_RULE) return ef_rule_plus_one(*bucket);

    rclass = ef_remote_find(*bucket, raddr);
    if (!rclass) return 0;
    if (rclass & EF_DIRECT_RULE) return ef_rule_plus_one(rclass);
    rule1 = ef_sport_find(rclass, pt->sport);
    if (rule1 > EF_MAX_RULES) return 0;
    return rule1;
}

/* Addresses go by side (local = ours), ports by header field: the destination
 * port is the service port in both directions. */
static __always_inline __u32 ef_classify(const struct ef_tuple *t, const struct ef_ports *pt,
                                         __u32 port_class, __u32 dir) {
    if (!port_class) return 0;
    return ef_classify_addrs(dir == EF_DIR_INGRESS ? t->dst : t->src,
                             dir == EF_DIR_INGRESS ? t->src : t->dst, pt, port_class);
}

/* An entry judged under another policy generation: the flow's opening packet,
 * rebuilt from the entry as the loader's walk rebuilds it (image/rejudge.cpp:
 * the opener's side of the key, the hook it was opened on; ICMP as an echo
 * request), classified by this generation's policy. Returns rule + 1, or 0
 * when no rule admits the flow any more. */
static __always_inline __u32 ef_ct_rejudge(const struct ef_ct_key *k, const struct ef_ct_value *cv,
                                           __u32 role) {
    __u8 local[16] __attribute__((aligned(8)));
    __u8 remote[16] __attribute__((aligned(8)));
    struct ef_ports pt;
    __u32 dir = cv->opened_dir == EF_DIR_EGRESS ? EF_DIR_EGRESS : EF_DIR_INGRESS;

    /* Copies, not a choice between two key pointers: clang may merge such a
     * choice into pointer arithmetic the verifier refuses on the stack. The
     * local side opened the flow on egress, the remote side on ingress. */
    if ((cv->opener_is_a != 0) == (dir == EF_DIR_EGRESS)) {
        ef_copy16(local, k->addr_a);
        ef_copy16(remote, k->addr_b);
    } else {
        ef_copy16(local, k->addr_b);
        ef_copy16(remote, k->addr_a);
    }
    pt.sport = cv->opener_is_a ? k->port_a : k->port_b;
    pt.dport = cv->opener_is_a ? k->port_b : k->port_a;
    if (k->proto == IPPROTO_TCP) {
        pt.ps = EF_PS_TCP;
    } else if (k->proto == IPPROTO_UDP) {
        pt.ps = EF_PS_UDP;
    } else if (k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6) {
        pt.ps = k->proto == IPPROTO_ICMP ? EF_PS_ICMP : EF_PS_ICMP6;
        pt.dport = (k->proto == IPPROTO_ICMP ? 8 : 128) << 8;
        pt.sport = 0;
    } else {
        return 0;
    }
    return ef_classify_addrs(local, remote, &pt, ef_port_class_of(role, dir, pt.ps, pt.dport));
}

static __always_inline __u32 ef_default_pass(__u32 role, __u32 dir) {
    return dir == EF_DIR_EGRESS && egress_mode[role & 1] == EF_EGRESS_TRACK_ONLY;
}

/* Step 3, first fragment, after its verdict: a pass is recorded whatever gave
 * it, so later fragments count where it counted; a drop deletes any entry, so a
 * reused id never inherits an earlier verdict. */
static __always_inline void ef_frag_first(const struct ef_pkt *p, __u32 role, __u32 dir,
                                          const struct ef_verdict *v, __u64 *now) {
    struct ef_frag_key fk __attribute__((aligned(8)));

    ef_frag_key_of(&fk, p, role, dir);
    if (!v->pass) {
        bpf_map_delete_elem(&ef_frags, &fk);
        return;
    }
    struct ef_frag_value fv = {};

    if (!*now) *now = ef_now();
    fv.first_ns = *now;
    fv.index = v->index;
    fv.kind = v->kind;
    bpf_map_update_elem(&ef_frags, &fk, &fv, BPF_ANY);
}

/* Step 3, later fragment: no ports, so it follows the first fragment's record
 * while that lives (EF_FRAG_TIMEOUT_S from the first fragment, not extended). */
static __always_inline void ef_frag_later(const struct ef_pkt *p, __u32 role, __u32 dir, bool v6,
                                          struct ef_verdict *v, __u64 *now_out) {
    struct ef_frag_key fk __attribute__((aligned(8)));
    struct ef_frag_value *fv;
    __u64 now;

    /* RFC 1858: a fragment starting inside the first fragment's transport
     * header could rewrite the ports that fragment was judged by. */
    if ((__u32)p->frag_off * 8 < EF_FRAG_MIN_LATER_OFFSET)
        return ef_set_reason(v, v6 ? EF_R_MALFORMED_IPV6 : EF_R_MALFORMED_IPV4, 0);
    ef_frag_key_of(&fk, p, role, dir);
    fv = bpf_map_lookup_elem(&ef_frags, &fk);
    if (!fv) return ef_set_reason(v, EF_R_FRAGMENT_UNTRACKED, 0);
    now = ef_now();
    /* A first_ns in the future (another CPU's clock read) is live. */
    if (now > fv->first_ns && now - fv->first_ns > frag_ns) {
        bpf_map_delete_elem(&ef_frags, &fk);
        return ef_set_reason(v, EF_R_FRAGMENT_UNTRACKED, 0);
    }
    *now_out = now;
    v->pass = 1;
    v->kind = fv->kind == EF_LAST_RULE ? EF_LAST_RULE : EF_LAST_REASON;
    v->index = fv->index;
}

/* Steps 4-10: everything that reads the transport header. */
static __always_inline void ef_decide_l4(void *data, void *data_end, __u32 off, __u32 dend, bool v6,
                                         __u32 role, __u32 dir, struct ef_verdict *v,
                                         struct ef_pkt *p, __u64 *now_out) {
    __u64 now = 0;
    __u32 src_is_a, est = 0;
    int r;

    /* ICMP belongs to IPv4 and ICMPv6 to IPv6. The other pairing is a protocol
     * this family does not have: it must not reach a rule written for the
     * family that has it. */
    if ((p->t.proto == IPPROTO_ICMP && v6) || (p->t.proto == IPPROTO_ICMPV6 && !v6))
        r = EF_R_PROTO_UNSUPPORTED;
    else
        r = ef_parse_l4(data, data_end, off, dend, p);
    if (r == EF_R_ND_PASS) return ef_set_reason(v, r, 1);
    if (r == EF_R_PROTO_UNSUPPORTED) return ef_set_reason(v, r, ef_default_pass(role, dir));
    if (r != EF_OK) return ef_set_reason(v, r, 0);

    struct ef_ct_key ck __attribute__((aligned(8)));
    struct ef_ct_value *cv;

    /* Step 5: the quoted packet travelled the other way. The error must be
     * addressed to its source, and its tuple must be a flow that accepts it in
     * the opposite direction. Errors never create or refresh entries. */
    if (p->icmp_error) {
        if (ef_addr_eq(p->t.dst, p->q.src)) {
            src_is_a = ef_ct_key_of(&ck, &p->q, role);
            cv = ef_ct_live(&ck, &now, &est);
            if (cv && ef_ct_accepts(cv, dir ^ 1, src_is_a))
                return ef_set_reason(v, EF_R_ICMP_ERROR_RELATED, 1);
        }
        return ef_set_reason(v, EF_R_ICMP_ERROR_UNRELATED, 0);
    }

    struct ef_ports pt;
    __u32 port_class;

    ef_ports_of(p, &pt);
    port_class = ef_port_class_of(role, dir, pt.ps, pt.dport);

    /* Step 6: an entry that does not accept this packet's direction is a miss. */
    src_is_a = ef_ct_key_of(&ck, &p->t, role);
    cv = NULL;
    if (ef_ct_may_accept(&pt, port_class, role, dir)) cv = ef_ct_live(&ck, &now, &est);
    /* An entry of another policy generation (a reload whose walk has not
     * reached it yet): judged again by this policy first. A flow no rule admits
     * any more is removed, and this packet goes on as a miss. */
    if (cv && ef_ct_accepts(cv, dir, src_is_a) && !ct_lookup_all && cv->gen != policy_gen) {
        __u32 again = ef_ct_rejudge(&ck, cv, role);

        if (again) {
            cv->rule = again - 1;
            cv->gen = policy_gen;
        } else {
            ef_ct_delete(&ck, est);
            cv = NULL;
        }
    }
    if (cv && ef_ct_accepts(cv, dir, src_is_a)) {
        __u32 rule = cv->rule;

        if (p->tcp_flags & EF_TCP_RST) {
            /* A RST cannot be told from a blind one without sequence
             * numbers: it only shortens the flow's life to the closing
             * timeout, from now; the flow's next other packet reopens it. */
            if (cv->state == EF_CT_OPEN) cv->state = EF_CT_RESET;
            cv->last_seen_ns = now;
            ef_ct_count(ef_ct_table(&ck, est), EF_CT_S_RST);
        } else {
            if (p->tcp_flags & EF_TCP_FIN)
                cv->state = EF_CT_CLOSING;
            else if (cv->state == EF_CT_RESET)
                cv->state = EF_CT_OPEN;
            /* The coarse clock moves once a jiffy: most packets of a busy
             * flow find last_seen current and leave the shared entry's
             * cache line clean for the other CPUs. */
            if (cv->last_seen_ns != now) cv->last_seen_ns = now;
            /* Answered: the flow is established. TCP waits for the
             * opener's packet after the reply (the handshake's ACK), so a
             * server answering spoofed SYNs does not fill the established
             * table with half-open flows. */
            if (!est) {
                if (cv->opened_dir == dir) {
                    if (cv->replied) ef_ct_promote(&ck, cv);
                } else if (ck.proto != IPPROTO_TCP) {
                    ef_ct_promote(&ck, cv);
                } else if (!cv->replied) {
                    cv->replied = 1;
                }
            }
        }
        *now_out = now;
        return ef_set_rule(v, rule);
    }

    /* Step 7. */
    if ((p->tcp_flags & (EF_TCP_SYN | EF_TCP_ACK)) == (EF_TCP_SYN | EF_TCP_ACK))
        return ef_set_reason(v, EF_R_TCP_SYNACK_UNTRACKED, 0);

    /* Steps 8-10. */
    __u32 rule1 = ef_classify(&p->t, &pt, port_class, dir);
    if (!rule1)
        return ef_set_reason(v, EF_R_DEFAULT_EXTERNAL_INGRESS + role * EF_DIR_COUNT + dir,
                             ef_default_pass(role, dir));

    /* Step 9: the new entry replaces one of the same key that step 6 did not
     * accept (BPF_ANY; one in the established table is deleted, as a key
     * lives in one table). */
    if (ct_create && !(p->tcp_flags & EF_TCP_RST)) {
        struct ef_ct_value nv = {};

        if (cv && est) ef_ct_delete(&ck, 1);
        now = ef_now();
        nv.last_seen_ns = now;
        nv.rule = rule1 - 1;
        nv.gen = policy_gen;
        nv.state = (p->tcp_flags & EF_TCP_FIN) ? EF_CT_CLOSING : EF_CT_OPEN;
        nv.opened_dir = dir;
        nv.opener_is_a = src_is_a;
        long err;

        if (ck.proto == IPPROTO_TCP)
            err = bpf_map_update_elem(&ef_ct, &ck, &nv, BPF_ANY);
        else
            err = bpf_map_update_elem(&ef_ct_dgram, &ck, &nv, BPF_ANY);
        ef_ct_count(ef_ct_table(&ck, 0), err ? EF_CT_S_REFUSED : EF_CT_S_INSERTS);
        *now_out = now;
    }
    return ef_set_rule(v, rule1 - 1);
}

/* Steps 1-10 after the interface lookup. */
static __always_inline void ef_decide_role(void *data, void *data_end, __u64 pkt_len, __u32 role,
                                           __u32 dir, struct ef_verdict *v, struct ef_pkt *p,
                                           __u64 *now_out) {
    __be16 eth_proto;
    __u32 off = 0, dend = 0;
    bool v6;
    int r;

    r = ef_parse_l2(data, data_end, &off, &eth_proto);
    if (r != EF_OK) return ef_set_reason(v, r, 0);
    if (eth_proto == bpf_htons(ETH_P_IP))
        r = ef_parse_ipv4(data, data_end, &off, &dend, p, pkt_len);
    else if (eth_proto == bpf_htons(ETH_P_IPV6))
        r = ef_parse_ipv6(data, data_end, &off, &dend, p, pkt_len);
    else if (eth_proto == bpf_htons(ETH_P_ARP))
        return ef_set_reason(v, EF_R_ARP_PASS, 1);
    else
        return ef_set_reason(v, EF_R_NON_IP_DROP, 0);
    if (r != EF_OK) return ef_set_reason(v, r, 0);
    v6 = eth_proto == bpf_htons(ETH_P_IPV6);

    /* Step 2, families: checked by ef_parse_ipv6 (IPv4 stored mapped shares the
     * address space with IPv6, so an IPv6 packet naming an IPv4 form would meet
     * the IPv4 rules). */

    /* Step 2, anti-spoofing: the node's own addresses never arrive from outside. */
    if (dir == EF_DIR_INGRESS && ef_is_local(role, p->t.src))
        return ef_set_reason(v, EF_R_SPOOFED_SOURCE, 0);

    /* Step 3. */
    if (p->frag == EF_FRAG_LATER) return ef_frag_later(p, role, dir, v6, v, now_out);
    ef_decide_l4(data, data_end, off, dend, v6, role, dir, v, p, now_out);
    if (p->frag == EF_FRAG_FIRST) ef_frag_first(p, role, dir, v, now_out);
}

static __always_inline void ef_log_count(__u32 key) {
    __u64 *ctr = bpf_map_lookup_elem(&ef_log_counters, &key);

    if (ctr) (*ctr)++;
}

/* The per-CPU one-second window that bounds the events a flood can produce
 * (the drop log, the shadow log): may one more go out now? */
static __always_inline bool ef_log_window_take(__u64 *now) {
    __u32 key = 0;
    struct ef_log_window *w = bpf_map_lookup_elem(&ef_log_window, &key);

    if (!w) return false;
    *now = bpf_ktime_get_coarse_ns();
    if (*now - w->start_ns >= 1000000000ULL) {
        w->start_ns = *now;
        w->count = 0;
    }
    if (w->count >= log_per_sec_per_cpu) return false;
    w->count++;
    return true;
}

/* The drop log: what the window refuses, or a full ring, is counted as suppressed. */
static __always_inline void ef_log_drop(const struct ef_verdict *v, const struct ef_pkt *p,
                                        __u32 ifindex, __u32 dir, __u64 bytes) {
    struct ef_drop_event *e = NULL;
    __u64 now = 0;

    if (ef_log_window_take(&now)) e = bpf_ringbuf_reserve(&ef_log, sizeof(*e), 0);
    /* Exactly one null test of the reserved record. Linux 6.1's verifier does
     * not carry a first test's answer into a second one: it then walks a path
     * where the record is never submitted and rejects the program
     * ("Unreleased reference"). */
    if (!e) {
        ef_log_count(EF_LOG_SUPPRESSED);
        return;
    }
    ef_log_count(EF_LOG_EMITTED);
    e->ts_ns = now;
    e->ifindex = ifindex;
    e->reason = v->index;
    ef_copy16(e->src, p->t.src);
    ef_copy16(e->dst, p->t.dst);
    e->sport = p->t.sport;
    e->dport = p->t.dport;
    e->proto = p->t.proto;
    e->dir = dir;
    e->role = v->role;
    e->icmp_type = p->icmp_type;
    e->len = bytes;
    e->pad = 0;
    bpf_ringbuf_submit(e, 0);
}

#endif /* EDGEFW_BPF_VERDICT_H */
