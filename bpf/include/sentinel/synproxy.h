/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* SYN cookies answered from XDP for the host's own listeners.
 *
 * A pure SYN to a local listening socket is turned, in place, into the SYN-ACK the kernel
 * would send with a cookie: MACs, addresses and ports swapped, seq = cookie from
 * bpf_tcp_raw_gen_syncookie_ipv4/6, ack = seq + 1, one MSS option (value from the helper) and
 * NOP padding so the TCP header keeps its length, payload trimmed, checksums recomputed, and
 * the frame goes back out with XDP_TX. Nothing is stored per SYN. The returning ACK is checked
 * with bpf_tcp_raw_check_syncookie_ipv4/6 only when it is addressed to a listener (an ACK of an
 * established connection finds its own socket first): valid ones go up to the stack, which
 * accepts them because the agent sets net.ipv4.tcp_syncookies=2 (the cookie secret is the
 * local kernel's); invalid ones are dropped.
 *
 * Every offset comes from the parser (VLAN tags included). Headers are copied to the stack
 * before the helpers see them, so the verifier sees fixed-size, bounded memory.
 * Checksum helpers live here because bpf/include/sentinel/csum.h did not exist yet. */
#ifndef SENTINEL_SYNPROXY_H
#define SENTINEL_SYNPROXY_H

#include "common.h"
#include "parse.h"

#define SP_TCP_LISTEN 10 /* BPF_TCP_LISTEN */
#define SP_TTL 64
#define SP_WINDOW 65535

#define SP_OK 0
#define SP_NOT_ANSWERED 1 /* left to the stack (options we do not handle, no listener, helper error) */

/* Result of looking up the socket a TCP segment is addressed to. */
#define SP_SK_NONE 0
#define SP_SK_LISTEN 1
#define SP_SK_OTHER 2 /* established, time-wait, request socket... */

static __always_inline __u16 sp_fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

static __always_inline int sp_socket_kind(struct xdp_md *ctx, const struct sn_pkt *p, __be16 sport, __be16 dport)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	if (p->family == SN_AF_INET) {
		t.ipv4.saddr = p->src[0];
		t.ipv4.daddr = p->dst[0];
		t.ipv4.sport = sport;
		t.ipv4.dport = dport;
		sk = bpf_skc_lookup_tcp(ctx, &t, sizeof(t.ipv4), (__u64)(__s64)-1, 0);
	} else {
		__builtin_memcpy(t.ipv6.saddr, p->src, 16);
		__builtin_memcpy(t.ipv6.daddr, p->dst, 16);
		t.ipv6.sport = sport;
		t.ipv6.dport = dport;
		sk = bpf_skc_lookup_tcp(ctx, &t, sizeof(t.ipv6), (__u64)(__s64)-1, 0);
	}
	if (!sk)
		return SP_SK_NONE;
	int kind = sk->state == SP_TCP_LISTEN ? SP_SK_LISTEN : SP_SK_OTHER;
	bpf_sk_release(sk);
	return kind;
}

struct sp_tcp_buf {
	__u8 b[60];
};

/* Builds the SYN-ACK TCP header in *th from the SYN's header in the same buffer. */
static __always_inline void sp_make_synack(struct sp_tcp_buf *buf, __u32 th_len, __u32 cookie, __u16 mss)
{
	struct tcphdr *th = (struct tcphdr *)buf->b;
	__be16 sport = th->source;
	th->source = th->dest;
	th->dest = sport;
	th->ack_seq = bpf_htonl(bpf_ntohl(th->seq) + 1);
	th->seq = bpf_htonl(cookie);
	/* byte 13: flags; byte 12 keeps doff */
	buf->b[12] &= 0xf0;
	buf->b[13] = 0x12; /* SYN | ACK */
	th->window = bpf_htons(SP_WINDOW);
	th->check = 0;
	th->urg_ptr = 0;
#pragma unroll
	for (int i = 20; i < 60; i++)
		buf->b[i] = 1; /* NOP */
	if (th_len >= 24) {
		buf->b[20] = 2;
		buf->b[21] = 4;
		buf->b[22] = mss >> 8;
		buf->b[23] = mss & 0xff;
	}
}

/* Trims the frame to headers only; returns 0 on success. Offsets stay valid. */
static __always_inline int sp_trim(struct xdp_md *ctx, __u32 new_len)
{
	__u32 cur = ctx->data_end - ctx->data;
	if (cur > new_len)
		return bpf_xdp_adjust_tail(ctx, -(int)(cur - new_len));
	return cur == new_len ? 0 : -1;
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

/* Loads the TCP header (doff * 4 bytes) into buf; returns its length or 0. */
static __always_inline __u32 sp_load_tcp(struct xdp_md *ctx, const struct sn_pkt *p, struct sp_tcp_buf *buf)
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
	if (bpf_xdp_load_bytes(ctx, off, buf->b, th_len))
		return 0;
	return th_len;
}

static __always_inline int sp_answer_syn_v4(struct xdp_md *ctx, const struct sn_pkt *p)
{
	struct sp_tcp_buf buf = {};
	struct iphdr ip;
	if (p->l4_off != p->l3_off + sizeof(struct iphdr))
		return SP_NOT_ANSWERED; /* IP options: left to the stack */
	__u32 th_len = sp_load_tcp(ctx, p, &buf);
	if (!th_len || th_len > 60)
		return SP_NOT_ANSWERED;
	if (bpf_xdp_load_bytes(ctx, p->l3_off, &ip, sizeof(ip)))
		return SP_NOT_ANSWERED;
	__s64 v = bpf_tcp_raw_gen_syncookie_ipv4(&ip, (struct tcphdr *)buf.b, th_len);
	if (v < 0)
		return SP_NOT_ANSWERED;
	sp_make_synack(&buf, th_len, (__u32)v, (__u16)(v >> 32));

	__be32 saddr = ip.saddr;
	ip.saddr = ip.daddr;
	ip.daddr = saddr;
	ip.ttl = SP_TTL;
	ip.id = 0;
	ip.frag_off = bpf_htons(0x4000); /* DF */
	ip.tos = 0;
	ip.tot_len = bpf_htons(sizeof(ip) + th_len);
	ip.check = 0;
	ip.check = sp_fold(bpf_csum_diff(0, 0, (__be32 *)&ip, sizeof(ip), 0));

	struct {
		__be32 s, d;
		__u8 zero, proto;
		__be16 len;
	} ph = { ip.saddr, ip.daddr, 0, IPPROTO_TCP, bpf_htons(th_len) };
	__s64 sum = bpf_csum_diff(0, 0, (__be32 *)&ph, sizeof(ph), 0);
	sum = bpf_csum_diff(0, 0, (__be32 *)buf.b, th_len, (__u32)sum);
	((struct tcphdr *)buf.b)->check = sp_fold((__u64)(__u32)sum);

	if (sp_trim(ctx, p->l4_off + th_len))
		return SP_NOT_ANSWERED;
	if (bpf_xdp_store_bytes(ctx, p->l3_off, &ip, sizeof(ip)) || bpf_xdp_store_bytes(ctx, p->l4_off, buf.b, th_len))
		return SP_NOT_ANSWERED;
	if (sp_swap_macs(ctx))
		return SP_NOT_ANSWERED;
	return SP_OK;
}

static __always_inline int sp_answer_syn_v6(struct xdp_md *ctx, const struct sn_pkt *p)
{
	struct sp_tcp_buf buf = {};
	struct ipv6hdr ip6;
	if (p->l4_off != p->l3_off + sizeof(struct ipv6hdr))
		return SP_NOT_ANSWERED; /* extension headers: left to the stack */
	__u32 th_len = sp_load_tcp(ctx, p, &buf);
	if (!th_len || th_len > 60)
		return SP_NOT_ANSWERED;
	if (bpf_xdp_load_bytes(ctx, p->l3_off, &ip6, sizeof(ip6)))
		return SP_NOT_ANSWERED;
	__s64 v = bpf_tcp_raw_gen_syncookie_ipv6(&ip6, (struct tcphdr *)buf.b, th_len);
	if (v < 0)
		return SP_NOT_ANSWERED;
	sp_make_synack(&buf, th_len, (__u32)v, (__u16)(v >> 32));

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

	struct {
		struct in6_addr s, d;
		__be32 len;
		__u8 zero[3];
		__u8 nh;
	} ph = { .s = ip6.saddr, .d = ip6.daddr, .len = bpf_htonl(th_len), .nh = IPPROTO_TCP };
	__s64 sum = bpf_csum_diff(0, 0, (__be32 *)&ph, sizeof(ph), 0);
	sum = bpf_csum_diff(0, 0, (__be32 *)buf.b, th_len, (__u32)sum);
	((struct tcphdr *)buf.b)->check = sp_fold((__u64)(__u32)sum);

	if (sp_trim(ctx, p->l4_off + th_len))
		return SP_NOT_ANSWERED;
	if (bpf_xdp_store_bytes(ctx, p->l3_off, &ip6, sizeof(ip6)) || bpf_xdp_store_bytes(ctx, p->l4_off, buf.b, th_len))
		return SP_NOT_ANSWERED;
	if (sp_swap_macs(ctx))
		return SP_NOT_ANSWERED;
	return SP_OK;
}

/* 0 when the ACK carries a cookie this kernel issued, negative otherwise. */
static __always_inline long sp_check_cookie(struct xdp_md *ctx, const struct sn_pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l3 = p->l3_off, l4 = p->l4_off;
	if (l3 > 64 || l4 > 1500)
		return -1;
	struct tcphdr *th = data + l4;
	if ((void *)(th + 1) > data_end)
		return -1;
	if (p->family == SN_AF_INET) {
		struct iphdr *iph = data + l3;
		if ((void *)(iph + 1) > data_end)
			return -1;
		return bpf_tcp_raw_check_syncookie_ipv4(iph, th);
	}
	struct ipv6hdr *ip6 = data + l3;
	if ((void *)(ip6 + 1) > data_end)
		return -1;
	return bpf_tcp_raw_check_syncookie_ipv6(ip6, th);
}

#endif
