/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* NAT contract (tc-nat-ingress and tc-nat-egress, one engine): the rules the agent writes, the
 * translation table both programs share with tc-conntrack, the masquerade addresses and the
 * counter slots.
 *
 * A translated flow has two entries in nat_flows, one per direction, each keyed by the exact
 * tuple a packet of that direction carries where it is translated (netfilter's original and
 * reply tuples): the value says what the tuple becomes, at which hook, and which conntrack entry
 * the flow lives with. A binding is alive while that conntrack entry is (lib/nat.h), so
 * translations expire with their flow; tc-conntrack reads the table to file a translated reply
 * under its flow's entry (lib/nat.h, nat_ct_key_of). */
#ifndef SENTINEL_CONTRACT_NAT_H
#define SENTINEL_CONTRACT_NAT_H

#include <linux/types.h>
#include "counters.h"
#include "conntrack.h"
#include "ids.h"

enum nat_limits {
	NAT_MAX_RULES = 64,            /* rules per policy (both hooks together) */
	NAT_DEFAULT_MAX_FLOWS = 65536, /* nat_flows entries before the agent sets its own */
	NAT_PORT_TRIES = 32,           /* candidate ports tried for one new flow */
	NAT_POLICY_SLOTS = 2,          /* policy generations: the agent writes the idle one, then flips */
	NAT_MAX_IFACES = 256,          /* masquerade address entries */
};

/* What a rule does. SNAT and masquerade translate the source at egress, DNAT the destination at
 * ingress; NPTv6 translates a prefix statelessly (RFC 6296) at both. */
enum nat_kind {
	NAT_K_SNAT = 1,
	NAT_K_MASQUERADE = 2,
	NAT_K_DNAT = 3,
	NAT_K_NPTV6 = 4,
};

enum nat_hook {
	NAT_HOOK_INGRESS = 0,
	NAT_HOOK_EGRESS = 1,
};

enum nat_rule_flag {
	NAT_RF_HAIRPIN_ONLY = 0x01, /* SNAT only packets the NAT has just DNATed (hairpin) */
	NAT_RF_PORT_RANDOM = 0x02,  /* never keep the source port: always allocate from the range */
};

/* One rule. Addresses network byte order (IPv4 in word 0), ports host order. A rule matches when
 * hook, interface (0 any), family, protocol (0 any), the source and destination under their
 * masks and the destination port range (0-0 any) all do; the first match in policy order wins. */
struct nat_rule {
	__u32 src[4];
	__u32 src_mask[4];
	__u32 dst[4];
	__u32 dst_mask[4];
	__u32 to_addr[4];   /* first address of the pool (SNAT, DNAT); the external prefix (NPTv6) */
	__u32 ifindex;      /* 0 = any interface */
	__u32 rule_id;      /* the agent's stable id of the rule (metrics, listing, reload) */
	__u32 pool_size;    /* addresses from to_addr (>= 1) for SNAT/DNAT; 0 for masquerade */
	__u16 dport_lo;     /* match: destination ports, 0-0 = any */
	__u16 dport_hi;
	__u16 to_port_lo;   /* DNAT: dport_lo maps here, the range shifted; 0 = keep the port.
			     * SNAT/masquerade: allocation range; 0-0 = 1024-65535 */
	__u16 to_port_hi;
	__u8 family;        /* SN_AF_INET / SN_AF_INET6 */
	__u8 proto;         /* 0 any, TCP, UDP, ICMP, ICMPv6 */
	__u8 kind;          /* NAT_K_* */
	__u8 hook;          /* NAT_HOOK_* */
	__u8 flags;         /* NAT_RF_* */
	__u8 prefix_len;    /* NPTv6: prefix length (bits, <= 64) */
	__u8 _pad[2];
};

struct nat_policy {
	__u32 count;
	__u32 generation;
	struct nat_rule rules[NAT_MAX_RULES];
};

/* Which nat_policy slot is live (array of one): the agent writes the other slot whole, then this. */
struct nat_active {
	__u32 slot;
	__u32 _pad;
};

/* A direction of a flow as a packet carries it: exact, not normalised. ICMP echo keeps its
 * identifier in both ports. */
struct nat_tuple {
	__u32 src[4];
	__u32 dst[4];
	__u16 sport;
	__u16 dport;
	__u8 family;
	__u8 proto;
	__u8 _pad[2];
};

enum nat_flow_flag {
	NAT_FF_REPLY = 0x01, /* this direction is the flow's reply direction */
};

/* What a tuple becomes (to), where (hook; ifindex 0 = any interface of the hook), the conntrack
 * entry of its flow and the rule that made it. */
struct nat_flow {
	struct nat_tuple to;
	struct ct_key ct;
	__u64 created_ns;
	__u32 ifindex;
	__u32 rule_id;
	__u8 hook;
	__u8 flags;     /* NAT_FF_* */
	__u8 kind;      /* NAT_K_* of the rule */
	__u8 _pad[5];
};

/* Masquerade: the addresses of an interface (key ifindex), kept by the agent as they change. */
struct nat_ifaddr {
	__u32 v4;
	__u32 v6[4];
	__u8 has_v4;
	__u8 has_v6;
	__u8 _pad[2];
};

/* Program-specific counter slots of tc-nat-ingress and tc-nat-egress (see counters.h). */
enum nat_counter {
	NAT_CNT_NEW_BINDINGS = SN_CNT_PROG_0, /* flows given a translation */
	NAT_CNT_TRANSLATED = SN_CNT_PROG_0 + 1,   /* packets rewritten (either direction) */
	NAT_CNT_ICMP_ERRORS = SN_CNT_PROG_0 + 2,  /* ICMP errors rewritten, their quote included */
	NAT_CNT_PORT_EXHAUSTED = SN_CNT_PROG_0 + 3, /* new flow refused: no free port in the range */
	NAT_CNT_TABLE_FULL = SN_CNT_PROG_0 + 4,   /* new flow refused: nat_flows full */
	NAT_CNT_NO_ADDRESS = SN_CNT_PROG_0 + 5,   /* masquerade refused: the interface has no address */
	NAT_CNT_UNTRANSLATABLE = SN_CNT_PROG_0 + 6, /* matched a rule but cannot be rewritten (a later
						     * fragment, a rewrite helper failed): dropped */
};

SENTINEL_BTF_EXPORT_ENUM(nat_limits);
SENTINEL_BTF_EXPORT_ENUM(nat_kind);
SENTINEL_BTF_EXPORT_ENUM(nat_hook);
SENTINEL_BTF_EXPORT_ENUM(nat_rule_flag);
SENTINEL_BTF_EXPORT_ENUM(nat_flow_flag);
SENTINEL_BTF_EXPORT_ENUM(nat_counter);

#endif
