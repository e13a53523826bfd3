/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU, per-interface packet counters: every program owns one map of this shape, keyed by the
 * ifindex the packet was seen on (lib/counters.h declares it); the agent sums CPUs and exports
 * them. Slots beyond the common ones are program specific (see each program's contract). */
#ifndef SENTINEL_CONTRACT_COUNTERS_H
#define SENTINEL_CONTRACT_COUNTERS_H

#include <linux/types.h>

enum sentinel_counter {
	SN_CNT_SEEN = 0,          /* every packet the program ran on */
	SN_CNT_PASSED = 1,        /* verdict pass (incl. log) */
	SN_CNT_DROPPED = 2,       /* verdict drop */
	SN_CNT_MALFORMED = 3,     /* truncated / invalid headers; verdict documented per program */
	SN_CNT_NON_IP = 4,        /* not IPv4/IPv6 (ARP, LLDP...), passed untouched */
	SN_CNT_EVENTS = 5,        /* ring-buffer records submitted */
	SN_CNT_EVENTS_LOST_FULL = 6,     /* bpf_ringbuf_reserve failed */
	SN_CNT_EVENTS_LOST_BACKPRESSURE = 7, /* skipped: ring above the high-water mark */
	SN_CNT_BYTES_SEEN = 8,    /* bytes of every packet seen */
	SN_CNT_PROG_0 = 9,        /* first program-specific slot */
	SN_CNT_MAX = 16,
};

struct sentinel_counters {
	__u64 v[SN_CNT_MAX];
};

#endif
