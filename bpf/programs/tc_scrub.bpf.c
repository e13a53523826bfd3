// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tc-scrub: normalises what attackers and broken stacks send, at TC ingress after tc-conntrack
 * (and tc-syncookie), before NAT. Per packet, under the profile of its interface or network
 * (contract/scrub.h): IPv4 TTL / IPv6 hop limit raised to a minimum, DF cleared, a random IPv4
 * identification, the TOS / traffic-class byte rewritten (DSCP, ECN), impossible TCP flag
 * combinations and reserved bits repaired or dropped, the MSS option of SYN and SYN-ACK clamped
 * in place. Every action is counted per interface (scrub_actions).
 *
 * Checksums. No field rewritten here is part of the TCP/UDP pseudo-header (addresses, protocol,
 * length), so no rewrite uses BPF_F_PSEUDO_HDR and skb->csum never has to follow a pseudo-header
 * change. What each rewrite does:
 * - IPv4 header word: stored without BPF_F_RECOMPUTE_CSUM, then bpf_l3_csum_replace on the
 *   header checksum with the old and new word. The header checksum is always complete (no
 *   device offloads it in the skb), and a word and its checksum changing by opposite amounts
 *   leave the one's-complement sum over the header, so a CHECKSUM_COMPLETE skb->csum, unchanged.
 * - IPv6 header word (traffic class, hop limit): no checksum covers it, so it is stored with
 *   BPF_F_RECOMPUTE_CSUM, which keeps a CHECKSUM_COMPLETE skb->csum right.
 * - TCP header word (flags, an MSS value): stored without BPF_F_RECOMPUTE_CSUM, then
 *   bpf_l4_csum_replace without BPF_F_PSEUDO_HDR. With a full checksum (CHECKSUM_NONE /
 *   UNNECESSARY / COMPLETE) the helper updates the field incrementally; with CHECKSUM_PARTIAL the
 *   field holds only the pseudo-header sum and the segment's checksum is computed later over the
 *   bytes as they then are, so the helper leaves the field alone, which is what it must do.
 *   A value at an odd offset of the segment is passed to the helper byte-swapped (a byte's weight
 *   in the one's-complement sum depends on the parity of its offset).
 * A helper that fails part-way could leave a checksum that does not match: the packet is dropped
 * and counted (helper_failed), never sent on.
 *
 * Verdicts: TCX_DROP for TCP flags the profile drops, and after a failed helper; everything else
 * continues (TCX_NEXT), malformed packets included (counted, untouched: scrubbing is not where a
 * malformed packet is judged). */
#include "sentinel/lib/common.h"
#include "sentinel/lib/counters.h"
#include "sentinel/lib/parse.h"
#include "sentinel/lib/tcp_opts.h"
#include "sentinel/contract/scrub.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SENTINEL_BTF_EXPORT(scrub_profile);
SENTINEL_BTF_EXPORT(scrub_net_v4);
SENTINEL_BTF_EXPORT(scrub_net_v6);
SENTINEL_BTF_EXPORT(scrub_action_counters);

/* Interface profiles by ifindex; an interface without an entry is not scrubbed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct scrub_profile);
} scrub_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct scrub_net_v4);
	__type(value, struct scrub_profile);
} scrub_nets_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct scrub_net_v6);
	__type(value, struct scrub_profile);
} scrub_nets_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct scrub_action_counters);
} scrub_actions SEC(".maps");

SENTINEL_COUNTER_MAP(scrub_counters);

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10
#define TH_URG 0x20

#define IP_DF 0x4000
/* Offsets are masked so the verifier sees them bounded (the parser caps them far below). */
#define SCRUB_OFF_MASK 0x7ff

struct scrub_ctx {
	struct __sk_buff *skb;
	const struct scrub_profile *pr;
	struct scrub_action_counters *act;
	__u32 l3;
	__u32 l4;
	int changed;
	int failed;
};

static __always_inline void scrub_act(struct scrub_ctx *s, __u32 action)
{
	if (s->act && action < SCRUB_A_MAX)
		s->act->v[action] += 1; /* per-CPU: no atomics needed */
}

static __always_inline struct scrub_action_counters *scrub_actions_get(__u32 ifindex)
{
	struct scrub_action_counters *a = bpf_map_lookup_elem(&scrub_actions, &ifindex);
	if (a)
		return a;
	struct scrub_action_counters zero = {};
	bpf_map_update_elem(&scrub_actions, &ifindex, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&scrub_actions, &ifindex);
}

/* The profile for this packet: its interface's network entry holding the source, then the
 * destination, then the interface's own; NULL when the interface has none. */
static __always_inline const struct scrub_profile *scrub_profile_of(const struct sn_pkt *p, __u32 ifindex)
{
	const struct scrub_profile *ifp = bpf_map_lookup_elem(&scrub_ifaces, &ifindex);
	if (!ifp)
		return NULL;
	const struct scrub_profile *r;
	if (p->family == SN_AF_INET && (ifp->flags & SCRUB_F_NETS_V4)) {
		struct scrub_net_v4 k = { .prefixlen = 64, .ifindex = ifindex };
		__builtin_memcpy(k.addr, &p->src[0], 4);
		r = bpf_map_lookup_elem(&scrub_nets_v4, &k);
		if (r)
			return r;
		__builtin_memcpy(k.addr, &p->dst[0], 4);
		r = bpf_map_lookup_elem(&scrub_nets_v4, &k);
		if (r)
			return r;
	} else if (p->family == SN_AF_INET6 && (ifp->flags & SCRUB_F_NETS_V6)) {
		struct scrub_net_v6 k = { .prefixlen = 160, .ifindex = ifindex };
		__builtin_memcpy(k.addr, p->src, 16);
		r = bpf_map_lookup_elem(&scrub_nets_v6, &k);
		if (r)
			return r;
		__builtin_memcpy(k.addr, p->dst, 16);
		r = bpf_map_lookup_elem(&scrub_nets_v6, &k);
		if (r)
			return r;
	}
	return ifp;
}

union scrub_word {
	__u8 b[2];
	__u16 w; /* as in the packet */
};

/* One 16-bit word of the IPv4 header at off (from the IP header), and its header checksum. */
static __always_inline void scrub_ipv4_word(struct scrub_ctx *s, __u32 off, __u16 old, __u16 new)
{
	if (old == new || s->failed)
		return;
	if (bpf_skb_store_bytes(s->skb, s->l3 + off, &new, 2, 0) ||
	    bpf_l3_csum_replace(s->skb, s->l3 + 10 /* check */, old, new, 2)) {
		s->failed = 1;
		return;
	}
	s->changed = 1;
}

/* One 16-bit word of the IPv6 header (no checksum covers it; skb->csum follows). */
static __always_inline void scrub_ipv6_word(struct scrub_ctx *s, __u32 off, __u16 new)
{
	if (s->failed)
		return;
	if (bpf_skb_store_bytes(s->skb, s->l3 + off, &new, 2, BPF_F_RECOMPUTE_CSUM)) {
		s->failed = 1;
		return;
	}
	s->changed = 1;
}

/* 16 bits of the TCP segment at off (from the TCP header), and its checksum. */
static __always_inline void scrub_tcp_word(struct scrub_ctx *s, __u32 off, __u16 old, __u16 new)
{
	if (old == new || s->failed)
		return;
	if (bpf_skb_store_bytes(s->skb, s->l4 + off, &new, 2, 0)) {
		s->failed = 1;
		return;
	}
	if (off & 1) { /* the bytes' weights in the sum are swapped at an odd offset */
		old = (__u16)((old << 8) | (old >> 8));
		new = (__u16)((new << 8) | (new >> 8));
	}
	if (bpf_l4_csum_replace(s->skb, s->l4 + 16 /* check */, old, new, 2)) {
		s->failed = 1;
		return;
	}
	s->changed = 1;
}

static __always_inline void scrub_ipv4(struct scrub_ctx *s, const struct sn_pkt *p)
{
	const struct scrub_profile *pr = s->pr;
	void *data = (void *)(long)s->skb->data;
	void *data_end = (void *)(long)s->skb->data_end;
	__u8 *h = data + (s->l3 & SCRUB_OFF_MASK);
	if ((void *)(h + sizeof(struct iphdr)) > data_end)
		return;
	union scrub_word w0 = { .b = { h[0], h[1] } }, n0 = w0;
	union scrub_word w2 = { .b = { h[4], h[5] } }, n2 = w2;
	union scrub_word w3 = { .b = { h[6], h[7] } }, n3 = w3;
	union scrub_word w4 = { .b = { h[8], h[9] } }, n4 = w4;

	if ((pr->flags & SCRUB_F_TOS) && ((h[1] & ~pr->tos_mask) | pr->tos_value) != h[1]) {
		n0.b[1] = (h[1] & ~pr->tos_mask) | pr->tos_value;
		scrub_act(s, SCRUB_A_TOS_REWRITTEN);
	}
	if ((pr->flags & SCRUB_F_RANDOM_IP_ID) && !(p->flags & SN_PKT_F_FRAGMENT)) {
		/* a fragment's identification ties it to its siblings: never changed */
		n2.w = (__u16)bpf_get_prandom_u32();
		scrub_act(s, SCRUB_A_IP_ID_RANDOMIZED);
	}
	if ((pr->flags & SCRUB_F_CLEAR_DF) && (h[6] & (IP_DF >> 8))) {
		n3.b[0] = h[6] & ~(IP_DF >> 8);
		scrub_act(s, SCRUB_A_DF_CLEARED);
	}
	if ((pr->flags & SCRUB_F_MIN_TTL) && h[8] < pr->min_ttl) {
		n4.b[0] = pr->min_ttl;
		scrub_act(s, SCRUB_A_TTL_RAISED);
	}
	scrub_ipv4_word(s, 0, w0.w, n0.w);
	scrub_ipv4_word(s, 4, w2.w, n2.w);
	scrub_ipv4_word(s, 6, w3.w, n3.w);
	scrub_ipv4_word(s, 8, w4.w, n4.w);
}

static __always_inline void scrub_ipv6(struct scrub_ctx *s)
{
	const struct scrub_profile *pr = s->pr;
	void *data = (void *)(long)s->skb->data;
	void *data_end = (void *)(long)s->skb->data_end;
	__u8 *h = data + (s->l3 & SCRUB_OFF_MASK);
	if ((void *)(h + sizeof(struct ipv6hdr)) > data_end)
		return;
	__u8 b0 = h[0], b1 = h[1], nh = h[6], hop = h[7];
	if (pr->flags & SCRUB_F_TOS) {
		__u8 tc = (__u8)((b0 << 4) | (b1 >> 4));
		__u8 ntc = (tc & ~pr->tos_mask) | pr->tos_value;
		if (ntc != tc) {
			union scrub_word n = { .b = { (__u8)((b0 & 0xf0) | (ntc >> 4)), (__u8)((ntc << 4) | (b1 & 0x0f)) } };
			scrub_ipv6_word(s, 0, n.w);
			scrub_act(s, SCRUB_A_TOS_REWRITTEN);
		}
	}
	if ((pr->flags & SCRUB_F_MIN_HOP_LIMIT) && hop < pr->min_hop_limit) {
		union scrub_word n = { .b = { nh, pr->min_hop_limit } };
		scrub_ipv6_word(s, 6, n.w);
		scrub_act(s, SCRUB_A_HOP_LIMIT_RAISED);
	}
}

/* Impossible flag combinations: counted by class; with FLAGS_DROP any of them drops, with
 * FLAGS_REPAIR what has one sensible reading is repaired (SYN+FIN loses the FIN, reserved bits
 * are cleared) and the rest is dropped. Returns 1 to drop; *f gets the flags as they now are. */
static __always_inline int scrub_tcp_flags(struct scrub_ctx *s, __u8 b12, __u8 *f)
{
	__u8 fl = *f;
	int unfixable = 0, fixable = 0;
	if ((fl & (TH_SYN | TH_RST)) == (TH_SYN | TH_RST)) {
		scrub_act(s, SCRUB_A_SYN_RST);
		unfixable = 1;
	}
	if ((fl & (TH_SYN | TH_FIN)) == (TH_SYN | TH_FIN)) {
		scrub_act(s, SCRUB_A_SYN_FIN);
		fixable = 1;
	}
	if ((fl & (TH_FIN | TH_PSH | TH_URG | TH_ACK)) == (TH_FIN | TH_PSH | TH_URG)) {
		scrub_act(s, SCRUB_A_XMAS);
		unfixable = 1;
	} else if ((fl & (TH_FIN | TH_ACK | TH_SYN)) == TH_FIN) {
		scrub_act(s, SCRUB_A_FIN_NO_ACK);
		unfixable = 1;
	}
	if (!(fl & (TH_FIN | TH_SYN | TH_RST | TH_PSH | TH_ACK | TH_URG))) {
		scrub_act(s, SCRUB_A_NULL_FLAGS);
		unfixable = 1;
	}
	if (b12 & SCRUB_TCP_RESERVED_MASK) {
		scrub_act(s, SCRUB_A_RESERVED_BITS);
		fixable = 1;
	}
	if (!unfixable && !fixable)
		return 0;
	if (unfixable || (s->pr->flags & SCRUB_F_FLAGS_DROP)) {
		scrub_act(s, SCRUB_A_FLAGS_DROPPED);
		return 1;
	}
	union scrub_word old = { .b = { b12, fl } };
	union scrub_word new = old;
	new.b[0] = b12 & ~SCRUB_TCP_RESERVED_MASK;
	if ((fl & (TH_SYN | TH_FIN)) == (TH_SYN | TH_FIN))
		new.b[1] = fl & ~TH_FIN;
	scrub_tcp_word(s, 12, old.w, new.w);
	scrub_act(s, SCRUB_A_FLAGS_REPAIRED);
	*f = new.b[1];
	return 0;
}

/* Clamps the MSS option at `at` (offset from the TCP header) when it is above the maximum. */
static __always_inline void scrub_mss_at(struct scrub_ctx *s, const struct sn_tcp_opts *w, __u32 at)
{
	__u16 mss = sn_tcp_opts_mss(w, at);
	if (mss <= s->pr->max_mss)
		return;
	union scrub_word old = { .b = { w->b[(at + 2) & 63], w->b[(at + 3) & 63] } };
	__u16 new = bpf_htons(s->pr->max_mss);
	scrub_tcp_word(s, (at + 2) & 63, old.w, new);
	scrub_act(s, SCRUB_A_MSS_CLAMPED);
}

/* Returns 1 to drop. */
static __always_inline int scrub_tcp(struct scrub_ctx *s, struct sentinel_counters *c)
{
	const struct scrub_profile *pr = s->pr;
	void *data = (void *)(long)s->skb->data;
	void *data_end = (void *)(long)s->skb->data_end;
	__u8 *th = data + (s->l4 & SCRUB_OFF_MASK);
	if ((void *)(th + sizeof(struct tcphdr)) > data_end)
		return 0;
	__u8 b12 = th[12], f = th[13];
	__u32 th_len = ((__u32)b12 >> 4) * 4;

	if ((pr->flags & (SCRUB_F_FLAGS_REPAIR | SCRUB_F_FLAGS_DROP)) && scrub_tcp_flags(s, b12, &f))
		return 1;

	if (!(pr->flags & SCRUB_F_MAX_MSS) || !(f & TH_SYN) || (f & TH_RST) || th_len <= 20 || s->failed)
		return 0;
	struct sn_tcp_opts w;
	w.th_len = th_len;
	if (th_len > 60 || bpf_skb_load_bytes(s->skb, s->l4, w.b, th_len)) {
		sn_count(c, SCRUB_CNT_OPTIONS_MALFORMED, 1); /* the header runs past the packet */
		return 0;
	}
	sn_tcp_opts_walk(&w);
	if (w.malformed)
		sn_count(c, SCRUB_CNT_OPTIONS_MALFORMED, 1);
	if (w.mss_first)
		scrub_mss_at(s, &w, w.mss_first);
	if (w.mss_last != w.mss_first)
		scrub_mss_at(s, &w, w.mss_last);
	return 0;
}

/* Headers in the linear part are read directly; a forwarded segment often keeps its payload in
 * pages (lengths are checked against skb->len). When the headers themselves are not all linear,
 * the first SCRUB_PULL bytes are pulled in once and the packet parsed again. */
#define SCRUB_PULL 256

static __always_inline int scrub_parse(struct __sk_buff *skb, struct sn_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u32 len = skb->len;
	int rc = sn_parse_len(p, data, data_end, len);
	if (rc != SN_PARSE_MALFORMED || data_end - data >= len || data_end - data >= SCRUB_PULL)
		return rc;
	if (bpf_skb_pull_data(skb, len < SCRUB_PULL ? len : SCRUB_PULL))
		return rc;
	__builtin_memset(p, 0, sizeof(*p));
	return sn_parse_len(p, (void *)(long)skb->data, (void *)(long)skb->data_end, len);
}

SEC("tc")
int tc_scrub(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	struct sentinel_counters *c = sn_counters_get(&scrub_counters, ifindex);

	sn_count(c, SN_CNT_SEEN, 1);
	sn_count(c, SN_CNT_BYTES_SEEN, skb->len);

	struct sn_pkt p = {};
	int rc = scrub_parse(skb, &p);
	if (rc == SN_PARSE_NOT_IP) {
		sn_count(c, SN_CNT_NON_IP, 1);
		sn_count(c, SN_CNT_PASSED, 1);
		return TCX_NEXT;
	}
	if (rc != SN_PARSE_OK) {
		sn_count(c, SN_CNT_MALFORMED, 1);
		sn_count(c, SN_CNT_PASSED, 1);
		return TCX_NEXT;
	}
	const struct scrub_profile *pr = scrub_profile_of(&p, ifindex);
	if (!pr || !(pr->flags & ~(SCRUB_F_NETS_V4 | SCRUB_F_NETS_V6))) {
		sn_count(c, SCRUB_CNT_UNCONFIGURED, 1);
		sn_count(c, SN_CNT_PASSED, 1);
		return TCX_NEXT;
	}

	struct scrub_ctx s = {
		.skb = skb,
		.pr = pr,
		.act = scrub_actions_get(ifindex),
		.l3 = p.l3_off & SCRUB_OFF_MASK,
		.l4 = p.l4_off & SCRUB_OFF_MASK,
	};
	int drop = 0;
	if (p.proto == IPPROTO_TCP && p.l4_off && !(p.flags & SN_PKT_F_LATER_FRAG))
		drop = scrub_tcp(&s, c);
	if (!drop) {
		if (p.family == SN_AF_INET)
			scrub_ipv4(&s, &p);
		else
			scrub_ipv6(&s);
	}
	if (s.failed) {
		sn_count(c, SCRUB_CNT_HELPER_FAILED, 1);
		drop = 1;
	}
	if (drop) {
		sn_count(c, SN_CNT_DROPPED, 1);
		return TCX_DROP;
	}
	if (s.changed)
		sn_count(c, SCRUB_CNT_REWRITTEN, 1);
	sn_count(c, SN_CNT_PASSED, 1);
	return TCX_NEXT;
}
