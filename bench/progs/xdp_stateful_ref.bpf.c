// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The practical floor of any stateful firewall, measured beside xdp-firewall in the rule-scaling
 * sweep: parse the packet (the product's own parser, so both pay the same), one conntrack hash
 * lookup (an LRU hash keyed like ct_table, holding other flows), one LPM lookup of the destination
 * (a trie of the policy's destination networks), a verdict, and a per-CPU count of what was
 * decided so the bench can check the path. No rules, no events: whatever a real firewall does
 * beyond this is what it costs over the floor. */
#define CT_NO_TABLE 1
#include "sentinel/lib/common.h"
#include "sentinel/lib/parse.h"
#include "sentinel/lib/ct.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CT_DEFAULT_MAX_ENTRIES);
	__type(key, struct ct_key);
	__type(value, struct ct_entry);
} ref_ct SEC(".maps");

struct ref_lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct ref_lpm_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* value: 1 = drop, 0 = pass */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ref_lpm_v4_key);
	__type(value, __u8);
} ref_lpm_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ref_lpm_v6_key);
	__type(value, __u8);
} ref_lpm_v6 SEC(".maps");

/* Slots: REF_PASS, REF_DROP, REF_CT_HIT, REF_LPM_HIT, REF_MALFORMED */
#define REF_PASS 0
#define REF_DROP 1
#define REF_CT_HIT 2
#define REF_LPM_HIT 3
#define REF_MALFORMED 4
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 5);
	__type(key, __u32);
	__type(value, __u64);
} ref_counts SEC(".maps");

static __always_inline int ref_count(__u32 slot, int verdict)
{
	__u64 *v = bpf_map_lookup_elem(&ref_counts, &slot);
	if (v)
		*v += 1;
	return verdict;
}

SEC("xdp")
int xdp_stateful_ref(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sn_pkt pkt = {};

	if (sn_parse(&pkt, data, data_end) != SN_PARSE_OK)
		return ref_count(REF_MALFORMED, XDP_PASS);
	struct ct_key key = {};
	if (ct_key_of(&pkt, &key) < 0)
		ct_key_fill(&key, pkt.family, pkt.proto, pkt.src, 0, pkt.dst, 0);
	if (bpf_map_lookup_elem(&ref_ct, &key)) {
		ref_count(REF_CT_HIT, 0);
		return ref_count(REF_PASS, XDP_PASS);
	}
	__u8 *act;
	if (pkt.family == SN_AF_INET) {
		struct ref_lpm_v4_key k = { .prefixlen = 32 };
		__builtin_memcpy(k.addr, pkt.dst, 4);
		act = bpf_map_lookup_elem(&ref_lpm_v4, &k);
	} else {
		struct ref_lpm_v6_key k = { .prefixlen = 128 };
		__builtin_memcpy(k.addr, pkt.dst, 16);
		act = bpf_map_lookup_elem(&ref_lpm_v6, &k);
	}
	if (act)
		ref_count(REF_LPM_HIT, 0);
	if (act && *act)
		return ref_count(REF_DROP, XDP_DROP);
	return ref_count(REF_PASS, XDP_PASS);
}
