/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The `reject` answer, forged from XDP: the received frame is rewritten in place into the reply
 * and sent back out of the interface it came in on (XDP_TX).
 *
 *   TCP          → RST (RFC 9293 §3.10.7.1, CLOSED state): if the segment carries ACK,
 *                  <SEQ=SEG.ACK><CTL=RST>; else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>,
 *                  SEG.LEN counting payload, SYN and FIN.
 *   UDP          → port unreachable: ICMP 3/3 (RFC 792), ICMPv6 1/4 (RFC 4443 §3.1), what a
 *                  host with no listener sends, so the client's socket sees ECONNREFUSED.
 *   anything else → administratively prohibited: ICMP 3/13 (RFC 1812 §5.2.7.1), ICMPv6 1/1.
 *
 * The ICMP errors quote the offending IP packet from its header on, as much as fits in 576
 * bytes (IPv4, RFC 1812 §4.3.2.3) or 1280 bytes (IPv6, RFC 4443 §2.4(c)). Ethernet addresses are
 * swapped and VLAN tags kept; the IP header is fresh (no options / extension headers, TTL or hop
 * limit 64, random IPv4 ID; DF on the RST as a TCP stack sets it, not on ICMP errors) with the
 * offending packet's destination as source.
 *
 * Never answered (RFC 1122 §3.2.2, RFC 1812 §4.3.2.7, RFC 4443 §2.4(e), RFC 9293): ICMP errors
 * (ICMP types 3, 4, 5, 11, 12; ICMPv6 types < 128), TCP segments carrying RST, non-first
 * fragments, frames to a link-layer broadcast/multicast address or from a group MAC, and packets
 * from or to an address that is not one host (IPv4 0/8, 127/8, 224/4, 240/4 incl. broadcast;
 * IPv6 ::, ::1, ff00::/8; IPv4 multicast/broadcast destinations, IPv6 multicast destinations).
 *
 * Answers are rate-limited per source address so the agent cannot be turned into a reflector:
 * a GCRA token bucket of SN_REPLY_RL_BURST answers refilled at one per SN_REPLY_RL_INTERVAL_NS
 * (defaults: burst 20, 20 per second), kept in an LRU map of SN_REPLY_RL_ENTRIES sources.
 *
 * Whenever it does not answer it returns XDP_DROP and counts why in four counter slots from
 * SN_REPLY_CNT_BASE, which the including program defines (see counters.h):
 *   +0 SENT         an answer left with XDP_TX
 *   +1 SUPPRESSED   a packet that must never be answered (list above)
 *   +2 RATELIMITED  the source's answer budget was spent
 *   +3 FAILED       the answer could not be built (no headroom, inconsistent lengths)
 *
 * Contract: p is sn_parse()'s SN_PARSE_OK result for the frame as it is now in ctx. Every
 * packet pointer the caller holds is invalid after the call (the frame is resized). */
#ifndef SENTINEL_REPLY_H
#define SENTINEL_REPLY_H

#include "common.h"
#include "counters.h"
#include "csum.h"
#include "parse.h"

#ifndef SN_REPLY_CNT_BASE
#error "define SN_REPLY_CNT_BASE (first of the four reject counter slots) before including sentinel/lib/reply.h"
#endif
#define SN_REPLY_CNT_SENT (SN_REPLY_CNT_BASE + 0)
#define SN_REPLY_CNT_SUPPRESSED (SN_REPLY_CNT_BASE + 1)
#define SN_REPLY_CNT_RATELIMITED (SN_REPLY_CNT_BASE + 2)
#define SN_REPLY_CNT_FAILED (SN_REPLY_CNT_BASE + 3)
#define SN_REPLY_CNT_SLOTS 4
_Static_assert(SN_REPLY_CNT_BASE >= SN_CNT_PROG_0 && SN_REPLY_CNT_BASE + SN_REPLY_CNT_SLOTS <= SN_CNT_MAX,
	       "reject counter slots must be program slots inside struct sentinel_counters");

#ifndef SN_REPLY_RL_BURST
#define SN_REPLY_RL_BURST 20
#endif
#ifndef SN_REPLY_RL_INTERVAL_NS
#define SN_REPLY_RL_INTERVAL_NS (1000000000ULL / 20)
#endif
#ifndef SN_REPLY_RL_ENTRIES
#define SN_REPLY_RL_ENTRIES 16384
#endif

#define SN_REPLY_TTL 64
#define SN_REPLY_V4_MAX 576   /* largest IPv4 ICMP error datagram */
#define SN_REPLY_V6_MAX 1280  /* largest ICMPv6 error packet */
#define SN_REPLY_ICMP_HDR 8

struct sn_reply_rl_key {
	__u32 addr[4]; /* network byte order, IPv4 in word 0 */
	__u8 family;
	__u8 _pad[3];
};

/* Value: the GCRA theoretical arrival time (ns, bpf_ktime_get_ns clock). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SN_REPLY_RL_ENTRIES);
	__type(key, struct sn_reply_rl_key);
	__type(value, __u64);
} sn_reply_rl SEC(".maps");

#define SN_REPLY_OK 0
#define SN_REPLY_LIMITED 1
#define SN_REPLY_ERR 2

/* One answer's worth of budget for p's source. GCRA: an answer is allowed while the
 * theoretical arrival time is at most (burst - 1) intervals ahead of now; updated with
 * compare-and-swap so CPUs answering the same source never spend the same token twice. */
static __always_inline int sn_reply_take_token(const struct sn_pkt *p)
{
	struct sn_reply_rl_key key = {};
	__builtin_memcpy(key.addr, p->src, sizeof(key.addr));
	key.family = p->family;
	__u64 now = bpf_ktime_get_ns();
	__u64 interval = SN_REPLY_RL_INTERVAL_NS;
	__u64 *tat = bpf_map_lookup_elem(&sn_reply_rl, &key);
	if (!tat) {
		__u64 first = now + interval;
		if (bpf_map_update_elem(&sn_reply_rl, &key, &first, BPF_NOEXIST) == 0)
			return SN_REPLY_OK;
		tat = bpf_map_lookup_elem(&sn_reply_rl, &key); /* another CPU created it first */
		if (!tat)
			return SN_REPLY_ERR;
	}
#pragma unroll
	for (int i = 0; i < 4; i++) {
		__u64 old = *(volatile __u64 *)tat;
		__u64 base = old > now ? old : now;
		if (base - now > (__u64)(SN_REPLY_RL_BURST - 1) * interval)
			return SN_REPLY_LIMITED;
		if (__sync_val_compare_and_swap(tat, old, base + interval) == old)
			return SN_REPLY_OK;
	}
	return SN_REPLY_LIMITED; /* lost the race four times: the source is being answered already */
}

static __always_inline int sn_reply_mac_is_group(const __u8 *mac)
{
	return mac[0] & 1; /* I/G bit: broadcast is a group address too */
}

/* Addresses that do not name one host (RFC 1122 §3.2.1.3, RFC 1812 §4.2.2.11, §5.3.7). */
static __always_inline int sn_reply_bad_v4_src(__be32 a)
{
	__u8 first = bpf_ntohl(a) >> 24;
	return first == 0 || first == 127 || first >= 224;
}

static __always_inline int sn_reply_bad_v4_dst(__be32 a)
{
	__u8 first = bpf_ntohl(a) >> 24;
	return first == 0 || first >= 224; /* unspecified, multicast, class E, 255.255.255.255 */
}

static __always_inline int sn_reply_v6_multicast(const __u32 *a)
{
	return (bpf_ntohl(a[0]) >> 24) == 0xff;
}

static __always_inline int sn_reply_bad_v6_src(const __u32 *a)
{
	if (sn_reply_v6_multicast(a))
		return 1;
	if (a[0] | a[1] | a[2])
		return 0;
	return a[3] == 0 || a[3] == bpf_htonl(1); /* :: or ::1 */
}

static __always_inline int sn_reply_icmp_is_error(const struct sn_pkt *p)
{
	if (p->proto == IPPROTO_ICMPV6)
		return p->icmp_type < 128; /* RFC 4443 §2.1: 0..127 are errors */
	if (p->proto == IPPROTO_ICMP) {
		__u8 t = p->icmp_type;
		return t == 3 || t == 4 || t == 5 || t == 11 || t == 12;
	}
	return 0;
}

/* 1 when RFCs forbid answering this packet at all. */
static __always_inline int sn_reply_forbidden(void *data, void *data_end, const struct sn_pkt *p)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return 1;
	if (sn_reply_mac_is_group(eth->h_dest) || sn_reply_mac_is_group(eth->h_source))
		return 1;
	if (p->flags & SN_PKT_F_LATER_FRAG)
		return 1;
	if (p->proto == IPPROTO_TCP && (p->tcp_flags & 0x04)) /* never a RST for a RST */
		return 1;
	if (sn_reply_icmp_is_error(p))
		return 1;
	if (p->family == SN_AF_INET)
		return sn_reply_bad_v4_src(p->src[0]) || sn_reply_bad_v4_dst(p->dst[0]);
	if (p->family == SN_AF_INET6)
		return sn_reply_bad_v6_src(p->src) || sn_reply_v6_multicast(p->dst);
	return 1;
}

/* Length of the IP packet (header to end of payload, Ethernet padding excluded), or 0. */
static __always_inline __u32 sn_reply_ip_len(void *data, void *data_end, const struct sn_pkt *p)
{
	__u32 l3 = p->l3_off & 0x3f;
	if (p->family == SN_AF_INET) {
		struct iphdr *iph = data + l3;
		if ((void *)(iph + 1) > data_end)
			return 0;
		return bpf_ntohs(iph->tot_len);
	}
	struct ipv6hdr *ip6 = data + l3;
	if ((void *)(ip6 + 1) > data_end)
		return 0;
	return sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
}

/* Writes the new IP header at l3 (the reply's addresses are the offending packet's, swapped).
 * payload_len: bytes after the IP header. */
static __always_inline int sn_reply_write_ip(void *data, void *data_end, __u32 l3, const struct sn_pkt *p,
					     __u8 proto, __u32 payload_len, int df)
{
	if (p->family == SN_AF_INET) {
		struct iphdr ip = {};
		ip.version = 4;
		ip.ihl = 5;
		ip.tot_len = bpf_htons((__u16)(sizeof(ip) + payload_len));
		ip.id = (__u16)bpf_get_prandom_u32();
		ip.frag_off = df ? bpf_htons(0x4000) : 0;
		ip.ttl = SN_REPLY_TTL;
		ip.protocol = proto;
		ip.saddr = p->dst[0];
		ip.daddr = p->src[0];
		ip.check = sn_csum_ipv4_hdr(&ip);
		struct iphdr *out = data + l3;
		if ((void *)(out + 1) > data_end)
			return -1;
		__builtin_memcpy(out, &ip, sizeof(ip));
		return 0;
	}
	struct ipv6hdr ip6 = {};
	*(__be32 *)&ip6 = bpf_htonl(0x60000000); /* version 6, traffic class 0, flow label 0 */
	ip6.payload_len = bpf_htons((__u16)payload_len);
	ip6.nexthdr = proto;
	ip6.hop_limit = SN_REPLY_TTL;
	__builtin_memcpy(&ip6.saddr, p->dst, 16);
	__builtin_memcpy(&ip6.daddr, p->src, 16);
	struct ipv6hdr *out = data + l3;
	if ((void *)(out + 1) > data_end)
		return -1;
	__builtin_memcpy(out, &ip6, sizeof(ip6));
	return 0;
}

/* Pseudo-header sum of the reply (source = offending destination). */
static __always_inline __u64 sn_reply_pseudo(const struct sn_pkt *p, __u8 proto, __u32 l4_len)
{
	if (p->family == SN_AF_INET)
		return sn_csum_pseudo_v4(p->dst[0], p->src[0], proto, (__u16)l4_len);
	return sn_csum_pseudo_v6(p->dst, p->src, proto, l4_len);
}

/* Resizes the frame to new_len by moving its end (new_len <= current length). */
static __always_inline int sn_reply_trim(struct xdp_md *ctx, __u32 new_len)
{
	int cur = (int)(ctx->data_end - ctx->data);
	int delta = (int)new_len - cur;
	if (delta > 0)
		return -1;
	if (delta < 0 && bpf_xdp_adjust_tail(ctx, delta))
		return -1;
	return 0;
}

static __always_inline void sn_reply_swap_macs(struct ethhdr *eth, const __u8 *src, const __u8 *dst)
{
	__builtin_memcpy(eth->h_dest, src, ETH_ALEN);
	__builtin_memcpy(eth->h_source, dst, ETH_ALEN);
}

static __always_inline int sn_reply_tcp_rst(struct xdp_md *ctx, const struct sn_pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l3 = p->l3_off & 0x3f;
	__u32 l4 = p->l4_off & 0x7ff;
	struct ethhdr *eth = data;
	struct tcphdr *th = data + l4;
	if ((void *)(eth + 1) > data_end || (void *)(th + 1) > data_end)
		return -1;
	__u8 smac[ETH_ALEN], dmac[ETH_ALEN];
	__builtin_memcpy(smac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(dmac, eth->h_dest, ETH_ALEN);
	__u32 ip_len = sn_reply_ip_len(data, data_end, p);
	__u32 hdr_end = l4 + th->doff * 4;
	if (ip_len == 0 || hdr_end > l3 + ip_len)
		return -1;
	__u32 seg_len = l3 + ip_len - hdr_end + th->syn + th->fin;
	int had_ack = th->ack;
	__be32 seq_in = th->seq;
	__be32 ack_in = th->ack_seq;

	struct tcphdr rst = {};
	rst.source = bpf_htons(p->dport);
	rst.dest = bpf_htons(p->sport);
	rst.doff = 5;
	rst.rst = 1;
	if (had_ack) {
		rst.seq = ack_in;
	} else {
		rst.ack = 1;
		rst.ack_seq = bpf_htonl(bpf_ntohl(seq_in) + seg_len);
	}
	__u64 sum = sn_reply_pseudo(p, IPPROTO_TCP, sizeof(rst));
	rst.check = sn_csum_finish(sn_csum_words(&rst, sizeof(rst), sum));

	__u32 ip_hdr = p->family == SN_AF_INET ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
	if (sn_reply_trim(ctx, l3 + ip_hdr + sizeof(rst)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;
	sn_reply_swap_macs(eth, smac, dmac);
	if (sn_reply_write_ip(data, data_end, l3, p, IPPROTO_TCP, sizeof(rst), 1))
		return -1;
	struct tcphdr *out = data + ((l3 + ip_hdr) & 0x7f);
	if ((void *)(out + 1) > data_end)
		return -1;
	__builtin_memcpy(out, &rst, sizeof(rst));
	return 0;
}

static __always_inline int sn_reply_icmp_unreach(struct xdp_md *ctx, const struct sn_pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l3 = p->l3_off & 0x3f;
	int v4 = p->family == SN_AF_INET;
	/* Room for the new IP and ICMP headers in front of the quoted packet. */
	__u32 room = (v4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr)) + SN_REPLY_ICMP_HDR;
	__u32 max_quote = (v4 ? SN_REPLY_V4_MAX : SN_REPLY_V6_MAX) - room;
	__u32 quote = sn_reply_ip_len(data, data_end, p);
	if (quote == 0 || l3 + quote > (__u32)(data_end - data))
		return -1;
	if (quote > max_quote)
		quote = max_quote;

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;
	__u8 smac[ETH_ALEN], dmac[ETH_ALEN];
	__builtin_memcpy(smac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(dmac, eth->h_dest, ETH_ALEN);

	/* Drop what will not be quoted first (Ethernet padding included), then grow the head. */
	if (sn_reply_trim(ctx, l3 + quote))
		return -1;
	if (bpf_xdp_adjust_head(ctx, -(int)room))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;

	/* Move the VLAN tags and EtherType down (MACs are rewritten anyway). The L2 header is at
	 * most 22 bytes: 12 of MACs, up to two 4-byte tags, the 2-byte EtherType. */
	__u8 *old_l2 = data + room;
	__u8 *new_l2 = data;
	if ((void *)(old_l2 + 22) > data_end)
		return -1;
#pragma unroll
	for (__u32 i = 12; i < 22; i += 2) {
		if (i < l3)
			*(__u16 *)(new_l2 + i) = *(__u16 *)(old_l2 + i);
	}
	eth = data;
	sn_reply_swap_macs(eth, smac, dmac);

	__u8 proto = v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	__u32 icmp_len = SN_REPLY_ICMP_HDR + quote;
	if (sn_reply_write_ip(data, data_end, l3, p, proto, icmp_len, 0))
		return -1;

	struct {
		__u8 type;
		__u8 code;
		__u16 check;
		__u32 unused;
	} icmp = {};
	if (v4) {
		icmp.type = 3;
		icmp.code = p->proto == IPPROTO_UDP ? 3 : 13;
	} else {
		icmp.type = 1;
		icmp.code = p->proto == IPPROTO_UDP ? 4 : 1;
	}
	__u32 icmp_off = (l3 + room - SN_REPLY_ICMP_HDR) & 0x7f;
	__u64 sum = v4 ? 0 : sn_reply_pseudo(p, proto, icmp_len);
	sum = sn_csum_words(&icmp, sizeof(icmp), sum);
	if (sn_csum_pkt(data, data_end, icmp_off + SN_REPLY_ICMP_HDR, quote, &sum))
		return -1;
	icmp.check = sn_csum_finish(sum);
	void *out = data + icmp_off;
	if (out + sizeof(icmp) > data_end)
		return -1;
	__builtin_memcpy(out, &icmp, sizeof(icmp));
	return 0;
}

/* The answer lives in one global (non-inlined) function so the verifier checks it once, with
 * nothing assumed about p, instead of once for every parser outcome that reaches a reject. It
 * returns XDP_TX or XDP_DROP. */
__attribute__((noinline)) int sn_reply_answer(struct xdp_md *ctx, const struct sn_pkt *p, struct sentinel_counters *c)
{
	if (!ctx || !p)
		return XDP_DROP;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	if (sn_reply_forbidden(data, data_end, p)) {
		sn_count(c, SN_REPLY_CNT_SUPPRESSED, 1);
		return XDP_DROP;
	}
	int rl = sn_reply_take_token(p);
	if (rl != SN_REPLY_OK) {
		sn_count(c, rl == SN_REPLY_LIMITED ? SN_REPLY_CNT_RATELIMITED : SN_REPLY_CNT_FAILED, 1);
		return XDP_DROP;
	}
	int err = p->proto == IPPROTO_TCP ? sn_reply_tcp_rst(ctx, p) : sn_reply_icmp_unreach(ctx, p);
	if (err) {
		sn_count(c, SN_REPLY_CNT_FAILED, 1);
		return XDP_DROP;
	}
	sn_count(c, SN_REPLY_CNT_SENT, 1);
	return XDP_TX;
}

static __always_inline int sn_reply_reject(struct xdp_md *ctx, const struct sn_pkt *p, struct sentinel_counters *c)
{
	/* A verdict the verifier can bound, whatever the subprogram returned. */
	return sn_reply_answer(ctx, p, c) == XDP_TX ? XDP_TX : XDP_DROP;
}

#endif
