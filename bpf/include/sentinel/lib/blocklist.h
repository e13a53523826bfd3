/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The dynamic block list's maps and its lookup (contract/blocklist.h has the layout): addresses
 * and networks the agent's block-list service adds and removes at runtime for any engine and the
 * API. xdp-firewall drops a packet whose source (or, for destination entries, destination) lies
 * in it, before conntrack and before any rule.
 *
 * Not part of the firewall's double-buffered policy: each insert or delete is one atomic map
 * operation (a packet finds the entry or it does not), and a policy reload never touches these
 * maps. They are pinned by name (LIBBPF_PIN_BY_NAME under <pin_root>/maps), created by the
 * agent's service from blocklist.bpf.o and reused by every object that includes this header, so
 * the list outlives a reload, a runtime stop/start of the firewall and the firewall's object. */
#ifndef SENTINEL_LIB_BLOCKLIST_H
#define SENTINEL_LIB_BLOCKLIST_H

#include "common.h"
#include "../contract/blocklist.h"

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BL_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, struct bl_v4_key);
	__type(value, struct bl_value);
} bl_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BL_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, struct bl_v6_key);
	__type(value, struct bl_value);
} bl_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);
	__type(value, struct bl_config);
} bl_config SEC(".maps");

/* The entry blocking this packet, or NULL. Each scope's trie is looked up only while the agent
 * holds entries of that scope and the packet's family (bl_config, an array lookup the verifier
 * inlines, decides): with an empty list a packet costs no trie lookup at all. src and dst are
 * the packet's addresses as sn_pkt holds them (network order, IPv4 in word 0). */
static __always_inline struct bl_value *sn_blocklist_lookup(__u8 family, const __u32 *src, const __u32 *dst)
{
	__u32 zero = 0;
	struct bl_config *cfg = bpf_map_lookup_elem(&bl_config, &zero);
	struct bl_value *v;

	if (!cfg)
		return 0;
	if (family == SN_AF_INET) {
		struct bl_v4_key k = { .prefixlen = BL_SCOPE_BITS + 32, .scope = bpf_htonl(BL_SCOPE_SRC) };
		if (cfg->src_any[0]) {
			__builtin_memcpy(k.addr, src, 4);
			v = bpf_map_lookup_elem(&bl_v4, &k);
			if (v)
				return v;
		}
		if (!cfg->dst_entries[0])
			return 0;
		k.scope = bpf_htonl(BL_SCOPE_DST);
		__builtin_memcpy(k.addr, dst, 4);
		return bpf_map_lookup_elem(&bl_v4, &k);
	}
	if (family != SN_AF_INET6)
		return 0;
	struct bl_v6_key k6 = { .prefixlen = BL_SCOPE_BITS + 128, .scope = bpf_htonl(BL_SCOPE_SRC) };
	if (cfg->src_any[1]) {
		__builtin_memcpy(k6.addr, src, 16);
		v = bpf_map_lookup_elem(&bl_v6, &k6);
		if (v)
			return v;
	}
	if (!cfg->dst_entries[1])
		return 0;
	k6.scope = bpf_htonl(BL_SCOPE_DST);
	__builtin_memcpy(k6.addr, dst, 16);
	return bpf_map_lookup_elem(&bl_v6, &k6);
}

/* Counts a drop on the entry; returns whether this drop is sampled into an event (the entry's
 * first drop and then one in bl_config.sample_every, counted over all CPUs). */
static __always_inline int sn_blocklist_hit(struct bl_value *v)
{
	__u64 n = __sync_fetch_and_add(&v->packets, 1);
	__u32 zero = 0;
	struct bl_config *cfg = bpf_map_lookup_elem(&bl_config, &zero);
	__u32 every = cfg ? cfg->sample_every : 1;
	return every <= 1 || n % every == 0;
}

#endif
