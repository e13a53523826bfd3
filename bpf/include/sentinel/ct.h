/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection tracking contract: the flow table written by tc-conntrack and read by every program
 * that wants flow state (xdp-firewall fast path, NAT, IDS). One LRU entry per flow, keyed by a
 * direction-normalised tuple so both directions of a flow hit the same entry.
 *
 * The table is pinned by name under <pin_root>/maps, so every object that includes this header
 * shares one table (the agent gives all of them the same max_entries). A test program that must
 * not share it defines CT_NO_TABLE before including this header. */
#ifndef SENTINEL_CT_H
#define SENTINEL_CT_H

#include "common.h"
#include "parse.h"

#define CT_DEFAULT_MAX_ENTRIES 262144

/* Endpoint a is the lower one: address bytes in network order compared first, then the port.
 * Addresses network byte order, IPv4 in word 0 (rest zero); ports host byte order; ICMP/ICMPv6
 * echo keeps the echo identifier in both ports. */
struct ct_key {
	__u32 addr_a[4];
	__u32 addr_b[4];
	__u16 port_a;
	__u16 port_b;
	__u8 family; /* SN_AF_INET / SN_AF_INET6 */
	__u8 proto;  /* IPPROTO_TCP / UDP / ICMP / ICMPV6 */
	__u8 _pad[2];
};

/* Per-direction arrays: [0] = from the initiator, [1] = from the responder.
 * Times are bpf_ktime_get_boot_ns(); expires_ns <= now means the entry is dead (treat as absent).
 * fw_pass_gen belongs to xdp-firewall: tc-conntrack zeroes it when it creates an entry and never
 * writes it otherwise. */
struct ct_entry {
	__u64 created_ns;
	__u64 last_seen_ns;
	__u64 expires_ns;
	__u64 packets[2];
	__u64 bytes[2];
	__u32 fw_pass_gen[2];
	__u8 state; /* CT_S_* */
	__u8 flags; /* CT_F_* */
	__u8 _pad[6];
};

#define CT_F_INIT_IS_A 0x01     /* the initiator is endpoint a of the key */
#define CT_F_SEEN_REPLY 0x02    /* the responder has sent at least one valid packet */
#define CT_F_ASSURED 0x04       /* netfilter's ASSURED: TCP answered and acknowledged (see
				 * ct_tcp_assures), UDP still talking both ways 2 s after its
				 * first packet; never ICMP */
#define CT_F_FIN_INIT 0x08      /* TCP: the initiator has sent a FIN */
#define CT_F_FIN_RESP 0x10      /* TCP: the responder has sent a FIN */

/* States. 0 is never stored. TCP follows the netfilter vocabulary; CT_S_NEW is a TCP flow
 * picked up mid-stream (no SYN seen) that has not been answered yet. UDP: unreplied until the
 * responder answers, replied after, assured once it still talks 2 s after its first packet
 * (netfilter's UDP stream rule). New states are appended: the numbers are the agent's contract. */
enum ct_state {
	CT_S_NONE = 0,
	CT_S_NEW = 1,
	CT_S_SYN_SENT = 2,
	CT_S_SYN_RECV = 3,
	CT_S_ESTABLISHED = 4,
	CT_S_FIN_WAIT = 5,
	CT_S_CLOSE_WAIT = 6,
	CT_S_LAST_ACK = 7,
	CT_S_TIME_WAIT = 8,
	CT_S_CLOSE = 9,
	CT_S_UDP_UNREPLIED = 10,
	CT_S_UDP_ASSURED = 11,
	CT_S_ICMP_UNREPLIED = 12,
	CT_S_ICMP_REPLIED = 13,
	CT_S_UDP_REPLIED = 14,
	CT_S_MAX = 15,
};

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

/* Per-state timeout configuration (array map of one element, written by the agent). A zero
 * slot means "use the built-in default" so a program works before the agent has written it. */
struct ct_config {
	__u64 timeout_ns[CT_S_MAX];
};

/* Program-specific counter slots of tc-conntrack (see counters.h). */
#define CT_CNT_NEW (SN_CNT_PROG_0 + 0)          /* flows created */
#define CT_CNT_INVALID (SN_CNT_PROG_0 + 1)      /* packets that fit no valid transition */
#define CT_CNT_TABLE_FULL (SN_CNT_PROG_0 + 2)   /* map update failed (entry not created) */
#define CT_CNT_EXPIRED (SN_CNT_PROG_0 + 3)      /* entries ended by the kernel: dead on touch, a closed
						  * flow replaced by a new SYN, a reset before any reply */
#define CT_CNT_UNTRACKED (SN_CNT_PROG_0 + 4)    /* IP packets of a protocol/type not tracked */
#define CT_CNT_RELATED (SN_CNT_PROG_0 + 5)      /* ICMP errors whose quoted flow is in the table */
#define CT_CNT_SKIPPED_FWD (SN_CNT_PROG_0 + 6)  /* egress of a packet already tracked at ingress */

#endif
