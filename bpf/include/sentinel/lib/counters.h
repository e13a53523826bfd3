/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The per-CPU, per-interface counter map every program owns (contract/counters.h says what its
 * slots mean), and how a program bumps a slot. */
#ifndef SENTINEL_COUNTERS_H
#define SENTINEL_COUNTERS_H

#include "common.h"
#include "../contract/counters.h"

#define SENTINEL_COUNTER_MAP(name)                                   \
	struct {                                                     \
		__uint(type, BPF_MAP_TYPE_PERCPU_HASH);              \
		__uint(max_entries, 256);                            \
		__type(key, __u32);                                  \
		__type(value, struct sentinel_counters);             \
	} name SEC(".maps")

/* The first value of a new counter block: read-only data rather than a zeroed struct on the
 * stack, whose 128 bytes every program's deepest call chain would carry. */
static const struct sentinel_counters sn_counters_zero;

/* Returns this CPU's counter block for ifindex, creating it on first use. NULL only if the
 * map is full (256 interfaces); callers then count nothing rather than fail the packet. */
static __always_inline struct sentinel_counters *sn_counters_get(void *map, __u32 ifindex)
{
	struct sentinel_counters *c = bpf_map_lookup_elem(map, &ifindex);
	if (c)
		return c;
	bpf_map_update_elem(map, &ifindex, &sn_counters_zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, &ifindex);
}

static __always_inline void sn_count(struct sentinel_counters *c, __u32 slot, __u64 n)
{
	if (c && slot < SN_CNT_MAX)
		c->v[slot] += n; /* per-CPU: no atomics needed */
}

#endif
