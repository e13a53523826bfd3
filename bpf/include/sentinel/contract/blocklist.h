/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The dynamic block list's contract: what the agent's block-list service writes (one entry per
 * address or network and scope, with its id) and what xdp-firewall counts in it. lib/blocklist.h
 * declares the maps and the lookup.
 *
 * One LPM trie per family. The key leads with the scope (source or destination) as 32 bits, so
 * one trie holds both scopes without a destination entry hiding a wider source entry from the
 * longest-prefix match: prefixlen = 32 + CIDR prefix length. */
#ifndef SENTINEL_CONTRACT_BLOCKLIST_H
#define SENTINEL_CONTRACT_BLOCKLIST_H

#include <linux/types.h>
#include "btf_export.h"

enum bl_limits {
	BL_MAX_ENTRIES = 1 << 20, /* per family; the agent's own bound (blocklist.max_entries) is lower */
	BL_SCOPE_BITS = 32,       /* the scope's share of prefixlen */
};

/* bl_*_key.scope, big-endian in the key so it sorts as its leading bits */
enum bl_scope {
	BL_SCOPE_SRC = 1,
	BL_SCOPE_DST = 2,
};

SENTINEL_BTF_EXPORT_ENUM(bl_limits);
SENTINEL_BTF_EXPORT_ENUM(bl_scope);

struct bl_v4_key {
	__u32 prefixlen; /* BL_SCOPE_BITS + CIDR prefix */
	__u32 scope;     /* enum bl_scope, network byte order */
	__u8 addr[4];
};

struct bl_v6_key {
	__u32 prefixlen;
	__u32 scope;
	__u8 addr[16];
};

/* Written once by the agent when the entry is inserted; only packets is changed afterwards (by
 * the kernel). */
struct bl_value {
	__u64 packets; /* packets dropped by this entry, all CPUs (one atomic add per blocked packet) */
	__u32 id;      /* the agent's entry id: event rule_num, resolved to reason and owners */
	__u32 _pad;
};

struct bl_config {
	__u32 dst_entries[2]; /* destination-scope entries per family ([0] IPv4, [1] IPv6): 0 = skip the lookup */
	__u32 sample_every;   /* an event for the 1st, (n+1)th, (2n+1)th... drop of each entry; 0 or 1 = every drop */
	__u16 src_any[2];     /* 1 while the family holds source-scope entries, 0 = skip the source lookup */
};

#endif
