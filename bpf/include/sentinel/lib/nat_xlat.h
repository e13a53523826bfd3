/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The NAT itself, shared by tc-nat-ingress and tc-nat-egress (each calls nat_run with its hook):
 * the policy (two generations, the agent flips between them), masquerade addresses, bindings
 * made on a flow's first packet with a free port, and the rewrites with their checksums.
 *
 * Checksums are updated through bpf_l3_csum_replace / bpf_l4_csum_replace, which know the
 * packet's checksum state: a full checksum is updated, a CHECKSUM_PARTIAL one (offloaded, only
 * the pseudo-header sum in the field) gets the pseudo-header changes only, as the device will
 * sum the rest. ICMP errors quote a packet whose own checksums are plain data: those are
 * updated by arithmetic (RFC 1624), and every changed word of the quote is carried into the
 * ICMP checksum. */
#ifndef SENTINEL_NAT_XLAT_H
#define SENTINEL_NAT_XLAT_H

#include "common.h"
#include "counters.h"
#include "csum.h"
#include "parse.h"
#include "ct.h"
#include "nat.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NAT_POLICY_SLOTS);
	__type(key, __u32);
	__type(value, struct nat_policy);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nat_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nat_active);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nat_active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NAT_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct nat_ifaddr);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nat_ifaddr SEC(".maps");

struct nat_quote {
	struct nat_tuple t; /* the quoted packet's tuple */
	__u32 ip;           /* its IP header */
	__u32 l4;           /* its L4 header */
	__u32 l4_csum;      /* its L4 checksum field, 0 when not quoted (or UDP without) */
};

/* Bytes made linear before parsing when the skb holds less: Ethernet, two VLAN tags, IPv6 with
 * extension headers, a TCP header with options. */
#define NAT_HEADERS_PULL 256

/* Room for what does not fit the 512-byte stack next to the parsed packet (per CPU: a TC program
 * runs to its end on one CPU). */
struct nat_scratch {
	struct nat_flow fwd;
	struct nat_flow rev;
	struct nat_tuple rev_key;
	struct nat_tuple reply;
	struct nat_tuple want;
	struct nat_tuple outer_from;
	struct nat_tuple outer_to;
	struct nat_tuple back;
	struct nat_tuple to;
	struct ct_key ct;
	struct nat_quote q;
	struct ipv6hdr ip6;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nat_scratch);
	__uint(pinning, LIBBPF_PIN_BY_NAME); /* one per CPU for both NAT programs: neither runs inside the other */
} nat_scratch SEC(".maps");

static __always_inline struct nat_scratch *nat_scratch_get(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&nat_scratch, &zero);
}

/* A binding is alive while its flow's conntrack entry is. */
static __always_inline int nat_flow_live(const struct nat_flow *f, __u64 now)
{
	return ct_lookup_live(&f->ct, now) != 0;
}

static __always_inline const struct nat_policy *nat_policy_get(void)
{
	__u32 zero = 0;
	struct nat_active *a = bpf_map_lookup_elem(&nat_active, &zero);
	if (!a)
		return 0;
	__u32 slot = a->slot & 1;
	return bpf_map_lookup_elem(&nat_policy, &slot);
}

static __always_inline int nat_masked_eq(const __u32 *a, const __u32 *net, const __u32 *mask)
{
	return ((a[0] & mask[0]) == net[0]) & ((a[1] & mask[1]) == net[1]) & ((a[2] & mask[2]) == net[2]) &
	       ((a[3] & mask[3]) == net[3]);
}

static __always_inline int nat_addr_eq(const __u32 *a, const __u32 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

struct nat_match_ctx {
	const struct nat_policy *pol;
	const struct nat_tuple *t;
	__u32 ifindex;
	__u8 hook;
	__u8 hairpin; /* the packet was DNATed by us on its way in */
	int found;
};

static long nat_match_one(__u32 i, void *data)
{
	struct nat_match_ctx *m = data;
	if (i >= NAT_MAX_RULES || i >= m->pol->count)
		return 1;
	const struct nat_rule *r = &m->pol->rules[i];
	const struct nat_tuple *t = m->t;
	if (r->hook != m->hook || r->family != t->family || r->kind == NAT_K_NPTV6)
		return 0;
	if (r->ifindex && r->ifindex != m->ifindex)
		return 0;
	if (r->proto && r->proto != t->proto)
		return 0;
	if ((r->flags & NAT_RF_HAIRPIN_ONLY) && !m->hairpin)
		return 0;
	if ((r->dport_lo || r->dport_hi) && (t->proto == IPPROTO_TCP || t->proto == IPPROTO_UDP)) {
		if (t->dport < r->dport_lo || t->dport > r->dport_hi)
			return 0;
	} else if (r->dport_lo || r->dport_hi) {
		return 0; /* a port rule never matches a protocol without ports */
	}
	if (!nat_masked_eq(t->src, r->src, r->src_mask) || !nat_masked_eq(t->dst, r->dst, r->dst_mask))
		return 0;
	m->found = (int)i;
	return 1;
}

/* Index of the first rule matching the tuple at this hook and interface, or -1. */
static __always_inline int nat_match(const struct nat_policy *pol, const struct nat_tuple *t, __u32 ifindex,
				     __u8 hook, __u8 hairpin)
{
	struct nat_match_ctx m = { .pol = pol, .t = t, .ifindex = ifindex, .hook = hook, .hairpin = hairpin, .found = -1 };
	bpf_loop(NAT_MAX_RULES, nat_match_one, &m, 0);
	return m.found;
}

/* Address number idx of a pool starting at base (the last word counts, host order). */
static __always_inline void nat_pool_addr(const __u32 *base, __u8 family, __u32 idx, __u32 *out)
{
	__builtin_memcpy(out, base, 16);
	if (family == SN_AF_INET)
		out[0] = bpf_htonl(bpf_ntohl(base[0]) + idx);
	else
		out[3] = bpf_htonl(bpf_ntohl(base[3]) + idx);
}

/* A source keeps its pool address for as long as the pool is the same (netfilter hashes the
 * source alike), so a client's flows leave from one address. */
static __always_inline __u32 nat_addr_hash(const __u32 *a)
{
	__u32 h = a[0] ^ (a[1] * 0x9e3779b1u) ^ (a[2] * 0x85ebca77u) ^ (a[3] * 0xc2b2ae3du);
	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	return h;
}

/* ---- rewriting ---- */

struct nat_offsets {
	__u32 l3;        /* IP header */
	__u32 l4;        /* L4 header */
	__u32 l4_csum;   /* L4 checksum field; 0 when the packet's L4 has none to keep */
	__u64 l4_flags;  /* extra flags for bpf_l4_csum_replace (UDP: mangled 0) */
	__u8 pseudo;     /* the L4 checksum covers the addresses (all but ICMPv4) */
};

static __always_inline void nat_offsets_of(const struct sn_pkt *p, struct nat_offsets *o)
{
	o->l3 = p->l3_off;
	o->l4 = p->l4_off;
	o->l4_flags = 0;
	o->pseudo = 1;
	switch (p->proto) {
	case IPPROTO_TCP:
		o->l4_csum = p->l4_off + 16;
		break;
	case IPPROTO_UDP:
		o->l4_csum = p->l4_off + 6;
		o->l4_flags = BPF_F_MARK_MANGLED_0;
		break;
	case IPPROTO_ICMP:
		o->l4_csum = p->l4_off + 2;
		o->pseudo = 0;
		break;
	default: /* ICMPv6 */
		o->l4_csum = p->l4_off + 2;
		break;
	}
}

/* One 32-bit word of an address: the IPv4 header checksum (v4) and the L4 checksum (pseudo
 * header) follow. */
static __always_inline int nat_put_addr_word(struct __sk_buff *skb, const struct nat_offsets *o, __u8 family,
					     __u32 off, __u32 old, __u32 new)
{
	if (old == new)
		return 0;
	if (family == SN_AF_INET && bpf_l3_csum_replace(skb, o->l3 + 10, old, new, 4))
		return -1;
	if (o->pseudo && o->l4_csum && bpf_l4_csum_replace(skb, o->l4_csum, old, new, BPF_F_PSEUDO_HDR | o->l4_flags | 4))
		return -1;
	return bpf_skb_store_bytes(skb, off, &new, 4, 0) ? -1 : 0;
}

static __always_inline int nat_put_addr(struct __sk_buff *skb, const struct nat_offsets *o, __u8 family,
					__u32 off, const __u32 *old, const __u32 *new)
{
	if (family == SN_AF_INET)
		return nat_put_addr_word(skb, o, family, off, old[0], new[0]);
#pragma unroll
	for (int i = 0; i < 4; i++)
		if (nat_put_addr_word(skb, o, family, off + 4 * i, old[i], new[i]))
			return -1;
	return 0;
}

/* A port (or the echo identifier): the L4 checksum covers it as data, never as pseudo header. */
static __always_inline int nat_put_port(struct __sk_buff *skb, const struct nat_offsets *o, __u32 off, __u16 old,
					__u16 new)
{
	if (old == new)
		return 0;
	__be16 o16 = bpf_htons(old), n16 = bpf_htons(new);
	if (o->l4_csum && bpf_l4_csum_replace(skb, o->l4_csum, o16, n16, o->l4_flags | 2))
		return -1;
	return bpf_skb_store_bytes(skb, off, &n16, 2, 0) ? -1 : 0;
}

/* Rewrites the packet's tuple `from` (what it carries) into `to`. */
static __always_inline int nat_rewrite(struct __sk_buff *skb, const struct sn_pkt *p, const struct nat_tuple *from,
				       const struct nat_tuple *to)
{
	struct nat_offsets o;
	nat_offsets_of(p, &o);
	__u32 saddr = p->family == SN_AF_INET ? o.l3 + 12 : o.l3 + 8;
	__u32 daddr = p->family == SN_AF_INET ? o.l3 + 16 : o.l3 + 24;
	if (nat_put_addr(skb, &o, p->family, saddr, from->src, to->src))
		return -1;
	if (nat_put_addr(skb, &o, p->family, daddr, from->dst, to->dst))
		return -1;
	if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) {
		if (nat_put_port(skb, &o, o.l4, from->sport, to->sport))
			return -1;
		return nat_put_port(skb, &o, o.l4 + 2, from->dport, to->dport);
	}
	/* echo: the identifier is the one "port" (requests carry the initiator's side) */
	return nat_put_port(skb, &o, o.l4 + 4, from->sport, to->sport);
}

/* ---- ICMP errors: the quoted packet is translated like the flow's packets, reversed ---- */

/* Loads a 16-bit / 32-bit word as stored (network order). */
static __always_inline int nat_load16(struct __sk_buff *skb, __u32 off, __u16 *v)
{
	return bpf_skb_load_bytes(skb, off, v, 2);
}

/* Writes a word of the quote and carries its change into the ICMP checksum (data, no pseudo
 * header: the quote is payload). */
static __always_inline int nat_quote_put(struct __sk_buff *skb, __u32 icmp_csum, __u32 off, const void *oldv,
					 const void *newv, __u32 len)
{
	if (len == 4) {
		__u32 a = *(const __u32 *)oldv, b = *(const __u32 *)newv;
		if (a == b)
			return 0;
		if (bpf_l4_csum_replace(skb, icmp_csum, a, b, 4))
			return -1;
	} else {
		__u16 a = *(const __u16 *)oldv, b = *(const __u16 *)newv;
		if (a == b)
			return 0;
		if (bpf_l4_csum_replace(skb, icmp_csum, a, b, 2))
			return -1;
	}
	return bpf_skb_store_bytes(skb, off, newv, len, 0) ? -1 : 0;
}

/* The quoted packet of an ICMP error. 0 when it is a tuple the NAT knows. */
static __always_inline int nat_quote_of(struct __sk_buff *skb, const struct sn_pkt *p, struct nat_quote *q,
					struct ipv6hdr *ip6)
{
	__builtin_memset(q, 0, sizeof(*q));
	__u32 ip = p->l4_off + 8;
	__u32 l4;
	__u8 proto;
	q->t.family = p->family;
	if (p->family == SN_AF_INET) {
		struct iphdr iph;
		if (bpf_skb_load_bytes(skb, ip, &iph, sizeof(iph)) || iph.version != 4 || iph.ihl < 5)
			return -1;
		if (bpf_ntohs(iph.frag_off) & 0x1fff)
			return -1;
		proto = iph.protocol;
		q->t.src[0] = iph.saddr;
		q->t.dst[0] = iph.daddr;
		l4 = ip + iph.ihl * 4;
	} else {
		if (bpf_skb_load_bytes(skb, ip, ip6, sizeof(*ip6)))
			return -1;
		proto = ip6->nexthdr; /* quoted extension headers are not walked */
		__builtin_memcpy(q->t.src, &ip6->saddr, 16);
		__builtin_memcpy(q->t.dst, &ip6->daddr, 16);
		l4 = ip + sizeof(*ip6);
	}
	__u8 h[8];
	if (bpf_skb_load_bytes(skb, l4, h, 8))
		return -1;
	q->t.proto = proto;
	q->ip = ip;
	q->l4 = l4;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		q->t.sport = ((__u16)h[0] << 8) | h[1];
		q->t.dport = ((__u16)h[2] << 8) | h[3];
		__u32 csum = proto == IPPROTO_TCP ? l4 + 16 : l4 + 6;
		if (csum + 2 <= skb->len)
			q->l4_csum = csum;
		return 0;
	}
	if ((proto == IPPROTO_ICMP && p->family == SN_AF_INET) || (proto == IPPROTO_ICMPV6 && p->family == SN_AF_INET6)) {
		if (!ct_icmp_is_echo(proto, h[0]))
			return -1;
		q->t.sport = q->t.dport = ((__u16)h[4] << 8) | h[5];
		q->l4_csum = l4 + 2;
		return 0;
	}
	return -1;
}

/* Rewrites one address of the quote: its IPv4 header checksum and its L4 checksum (pseudo
 * header; not ICMPv4) by arithmetic, every changed word carried into the ICMP checksum. */
static __always_inline int nat_quote_addr(struct __sk_buff *skb, const struct nat_quote *q, __u32 icmp_csum,
					  __u32 off, const __u32 *old, const __u32 *new)
{
	__u32 words = q->t.family == SN_AF_INET ? 1 : 4;
	int l4_pseudo = q->l4_csum && q->t.proto != IPPROTO_ICMP;
#pragma unroll
	for (__u32 i = 0; i < 4; i++) {
		if (i >= words || old[i] == new[i])
			continue;
		if (q->t.family == SN_AF_INET) {
			__u16 c, n;
			if (nat_load16(skb, q->ip + 10, &c))
				return -1;
			n = sn_csum_replace32(c, old[i], new[i]);
			if (nat_quote_put(skb, icmp_csum, q->ip + 10, &c, &n, 2))
				return -1;
		}
		if (l4_pseudo) {
			__u16 c, n;
			if (nat_load16(skb, q->l4_csum, &c))
				return -1;
			/* UDP over IPv4 without a checksum stays without */
			if (!(c == 0 && q->t.proto == IPPROTO_UDP)) {
				n = sn_csum_replace32(c, old[i], new[i]);
				if (q->t.proto == IPPROTO_UDP && n == 0)
					n = 0xffff;
				if (nat_quote_put(skb, icmp_csum, q->l4_csum, &c, &n, 2))
					return -1;
			}
		}
		if (nat_quote_put(skb, icmp_csum, off + 4 * i, &old[i], &new[i], 4))
			return -1;
	}
	return 0;
}

static __always_inline int nat_quote_port(struct __sk_buff *skb, const struct nat_quote *q, __u32 icmp_csum,
					  __u32 off, __u16 old, __u16 new)
{
	if (old == new)
		return 0;
	__be16 o16 = bpf_htons(old), n16 = bpf_htons(new);
	if (q->l4_csum) {
		__u16 c, n;
		if (nat_load16(skb, q->l4_csum, &c))
			return -1;
		if (!(c == 0 && q->t.proto == IPPROTO_UDP)) {
			n = sn_csum_replace16(c, o16, n16);
			if (q->t.proto == IPPROTO_UDP && n == 0)
				n = 0xffff;
			if (nat_quote_put(skb, icmp_csum, q->l4_csum, &c, &n, 2))
				return -1;
		}
	}
	return nat_quote_put(skb, icmp_csum, off, &o16, &n16, 2);
}

/* ---- the run ---- */

struct nat_run_ctx {
	struct __sk_buff *skb;
	struct sentinel_counters *c;
	__u64 now;
	__u32 ifindex;
	__u8 hook;
};

/* Chooses the source (SNAT/masquerade) or destination (DNAT) the rule gives the tuple; the
 * port is chosen by nat_bind. 0 on success; a negative NAT_CNT_* slot when refused. */
static __always_inline int nat_target(const struct nat_rule *r, const struct nat_tuple *t, __u32 ifindex,
				      struct nat_tuple *to)
{
	__builtin_memcpy(to, t, sizeof(*to));
	if (r->kind == NAT_K_MASQUERADE) {
		struct nat_ifaddr *a = bpf_map_lookup_elem(&nat_ifaddr, &ifindex);
		if (!a)
			return -NAT_CNT_NO_ADDRESS;
		if (t->family == SN_AF_INET) {
			if (!a->has_v4)
				return -NAT_CNT_NO_ADDRESS;
			__builtin_memset(to->src, 0, 16);
			to->src[0] = a->v4;
		} else {
			if (!a->has_v6)
				return -NAT_CNT_NO_ADDRESS;
			__builtin_memcpy(to->src, a->v6, 16);
		}
		return 0;
	}
	__u32 n = r->pool_size ? r->pool_size : 1;
	__u32 idx = (r->kind == NAT_K_SNAT ? nat_addr_hash(t->src) : nat_addr_hash(t->src) ^ t->sport) % n;
	if (r->kind == NAT_K_SNAT) {
		nat_pool_addr(r->to_addr, t->family, idx, to->src);
	} else {
		nat_pool_addr(r->to_addr, t->family, idx, to->dst);
		if (r->to_port_lo && (t->proto == IPPROTO_TCP || t->proto == IPPROTO_UDP))
			to->dport = r->to_port_lo + (t->dport - r->dport_lo);
	}
	return 0;
}

/* Inserts `rev` (the reply direction's entry) unless a live binding holds it; a dead one is
 * replaced. 0 inserted, 1 taken, -1 table full. */
static __always_inline int nat_claim(const struct nat_tuple *key, const struct nat_flow *val, __u64 now)
{
	long rc = bpf_map_update_elem(&nat_flows, key, val, BPF_NOEXIST);
	if (rc == 0)
		return 0;
	if (rc != -17 /* EEXIST */)
		return -1;
	struct nat_flow *old = bpf_map_lookup_elem(&nat_flows, key);
	if (old && nat_flow_live(old, now))
		return 1;
	/* Dead: whoever deletes it first, only one insert wins. */
	bpf_map_delete_elem(&nat_flows, key);
	rc = bpf_map_update_elem(&nat_flows, key, val, BPF_NOEXIST);
	if (rc == 0)
		return 0;
	return rc == -17 ? 1 : -1;
}

struct nat_port_ctx {
	const struct nat_tuple *rev_base; /* the reply tuple with the translated address */
	struct nat_flow *rev_val;
	__u64 now;
	__u32 lo, span;
	__u16 first; /* the original port, tried first when it is in the range */
	__u32 start;
	int result;  /* the port claimed, -1 full table, -2 exhausted */
	__u8 keep_first;
	__u8 is_snat; /* the port moved is the reply's destination (SNAT) or source (DNAT) */
};

static long nat_try_port(__u32 i, void *data)
{
	struct nat_port_ctx *pc = data;
	__u16 port;
	if (pc->keep_first) {
		if (i == 0)
			port = pc->first;
		else
			port = (__u16)(pc->lo + (pc->start + i) % pc->span);
	} else {
		port = (__u16)(pc->lo + (pc->start + i) % pc->span);
	}
	struct nat_tuple key;
	__builtin_memcpy(&key, pc->rev_base, sizeof(key));
	if (pc->is_snat) {
		key.dport = port;
		if (key.proto != IPPROTO_TCP && key.proto != IPPROTO_UDP)
			key.sport = port; /* echo: the identifier is both */
	}
	int rc = nat_claim(&key, pc->rev_val, pc->now);
	if (rc == 0) {
		pc->result = port;
		return 1;
	}
	if (rc < 0) {
		pc->result = -1;
		return 1;
	}
	return 0;
}

/* Makes the flow's binding on its first packet at this hook: the reply entry first (it is what
 * makes a port unique: a taken one is the next candidate's turn), then the forward one. The
 * flow's conntrack key is in the scratch's ct; fills the scratch's to. 0 on success; a negative NAT_CNT_* slot when refused. */
static __attribute__((noinline)) int nat_bind(struct nat_run_ctx *x, const struct nat_rule *r, const struct nat_tuple *t)
{
	__u32 ifindex = x->ifindex;
	__u8 hook = x->hook;
	__u64 now = x->now;
	struct nat_scratch *s = nat_scratch_get();
	if (!s)
		return -NAT_CNT_UNTRANSLATABLE;
	const struct ct_key *ct = &s->ct;
	struct nat_tuple *to = &s->to;
	int rc = nat_target(r, t, ifindex, to);
	if (rc)
		return rc;
	int is_snat = r->kind != NAT_K_DNAT;

	struct nat_flow *rev = &s->rev;
	__builtin_memset(rev, 0, sizeof(*rev));
	nat_tuple_reverse(t, &rev->to); /* the reply becomes the reverse of the original */
	__builtin_memcpy(&rev->ct, ct, sizeof(*ct));
	rev->created_ns = now;
	rev->ifindex = 0;
	rev->rule_id = r->rule_id;
	rev->hook = hook == NAT_HOOK_EGRESS ? NAT_HOOK_INGRESS : NAT_HOOK_EGRESS;
	rev->flags = NAT_FF_REPLY;
	rev->kind = r->kind;

	struct nat_tuple *rev_key = &s->rev_key;
	nat_tuple_reverse(to, rev_key);

	if (!is_snat) {
		/* DNAT keeps the source port; the reply key is unique when the forward one is. */
		int c = nat_claim(rev_key, rev, now);
		if (c < 0)
			return -NAT_CNT_TABLE_FULL;
		if (c > 0)
			return -NAT_CNT_PORT_EXHAUSTED;
	} else {
		struct nat_port_ctx pc = {
			.rev_base = rev_key,
			.rev_val = rev,
			.now = now,
			.result = -2,
		};
		__u32 lo = r->to_port_lo, hi = r->to_port_hi;
		if (!lo && !hi) {
			lo = 1024;
			hi = 65535;
		}
		if (t->proto != IPPROTO_TCP && t->proto != IPPROTO_UDP) {
			/* echo identifiers: the whole 16-bit space */
			lo = 1;
			hi = 65535;
		}
		pc.lo = lo;
		pc.span = hi - lo + 1;
		pc.first = t->sport;
		pc.keep_first = !(r->flags & NAT_RF_PORT_RANDOM) && t->sport >= lo && t->sport <= hi;
		pc.start = bpf_get_prandom_u32();
		pc.is_snat = 1;
		bpf_loop(NAT_PORT_TRIES, nat_try_port, &pc, 0);
		if (pc.result == -1)
			return -NAT_CNT_TABLE_FULL;
		if (pc.result < 0)
			return -NAT_CNT_PORT_EXHAUSTED;
		to->sport = (__u16)pc.result;
		if (t->proto != IPPROTO_TCP && t->proto != IPPROTO_UDP)
			to->dport = to->sport;
		rev_key->dport = to->sport;
		if (t->proto != IPPROTO_TCP && t->proto != IPPROTO_UDP)
			rev_key->sport = to->sport;
	}

	struct nat_flow *fwd = &s->fwd;
	__builtin_memset(fwd, 0, sizeof(*fwd));
	__builtin_memcpy(&fwd->to, to, sizeof(*to));
	__builtin_memcpy(&fwd->ct, ct, sizeof(*ct));
	fwd->created_ns = now;
	fwd->ifindex = ifindex;
	fwd->rule_id = r->rule_id;
	fwd->hook = hook;
	fwd->kind = r->kind;
	/* BPF_ANY: a racing first packet on another CPU may have bound the flow already; its
	 * reply entry stays valid (same flow, same conntrack entry) until the flow ends. */
	long u = bpf_map_update_elem(&nat_flows, t, fwd, BPF_ANY);
	if (u) {
		bpf_map_delete_elem(&nat_flows, rev_key);
		return -NAT_CNT_TABLE_FULL;
	}
	return 0;
}

/* Translates an ICMP error whose quote is a packet of a translated flow; 1 when it did, 0 when
 * the error is not about one, -1 when the rewrite failed. */
static __attribute__((noinline)) int nat_icmp_error(struct nat_run_ctx *x, const struct sn_pkt *p)
{
	__u64 now = x->now;
	struct nat_scratch *s = nat_scratch_get();
	if (!s)
		return 0;
	struct nat_quote *q = &s->q;
	if (nat_quote_of(x->skb, p, q, &s->ip6))
		return 0;
	/* The quote is a packet the flow sent towards where the error comes from: the error
	 * travels as that packet's reply would, and is translated as the reply is. */
	nat_tuple_reverse(&q->t, &s->reply);
	struct nat_flow *f = bpf_map_lookup_elem(&nat_flows, &s->reply);
	if (!f || f->hook != x->hook || (f->ifindex && f->ifindex != x->ifindex) || !nat_flow_live(f, now))
		return 0;
	struct nat_tuple *want = &s->want; /* the quote becomes the reverse of what the reply becomes */
	nat_tuple_reverse(&f->to, want);

	struct nat_offsets o;
	nat_offsets_of(p, &o);
	__u32 icmp_csum = o.l4_csum;
	__u32 qs = p->family == SN_AF_INET ? q->ip + 12 : q->ip + 8;
	__u32 qd = p->family == SN_AF_INET ? q->ip + 16 : q->ip + 24;
	if (nat_quote_addr(x->skb, q, icmp_csum, qs, q->t.src, want->src) ||
	    nat_quote_addr(x->skb, q, icmp_csum, qd, q->t.dst, want->dst))
		return -1;
	if (q->t.proto == IPPROTO_TCP || q->t.proto == IPPROTO_UDP) {
		if (nat_quote_port(x->skb, q, icmp_csum, q->l4, q->t.sport, want->sport) ||
		    nat_quote_port(x->skb, q, icmp_csum, q->l4 + 2, q->t.dport, want->dport))
			return -1;
	} else if (nat_quote_port(x->skb, q, icmp_csum, q->l4 + 4, q->t.sport, want->sport)) {
		return -1;
	}
	/* The error's own addresses: sent to the quote's source, from its destination when the
	 * destination answered itself (a router on the way keeps its own address). */
	struct nat_tuple *from = &s->outer_from, *to = &s->outer_to;
	__builtin_memset(from, 0, sizeof(*from));
	__builtin_memcpy(from->src, p->src, 16);
	__builtin_memcpy(from->dst, p->dst, 16);
	__builtin_memcpy(to, from, sizeof(*to));
	if (nat_addr_eq(p->dst, q->t.src))
		__builtin_memcpy(to->dst, want->src, 16);
	if (nat_addr_eq(p->src, q->t.dst))
		__builtin_memcpy(to->src, want->dst, 16);
	__u32 saddr = p->family == SN_AF_INET ? o.l3 + 12 : o.l3 + 8;
	__u32 daddr = p->family == SN_AF_INET ? o.l3 + 16 : o.l3 + 24;
	if (nat_put_addr(x->skb, &o, p->family, saddr, from->src, to->src) ||
	    nat_put_addr(x->skb, &o, p->family, daddr, from->dst, to->dst))
		return -1;
	return 1;
}

/* Rewrites the packet and counts it; a rewrite that fails half-way drops it (a packet with part
 * of its translation is worse than none). */
static __always_inline int nat_apply(struct nat_run_ctx *x, const struct sn_pkt *p, const struct nat_tuple *from,
				     const struct nat_tuple *to)
{
	if (nat_rewrite(x->skb, p, from, to)) {
		sn_count(x->c, NAT_CNT_UNTRANSLATABLE, 1);
		sn_count(x->c, SN_CNT_DROPPED, 1);
		return TCX_DROP;
	}
	sn_count(x->c, NAT_CNT_TRANSLATED, 1);
	sn_count(x->c, SN_CNT_PASSED, 1);
	return TCX_NEXT;
}

/* The whole program at one hook. Verdict: pass, except a new flow a rule would translate but
 * that cannot be (no port, table full, no address, unrewritable): dropped and counted, never
 * passed untranslated. */
static __always_inline int nat_run(struct __sk_buff *skb, __u8 hook, void *counters)
{
	struct nat_run_ctx x = { .skb = skb, .ifindex = skb->ifindex, .hook = hook };
	x.c = sn_counters_get(counters, skb->ifindex);
	sn_count(x.c, SN_CNT_SEEN, 1);
	sn_count(x.c, SN_CNT_BYTES_SEEN, skb->len);

	/* A locally made or forwarded skb may carry its payload in pages: the headers are made
	 * linear (never the payload: the rewrites go through helpers that reach any offset). */
	__u32 linear = skb->data_end - skb->data;
	if (linear < skb->len && linear < NAT_HEADERS_PULL)
		bpf_skb_pull_data(skb, skb->len < NAT_HEADERS_PULL ? skb->len : NAT_HEADERS_PULL);
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct sn_pkt p = {};
	int rc = sn_parse_len(&p, data, data_end, skb->len);
	if (rc == SN_PARSE_NOT_IP) {
		sn_count(x.c, SN_CNT_NON_IP, 1);
		sn_count(x.c, SN_CNT_PASSED, 1);
		return TCX_NEXT;
	}
	if (rc != SN_PARSE_OK) {
		sn_count(x.c, SN_CNT_MALFORMED, 1);
		sn_count(x.c, SN_CNT_PASSED, 1);
		return TCX_NEXT;
	}
	__u64 now = bpf_ktime_get_boot_ns();
	x.now = now;

	struct nat_tuple t;
	if (nat_tuple_of(&p, &t)) {
		if (ct_icmp_is_error(p.proto, p.icmp_type) && !(p.flags & SN_PKT_F_LATER_FRAG)) {
			int e = nat_icmp_error(&x, &p);
			if (e < 0) {
				sn_count(x.c, NAT_CNT_UNTRANSLATABLE, 1);
				sn_count(x.c, SN_CNT_DROPPED, 1);
				return TCX_DROP;
			}
			if (e > 0)
				sn_count(x.c, NAT_CNT_ICMP_ERRORS, 1);
		}
		sn_count(x.c, SN_CNT_PASSED, 1);
		return TCX_NEXT;
	}

	struct nat_flow *f = bpf_map_lookup_elem(&nat_flows, &t);
	if (f && nat_flow_live(f, now)) {
		if (f->hook != hook || (f->ifindex && f->ifindex != x.ifindex)) {
			sn_count(x.c, SN_CNT_PASSED, 1);
			return TCX_NEXT; /* translated elsewhere on its way */
		}
		return nat_apply(&x, &p, &t, &f->to);
	}

	const struct nat_policy *pol = nat_policy_get();
	if (!pol || pol->count == 0) {
		sn_count(x.c, SN_CNT_PASSED, 1);
		return TCX_NEXT;
	}
	struct nat_scratch *s = nat_scratch_get();
	if (!s) {
		sn_count(x.c, SN_CNT_PASSED, 1);
		return TCX_NEXT;
	}
	/* Hairpin: at egress, a packet we DNATed on its way in has its reply entry waiting here. */
	__u8 hairpin = 0;
	int have_ct = 0;
	if (hook == NAT_HOOK_EGRESS) {
		nat_tuple_reverse(&t, &s->back);
		struct nat_flow *d = bpf_map_lookup_elem(&nat_flows, &s->back);
		if (d && d->kind == NAT_K_DNAT && (d->flags & NAT_FF_REPLY) && nat_flow_live(d, now)) {
			hairpin = 1;
			__builtin_memcpy(&s->ct, &d->ct, sizeof(s->ct));
			have_ct = 1;
		}
	}
	int i = nat_match(pol, &t, x.ifindex, hook, hairpin);
	if (i < 0 || i >= NAT_MAX_RULES) {
		sn_count(x.c, SN_CNT_PASSED, 1);
		return TCX_NEXT;
	}
	const struct nat_rule *r = &pol->rules[i];
	/* the flow's conntrack entry, made by tc-conntrack before us on this packet's way */
	if (!have_ct && ct_key_of(&p, &s->ct) < 0) {
		sn_count(x.c, SN_CNT_PASSED, 1);
		return TCX_NEXT;
	}
	int b = nat_bind(&x, r, &t);
	if (b < 0) {
		sn_count(x.c, (__u32)(-b), 1);
		sn_count(x.c, SN_CNT_DROPPED, 1);
		return TCX_DROP;
	}
	sn_count(x.c, NAT_CNT_NEW_BINDINGS, 1);
	return nat_apply(&x, &p, &t, &s->to);
}

/* The structs the agent reads, anchored in each NAT object's BTF (layouts.gen.ts). */
SENTINEL_BTF_EXPORT(nat_rule);
SENTINEL_BTF_EXPORT(nat_policy);
SENTINEL_BTF_EXPORT(nat_active);
SENTINEL_BTF_EXPORT(nat_tuple);
SENTINEL_BTF_EXPORT(nat_flow);
SENTINEL_BTF_EXPORT(nat_ifaddr);

#endif
