/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* xdp-ratelimit's double-buffered policy (ratelimit.h): the active index, and per generation the
 * header and the rules. Declared once here so that every object reading a generation
 * (xdp_ratelimit, and the kernel tests' generation reader, which reuses these very maps by fd)
 * has definitions libbpf accepts as the same maps. */
#ifndef SENTINEL_RL_POLICY_H
#define SENTINEL_RL_POLICY_H

#include "common.h"
#include "../contract/ratelimit.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} rl_active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct rl_gen);
} rl_gen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * RL_MAX_RULES);
	__type(key, __u32);
	__type(value, struct rl_rule);
} rl_rules SEC(".maps");

#endif
