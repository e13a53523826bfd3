/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Internet checksum (RFC 1071) helpers for programs that rewrite or forge packets.
 *
 * Every value goes in and comes out exactly as it sits in the packet (network byte order): the
 * one's-complement sum is byte-order independent as long as every 16-bit word is read and
 * written the same way, so words are summed as loaded from memory and the result is stored
 * back with a plain 16-bit store. Sums are carried in a __u64 accumulator and folded once at
 * the end; 32-bit words may be added directly (2^16 == 1 mod 0xffff).
 *
 * Loops are bounded by compile-time constants and every packet read is checked against
 * data_end, so the verifier accepts them inside any program. */
#ifndef SENTINEL_CSUM_H
#define SENTINEL_CSUM_H

#include "common.h"

/* Longest region sn_csum_pkt will sum: an ICMPv6 error quoting up to the 1280-byte minimum MTU. */
#define SN_CSUM_MAX_BYTES 1280
/* Offsets into the packet are masked to this many bits so the verifier sees them bounded. */
#define SN_CSUM_OFF_MASK 0x3fff

/* Folds a 64-bit accumulator to 16 bits (not inverted). */
static __always_inline __u16 sn_csum_fold(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* The checksum field value for an accumulated sum (fold and invert). */
static __always_inline __u16 sn_csum_finish(__u64 sum)
{
	return (__u16)~sn_csum_fold(sum);
}

/* Sums an even-length object of constant size (headers built on the stack). */
static __always_inline __u64 sn_csum_words(const void *buf, __u32 len, __u64 sum)
{
	const __u16 *w = buf;
#pragma unroll
	for (__u32 i = 0; i < len / 2; i++)
		sum += w[i];
	return sum;
}

/* Pseudo-header of TCP/UDP over IPv4 (RFC 9293 §3.1, RFC 768); addresses as in the packet,
 * l4_len in host order. */
static __always_inline __u64 sn_csum_pseudo_v4(__be32 saddr, __be32 daddr, __u8 proto, __u16 l4_len)
{
	__u64 sum = (__u64)saddr + daddr;
	sum += bpf_htons((__u16)proto);
	sum += bpf_htons(l4_len);
	return sum;
}

/* Pseudo-header of TCP/UDP/ICMPv6 over IPv6 (RFC 8200 §8.1); addresses are 4 words as in the
 * packet, l4_len (upper-layer packet length) in host order. */
static __always_inline __u64 sn_csum_pseudo_v6(const __u32 *saddr, const __u32 *daddr, __u8 proto, __u32 l4_len)
{
	__u64 sum = 0;
#pragma unroll
	for (int i = 0; i < 4; i++)
		sum += (__u64)saddr[i] + daddr[i];
	sum += bpf_htonl(l4_len);
	sum += bpf_htonl((__u32)proto);
	return sum;
}

/* Adds len bytes of the packet starting at off to *sum. The region must start at an even
 * distance from the start of the checksummed message (an odd final byte is padded with zero,
 * RFC 1071). Returns 0, or -1 when the region runs past data_end or exceeds SN_CSUM_MAX_BYTES. */
static __always_inline int sn_csum_pkt(void *data, void *data_end, __u32 off, __u32 len, __u64 *sum)
{
	if (len > SN_CSUM_MAX_BYTES)
		return -1;
	__u64 s = *sum;
	__u32 quads = len / 4;
	for (__u32 i = 0; i < SN_CSUM_MAX_BYTES / 4; i++) {
		if (i >= quads)
			break;
		__u32 o = (off + i * 4) & SN_CSUM_OFF_MASK;
		__u32 *w = data + o;
		if ((void *)(w + 1) > data_end)
			return -1;
		s += *w;
	}
	__u32 done = quads * 4;
	if (len - done >= 2) {
		__u16 *h = data + ((off + done) & SN_CSUM_OFF_MASK);
		if ((void *)(h + 1) > data_end)
			return -1;
		s += *h;
		done += 2;
	}
	if (len - done == 1) {
		__u8 *b = data + ((off + done) & SN_CSUM_OFF_MASK);
		if ((void *)(b + 1) > data_end)
			return -1;
		/* The last byte is the high-order byte of a zero-padded word, in memory order. */
		union {
			__u8 b[2];
			__u16 w;
		} pad = { .b = { *b, 0 } };
		s += pad.w;
	}
	*sum = s;
	return 0;
}

/* Checksum of a 20-byte IPv4 header without options built on the stack (check field 0). */
static __always_inline __u16 sn_csum_ipv4_hdr(const struct iphdr *iph)
{
	return sn_csum_finish(sn_csum_words(iph, sizeof(*iph), 0));
}

/* Incremental update (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')) when one 16-bit word of the
 * covered data changes from old to new. check, old and new as in the packet. */
static __always_inline __u16 sn_csum_replace16(__u16 check, __u16 old, __u16 new)
{
	__u64 sum = (__u16)~check;
	sum += (__u16)~old;
	sum += new;
	return sn_csum_finish(sum);
}

/* Same for a 32-bit word (an IPv4 address, one word of an IPv6 address). */
static __always_inline __u16 sn_csum_replace32(__u16 check, __u32 old, __u32 new)
{
	__u64 sum = (__u16)~check;
	sum += (__u32)~old;
	sum += new;
	return sn_csum_finish(sum);
}

/* Same for a 128-bit IPv6 address (4 words as in the packet). */
static __always_inline __u16 sn_csum_replace128(__u16 check, const __u32 *old, const __u32 *new)
{
	__u64 sum = (__u16)~check;
#pragma unroll
	for (int i = 0; i < 4; i++)
		sum += (__u64)(__u32)~old[i] + new[i];
	return sn_csum_finish(sum);
}

#endif
