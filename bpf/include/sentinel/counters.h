/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU, per-interface packet counters. Every program owns one map of this shape, keyed by
 * the ifindex the packet was seen on; the agent sums CPUs and exports them. Slots beyond the
 * common ones are program specific (see each program's header). */
#ifndef SENTINEL_COUNTERS_H
#define SENTINEL_COUNTERS_H

#include "common.h"

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

#define SENTINEL_COUNTER_MAP(name)                                   \
	struct {                                                     \
		__uint(type, BPF_MAP_TYPE_PERCPU_HASH);              \
		__uint(max_entries, 256);                            \
		__type(key, __u32);                                  \
		__type(value, struct sentinel_counters);             \
	} name SEC(".maps")

/* Returns this CPU's counter block for ifindex, creating it on first use. NULL only if the
 * map is full (256 interfaces); callers then count nothing rather than fail the packet. */
static __always_inline struct sentinel_counters *sn_counters_get(void *map, __u32 ifindex)
{
	struct sentinel_counters *c = bpf_map_lookup_elem(map, &ifindex);
	if (c)
		return c;
	struct sentinel_counters zero = {};
	bpf_map_update_elem(map, &ifindex, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, &ifindex);
}

static __always_inline void sn_count(struct sentinel_counters *c, __u32 slot, __u64 n)
{
	if (c && slot < SN_CNT_MAX)
		c->v[slot] += n; /* per-CPU: no atomics needed */
}

#endif
