/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* SYN cookies answered from XDP for the host's own listeners.
 *
 * A pure SYN to a local listening socket is turned, in place, into a SYN-ACK: MACs, addresses
 * and ports swapped, seq = the cookie, ack = the client's seq + 1, payload trimmed, checksums
 * recomputed, and the frame goes back out with XDP_TX. Nothing is stored per SYN. Two kinds of
 * cookie, one per path (rl_gen.cookie_path, chosen by the agent):
 *
 * - RL_PATH_REQSK (kernels with bpf_sk_assign_tcp_reqsk, 6.9+): the agent's own cookie
 *   (syncookie.h). The SYN-ACK offers what the client offered and the host allows: MSS, window
 *   scale, SACK, timestamps and ECN, laid out as Linux lays them out. The returning ACK is
 *   checked here (forgeries drop) and again by tc_syncookie, which creates the request socket.
 * - RL_PATH_KERNEL (older kernels): the kernel's cookie from bpf_tcp_raw_gen_syncookie_ipv4/6,
 *   MSS option only, TCP header length kept (NOP padding). The listener accepts the ACK because
 *   the agent holds net.ipv4.tcp_syncookies at 2 and xdp-ratelimit hands the stack one SYN per
 *   listener address and port every RL_KSTAMP_REFRESH_NS, so the listener itself sends a cookie
 *   now and then and keeps taking cookie ACKs (see rl_kernel_path_refresh).
 *
 * Every offset comes from the parser (VLAN tags included). Headers are copied to the stack
 * before the helpers see them, so the verifier sees fixed-size, bounded memory. */
#ifndef SENTINEL_SYNPROXY_H
#define SENTINEL_SYNPROXY_H

#include "common.h"
#include "csum.h"
#include "parse.h"
#include "syncookie.h"

#define SP_TCP_LISTEN 10 /* BPF_TCP_LISTEN */
#define SP_TTL 64
#define SP_WINDOW 65535

#define SP_OK 0
#define SP_NOT_ANSWERED 1 /* left to the stack (IP options, extension headers, no room, helper error) */

/* Result of looking up the socket a TCP segment is addressed to. */
#define SP_SK_NONE 0
#define SP_SK_LISTEN 1
#define SP_SK_OTHER 2 /* established, time-wait, request socket... */

/* TCP flag bits of byte 13 */
#define SP_F_FIN 0x01
#define SP_F_SYN 0x02
#define SP_F_RST 0x04
#define SP_F_ACK 0x10
#define SP_F_ECE 0x40
#define SP_F_CWR 0x80

static __always_inline int sp_socket_kind(struct xdp_md *ctx, const struct sn_pkt *p)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	if (p->family == SN_AF_INET) {
		t.ipv4.saddr = p->src[0];
		t.ipv4.daddr = p->dst[0];
		t.ipv4.sport = bpf_htons(p->sport);
		t.ipv4.dport = bpf_htons(p->dport);
		sk = bpf_skc_lookup_tcp(ctx, &t, sizeof(t.ipv4), (__u64)(__s64)-1, 0);
	} else {
		__builtin_memcpy(t.ipv6.saddr, p->src, 16);
		__builtin_memcpy(t.ipv6.daddr, p->dst, 16);
		t.ipv6.sport = bpf_htons(p->sport);
		t.ipv6.dport = bpf_htons(p->dport);
		sk = bpf_skc_lookup_tcp(ctx, &t, sizeof(t.ipv6), (__u64)(__s64)-1, 0);
	}
	if (!sk)
		return SP_SK_NONE;
	int kind = sk->state == SP_TCP_LISTEN ? SP_SK_LISTEN : SP_SK_OTHER;
	bpf_sk_release(sk);
	return kind;
}

/* Loads the TCP header (doff * 4 bytes) into t; returns its length or 0. */
static __always_inline __u32 sp_load_tcp(struct xdp_md *ctx, const struct sn_pkt *p, struct sc_tcp_buf *t)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 off = p->l4_off;
	if (off > 1500)
		return 0;
	__u8 *th = data + off;
	if ((void *)(th + 20) > data_end)
		return 0;
	__u32 th_len = (th[12] >> 4) * 4;
	if (th_len < 20 || th_len > 60)
		return 0;
	if (bpf_xdp_load_bytes(ctx, off, t->b, th_len))
		return 0;
	return th_len;
}

/* The MSS we announce: what fits this device's MTU (the SYN's own MSS says nothing about us). */
static __always_inline __u16 sp_our_mss(struct xdp_md *ctx, __u8 family)
{
	__u32 mtu = 0;
	if (bpf_check_mtu(ctx, 0, &mtu, 0, 0) < 0 || mtu < 1280)
		mtu = 1500;
	__u32 mss = mtu - (family == SN_AF_INET ? 40 : 60);
	return mss > 65535 ? 65535 : (__u16)mss;
}

/* Turns the SYN's fixed header in t into the SYN-ACK's (options are the caller's). */
static __always_inline void sp_synack_fixed(struct sc_tcp_buf *t, __u32 th_len, __u32 isn, __u8 flags)
{
	struct tcphdr *th = (struct tcphdr *)t->b;
	__be16 sport = th->source;
	th->source = th->dest;
	th->dest = sport;
	th->ack_seq = bpf_htonl(bpf_ntohl(th->seq) + 1);
	th->seq = bpf_htonl(isn);
	t->b[12] = (__u8)((th_len / 4) << 4);
	t->b[13] = flags;
	th->window = bpf_htons(SP_WINDOW);
	th->check = 0;
	th->urg_ptr = 0;
}

static __always_inline void sp_put32(struct sc_tcp_buf *t, __u32 i, __u32 v)
{
	t->b[i & 63] = v >> 24;
	t->b[(i + 1) & 63] = v >> 16;
	t->b[(i + 2) & 63] = v >> 8;
	t->b[(i + 3) & 63] = v;
}

/* The agent-cookie SYN-ACK header, options in Linux's order: MSS, then SACK-permitted and
 * timestamps (or NOP padding for the one missing), then NOP + window scale. Returns its length. */
static __always_inline __u32 sp_agent_synack(struct sc_tcp_buf *t, const struct sc_opts *o, __u8 data, __u32 isn,
					     __u32 tsval, const struct rl_cookie_cfg *cfg, __u16 mss)
{
	int ts = o->ts_ok && (cfg->allow & SC_ALLOW_TS);
	int sack = !!(data & SC_D_SACK);
	int ws = (data & 0xf) != SC_NO_WSCALE;
	__u32 len = 24 + (ts ? 12 : sack ? 4 : 0) + (ws ? 4 : 0);
	sp_synack_fixed(t, len, isn, SP_F_SYN | SP_F_ACK | ((data & SC_D_ECN) ? SP_F_ECE : 0));
	sp_put32(t, 20, (2u << 24) | (4u << 16) | mss);
	__u32 i = 24;
	if (ts) {
		sp_put32(t, 24, sack ? ((4u << 24) | (2u << 16) | (8u << 8) | 10u) : ((1u << 24) | (1u << 16) | (8u << 8) | 10u));
		sp_put32(t, 28, tsval);
		sp_put32(t, 32, o->tsval);
		i = 36;
	} else if (sack) {
		sp_put32(t, 24, (1u << 24) | (1u << 16) | (4u << 8) | 2u);
		i = 28;
	}
	if (ws)
		sp_put32(t, i, (1u << 24) | (3u << 16) | (3u << 8) | cfg->rcv_wscale);
	return len;
}

/* The kernel-cookie SYN-ACK header: same length as the SYN's, one MSS option, NOP padding. */
static __always_inline void sp_kernel_synack(struct sc_tcp_buf *t, __u32 th_len, __u32 cookie, __u16 mss)
{
	sp_synack_fixed(t, th_len, cookie, SP_F_SYN | SP_F_ACK);
#pragma unroll
	for (int i = 20; i < 60; i++)
		t->b[i] = 1; /* NOP */
	if (th_len >= 24)
		sp_put32(t, 20, (2u << 24) | (4u << 16) | mss);
}

/* Sizes the frame to headers only (grows it when the SYN-ACK's options are longer than the
 * SYN's); 0 on success. Offsets stay valid. */
static __always_inline int sp_resize(struct xdp_md *ctx, __u32 new_len)
{
	__u32 cur = ctx->data_end - ctx->data;
	if (cur == new_len)
		return 0;
	return bpf_xdp_adjust_tail(ctx, (int)new_len - (int)cur);
}

static __always_inline int sp_swap_macs(struct xdp_md *ctx)
{
	__u8 mac[12];
	__u8 sw[12];
	if (bpf_xdp_load_bytes(ctx, 0, mac, 12))
		return -1;
	__builtin_memcpy(sw, mac + 6, 6);
	__builtin_memcpy(sw + 6, mac, 6);
	return bpf_xdp_store_bytes(ctx, 0, sw, 12);
}

/* The agent-cookie SYN-ACK for the SYN whose TCP header (th_len bytes) is in ps: its options
 * read, the cookie made (syncookie.h: the hash carries the options kept in the low byte of the
 * ISN and of the timestamp), the header rewritten in place. Returns its new length. */
static __always_inline __u32 sp_agent_cookie(struct xdp_md *ctx, const struct sn_pkt *p, struct sc_parse *ps, __u32 th_len,
					     const struct rl_cookie_cfg *cfg)
{
	struct sc_tcp_buf *t = &ps->t;
	ps->th_len = th_len;
	sc_parse_opts(ps);
	__u8 ecn = (t->b[13] & (SP_F_ECE | SP_F_CWR)) == (SP_F_ECE | SP_F_CWR);
	__u8 data = sc_data(p, &ps->o, cfg, ecn);
	__u32 ports = ((__u32)bpf_htons(p->dport) << 16) | bpf_htons(p->sport);
	__u64 h = sc_hash(&cfg->key, p, ports, bpf_ntohl(((struct tcphdr *)t->b)->seq), sc_slot(), data);
	__u32 isn = ((__u32)(h >> 40) << 8) | data;
	__u32 tsval = ((__u32)(bpf_ktime_get_ns() / 1000000) & ~0xffu) | (__u32)(h & 0xff);
	return sp_agent_synack(t, &ps->o, data, isn, tsval, cfg, sp_our_mss(ctx, p->family));
}

/* Puts the answer in the frame: sized to its headers, the IP header (ip_len bytes) and the TCP
 * header written, MACs swapped. SP_OK, or SP_NOT_ANSWERED (the frame untouched unless the
 * resize succeeded). */
static __always_inline int sp_emit(struct xdp_md *ctx, const struct sn_pkt *p, void *ip, __u32 ip_len, struct sc_tcp_buf *t, __u32 th_len)
{
	if (sp_resize(ctx, p->l4_off + th_len))
		return SP_NOT_ANSWERED;
	if (bpf_xdp_store_bytes(ctx, p->l3_off, ip, ip_len) || bpf_xdp_store_bytes(ctx, p->l4_off, t->b, th_len))
		return SP_NOT_ANSWERED;
	if (sp_swap_macs(ctx))
		return SP_NOT_ANSWERED;
	return SP_OK;
}

/* Writes the SYN-ACK for the SYN in ctx (IPv4), with the agent's cookie when cfg is given, else
 * the kernel's. Returns SP_OK or SP_NOT_ANSWERED (frame
 * untouched unless the resize succeeded; the caller then leaves it to the stack). */
static __always_inline int sp_answer_syn_v4(struct xdp_md *ctx, const struct sn_pkt *p, const struct rl_cookie_cfg *cfg)
{
	struct sc_parse ps = {};
	struct sc_tcp_buf *t = &ps.t;
	struct iphdr ip;
	if (p->l4_off != p->l3_off + sizeof(struct iphdr))
		return SP_NOT_ANSWERED; /* IP options: left to the stack */
	__u32 th_len = sp_load_tcp(ctx, p, t);
	if (!th_len || th_len > 60)
		return SP_NOT_ANSWERED;
	if (bpf_xdp_load_bytes(ctx, p->l3_off, &ip, sizeof(ip)))
		return SP_NOT_ANSWERED;
	if (cfg) {
		th_len = sp_agent_cookie(ctx, p, &ps, th_len, cfg);
	} else {
		__s64 v = bpf_tcp_raw_gen_syncookie_ipv4(&ip, (struct tcphdr *)t->b, th_len);
		if (v < 0)
			return SP_NOT_ANSWERED;
		sp_kernel_synack(t, th_len, (__u32)v, (__u16)(v >> 32));
	}
	if (th_len < 20 || th_len > 60)
		return SP_NOT_ANSWERED;

	__be32 saddr = ip.saddr;
	ip.saddr = ip.daddr;
	ip.daddr = saddr;
	ip.ttl = SP_TTL;
	ip.id = 0;
	ip.frag_off = bpf_htons(0x4000); /* DF */
	ip.tos = 0;
	ip.tot_len = bpf_htons(sizeof(ip) + th_len);
	ip.check = 0;
	ip.check = sn_csum_ipv4_hdr(&ip);

	__s64 sum = bpf_csum_diff(0, 0, (__be32 *)t->b, th_len, 0);
	if (sum < 0)
		return SP_NOT_ANSWERED;
	((struct tcphdr *)t->b)->check = sn_csum_finish(sn_csum_pseudo_v4(ip.saddr, ip.daddr, IPPROTO_TCP, th_len) + (__u32)sum);

	return sp_emit(ctx, p, &ip, sizeof(ip), t, th_len);
}

/* Same for IPv6. */
static __always_inline int sp_answer_syn_v6(struct xdp_md *ctx, const struct sn_pkt *p, const struct rl_cookie_cfg *cfg)
{
	struct sc_parse ps = {};
	struct sc_tcp_buf *t = &ps.t;
	struct ipv6hdr ip6;
	if (p->l4_off != p->l3_off + sizeof(struct ipv6hdr))
		return SP_NOT_ANSWERED; /* extension headers: left to the stack */
	__u32 th_len = sp_load_tcp(ctx, p, t);
	if (!th_len || th_len > 60)
		return SP_NOT_ANSWERED;
	if (bpf_xdp_load_bytes(ctx, p->l3_off, &ip6, sizeof(ip6)))
		return SP_NOT_ANSWERED;
	if (cfg) {
		th_len = sp_agent_cookie(ctx, p, &ps, th_len, cfg);
	} else {
		__s64 v = bpf_tcp_raw_gen_syncookie_ipv6(&ip6, (struct tcphdr *)t->b, th_len);
		if (v < 0)
			return SP_NOT_ANSWERED;
		sp_kernel_synack(t, th_len, (__u32)v, (__u16)(v >> 32));
	}
	if (th_len < 20 || th_len > 60)
		return SP_NOT_ANSWERED;

	struct in6_addr tmp = ip6.saddr;
	ip6.saddr = ip6.daddr;
	ip6.daddr = tmp;
	ip6.hop_limit = SP_TTL;
	ip6.payload_len = bpf_htons(th_len);
	/* Traffic class and flow label zeroed, as for a fresh reply. */
	ip6.priority = 0;
	ip6.flow_lbl[0] = 0;
	ip6.flow_lbl[1] = 0;
	ip6.flow_lbl[2] = 0;

	__s64 sum = bpf_csum_diff(0, 0, (__be32 *)t->b, th_len, 0);
	if (sum < 0)
		return SP_NOT_ANSWERED;
	((struct tcphdr *)t->b)->check = sn_csum_finish(
		sn_csum_pseudo_v6((const __u32 *)&ip6.saddr, (const __u32 *)&ip6.daddr, IPPROTO_TCP, th_len) + (__u32)sum);

	return sp_emit(ctx, p, &ip6, sizeof(ip6), t, th_len);
}

#define SP_ACK_AGENT 0  /* returns one of the agent's cookies */
#define SP_ACK_KERNEL 1 /* returns a cookie the kernel issued */
#define SP_ACK_INVALID -1

/* Judges a pure ACK addressed to a listener. An agent cookie is tried first when the agent's
 * key is set; the kernel's own cookies are always accepted too (below the threshold SYNs go to
 * the stack, whose listener may answer with its own cookie when its queue overflows). */
static __always_inline int sp_check_ack(struct xdp_md *ctx, const struct sn_pkt *p, const struct rl_cookie_cfg *cfg)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l3 = p->l3_off, l4 = p->l4_off;
	if (l3 > 64 || l4 > 1500)
		return SP_ACK_INVALID;
	struct tcphdr *th = data + l4;
	if ((void *)(th + 1) > data_end)
		return SP_ACK_INVALID;
	if (cfg && sc_key_set(cfg)) {
		struct sc_parse ps = {};
		__u32 th_len = sp_load_tcp(ctx, p, &ps.t);
		if (th_len) {
			struct sc_decoded d;
			ps.th_len = th_len;
			sc_parse_opts(&ps);
			const struct tcphdr *h = (const struct tcphdr *)ps.t.b;
			__u32 ports = ((__u32)h->dest << 16) | h->source;
			if (sc_check(cfg, p, ports, bpf_ntohl(h->seq), bpf_ntohl(h->ack_seq), &ps.o, &d) == 0)
				return SP_ACK_AGENT;
		}
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
		th = data + l4;
		if ((void *)(th + 1) > data_end)
			return SP_ACK_INVALID;
	}
	if (p->family == SN_AF_INET) {
		struct iphdr *iph = data + l3;
		if ((void *)(iph + 1) > data_end)
			return SP_ACK_INVALID;
		return bpf_tcp_raw_check_syncookie_ipv4(iph, th) == 0 ? SP_ACK_KERNEL : SP_ACK_INVALID;
	}
	struct ipv6hdr *ip6 = data + l3;
	if ((void *)(ip6 + 1) > data_end)
		return SP_ACK_INVALID;
	return bpf_tcp_raw_check_syncookie_ipv6(ip6, th) == 0 ? SP_ACK_KERNEL : SP_ACK_INVALID;
}

#endif
