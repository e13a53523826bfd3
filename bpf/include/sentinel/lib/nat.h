/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The NAT translation table (contract/nat.h) as every object that reads it sees it: the NAT
 * programs and tc-conntrack. Pinned by name, so the objects share one table (the agent gives all
 * of them the same max_entries, nat.max_flows). A test program that must not share it defines
 * NAT_NO_TABLE before including this header. */
#ifndef SENTINEL_NAT_H
#define SENTINEL_NAT_H

#include "common.h"
#include "parse.h"
#include "ct.h"
#include "../contract/nat.h"

#ifndef NAT_NO_TABLE
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NAT_DEFAULT_MAX_FLOWS);
	__type(key, struct nat_tuple);
	__type(value, struct nat_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nat_flows SEC(".maps");
#endif

/* The packet's tuple, exact (src stays src). -1 when the packet has no tuple the NAT knows:
 * not TCP/UDP/ICMP(v6) echo, or a later fragment. */
static __always_inline int nat_tuple_of(const struct sn_pkt *p, struct nat_tuple *t)
{
	if ((p->flags & SN_PKT_F_LATER_FRAG) || p->l4_off == 0)
		return -1;
	__builtin_memset(t, 0, sizeof(*t));
	t->family = p->family;
	t->proto = p->proto;
	__builtin_memcpy(t->src, p->src, 16);
	__builtin_memcpy(t->dst, p->dst, 16);
	if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) {
		t->sport = p->sport;
		t->dport = p->dport;
		return 0;
	}
	if (((p->proto == IPPROTO_ICMP && p->family == SN_AF_INET) ||
	     (p->proto == IPPROTO_ICMPV6 && p->family == SN_AF_INET6)) &&
	    ct_icmp_is_echo(p->proto, p->icmp_type)) {
		t->sport = p->icmp_id;
		t->dport = p->icmp_id;
		return 0;
	}
	return -1;
}

/* The tuple of the other direction of the same flow. */
static __always_inline void nat_tuple_reverse(const struct nat_tuple *t, struct nat_tuple *r)
{
	__builtin_memset(r, 0, sizeof(*r));
	r->family = t->family;
	r->proto = t->proto;
	__builtin_memcpy(r->src, t->dst, 16);
	__builtin_memcpy(r->dst, t->src, 16);
	r->sport = t->dport;
	r->dport = t->sport;
}

#ifndef NAT_NO_TABLE
/* For tc-conntrack: when the packet is a direction of a translated flow, its flow's conntrack
 * key (the one the flow's first packet made) replaces the key of what the packet carries here,
 * and *dir says who sent it (0 initiator, 1 responder). 0 when it is, -1 when the packet is not
 * of a translated flow. Without this a reply translated back after conntrack ran would be filed
 * under its outside tuple, as a flow of its own. */
static __always_inline int nat_ct_key_of(const struct sn_pkt *p, struct ct_key *k, int *dir)
{
	struct nat_tuple t;
	if (nat_tuple_of(p, &t))
		return -1;
	struct nat_flow *f = bpf_map_lookup_elem(&nat_flows, &t);
	if (!f)
		return -1;
	__builtin_memcpy(k, &f->ct, sizeof(*k));
	*dir = (f->flags & NAT_FF_REPLY) ? 1 : 0;
	return 0;
}
#endif

#endif
