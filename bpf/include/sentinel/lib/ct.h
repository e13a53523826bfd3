/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection tracking for programs: the flow table (its key and entry: contract/conntrack.h) and
 * how a packet's key is built, normalised so both directions of a flow hit the same entry.
 *
 * The table is pinned by name under <pin_root>/maps, so every object that includes this header
 * shares one table (the agent gives all of them the same max_entries). A test program that must
 * not share it defines CT_NO_TABLE before including this header. */
#ifndef SENTINEL_CT_H
#define SENTINEL_CT_H

#include "common.h"
#include "parse.h"
#include "../contract/conntrack.h"

#ifndef CT_NO_TABLE
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CT_DEFAULT_MAX_ENTRIES);
	__type(key, struct ct_key);
	__type(value, struct ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct_table SEC(".maps");
#endif

/* An entry is live while its deadline is in the future; lookups treat dead entries as absent. */
static __always_inline int ct_entry_live(const struct ct_entry *e, __u64 now)
{
	return e->expires_ns > now;
}

#ifndef CT_NO_TABLE
/* The live entry for k, or NULL when there is none or it is dead (a dead entry is left for
 * tc-conntrack to replace on touch or for the agent's sweep: readers never delete). */
static __always_inline struct ct_entry *ct_lookup_live(const struct ct_key *k, __u64 now)
{
	struct ct_entry *e = bpf_map_lookup_elem(&ct_table, k);
	if (e && !ct_entry_live(e, now))
		return 0;
	return e;
}
#endif

/* < 0 when endpoint (a1,pa) sorts before (a2,pb), 0 equal, > 0 after. Bytes in network order:
 * comparing the host-order value of each word compares the bytes lexicographically. */
static __always_inline int ct_endpoint_cmp(const __u32 *a1, __u16 p1, const __u32 *a2, __u16 p2)
{
#pragma unroll
	for (int i = 0; i < 4; i++) {
		__u32 x = bpf_ntohl(a1[i]), y = bpf_ntohl(a2[i]);
		if (x != y)
			return x < y ? -1 : 1;
	}
	if (p1 != p2)
		return p1 < p2 ? -1 : 1;
	return 0;
}

/* Fills k from a normalised (src, sport, dst, dport); returns the packet's direction w.r.t. the
 * key: 0 = a→b, 1 = b→a. */
static __always_inline int ct_key_fill(struct ct_key *k, __u8 family, __u8 proto, const __u32 *src,
				       __u16 sport, const __u32 *dst, __u16 dport)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->family = family;
	k->proto = proto;
	if (ct_endpoint_cmp(src, sport, dst, dport) <= 0) {
		__builtin_memcpy(k->addr_a, src, 16);
		__builtin_memcpy(k->addr_b, dst, 16);
		k->port_a = sport;
		k->port_b = dport;
		return 0;
	}
	__builtin_memcpy(k->addr_a, dst, 16);
	__builtin_memcpy(k->addr_b, src, 16);
	k->port_a = dport;
	k->port_b = sport;
	return 1;
}

static __always_inline int ct_icmp_is_echo(__u8 proto, __u8 type)
{
	if (proto == IPPROTO_ICMP)
		return type == 8 || type == 0; /* echo request / reply */
	if (proto == IPPROTO_ICMPV6)
		return type == 128 || type == 129;
	return 0;
}

static __always_inline int ct_icmp_is_echo_request(__u8 proto, __u8 type)
{
	return (proto == IPPROTO_ICMP && type == 8) || (proto == IPPROTO_ICMPV6 && type == 128);
}

/* Error messages that quote the packet which caused them: destination unreachable, packet too
 * big (v6), time exceeded, parameter problem. */
static __always_inline int ct_icmp_is_error(__u8 proto, __u8 type)
{
	if (proto == IPPROTO_ICMP)
		return type == 3 || type == 11 || type == 12;
	if (proto == IPPROTO_ICMPV6)
		return type >= 1 && type <= 4;
	return 0;
}

/* Key of the packet's flow. Returns its direction (0 = a→b, 1 = b→a), or -1 when the packet is
 * not tracked: protocol other than TCP/UDP/ICMP(v6) echo, non-first fragment (no L4 header).
 * ICMP errors return -1 here: ct_key_of_icmp_error gives the flow they relate to. */
static __always_inline int ct_key_of(const struct sn_pkt *p, struct ct_key *k)
{
	if ((p->flags & SN_PKT_F_LATER_FRAG) || p->l4_off == 0)
		return -1;
	if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP)
		return ct_key_fill(k, p->family, p->proto, p->src, p->sport, p->dst, p->dport);
	if (((p->proto == IPPROTO_ICMP && p->family == SN_AF_INET) ||
	     (p->proto == IPPROTO_ICMPV6 && p->family == SN_AF_INET6)) &&
	    ct_icmp_is_echo(p->proto, p->icmp_type))
		return ct_key_fill(k, p->family, p->proto, p->src, p->icmp_id, p->dst, p->icmp_id);
	return -1;
}

/* Key of the flow quoted inside an ICMP/ICMPv6 error message (the quoted packet is the one the
 * flow sent; its L4 header's first 8 bytes are always quoted). 0 on success, -1 when the packet
 * is not an error or the quote is truncated or not a tracked protocol. */
static __always_inline int ct_key_of_icmp_error(const void *data, const void *data_end,
						const struct sn_pkt *p, struct ct_key *k)
{
	if (!ct_icmp_is_error(p->proto, p->icmp_type) || (p->flags & SN_PKT_F_LATER_FRAG))
		return -1;
	__u32 off = p->l4_off;
	if (off == 0 || off > 2048)
		return -1;
	off += 8; /* ICMP header */
	__u32 src[4] = {}, dst[4] = {};
	__u8 proto;
	__u32 l4;
	if (p->family == SN_AF_INET) {
		const struct iphdr *iph = data + off;
		if ((const void *)(iph + 1) > data_end)
			return -1;
		if (iph->version != 4 || iph->ihl < 5)
			return -1;
		if (bpf_ntohs(iph->frag_off) & 0x1fff)
			return -1; /* quoted a later fragment: no ports */
		proto = iph->protocol;
		src[0] = iph->saddr;
		dst[0] = iph->daddr;
		l4 = off + iph->ihl * 4;
	} else {
		const struct ipv6hdr *ip6 = data + off;
		if ((const void *)(ip6 + 1) > data_end)
			return -1;
		proto = ip6->nexthdr; /* quoted extension headers are not walked */
		__builtin_memcpy(src, &ip6->saddr, 16);
		__builtin_memcpy(dst, &ip6->daddr, 16);
		l4 = off + sizeof(*ip6);
	}
	if (l4 > 4096)
		return -1;
	const __u8 *q = data + l4;
	if ((const void *)(q + 8) > data_end)
		return -1;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		__u16 sport = ((__u16)q[0] << 8) | q[1];
		__u16 dport = ((__u16)q[2] << 8) | q[3];
		ct_key_fill(k, p->family, proto, src, sport, dst, dport);
		return 0;
	}
	if ((proto == IPPROTO_ICMP && p->family == SN_AF_INET) ||
	    (proto == IPPROTO_ICMPV6 && p->family == SN_AF_INET6)) {
		if (!ct_icmp_is_echo(proto, q[0]))
			return -1;
		__u16 id = ((__u16)q[4] << 8) | q[5];
		ct_key_fill(k, p->family, proto, src, id, dst, id);
		return 0;
	}
	return -1;
}

#endif
