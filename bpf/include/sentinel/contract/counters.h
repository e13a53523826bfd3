/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU, per-interface packet counters: every program owns one map of this shape, keyed by the
 * ifindex the packet was seen on (lib/counters.h declares it); the agent sums CPUs and exports
 * them. Slots beyond the common ones are program specific (see each program's contract).
 *
 * A slot's name is what users see: the agent names each slot after its enum member, without the
 * prefix, in lower case (SN_CNT_EVENTS_LOST_RING_FULL is `events_lost_ring_full` in metrics and
 * status). Renaming a member renames a metric label. */
#ifndef SENTINEL_CONTRACT_COUNTERS_H
#define SENTINEL_CONTRACT_COUNTERS_H

#include <linux/types.h>
#include "btf_export.h"

enum sentinel_counter {
	SN_CNT_SEEN = 0,          /* every packet the program ran on */
	SN_CNT_PASSED = 1,        /* verdict pass (incl. log) */
	SN_CNT_DROPPED = 2,       /* verdict drop */
	SN_CNT_MALFORMED = 3,     /* truncated / invalid headers; verdict documented per program */
	SN_CNT_NON_IP = 4,        /* not IPv4/IPv6 (ARP, LLDP...), passed untouched */
	SN_CNT_EVENTS = 5,        /* ring-buffer records submitted */
	SN_CNT_EVENTS_LOST_RING_FULL = 6,    /* bpf_ringbuf_reserve failed */
	SN_CNT_EVENTS_LOST_BACKPRESSURE = 7, /* skipped: ring above the high-water mark */
	SN_CNT_BYTES_SEEN = 8,    /* bytes of every packet seen */
};

/* The block: program-specific slots run from SN_CNT_PROG_0 to below SN_CNT_MAX. */
enum sentinel_counter_block {
	SN_CNT_PROG_0 = SN_CNT_BYTES_SEEN + 1,
	SN_CNT_MAX = 16,
};

SENTINEL_BTF_EXPORT_ENUM(sentinel_counter);
SENTINEL_BTF_EXPORT_ENUM(sentinel_counter_block);

struct sentinel_counters {
	__u64 v[SN_CNT_MAX];
};

#endif
