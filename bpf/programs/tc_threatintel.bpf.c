// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tc-threatintel: IOC matching at TC ingress. Each address of the packet is checked against the
 * active generation's sets: a bloom filter first (most packets stop there), a hit confirmed in the
 * exact hash set before anything is done (a bloom false positive is counted and nothing else),
 * then the networks' LPM trie when the generation has any. The strongest action of the matches
 * applies: alert (pass), quarantine (VLAN tag pushed, redirected), drop. Malformed and non-IP
 * packets pass (fail-open: the program judges addresses, which such a packet may not carry).
 *
 * tc_threatintel_fill is not attached anywhere: the agent test-runs it once per refresh to fill
 * a new generation's bloom filters from its hash sets in the kernel (a bloom filter takes no
 * batch update from user space; one syscall per address would cost a second per million). */
#include "sentinel/lib/common.h"
#include "sentinel/lib/parse.h"
#include "sentinel/lib/counters.h"
#include "sentinel/lib/event.h"
#include "sentinel/contract/threatintel.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SENTINEL_BTF_EXPORT(ti_event);
SENTINEL_BTF_EXPORT(ti_value);
SENTINEL_BTF_EXPORT(ti_key6);
SENTINEL_BTF_EXPORT(ti_lpm4_key);
SENTINEL_BTF_EXPORT(ti_lpm6_key);

/* The inner maps' templates: the agent creates maps of these shapes for every generation. Sizes
 * rather than types: clang writes a type reached only through the outer map's pointer to its
 * template as a forward declaration, whose size libbpf cannot know. */
struct ti_bloom4_inner {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 1);
	__uint(value_size, sizeof(__u32));
};
struct ti_bloom6_inner {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 1);
	__uint(value_size, sizeof(struct ti_key6));
};
struct ti_hash4_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct ti_value));
};
struct ti_hash6_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(struct ti_key6));
	__uint(value_size, sizeof(struct ti_value));
};
struct ti_lpm4_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct ti_lpm4_key));
	__uint(value_size, sizeof(struct ti_value));
};
struct ti_lpm6_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct ti_lpm6_key));
	__uint(value_size, sizeof(struct ti_value));
};

#define TI_OUTER(name, inner)                                    \
	struct {                                                 \
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);        \
		__uint(max_entries, TI_GENERATIONS);             \
		__type(key, __u32);                              \
		__array(values, struct inner);                   \
	} name SEC(".maps")

TI_OUTER(ti_bloom4, ti_bloom4_inner);
TI_OUTER(ti_bloom6, ti_bloom6_inner);
TI_OUTER(ti_hash4, ti_hash4_inner);
TI_OUTER(ti_hash6, ti_hash6_inner);
TI_OUTER(ti_lpm4, ti_lpm4_inner);
TI_OUTER(ti_lpm6, ti_lpm6_inner);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} ti_active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TI_GENERATIONS);
	__type(key, __u32);
	__type(value, struct ti_gen);
} ti_gen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ti_config);
} ti_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} ti_events SEC(".maps");

SENTINEL_COUNTER_MAP(ti_counters);

/* The best match so far: the strongest action wins, the first found among equals. */
struct ti_found {
	struct ti_value v;
	__u8 side;
	__u8 match;
};

static __always_inline void ti_take(struct ti_found *f, const struct ti_value *v, __u8 side, __u8 match)
{
	if (v->action > f->v.action) {
		f->v = *v;
		f->side = side;
		f->match = match;
	}
}

/* Bloom, then the hash set: a bloom hit the set does not hold is a false positive. */
static __always_inline void ti_exact(void *bloom, void *hash, void *key, __u8 side, struct ti_found *f,
				     struct sentinel_counters *c)
{
	if (bpf_map_peek_elem(bloom, key) != 0)
		return;
	sn_count(c, TI_CNT_BLOOM_HIT, 1);
	struct ti_value *v = bpf_map_lookup_elem(hash, key);
	if (!v) {
		sn_count(c, TI_CNT_BLOOM_FALSE_POSITIVE, 1);
		return;
	}
	ti_take(f, v, side, TI_MATCH_EXACT);
}

static __always_inline void ti_check4(__u32 g, const struct ti_gen *gen, struct sn_pkt *p, struct ti_found *f,
				      struct sentinel_counters *c)
{
	void *bloom = bpf_map_lookup_elem(&ti_bloom4, &g);
	void *hash = bpf_map_lookup_elem(&ti_hash4, &g);
	if (bloom && hash) {
		ti_exact(bloom, hash, &p->src[0], TI_SIDE_SRC, f, c);
		ti_exact(bloom, hash, &p->dst[0], TI_SIDE_DST, f, c);
	}
	if (!gen->lpm4)
		return;
	void *lpm = bpf_map_lookup_elem(&ti_lpm4, &g);
	if (!lpm)
		return;
	struct ti_lpm4_key k = {.prefixlen = 32, .addr = p->src[0]};
	struct ti_value *v = bpf_map_lookup_elem(lpm, &k);
	if (v)
		ti_take(f, v, TI_SIDE_SRC, TI_MATCH_CIDR);
	k.addr = p->dst[0];
	v = bpf_map_lookup_elem(lpm, &k);
	if (v)
		ti_take(f, v, TI_SIDE_DST, TI_MATCH_CIDR);
}

static __always_inline void ti_check6(__u32 g, const struct ti_gen *gen, struct sn_pkt *p, struct ti_found *f,
				      struct sentinel_counters *c)
{
	void *bloom = bpf_map_lookup_elem(&ti_bloom6, &g);
	void *hash = bpf_map_lookup_elem(&ti_hash6, &g);
	if (bloom && hash) {
		ti_exact(bloom, hash, p->src, TI_SIDE_SRC, f, c);
		ti_exact(bloom, hash, p->dst, TI_SIDE_DST, f, c);
	}
	if (!gen->lpm6)
		return;
	void *lpm = bpf_map_lookup_elem(&ti_lpm6, &g);
	if (!lpm)
		return;
	struct ti_lpm6_key k = {.prefixlen = 128};
	__builtin_memcpy(k.addr, p->src, 16);
	struct ti_value *v = bpf_map_lookup_elem(lpm, &k);
	if (v)
		ti_take(f, v, TI_SIDE_SRC, TI_MATCH_CIDR);
	__builtin_memcpy(k.addr, p->dst, 16);
	v = bpf_map_lookup_elem(lpm, &k);
	if (v)
		ti_take(f, v, TI_SIDE_DST, TI_MATCH_CIDR);
}

static __always_inline void ti_emit(struct __sk_buff *skb, struct sn_pkt *p, const struct ti_found *f, __u8 action,
				    __u32 gen_id, struct sentinel_counters *c)
{
	struct ti_event *e = sn_event_reserve(&ti_events, sizeof(*e), c);
	if (!e)
		return;
	sn_event_fill_hdr(&e->hdr, SN_EV_THREATINTEL, SN_PROG_TC_THREATINTEL, 0, sizeof(*e));
	SN_EVENT_FILL_FLOW(e, skb, p);
	e->rule_num = f->v.ref;
	e->gen_id = gen_id;
	e->action = action;
	e->feed = f->v.feed;
	e->confidence = f->v.confidence;
	e->side = f->side;
	e->match = f->match;
	sn_event_submit(e, c);
}

SEC("tc")
int tc_threatintel(struct __sk_buff *skb)
{
	struct sentinel_counters *c = sn_counters_get(&ti_counters, skb->ifindex);
	/* NULL only when 256 interfaces fill the counter map (its fill is in status and metrics):
	 * such a packet passes untouched. Returning here keeps c non-NULL below; otherwise clang
	 * keeps its NULL test in a separate flag the verifier cannot relate to the pointer. */
	if (!c)
		return TCX_NEXT;
	sn_count(c, SN_CNT_SEEN, 1);
	sn_count(c, SN_CNT_BYTES_SEEN, skb->len);
	__u32 zero = 0;
	struct ti_config *cfg = bpf_map_lookup_elem(&ti_config, &zero);
	if (!cfg || !cfg->enabled) {
		sn_count(c, SN_CNT_PASSED, 1);
		return TCX_NEXT;
	}
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct sn_pkt p = {};
	int rc = sn_parse(&p, data, data_end);
	if (rc != SN_PARSE_OK) {
		sn_count(c, rc == SN_PARSE_NOT_IP ? SN_CNT_NON_IP : SN_CNT_MALFORMED, 1);
		sn_count(c, SN_CNT_PASSED, 1);
		return TCX_NEXT;
	}
	__u32 *active = bpf_map_lookup_elem(&ti_active, &zero);
	__u32 g = active ? (*active & 1) : 0;
	struct ti_gen *gen = bpf_map_lookup_elem(&ti_gen, &g);
	if (!gen || gen->id == 0) {
		sn_count(c, TI_CNT_NO_SET, 1);
		sn_count(c, SN_CNT_PASSED, 1);
		return TCX_NEXT;
	}
	struct ti_found f = {};
	if (p.family == SN_AF_INET)
		ti_check4(g, gen, &p, &f, c);
	else
		ti_check6(g, gen, &p, &f, c);
	if (f.v.action == TI_ACT_NONE) {
		sn_count(c, SN_CNT_PASSED, 1);
		return TCX_NEXT;
	}
	sn_count(c, TI_CNT_MATCHED, 1);
	__u8 action = f.v.action;
	if (action == TI_ACT_QUARANTINE) {
		__u32 ifindex = cfg->quarantine_ifindex;
		if (ifindex && bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), cfg->quarantine_vlan) == 0) {
			ti_emit(skb, &p, &f, action, gen->id, c);
			sn_count(c, TI_CNT_QUARANTINED, 1);
			return bpf_redirect(ifindex, 0);
		}
		/* fail closed: a packet meant for isolation never reaches its destination */
		sn_count(c, TI_CNT_QUARANTINE_FAILED, 1);
		action = TI_ACT_DROP;
	}
	ti_emit(skb, &p, &f, action, gen->id, c);
	if (action == TI_ACT_DROP) {
		sn_count(c, SN_CNT_DROPPED, 1);
		return TCX_DROP;
	}
	sn_count(c, TI_CNT_ALERTED, 1);
	sn_count(c, SN_CNT_PASSED, 1);
	return TCX_NEXT;
}

/* ---- filling a new generation's bloom filters (test-run by the agent, cb[0] = slot) ---------- */

struct ti_fill_ctx {
	__u32 slot;
	__u32 failed;
};

static long ti_push4(void *map, __u32 *key, struct ti_value *v, struct ti_fill_ctx *x)
{
	void *bloom = bpf_map_lookup_elem(&ti_bloom4, &x->slot);
	__u32 k = *key;
	if (!bloom || bpf_map_push_elem(bloom, &k, 0) != 0)
		x->failed++;
	return 0;
}

static long ti_push6(void *map, struct ti_key6 *key, struct ti_value *v, struct ti_fill_ctx *x)
{
	void *bloom = bpf_map_lookup_elem(&ti_bloom6, &x->slot);
	struct ti_key6 k = *key;
	if (!bloom || bpf_map_push_elem(bloom, &k, 0) != 0)
		x->failed++;
	return 0;
}

/* Returns the number of addresses pushed into the slot's two bloom filters; cb[1] gets the number
 * that failed (the agent refuses the generation unless it is 0). */
SEC("tc")
int tc_threatintel_fill(struct __sk_buff *skb)
{
	struct ti_fill_ctx x = {.slot = skb->cb[0] & 1};
	long n = 0;
	void *h4 = bpf_map_lookup_elem(&ti_hash4, &x.slot);
	if (h4)
		n += bpf_for_each_map_elem(h4, ti_push4, &x, 0);
	void *h6 = bpf_map_lookup_elem(&ti_hash6, &x.slot);
	if (h6)
		n += bpf_for_each_map_elem(h6, ti_push6, &x, 0);
	skb->cb[1] = x.failed;
	return (int)n;
}
