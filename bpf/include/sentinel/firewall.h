/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* xdp-firewall: the contract between the kernel program and the agent's firewall engine.
 *
 * Policy is double-buffered. fw_rules holds two generations of FW_MAX_RULES slots each; the
 * agent fills the inactive generation (rules, its fw_gen entry, its LPM sets), then flips the
 * single u32 in fw_active. A packet reads fw_active once, so it is judged by the whole old
 * rule set or the whole new one, never a mix and never an empty one. */
#ifndef SENTINEL_FIREWALL_H
#define SENTINEL_FIREWALL_H

#include "common.h"
#include "event.h"

#define FW_MAX_RULES 4096        /* rules per generation */
#define FW_MAX_RULE_NUMS 8192    /* stable rule numbers (hit counters), both generations */
#define FW_LPM_MAX 262144        /* CIDR set entries per family */

/* Actions (rule action and default policy). */
#define FW_ACT_PASS 0
#define FW_ACT_DROP 1
#define FW_ACT_LOG 2 /* pass and emit an event */

/* fw_rule.match bits: a criterion is checked only when its bit is set. */
#define FW_M_SRC_NET 0x0001   /* src_addr/src_mask */
#define FW_M_DST_NET 0x0002
#define FW_M_SRC_SET 0x0004   /* src address in LPM set src_set */
#define FW_M_DST_SET 0x0008
#define FW_M_PROTO 0x0010
#define FW_M_SRC_PORT 0x0020  /* src_port_lo..hi inclusive */
#define FW_M_DST_PORT 0x0040
#define FW_M_ICMP_TYPE 0x0080
#define FW_M_ICMP_CODE 0x0100
#define FW_M_VLAN 0x0200      /* vlan_id exact; 0 = untagged only */

struct fw_rule {
	__u32 src_addr[4];  /* network byte order, pre-masked; IPv4 in word 0 */
	__u32 src_mask[4];
	__u32 dst_addr[4];
	__u32 dst_mask[4];
	__u32 src_set;      /* LPM set id when FW_M_SRC_SET */
	__u32 dst_set;
	__u32 rule_num;     /* stable number: hit-counter index and event rule id (0 = none) */
	__u16 src_port_lo;  /* host byte order */
	__u16 src_port_hi;
	__u16 dst_port_lo;
	__u16 dst_port_hi;
	__u16 vlan_id;
	__u16 match;        /* FW_M_* */
	__u8 family;        /* SN_AF_ANY / SN_AF_INET / SN_AF_INET6 */
	__u8 proto;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 action;        /* FW_ACT_* */
	__u8 _pad[3];
};

/* Per-generation header: rule count and default policy flip together with the rules. */
struct fw_gen {
	__u32 rule_count;
	__u8 default_action; /* FW_ACT_PASS / FW_ACT_DROP / FW_ACT_LOG */
	__u8 _pad[3];
};

/* CIDR sets: one trie per family, keyed by set id then address, so any number of rules can
 * each own a large block list. prefixlen = 32 (set id) + CIDR prefix length. */
struct fw_lpm_v4_key {
	__u32 prefixlen;
	__u32 set_id;      /* big-endian so it sorts as the leading bits of the key */
	__u8 addr[4];
};

struct fw_lpm_v6_key {
	__u32 prefixlen;
	__u32 set_id;
	__u8 addr[16];
};

struct fw_hit {
	__u64 packets;
	__u64 bytes;
};

/* Why a verdict was reached (event `reason`). */
#define FW_REASON_RULE 1
#define FW_REASON_DEFAULT 2
#define FW_REASON_MALFORMED 3

struct fw_event {
	struct sentinel_event_hdr hdr;
	__u32 src_addr[4];  /* network byte order */
	__u32 dst_addr[4];
	__u32 rule_num;     /* 0 when the default policy decided */
	__u32 ifindex;
	__u16 src_port;     /* host byte order */
	__u16 dst_port;
	__u16 vlan_id;
	__u16 pkt_len;
	__u8 family;
	__u8 proto;
	__u8 action;        /* FW_ACT_* actually applied */
	__u8 reason;        /* FW_REASON_* */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 tcp_flags;
	__u8 vlan_depth;
};

/* Program-specific counter slots (after the common ones in counters.h). */
#define FW_CNT_RULE_HIT (SN_CNT_PROG_0 + 0)      /* a rule matched */
#define FW_CNT_DEFAULT (SN_CNT_PROG_0 + 1)       /* default policy applied */
#define FW_CNT_TAILCALL_MISS (SN_CNT_PROG_0 + 2) /* no next program in the XDP chain */
#define FW_CNT_FRAGMENT (SN_CNT_PROG_0 + 3)      /* IP fragments seen */

/* Slots of the XDP chain reached by tail call after a pass verdict. */
#define FW_TAIL_RATELIMIT 0

#endif
