/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* xdp-firewall's double-buffered policy (firewall.h): the active index, and per generation the
 * header and the rules (generations.h), the classifier arrays and the CIDR sets. Declared once
 * here so that every object reading a generation (xdp_firewall, and the kernel tests'
 * generation reader, which reuses these very maps by fd) has definitions libbpf accepts as the
 * same maps. */
#ifndef SENTINEL_FW_POLICY_H
#define SENTINEL_FW_POLICY_H

#include "common.h"
#include "generations.h"
#include "../contract/firewall.h"

SN_GENERATIONS(fw, struct fw_gen, struct fw_rule, FW_MAX_RULES);

/* Classifier arrays, one value per generation (firewall.h). Mmapable: the agent writes the used
 * part of the inactive generation in place rather than a 32 MiB value per policy change. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct fw_tree_gen);
} fw_tree SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct fw_wide_gen);
} fw_wide SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct fw_leaf_gen);
} fw_leaf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FW_LPM_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fw_lpm_v4_key);
	__type(value, __u8);
} fw_lpm_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FW_LPM_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fw_lpm_v6_key);
	__type(value, __u8);
} fw_lpm_v6 SEC(".maps");

#endif
