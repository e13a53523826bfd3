/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* tc-threatintel's contract with the agent: the indicator sets' keys and values, the generation
 * header, the config, the alert record and the counter slots.
 *
 * The sets of one generation are six maps the agent creates and fills (a bloom filter cannot
 * delete, so a refresh builds new ones): per family a bloom filter of every exact address, an
 * exact hash set behind it, and an LPM trie of the networks. They sit in slot g of six
 * ARRAY_OF_MAPS (ti_bloom4, ti_hash4, ti_lpm4, and the v6 three); ti_active says which g
 * packets read, and a refresh flips it only once the other slot is whole. */
#ifndef SENTINEL_CONTRACT_THREATINTEL_H
#define SENTINEL_CONTRACT_THREATINTEL_H

#include <linux/types.h>
#include "btf_export.h"
#include "counters.h"
#include "event.h"

enum ti_action {
	TI_ACT_NONE = 0,
	TI_ACT_ALERT = 1,      /* pass, with an alert */
	TI_ACT_QUARANTINE = 2, /* VLAN tag pushed, redirected to the quarantine interface */
	TI_ACT_DROP = 3,
};

/* Which address of the packet matched (ti_event.side). */
enum ti_side {
	TI_SIDE_SRC = 1,
	TI_SIDE_DST = 2,
};

/* How it matched (ti_event.match). */
enum ti_match {
	TI_MATCH_EXACT = 1, /* bloom hit confirmed by the hash set */
	TI_MATCH_CIDR = 2,  /* longest-prefix match of a network indicator */
};

enum ti_limits {
	TI_GENERATIONS = 2,
};

/* The value of an indicator in the hash sets and tries (8 bytes). */
struct ti_value {
	__u32 ref;       /* the indicator's number in the agent's table of this generation */
	__u8 action;     /* enum ti_action, the feed's threshold already applied */
	__u8 feed;       /* the feed's number in the generation */
	__u8 confidence; /* 0..100 */
	__u8 _pad;
};

struct ti_key6 {
	__u32 addr[4]; /* network byte order */
};

struct ti_lpm4_key {
	__u32 prefixlen;
	__u32 addr; /* network byte order */
};

struct ti_lpm6_key {
	__u32 prefixlen;
	__u32 addr[4];
};

/* One generation's header (ti_gen[g]). */
struct ti_gen {
	__u32 id;      /* the agent's generation number: events name it, so a late event names the
			* indicator of the set it matched, not of a newer one */
	__u32 lpm4;    /* networks in ti_lpm4[g]: 0 skips the trie for IPv4 packets */
	__u32 lpm6;
	__u32 _pad;
};

/* ti_config[0], written by the agent. */
struct ti_config {
	__u32 enabled;            /* 0: every packet passes untouched (counted as seen) */
	__u32 quarantine_ifindex; /* where quarantined packets are redirected (egress); 0: none */
	__u16 quarantine_vlan;    /* the VID pushed on quarantined packets */
	__u16 _pad;
	__u32 _pad2;
};

/* The record of a match (SN_EV_THREATINTEL). The flow fields carry the member names of every
 * packet event (lib/event.h SN_EVENT_FILL_FLOW); rule_num is the indicator's ref. */
struct ti_event {
	struct sentinel_event_hdr hdr;
	__u32 src_addr[4];
	__u32 dst_addr[4];
	__u32 rule_num;  /* ti_value.ref */
	__u32 gen_id;    /* ti_gen.id of the generation that matched */
	__u32 ifindex;
	__u16 src_port;
	__u16 dst_port;
	__u16 vlan_id;
	__u16 pkt_len;
	__u8 family;
	__u8 proto;
	__u8 tcp_flags;
	__u8 action;     /* enum ti_action applied (QUARANTINE that failed is reported as DROP) */
	__u8 feed;
	__u8 confidence;
	__u8 side;       /* enum ti_side */
	__u8 match;      /* enum ti_match */
};

/* Program-specific counter slots of tc-threatintel (see counters.h). */
enum ti_counter {
	TI_CNT_BLOOM_HIT = SN_CNT_PROG_0, /* an address the bloom filter said may be an indicator */
	TI_CNT_BLOOM_FALSE_POSITIVE,      /* ... that the hash set did not confirm: no action */
	TI_CNT_MATCHED,                   /* packets with a confirmed indicator (exact or network) */
	TI_CNT_ALERTED,                   /* matched, action alert */
	TI_CNT_QUARANTINED,               /* matched, tagged and redirected */
	TI_CNT_QUARANTINE_FAILED,         /* quarantine impossible (no interface, push failed): dropped */
	TI_CNT_NO_SET,                    /* enabled but no generation loaded yet: passed */
};

SENTINEL_BTF_EXPORT_ENUM(ti_action);
SENTINEL_BTF_EXPORT_ENUM(ti_side);
SENTINEL_BTF_EXPORT_ENUM(ti_match);
SENTINEL_BTF_EXPORT_ENUM(ti_limits);
SENTINEL_BTF_EXPORT_ENUM(ti_counter);

#endif
