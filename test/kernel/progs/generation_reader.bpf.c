// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A packet held in flight across policy reloads. gr_firewall reads xdp-firewall's active index
 * once, as xdp_firewall does, and gr_ratelimit reads xdp-ratelimit's; each notes what its
 * generation holds (header, rules, classifier, block-list set entries), then stays in flight
 * (spins) until the test releases it or gr_probe.hold_ns has passed, and notes the same entries
 * again just before it returns. The maps are the real programs' own, handed over by fd: a writer
 * that rewrites or removes the generation a packet still reads shows as a difference between
 * the two notes. */
#include "sentinel/lib/common.h"
#include "sentinel/contract/firewall.h"
#include "sentinel/lib/fw_policy.h"
#include "sentinel/lib/rl_policy.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* --- the real programs' maps, handed over by fd: fw_policy.h, rl_policy.h --------------------- */

/* --- the reader's own maps ------------------------------------------------------------------ */

/* What the test asks: which rule slots name the block lists, which addresses they hold. */
struct gr_probe {
	__u64 hold_ns;    /* stay in flight at most this long */
	__u32 release;    /* set by the test: return now */
	__u32 slot_v4;    /* generation-relative fw_rules slot of a rule with FW_M_SRC_SET (IPv4) */
	__u32 slot_v6;    /* the same for IPv6 */
	__u32 _pad;
	__u8 addr_v4[4];  /* an address in that rule's set */
	__u8 addr_v6[16];
	__u32 _pad2;
};

/* One look at the generation. Firewall: policy_id, rule_count, roots, the two rules' numbers and
 * set ids, whether the addresses are in those sets, the first leaf word. Rate limiter:
 * rule_count, the default limit's interval, the first rule's number and interval. */
struct gr_note {
	__u32 policy_id;
	__u32 rule_count;
	__u32 root_v4;
	__u32 root_v6;
	__u32 rule_num_v4;
	__u32 rule_num_v6;
	__u32 set_v4;
	__u32 set_v6;
	__u32 found_v4;
	__u32 found_v6;
	__u32 leaf0;
	__u32 rl_rule_num;
	__u64 rl_dflt_interval;
	__u64 rl_rule_interval;
};

struct gr_state {
	__u32 started;    /* the active index was read and the first note taken */
	__u32 done;       /* the second note was taken: the program returns next */
	__u32 gen;        /* the generation it read */
	__u32 released;   /* 1: released by the test, 0: hold_ns ran out */
	__u64 spins;
	struct gr_note before;
	struct gr_note after;
};

SENTINEL_BTF_EXPORT(gr_probe);
SENTINEL_BTF_EXPORT(gr_state);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gr_probe);
} gr_probe SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gr_state);
} gr_state SEC(".maps");

static __always_inline int gr_in_set(__u32 set_id, const struct gr_probe *p, int v6)
{
	if (!v6) {
		struct fw_lpm_v4_key k = { .prefixlen = 64, .set_id = bpf_htonl(set_id) };
		__builtin_memcpy(k.addr, p->addr_v4, 4);
		return bpf_map_lookup_elem(&fw_lpm_v4, &k) != 0;
	}
	struct fw_lpm_v6_key k6 = { .prefixlen = 160, .set_id = bpf_htonl(set_id) };
	__builtin_memcpy(k6.addr, p->addr_v6, 16);
	return bpf_map_lookup_elem(&fw_lpm_v6, &k6) != 0;
}

static __always_inline void gr_note_fw(struct gr_note *n, __u32 g, const struct gr_probe *p)
{
	struct fw_gen *gen = bpf_map_lookup_elem(&fw_gen, &g);
	if (gen) {
		n->policy_id = gen->policy_id;
		n->rule_count = gen->rule_count;
		n->root_v4 = gen->roots[0][0];
		n->root_v6 = gen->roots[1][0];
	}
	__u32 s4 = g * FW_MAX_RULES + (p->slot_v4 & (FW_MAX_RULES - 1));
	struct fw_rule *r4 = bpf_map_lookup_elem(&fw_rules, &s4);
	if (r4) {
		n->rule_num_v4 = r4->rule_num;
		n->set_v4 = r4->src_set;
		n->found_v4 = gr_in_set(r4->src_set, p, 0);
	}
	__u32 s6 = g * FW_MAX_RULES + (p->slot_v6 & (FW_MAX_RULES - 1));
	struct fw_rule *r6 = bpf_map_lookup_elem(&fw_rules, &s6);
	if (r6) {
		n->rule_num_v6 = r6->rule_num;
		n->set_v6 = r6->src_set;
		n->found_v6 = gr_in_set(r6->src_set, p, 1);
	}
	struct fw_leaf_gen *leaves = bpf_map_lookup_elem(&fw_leaf, &g);
	if (leaves)
		n->leaf0 = leaves->entry[0];
}

static __always_inline void gr_note_rl(struct gr_note *n, __u32 g)
{
	struct rl_gen *gen = bpf_map_lookup_elem(&rl_gen, &g);
	if (gen) {
		n->rule_count = gen->rule_count;
		n->rl_dflt_interval = gen->dflt.interval_ns;
	}
	__u32 s = g * RL_MAX_RULES;
	struct rl_rule *r = bpf_map_lookup_elem(&rl_rules, &s);
	if (r) {
		n->rl_rule_num = r->rule_num;
		n->rl_rule_interval = r->limit.interval_ns;
	}
}

struct gr_hold {
	struct gr_probe *probe;
	struct gr_state *state;
	__u64 until;
	int stop;
};

static long gr_spin_inner(__u32 i, void *ctx)
{
	struct gr_hold *h = ctx;
	h->state->spins++;
	if ((i & 1023) != 0)
		return 0;
	if (*(volatile __u32 *)&h->probe->release) {
		h->state->released = 1;
		h->stop = 1;
		return 1;
	}
	if (bpf_ktime_get_ns() >= h->until) {
		h->stop = 1;
		return 1;
	}
	return 0;
}

static long gr_spin_outer(__u32 i, void *ctx)
{
	struct gr_hold *h = ctx;
	bpf_loop(1 << 20, gr_spin_inner, h, 0);
	return h->stop;
}

/* Stays in flight until released or hold_ns passed. */
static __always_inline void gr_hold(struct gr_probe *p, struct gr_state *st)
{
	struct gr_hold h = { .probe = p, .state = st, .until = bpf_ktime_get_ns() + p->hold_ns };
	bpf_loop(1 << 20, gr_spin_outer, &h, 0);
}

static __always_inline int gr_run(int firewall)
{
	__u32 zero = 0;
	struct gr_probe *p = bpf_map_lookup_elem(&gr_probe, &zero);
	struct gr_state *st = bpf_map_lookup_elem(&gr_state, &zero);
	if (!p || !st)
		return XDP_ABORTED;
	__u32 *active = bpf_map_lookup_elem(firewall ? (void *)&fw_active : (void *)&rl_active, &zero);
	__u32 g = active ? (*active & 1) : 0;
	st->gen = g;
	if (firewall)
		gr_note_fw(&st->before, g, p);
	else
		gr_note_rl(&st->before, g);
	__sync_fetch_and_add(&st->started, 1);
	gr_hold(p, st);
	if (firewall)
		gr_note_fw(&st->after, g, p);
	else
		gr_note_rl(&st->after, g);
	__sync_fetch_and_add(&st->done, 1);
	return XDP_PASS;
}

SEC("xdp")
int gr_firewall(struct xdp_md *ctx)
{
	return gr_run(1);
}

SEC("xdp")
int gr_ratelimit(struct xdp_md *ctx)
{
	return gr_run(0);
}
