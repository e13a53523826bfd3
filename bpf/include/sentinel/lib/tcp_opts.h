/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A walk over the options of a TCP header copied out of the packet, finding the MSS options
 * (where they sit, what they say) in any order among the others. It runs under bpf_loop, so the
 * verifier checks one step rather than every path through forty of them, and reads only the
 * copy: nothing past the header the caller loaded (which bpf_skb_load_bytes refuses to read past
 * the packet). */
#ifndef SENTINEL_TCP_OPTS_H
#define SENTINEL_TCP_OPTS_H

#include "common.h"

#define SN_TCPOPT_EOL 0
#define SN_TCPOPT_NOP 1
#define SN_TCPOPT_MSS 2

struct sn_tcp_opts {
	__u8 b[64];       /* the TCP header; 64 bytes so every index can be masked in bounds */
	__u32 th_len;     /* header length from the data offset, 20..60 */
	__u32 i;          /* walk position */
	__u32 mss_first;  /* offset of the first MSS option from the header start; 0: none */
	__u32 mss_last;   /* of the last one (receivers differ in which of several they take) */
	__u8 malformed;   /* a length that is too short, runs past the header, or an MSS not 4 long */
	__u8 _pad[3];
};

static long sn_tcp_opts_step(__u32 n, void *ctx)
{
	struct sn_tcp_opts *w = ctx;
	__u32 i = w->i;
	__u32 th_len = w->th_len;
	if (i >= th_len || i >= 60)
		return 1;
	__u8 kind = w->b[i & 63];
	if (kind == SN_TCPOPT_EOL)
		return 1;
	if (kind == SN_TCPOPT_NOP) {
		w->i = i + 1;
		return 0;
	}
	if (i + 1 >= th_len) {
		w->malformed = 1;
		return 1;
	}
	__u8 len = w->b[(i + 1) & 63];
	if (len < 2 || i + len > th_len || (kind == SN_TCPOPT_MSS && len != 4)) {
		w->malformed = 1;
		return 1;
	}
	if (kind == SN_TCPOPT_MSS) {
		if (!w->mss_first)
			w->mss_first = i;
		w->mss_last = i;
	}
	w->i = i + len;
	return 0;
}

/* Walks the options of the header in w->b (w->th_len set). Stops at EOL, at the end of the
 * header, or at the first ill-formed option (what was found before it stands). */
static __always_inline void sn_tcp_opts_walk(struct sn_tcp_opts *w)
{
	w->i = 20;
	w->mss_first = 0;
	w->mss_last = 0;
	w->malformed = 0;
	bpf_loop(40, sn_tcp_opts_step, w, 0);
}

/* The MSS value of the option at offset at (host order). */
static __always_inline __u16 sn_tcp_opts_mss(const struct sn_tcp_opts *w, __u32 at)
{
	return ((__u16)w->b[(at + 2) & 63] << 8) | w->b[(at + 3) & 63];
}

#endif
