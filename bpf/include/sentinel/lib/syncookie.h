/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The agent's own SYN cookies: made in XDP (xdp-ratelimit answers a SYN with them), checked in
 * XDP (a forged ACK dies before the stack sees it) and in TC ingress (tc_syncookie turns a valid
 * ACK into a request socket with bpf_sk_assign_tcp_reqsk, so the listener accepts it with no
 * state kept per SYN, no listener overflow and no host sysctl involved).
 *
 * The cookie is the server's initial sequence number:
 *
 *   bit 31 ............... 8 | 7  6 |  5  |  4   | 3 ... 0
 *        top 24 bits of H    | MSS  | ECN | SACK | client window scale (0xf: none)
 *
 * and when the client offered timestamps, the low 8 bits of our TSval carry the low 8 bits of
 * H, so 32 bits are checked in all. H is SipHash-2-4 under the agent's 128-bit key (rl_cookie_key,
 * random at start) over both addresses, both ports, the client's ISN, the address family, the
 * option byte above and a 68.7 s time slot (CLOCK_MONOTONIC >> 36): the option byte cannot be
 * altered, and a cookie is good for one to two slots, never more.
 *
 * The MSS the client announced is kept as an index into a table of the usual path MSS values
 * (the largest not above what it announced), as the kernel's own cookies do. */
#ifndef SENTINEL_SYNCOOKIE_H
#define SENTINEL_SYNCOOKIE_H

#include "common.h"
#include "parse.h"
#include "siphash.h"
#include "../contract/syncookie.h"

#define SC_SLOT_SHIFT 36
#define SC_NO_WSCALE 0xf
#define SC_MAX_WSCALE 14
#define SC_D_SACK 0x10
#define SC_D_ECN 0x20

/* The MSS table (no static arrays: they would land in a .rodata.cst8 section libbpf 1.1 cannot
 * pair with its BTF). */
static __always_inline __u16 sc_mss_of(__u8 family, __u8 idx)
{
	if (family == SN_AF_INET)
		return idx == 0 ? 536 : idx == 1 ? 1300 : idx == 2 ? 1440 : 1460;
	return idx == 0 ? 1220 : idx == 1 ? 1420 : idx == 2 ? 1440 : 8940;
}

/* What a SYN or an ACK says in its TCP options. */
struct sc_opts {
	__u32 tsval;  /* host order */
	__u32 tsecr;
	__u16 mss;    /* 0: no MSS option */
	__u8 wscale;  /* SC_NO_WSCALE: no window scale option */
	__u8 sack_ok;
	__u8 ts_ok;
	__u8 _pad[3];
};

/* A TCP header copied out of the packet; 64 bytes so every index can be masked in bounds. */
struct sc_tcp_buf {
	__u8 b[64];
};

static __always_inline __u32 sc_be32_at(const struct sc_tcp_buf *t, __u32 i)
{
	return ((__u32)t->b[i & 63] << 24) | ((__u32)t->b[(i + 1) & 63] << 16) | ((__u32)t->b[(i + 2) & 63] << 8) |
	       t->b[(i + 3) & 63];
}

/* A TCP header copied out of the packet and what its options say. The walk runs under
 * bpf_loop so the verifier checks one step, not every path through forty of them. */
struct sc_parse {
	struct sc_tcp_buf t;
	struct sc_opts o;
	__u32 th_len; /* 20..60 */
	__u32 i;      /* walk position */
};

static long sc_parse_step(__u32 n, void *ctx)
{
	struct sc_parse *ps = ctx;
	__u32 i = ps->i;
	__u32 th_len = ps->th_len;
	if (i >= th_len || i >= 60)
		return 1;
	__u8 kind = ps->t.b[i & 63];
	if (kind == 0) /* end of options */
		return 1;
	if (kind == 1) { /* NOP */
		ps->i = i + 1;
		return 0;
	}
	if (i + 1 >= th_len)
		return 1;
	__u8 len = ps->t.b[(i + 1) & 63];
	if (len < 2 || i + len > th_len)
		return 1;
	if (kind == 2 && len == 4) {
		ps->o.mss = ((__u16)ps->t.b[(i + 2) & 63] << 8) | ps->t.b[(i + 3) & 63];
	} else if (kind == 3 && len == 3) {
		__u8 ws = ps->t.b[(i + 2) & 63];
		ps->o.wscale = ws > SC_MAX_WSCALE ? SC_MAX_WSCALE : ws;
	} else if (kind == 4 && len == 2) {
		ps->o.sack_ok = 1;
	} else if (kind == 8 && len == 10) {
		ps->o.ts_ok = 1;
		ps->o.tsval = sc_be32_at(&ps->t, i + 2);
		ps->o.tsecr = sc_be32_at(&ps->t, i + 6);
	}
	ps->i = i + len;
	return 0;
}

/* Parses the options of the header in ps (th_len set). Unknown options are skipped; a malformed
 * length ends the walk (what was read so far stands, as in the kernel). */
static __always_inline void sc_parse_opts(struct sc_parse *ps)
{
	ps->o.mss = 0;
	ps->o.wscale = SC_NO_WSCALE;
	ps->o.sack_ok = 0;
	ps->o.ts_ok = 0;
	ps->o.tsval = 0;
	ps->o.tsecr = 0;
	ps->i = 20;
	bpf_loop(40, sc_parse_step, ps, 0);
}

static __always_inline __u64 sc_slot(void)
{
	return bpf_ktime_get_ns() >> SC_SLOT_SHIFT;
}

/* H over the connection as the client sends it (src = client). Ports in network order as in
 * the packet, isn = the client's initial sequence number. */
static __always_inline __u64 sc_hash(const struct sn_sipkey *key, const struct sn_pkt *p, __u32 ports_n, __u32 isn,
				     __u64 slot, __u8 data)
{
	__u64 m[6];
	m[0] = (__u64)p->src[0] | ((__u64)p->src[1] << 32);
	m[1] = (__u64)p->src[2] | ((__u64)p->src[3] << 32);
	m[2] = (__u64)p->dst[0] | ((__u64)p->dst[1] << 32);
	m[3] = (__u64)p->dst[2] | ((__u64)p->dst[3] << 32);
	m[4] = (__u64)ports_n | ((__u64)isn << 32);
	m[5] = slot | ((__u64)p->family << 48) | ((__u64)data << 56);
	return sn_siphash_words(m, 6, key);
}

static __always_inline int sc_key_set(const struct rl_cookie_cfg *cfg)
{
	return (cfg->key.k0 | cfg->key.k1) != 0;
}

/* The option byte of a cookie for a SYN that offered o, under what this host allows. */
static __always_inline __u8 sc_data(const struct sn_pkt *p, const struct sc_opts *o, const struct rl_cookie_cfg *cfg,
				    int ecn_asked)
{
	__u16 mss = o->mss;
	if (!mss)
		mss = p->family == SN_AF_INET ? 536 : 1220; /* RFC 9293 / RFC 8200 defaults */
	__u8 idx = 0;
	if (mss >= sc_mss_of(p->family, 3))
		idx = 3;
	else if (mss >= sc_mss_of(p->family, 2))
		idx = 2;
	else if (mss >= sc_mss_of(p->family, 1))
		idx = 1;
	__u8 d = idx << 6;
	if (o->wscale != SC_NO_WSCALE && (cfg->allow & SC_ALLOW_WSCALE))
		d |= o->wscale & 0xf;
	else
		d |= SC_NO_WSCALE;
	if (o->sack_ok && (cfg->allow & SC_ALLOW_SACK))
		d |= SC_D_SACK;
	if (ecn_asked && (cfg->allow & SC_ALLOW_ECN))
		d |= SC_D_ECN;
	return d;
}

/* What a valid ACK's cookie says about the connection. */
struct sc_decoded {
	__u16 mss;
	__u8 wscale; /* SC_NO_WSCALE: none */
	__u8 sack_ok;
	__u8 ecn_ok;
	__u8 ts_ok;
};

/* 0 when the ACK (seq, ack_seq in host order; options o) returns a cookie made by
 * sc_hash in this slot or the one before, filling *d; -1 otherwise. */
static __always_inline int sc_check(const struct rl_cookie_cfg *cfg, const struct sn_pkt *p, __u32 ports_n, __u32 seq,
				    __u32 ack_seq, const struct sc_opts *o, struct sc_decoded *d)
{
	if (!sc_key_set(cfg))
		return -1;
	__u32 cookie = ack_seq - 1;
	__u32 isn = seq - 1;
	__u8 data = cookie & 0xff;
	int ts = o->ts_ok && (cfg->allow & SC_ALLOW_TS);
	__u64 slot = sc_slot();
	for (int back = 0; back < 2; back++) {
		__u64 h = sc_hash(&cfg->key, p, ports_n, isn, slot - back, data);
		if ((__u32)(h >> 40) != cookie >> 8)
			continue;
		/* timestamps were offered iff the ACK carries them (a peer that agreed sends them on
		 * every segment); then our TSval's low byte must come back */
		if (ts && (o->tsecr & 0xff) != (__u32)(h & 0xff))
			continue;
		d->mss = sc_mss_of(p->family, (data >> 6) & 3);
		d->wscale = data & 0xf;
		d->sack_ok = !!(data & SC_D_SACK);
		d->ecn_ok = !!(data & SC_D_ECN);
		d->ts_ok = ts;
		return 0;
	}
	return -1;
}

#endif
