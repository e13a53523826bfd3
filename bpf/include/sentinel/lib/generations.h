/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The maps of a double-buffered policy: <p>_active, the index (0 or 1) of the generation packets
 * read; <p>_gen, one header per generation; <p>_rules, max_rules rows per generation (generation
 * g's rows from g * max_rules). The agent fills the inactive generation and flips the index, so
 * a packet sees one whole policy (src/kernel/in-flight.ts says when the old one may be reused).
 * Declared through this one macro so every program with such a policy has the same shape and
 * every object that reads one (the program, the kernel tests' generation reader, which reuses
 * the maps by fd) has definitions libbpf accepts as the same maps. */
#ifndef SENTINEL_GENERATIONS_H
#define SENTINEL_GENERATIONS_H

#include "common.h"

#define SN_GENERATIONS(p, gen_type, rule_type, max_rules)                                          \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                                  \
		__uint(max_entries, 1);                                                            \
		__type(key, __u32);                                                                \
		__type(value, __u32);                                                              \
	} p##_active SEC(".maps");                                                                 \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                                  \
		__uint(max_entries, 2);                                                            \
		__type(key, __u32);                                                                \
		__type(value, gen_type);                                                           \
	} p##_gen SEC(".maps");                                                                    \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                                  \
		__uint(max_entries, 2 * (max_rules));                                              \
		__type(key, __u32);                                                                \
		__type(value, rule_type);                                                          \
	} p##_rules SEC(".maps")

#endif
