/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Packet parsing: docs/dataplane.md steps 1-5, no map access.
 *
 * Every header must lie inside the IP datagram as its own length fields say
 * (IPv4 total length, IPv6 payload length): `dend` is the datagram's end as an
 * offset from the frame start, and bytes past it (Ethernet padding) are never
 * parsed. Each header is checked twice: against dend (the semantics) and against
 * data_end (what the program may read; on TC egress only the pulled headers are
 * linear). The verifier learns a packet range only from a comparison with
 * data_end, so a pointer "min(data_end, datagram end)" would not do: dend stays
 * a scalar. */
#ifndef EDGEFW_BPF_PARSE_H
#define EDGEFW_BPF_PARSE_H

/* Order matters: bpf_helpers.h needs linux/bpf.h first, and linux/icmp.h includes
 * linux/if.h, which pulls glibc's sys/socket.h and, under -target bpf, a missing
 * gnu/stubs-32.h; only IFNAMSIZ is needed from it. */
// clang-format off
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#define _LINUX_IF_H
#define IFNAMSIZ 16
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
// clang-format on

#include "edgefw_abi.h"

#define EF_OK (-1) /* parse step result: continue; otherwise an enum ef_reason */

#define EF_VLAN_MAX 2
#define EF_VLAN_HLEN 4
#define EF_IPV6_FRAG_HLEN 8

#define EF_TCP_FLAGS_OFF 13 /* byte 13 of the TCP header: CWR..FIN */
#define EF_TCP_FIN 0x01
#define EF_TCP_SYN 0x02
#define EF_TCP_RST 0x04
#define EF_TCP_ACK 0x10

enum ef_frag_kind {
    EF_FRAG_NONE = 0,
    EF_FRAG_FIRST = 1, /* offset 0, more fragments */
    EF_FRAG_LATER = 2, /* offset != 0: no L4 header */
};

/* Five-tuple as stored in maps: 16-byte addresses (IPv4-mapped), host-order ports. */
struct ef_tuple {
    __u8 src[16] __attribute__((aligned(8)));
    __u8 dst[16] __attribute__((aligned(8)));
    __u16 sport;
    __u16 dport;
    __u8 proto;
    __u8 pad[3];
};

struct ef_pkt {
    struct ef_tuple t;
    __u32 frag_id;   /* IPv4: the 16-bit identification; IPv6: the fragment header's */
    __u16 frag_off;  /* fragment offset in 8-byte units */
    __u8 frag;       /* enum ef_frag_kind */
    __u8 frag_proto; /* IPv4: the protocol field (part of the datagram's identity); IPv6: 0 */
    __u8 tcp_flags;
    __u8 icmp_type;
    __u8 icmp_code;
    __u8 icmp_error; /* the quoted tuple is in q */
    struct ef_tuple q;
};

struct ef_frag6 {
    __u8 nexthdr;
    __u8 reserved;
    __be16 frag_off; /* offset << 3 | M */
    __be32 id;
};

static __always_inline void ef_addr_v4(__u8 *dst, const __be32 *src) {
    __u32 *w = (__u32 *)dst;

    w[0] = 0;
    w[1] = 0;
    w[2] = bpf_htonl(0x0000ffff);
    w[3] = *src;
}

static __always_inline void ef_addr_v6(__u8 *dst, const struct in6_addr *src) {
    __u32 *w = (__u32 *)dst;

    w[0] = src->in6_u.u6_addr32[0];
    w[1] = src->in6_u.u6_addr32[1];
    w[2] = src->in6_u.u6_addr32[2];
    w[3] = src->in6_u.u6_addr32[3];
}

/* Step 1. On success *off is the L3 offset and *eth_proto the (big-endian) ethertype. */
static __always_inline int ef_parse_l2(void *data, void *data_end, __u32 *off, __be16 *eth_proto) {
    struct ethhdr *eth = data;
    __be16 proto;
    __u32 o = sizeof(*eth);

    if ((void *)(eth + 1) > data_end) return EF_R_MALFORMED_L2;
    proto = eth->h_proto;

#pragma unroll
    for (int i = 0; i < EF_VLAN_MAX; i++) {
        if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD)) break;
        __be16 *tag = data + o;
        if ((void *)tag + EF_VLAN_HLEN > data_end) return EF_R_MALFORMED_L2;
        proto = tag[1];
        o += EF_VLAN_HLEN;
    }
    if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
        return EF_R_MALFORMED_L2;

    *off = o;
    *eth_proto = proto;
    return EF_OK;
}

/* Step 2 (IPv4) and the fragment fields of step 3. *off moves to L4, *dend is
 * the datagram's end (L3 offset + total length). pkt_len is the whole packet's
 * length: on TC egress only the headers are guaranteed linear, so the total
 * length is checked against skb->len. */
static __always_inline int ef_parse_ipv4(void *data, void *data_end, __u32 *off, __u32 *dend,
                                         struct ef_pkt *p, __u64 pkt_len) {
    struct iphdr *ip = data + *off;
    __u32 hlen, tot;
    __u16 frag_off;

    if ((void *)(ip + 1) > data_end) return EF_R_MALFORMED_IPV4;
    if (ip->version != 4 || ip->ihl < 5) return EF_R_MALFORMED_IPV4;
    hlen = ip->ihl * 4;
    if ((void *)ip + hlen > data_end) return EF_R_MALFORMED_IPV4;
    tot = bpf_ntohs(ip->tot_len);
    if (tot < hlen || (__u64)*off + tot > pkt_len) return EF_R_MALFORMED_IPV4;
    *dend = *off + tot;

    ef_addr_v4(p->t.src, &ip->saddr);
    ef_addr_v4(p->t.dst, &ip->daddr);
    p->t.proto = ip->protocol;

    frag_off = bpf_ntohs(ip->frag_off);
    p->frag_off = frag_off & 0x1fff;
    /* Branch-free, so the verifier carries one state for all three kinds to
     * the tests that need them: later = offset != 0, first = M and not later. */
    __u32 later = ((__u32)(frag_off & 0x1fff) + 0x1fff) >> 13;
    __u32 first = (frag_off >> 13) & 1 & (later ^ 1);
    __u32 kind = later * EF_FRAG_LATER + first * EF_FRAG_FIRST;
    asm volatile("" : "+r"(kind));
    p->frag = kind;
    p->frag_id = bpf_ntohs(ip->id);
    p->frag_proto = ip->protocol;

    *off += hlen;
    return EF_OK;
}

static __always_inline bool ef_ipv6_is_ext(__u8 nh) {
    return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
           nh == IPPROTO_FRAGMENT;
}

/* Step 2's families: IPv4-mapped ::ffff:0:0/96, or IPv4-compatible ::/96 other
 * than :: (unspecified, the source of duplicate address detection) and ::1.
 * Read again from the packet (volatile): the verifier narrows every register a
 * branch compares, and narrowing the tuple's copies, which live to the end of
 * the program, multiplied the states it walks (x2.5 verified insns). */
static __always_inline bool ef_ipv6_v4_form(const struct in6_addr *a) {
    const volatile __u32 *w = (const volatile __u32 *)a;

    if (w[0] | w[1]) return false;
    __u32 w2 = w[2], w3 = w[3];
    if (w2 == bpf_htonl(0x0000ffff)) return true;
    return w2 == 0 && w3 != 0 && w3 != bpf_htonl(1);
}

/* Step 2 (IPv6): the extension chain, at most EF_IPV6_EXT_MAX headers, each inside
 * the datagram (40 + payload length). Payload length 0 (a jumbogram, which edgefw
 * does not accept) leaves no room for any further header. */
static __always_inline int ef_parse_ipv6(void *data, void *data_end, __u32 *off, __u32 *dend,
                                         struct ef_pkt *p, __u64 pkt_len) {
    struct ipv6hdr *ip6 = data + *off;
    __u32 o = *off + sizeof(*ip6);
    __u32 end;
    __u8 nh;

    if ((void *)(ip6 + 1) > data_end) return EF_R_MALFORMED_IPV6;
    if (ip6->version != 6) return EF_R_MALFORMED_IPV6;
    end = o + bpf_ntohs(ip6->payload_len);
    if (end > pkt_len) return EF_R_MALFORMED_IPV6;
    *dend = end;
    ef_addr_v6(p->t.src, &ip6->saddr);
    ef_addr_v6(p->t.dst, &ip6->daddr);
    nh = ip6->nexthdr;
    __u32 frag_headers = 0;

#pragma unroll
    for (int i = 0; i < EF_IPV6_EXT_MAX; i++) {
        if (nh == IPPROTO_FRAGMENT) {
            struct ef_frag6 *fh = data + o;
            __u16 fo;

            /* RFC 8200 4.1: a header occurs once. A second fragment header
             * would redefine which datagram, and which part of it, this is. */
            if (frag_headers++) return EF_R_MALFORMED_IPV6;
            if ((void *)(fh + 1) > data_end || o + EF_IPV6_FRAG_HLEN > end)
                return EF_R_MALFORMED_IPV6;
            fo = bpf_ntohs(fh->frag_off);
            nh = fh->nexthdr;
            o += EF_IPV6_FRAG_HLEN;
            /* RFC 8200 4.5: a datagram is (src, dst, id); the Next Header of a
             * fragment is not part of its identity, so frag_proto stays 0. */
            p->frag_id = bpf_ntohl(fh->id);
            p->frag_off = fo >> 3;
            if (fo >> 3) {
                /* Nothing after a later fragment's header is a header. */
                p->frag = EF_FRAG_LATER;
                break;
            }
            /* M set: a first fragment (EF_FRAG_FIRST is 1), branch-free as for IPv4. */
            __u32 first = fo & 1;
            asm volatile("" : "+r"(first));
            p->frag |= first;
            continue;
        }
        if (nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING && nh != IPPROTO_DSTOPTS) break;
        __u8 *h = data + o;
        if ((void *)(h + 2) > data_end || o + 2 > end) return EF_R_MALFORMED_IPV6;
        __u32 hlen = ((__u32)h[1] + 1) * 8;
        if ((void *)h + hlen > data_end || o + hlen > end) return EF_R_MALFORMED_IPV6;
        nh = h[0];
        o += hlen;
    }
    if (p->frag != EF_FRAG_LATER && ef_ipv6_is_ext(nh)) return EF_R_MALFORMED_IPV6;
    /* Step 2's families come after the chain: a malformed chain counts first. */
    if (ef_ipv6_v4_form(&ip6->saddr) || ef_ipv6_v4_form(&ip6->daddr))
        return EF_R_IPV6_MAPPED_ADDRESS;

    p->t.proto = nh;
    *off = o;
    return EF_OK;
}

/* Error types that can refer to a flow (step 5). IPv4 source quench (4) and
 * redirect (5) are errors too, but never pass: ef_parse_l4 drops them first. */
static __always_inline bool ef_icmp_is_error(__u8 proto, __u8 type) {
    if (proto == IPPROTO_ICMP)
        return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED ||
               type == ICMP_PARAMETERPROB;
    return type >= ICMPV6_DEST_UNREACH && type <= ICMPV6_PARAMPROB;
}

static __always_inline void ef_quote_ports(void *l4, struct ef_tuple *q) {
    if (q->proto == IPPROTO_TCP || q->proto == IPPROTO_UDP) {
        __be16 *ports = l4;
        q->sport = bpf_ntohs(ports[0]);
        q->dport = bpf_ntohs(ports[1]);
    }
}

/* Step 5: the quoted IP header and 8 bytes of its L4 header, of the outer
 * packet's family and inside the outer datagram (qo: the quote's offset). */
static __always_inline int ef_parse_quote(void *q, void *data_end, __u32 qo, __u32 dend,
                                          struct ef_pkt *p) {
    if (p->t.proto == IPPROTO_ICMP) {
        struct iphdr *qi = q;

        if ((void *)(qi + 1) > data_end || qo + sizeof(*qi) > dend) return EF_R_MALFORMED_L4;
        if (qi->version != 4 || qi->ihl < 5) return EF_R_MALFORMED_L4;
        __u32 qhlen = qi->ihl * 4;
        void *ql4 = q + qhlen;
        if (ql4 + 8 > data_end || qo + qhlen + 8 > dend) return EF_R_MALFORMED_L4;
        ef_addr_v4(p->q.src, &qi->saddr);
        ef_addr_v4(p->q.dst, &qi->daddr);
        p->q.proto = qi->protocol;
        ef_quote_ports(ql4, &p->q);
    } else {
        struct ipv6hdr *qi6 = q;

        if ((void *)(qi6 + 1) + 8 > data_end || qo + sizeof(*qi6) + 8 > dend)
            return EF_R_MALFORMED_L4;
        if (qi6->version != 6) return EF_R_MALFORMED_L4;
        ef_addr_v6(p->q.src, &qi6->saddr);
        ef_addr_v6(p->q.dst, &qi6->daddr);
        p->q.proto = qi6->nexthdr;
        ef_quote_ports(qi6 + 1, &p->q);
    }
    p->icmp_error = 1;
    return EF_OK;
}

/* Step 4 (and step 5's quote), every header inside the datagram (dend). Returns
 * EF_OK, a malformed reason, EF_R_ND_PASS, EF_R_ICMP_ERROR_UNRELATED (source
 * quench, redirect) or EF_R_PROTO_UNSUPPORTED. */
static __always_inline int ef_parse_l4(void *data, void *data_end, __u32 off, __u32 dend,
                                       struct ef_pkt *p) {
    void *l4 = data + off;

    switch (p->t.proto) {
        case IPPROTO_TCP: {
            struct tcphdr *th = l4;
            if ((void *)(th + 1) > data_end || off + sizeof(*th) > dend) return EF_R_MALFORMED_L4;
            if (th->doff < 5) return EF_R_MALFORMED_L4;
            __u32 doff = th->doff * 4;
            if (l4 + doff > data_end || off + doff > dend) return EF_R_MALFORMED_L4;
            p->t.sport = bpf_ntohs(th->source);
            p->t.dport = bpf_ntohs(th->dest);
            p->tcp_flags = ((__u8 *)th)[EF_TCP_FLAGS_OFF];
            return EF_OK;
        }
        case IPPROTO_UDP: {
            struct udphdr *uh = l4;
            if ((void *)(uh + 1) > data_end || off + sizeof(*uh) > dend) return EF_R_MALFORMED_L4;
            __u32 ulen = bpf_ntohs(uh->len);
            /* A first fragment carries only the start of what the UDP length
             * covers; any other datagram must hold all of it. */
            if (ulen < sizeof(*uh) || (p->frag != EF_FRAG_FIRST && ulen > dend - off))
                return EF_R_MALFORMED_L4;
            p->t.sport = bpf_ntohs(uh->source);
            p->t.dport = bpf_ntohs(uh->dest);
            return EF_OK;
        }
        case IPPROTO_ICMP:
        case IPPROTO_ICMPV6: {
            __u8 *ih = l4;
            if ((void *)ih + 8 > data_end || off + 8 > dend) return EF_R_MALFORMED_L4;
            p->icmp_type = ih[0];
            p->icmp_code = ih[1];
            if (p->t.proto == IPPROTO_ICMPV6 && ih[0] >= 133 && ih[0] <= 137) return EF_R_ND_PASS;
            /* Source quench and redirect never pass: the quote is not read. */
            if (p->t.proto == IPPROTO_ICMP &&
                (ih[0] == ICMP_SOURCE_QUENCH || ih[0] == ICMP_REDIRECT))
                return EF_R_ICMP_ERROR_UNRELATED;
            if (ef_icmp_is_error(p->t.proto, ih[0]))
                return ef_parse_quote(l4 + 8, data_end, off + 8, dend, p);
            return EF_OK;
        }
        default:
            return EF_R_PROTO_UNSUPPORTED;
    }
}

#endif /* EDGEFW_BPF_PARSE_H */
