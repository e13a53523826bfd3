/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* tc-scrub contract: the profiles the agent writes (what to normalise, per interface and per
 * network), the per-interface action counters it reads, and tc-scrub's counter slots.
 *
 * A packet's profile is, first match: the network entry of its interface holding its source
 * address, the one holding its destination address (longest prefix each), the interface's own
 * profile. An interface without an entry in scrub_ifaces is not scrubbed at all. */
#ifndef SENTINEL_CONTRACT_SCRUB_H
#define SENTINEL_CONTRACT_SCRUB_H

#include <linux/types.h>
#include "counters.h"

/* What a profile does (scrub_profile.flags). */
enum scrub_flag {
	SCRUB_F_MIN_TTL = 0x0001,       /* IPv4 TTL raised to min_ttl */
	SCRUB_F_MIN_HOP_LIMIT = 0x0002, /* IPv6 hop limit raised to min_hop_limit */
	SCRUB_F_MAX_MSS = 0x0004,       /* MSS option of SYN and SYN-ACK clamped to max_mss */
	SCRUB_F_CLEAR_DF = 0x0008,      /* IPv4 don't-fragment bit cleared */
	SCRUB_F_RANDOM_IP_ID = 0x0010,  /* IPv4 identification replaced (non-fragments only) */
	SCRUB_F_TOS = 0x0020,           /* TOS / traffic class: (old & ~tos_mask) | tos_value */
	SCRUB_F_FLAGS_REPAIR = 0x0040,  /* impossible TCP flags repaired where they can be, else dropped */
	SCRUB_F_FLAGS_DROP = 0x0080,    /* impossible TCP flags dropped */
	/* scrub_ifaces entries only: the interface has network entries of that family, so the
	 * network tries are looked up (no lookup for an interface without any) */
	SCRUB_F_NETS_V4 = 0x4000,
	SCRUB_F_NETS_V6 = 0x8000,
};

/* The TCP reserved bits checked and cleared: the low nibble of byte 12 except bit 0, which
 * RFC 9768 (AccECN) assigns as AE (formerly NS); clearing it would break AccECN. */
enum scrub_tcp_bits {
	SCRUB_TCP_RESERVED_MASK = 0x0e,
};

struct scrub_profile {
	__u32 flags;     /* SCRUB_F_* */
	__u16 max_mss;   /* host order */
	__u8 min_ttl;
	__u8 min_hop_limit;
	__u8 tos_mask;   /* bits of the TOS / traffic-class byte replaced: 0xfc DSCP, 0x03 ECN */
	__u8 tos_value;
	__u8 _pad[2];
};

/* Network entries (LPM tries): the interface in the first 32 bits, so prefixlen = 32 + the
 * network's length; ifindex host order, address as in the packet. */
struct scrub_net_v4 {
	__u32 prefixlen;
	__u32 ifindex;
	__u8 addr[4];
};

struct scrub_net_v6 {
	__u32 prefixlen;
	__u32 ifindex;
	__u8 addr[16];
};

/* Per-interface action counters (scrub_actions, per CPU, keyed by ifindex): one slot per
 * action, named after the member without its prefix (SCRUB_A_MSS_CLAMPED is `mss_clamped`). The
 * flag classes count packets found with that combination whatever was done with them;
 * flags_repaired / flags_dropped say what was. */
enum scrub_action {
	SCRUB_A_TTL_RAISED = 0,
	SCRUB_A_HOP_LIMIT_RAISED,
	SCRUB_A_MSS_CLAMPED,
	SCRUB_A_DF_CLEARED,
	SCRUB_A_IP_ID_RANDOMIZED,
	SCRUB_A_TOS_REWRITTEN,
	SCRUB_A_SYN_FIN,
	SCRUB_A_SYN_RST,
	SCRUB_A_FIN_NO_ACK,
	SCRUB_A_NULL_FLAGS,
	SCRUB_A_XMAS,
	SCRUB_A_RESERVED_BITS,
	SCRUB_A_FLAGS_REPAIRED,
	SCRUB_A_FLAGS_DROPPED,
};

enum scrub_action_count {
	SCRUB_A_MAX = SCRUB_A_FLAGS_DROPPED + 1,
};

struct scrub_action_counters {
	__u64 v[SCRUB_A_MAX];
};

/* Program-specific counter slots of tc-scrub (see counters.h). */
enum scrub_counter {
	SCRUB_CNT_UNCONFIGURED = SN_CNT_PROG_0, /* IP packets no profile applies to */
	SCRUB_CNT_REWRITTEN,        /* packets changed by at least one action */
	SCRUB_CNT_OPTIONS_MALFORMED, /* TCP options unreadable or ill-formed: MSS left alone */
	SCRUB_CNT_HELPER_FAILED,    /* a packet store or checksum helper failed: dropped, never
				     * sent on with a checksum that may be wrong */
};

SENTINEL_BTF_EXPORT_ENUM(scrub_flag);
SENTINEL_BTF_EXPORT_ENUM(scrub_tcp_bits);
SENTINEL_BTF_EXPORT_ENUM(scrub_action);
SENTINEL_BTF_EXPORT_ENUM(scrub_action_count);
SENTINEL_BTF_EXPORT_ENUM(scrub_counter);

#endif
