// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* xdp-firewall: first program on the ingress path. L3/L4 rules in priority order (first match
 * wins) found through a precompiled decision DAG (firewall.h) so the cost does not grow with
 * the rule count, CIDR sets in LPM tries, conntrack state (ct_table of tc-conntrack) with a
 * fast path for established/related flows, a default policy, reject answers, per-rule hit
 * counters, per-interface counters and drop/log/reject events. On pass it tail-calls the next
 * program of the XDP chain when one is installed (xdp-ratelimit), else passes to the stack.
 *
 * Verdicts for packets it cannot judge:
 *   - non-IP (ARP, LLDP, ...): pass, counted as non_ip (ARP must flow for IPv4 to work);
 *   - malformed / truncated IP: the default policy of the active generation (fail-closed under
 *     default drop), counted as malformed, with an event when that verdict is drop. */
#include "sentinel/common.h"
#include "sentinel/counters.h"
#include "sentinel/event.h"
#include "sentinel/parse.h"
#include "sentinel/firewall.h"
#include "sentinel/ct.h"
#if __has_include("sentinel/reply.h")
#define SN_REPLY_CNT_BASE FW_XCNT_REPLY_BASE
#include "sentinel/reply.h"
#define FW_HAVE_REPLY 1
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SENTINEL_BTF_EXPORT(fw_event);
SENTINEL_BTF_EXPORT(sentinel_event_hdr);
SENTINEL_BTF_EXPORT(sn_pkt);
SENTINEL_BTF_EXPORT(fw_key);

/* Present in the BTF only when this build answers reject with a forged reply; the agent
 * refuses `reject` rules when it is absent. */
#ifdef FW_HAVE_REPLY
struct fw_reject_support {
	__u32 version;
};
SENTINEL_BTF_EXPORT(fw_reject_support);
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} fw_active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct fw_gen);
} fw_gen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * FW_MAX_RULES);
	__type(key, __u32);
	__type(value, struct fw_rule);
} fw_rules SEC(".maps");

/* Classifier inner nodes: generation g, node n, byte value v at g*FW_TREE_NODES*256 + n*256 + v. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * FW_TREE_NODES * 256);
	__type(key, __u32);
	__type(value, __u32);
} fw_tree SEC(".maps");

/* Classifier leaves: candidate rule slots (generation-relative), runs in priority order. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * FW_LEAF_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
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

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FW_MAX_RULE_NUMS);
	__type(key, __u32);
	__type(value, struct fw_hit);
} fw_rule_hits SEC(".maps");

SENTINEL_COUNTER_MAP(fw_counters);
SENTINEL_COUNTER_MAP(fw_counters_ext);

/* Counters of packets seen on interfaces beyond fw_counters' 256 (reported as ifindex 0). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sentinel_counters);
} fw_counters_spill SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} fw_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} fw_chain SEC(".maps");

/* State of the classifier walk, handed to the bpf_loop callback; lives on the stack (the
 * verifier wants that). One loop runs every tree: each iteration either descends one level
 * or checks one leaf candidate, so the callback is verified once whatever the tree count. */
struct fw_scan {
	struct fw_key key;
	struct sn_pkt *pkt;
	__u32 roots[FW_MAX_TREES];
	__u32 trees;
	__u32 ref;        /* current reference in that tree */
	__u32 node_base;  /* first fw_tree entry of the active generation */
	__u32 rule_base;  /* first fw_rules slot of the active generation */
	__u32 leaf_first; /* fw_leaf index of the generation's slot 0 */
	__u32 leaf_base;  /* first fw_leaf slot of the current leaf */
	__u32 count;      /* candidates in the current leaf */
	__u32 leaf_n;     /* loop iteration that checks the current leaf's first candidate */
	__u32 limit;      /* only slots below it can still win (a lower slot matched elsewhere) */
	__u32 matched;    /* fw_rules index + 1 of the first matching rule, 0 = none */
	__u32 broken;     /* walks that did not end in a leaf */
	__u8 ct;          /* FW_CT_* of the packet */
};

static __always_inline int fw_net_match(const __u32 *addr, const __u32 *want, const __u32 *mask)
{
	return ((addr[0] & mask[0]) == want[0]) & ((addr[1] & mask[1]) == want[1]) &
	       ((addr[2] & mask[2]) == want[2]) & ((addr[3] & mask[3]) == want[3]);
}

static __always_inline int fw_set_match(const struct sn_pkt *p, __u32 set_id, const __u32 *addr)
{
	if (p->family == SN_AF_INET) {
		struct fw_lpm_v4_key k = { .prefixlen = 64, .set_id = bpf_htonl(set_id) };
		__builtin_memcpy(k.addr, addr, 4);
		return bpf_map_lookup_elem(&fw_lpm_v4, &k) != 0;
	}
	struct fw_lpm_v6_key k6 = { .prefixlen = 160, .set_id = bpf_htonl(set_id) };
	__builtin_memcpy(k6.addr, addr, 16);
	return bpf_map_lookup_elem(&fw_lpm_v6, &k6) != 0;
}

static __always_inline int fw_rule_match(const struct fw_rule *r, const struct sn_pkt *p, __u8 ct)
{
	__u16 m = r->match;

	if (r->family && r->family != p->family)
		return 0;
	if ((m & FW_M_PROTO) && r->proto != p->proto)
		return 0;
	if ((m & FW_M_VLAN) && r->vlan_id != p->vlan_id)
		return 0;
	if ((m & FW_M_VLAN) && r->vlan_id == 0 && p->vlan_depth)
		return 0;
	/* Port and ICMP criteria need the L4 header: a later fragment never matches them. */
	if ((m & (FW_M_SRC_PORT | FW_M_DST_PORT | FW_M_ICMP_TYPE | FW_M_ICMP_CODE)) &&
	    (p->flags & SN_PKT_F_LATER_FRAG))
		return 0;
	if ((m & FW_M_SRC_PORT) && (p->sport < r->src_port_lo || p->sport > r->src_port_hi))
		return 0;
	if ((m & FW_M_DST_PORT) && (p->dport < r->dst_port_lo || p->dport > r->dst_port_hi))
		return 0;
	if ((m & FW_M_ICMP_TYPE) && r->icmp_type != p->icmp_type)
		return 0;
	if ((m & FW_M_ICMP_CODE) && r->icmp_code != p->icmp_code)
		return 0;
	if ((m & FW_M_CT_STATE) && !(r->ct_states & (1 << (ct & 3))))
		return 0;
	if ((m & FW_M_SRC_NET) && !fw_net_match(p->src, r->src_addr, r->src_mask))
		return 0;
	if ((m & FW_M_DST_NET) && !fw_net_match(p->dst, r->dst_addr, r->dst_mask))
		return 0;
	/* Set lookups last: they are the most expensive criterion. */
	if ((m & FW_M_SRC_SET) && !fw_set_match(p, r->src_set, p->src))
		return 0;
	if ((m & FW_M_DST_SET) && !fw_set_match(p, r->dst_set, p->dst))
		return 0;
	return 1;
}

/* Makes ref the current position of the walk; a leaf sets up its candidates, the first of
 * them checked at loop iteration first_n. Candidate positions derive from the loop index
 * rather than a counter kept here, so the verifier does not track one state per candidate. */
static __always_inline void fw_enter(struct fw_scan *s, __u32 ref, __u32 first_n)
{
	s->ref = ref;
	s->leaf_n = first_n;
	s->count = 0;
	if (ref & FW_REF_LEAF) {
		s->leaf_base = s->leaf_first + (ref & FW_REF_SLOT_MASK);
		s->count = (ref >> FW_REF_COUNT_SHIFT) & FW_REF_COUNT_MASK;
	}
}

/* Ends the walk of the current tree (the bpf_loop callback's "stop"). The loop's bound, not a
 * depth counter, stops a walk through a broken (cyclic) structure. */
static __always_inline long fw_next_tree(struct fw_scan *s, __u32 n)
{
	return 1;
}

#define FW_WALK_STEP 4

static long fw_scan_one(__u32 n, void *ctx)
{
	struct fw_scan *s = ctx;
	if (!(s->ref & FW_REF_LEAF)) {
		/* Up to FW_WALK_STEP levels per call: array lookups are inlined, calls are not. */
		__u32 ref = s->ref;
		const __u8 *kb = (const __u8 *)&s->key;
		int bad = 0;
#pragma unroll
		for (int d = 0; d < FW_WALK_STEP; d++) {
			if (!(ref & FW_REF_LEAF) && !bad) {
				__u32 byte = (ref >> FW_REF_BYTE_SHIFT) & FW_REF_BYTE_MASK;
				__u32 node = ref & FW_REF_NODE_MASK;
				__u32 idx = s->node_base + (node << 8) + kb[byte < FW_KEY_SIZE ? byte : 0];
				__u32 *next = bpf_map_lookup_elem(&fw_tree, &idx);
				if (next && byte < FW_KEY_SIZE && node < FW_TREE_NODES)
					ref = *next;
				else
					bad = 1;
			}
		}
		if (bad) {
			s->broken = 1;
			return 1;
		}
		fw_enter(s, ref, n + 1);
		return 0;
	}
	__u32 i = n - s->leaf_n;
	if (i >= s->count)
		return fw_next_tree(s, n);
	__u32 li = s->leaf_base + i;
	__u32 *slot = bpf_map_lookup_elem(&fw_leaf, &li);
	if (!slot)
		return fw_next_tree(s, n);
	__u32 rel = *slot & (FW_MAX_RULES - 1);
	if (rel >= s->limit)
		return fw_next_tree(s, n); /* leaves are in priority order: nothing further can win */
	__u32 ri = s->rule_base + rel;
	struct fw_rule *r = bpf_map_lookup_elem(&fw_rules, &ri);
	if (!r)
		return fw_next_tree(s, n);
	if (fw_rule_match(r, s->pkt, s->ct)) {
		s->matched = ri + 1;
		s->limit = rel;
		return fw_next_tree(s, n);
	}
	return 0;
}

static __always_inline void fw_walk(struct fw_scan *s, __u32 t)
{
	if (t >= s->trees)
		return;
	fw_enter(s, s->roots[t], 0);
	bpf_loop(FW_MAX_DEPTH + FW_REF_COUNT_MASK + 1, fw_scan_one, s, 0);
}

/* The classifier key of a parsed packet (layout and meaning in firewall.h). */
static __always_inline void fw_key_of(struct fw_key *k, const struct sn_pkt *p, __u8 ct)
{
	k->meta = (p->family == SN_AF_INET6 ? FW_META_V6 : 0) |
		  ((p->flags & SN_PKT_F_LATER_FRAG) ? FW_META_LATER_FRAG : 0) | (ct & FW_META_CT_MASK);
	k->proto = p->proto;
	__u16 vlan = p->vlan_depth ? (0x1000 | p->vlan_id) : 0;
	k->vlan[0] = vlan >> 8;
	k->vlan[1] = vlan & 0xff;
	k->sport[0] = p->sport >> 8;
	k->sport[1] = p->sport & 0xff;
	k->dport[0] = p->dport >> 8;
	k->dport[1] = p->dport & 0xff;
	k->icmp_type = p->icmp_type;
	k->icmp_code = p->icmp_code;
	__builtin_memcpy(k->src, p->src, 16);
	__builtin_memcpy(k->dst, p->dst, 16);
}

/* The first matching rule over every tree: fw_rules index + 1, 0 for none. A subprogram of
 * its own so its stack (the walk state) is not added to the reject path's. */
static __noinline __u32 fw_lookup(struct sn_pkt *pkt, __u32 gen_idx, struct fw_gen *gen, __u8 ct, int *broken)
{
	struct fw_scan scan = {
		.pkt = pkt,
		.trees = gen->tree_count,
		.node_base = gen_idx * FW_TREE_NODES * 256,
		.rule_base = gen_idx * FW_MAX_RULES,
		.leaf_first = gen_idx * FW_LEAF_SLOTS,
		.limit = FW_MAX_RULES,
		.ct = ct,
	};
	fw_key_of(&scan.key, pkt, ct);
	__builtin_memcpy(scan.roots, gen->roots, sizeof(scan.roots));
	/* One loop per tree: the callback descends one level or checks one candidate per call. */
	_Static_assert(FW_MAX_TREES == 3, "one fw_walk per tree");
	fw_walk(&scan, 0);
	fw_walk(&scan, 1);
	fw_walk(&scan, 2);
	*broken = scan.broken;
	return scan.matched;
}

/* Invalid TCP flag combinations: never part of a valid connection whatever its state. */
static __always_inline int fw_tcp_flags_invalid(__u8 f)
{
	const __u8 FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10, URG = 0x20;
	if ((f & (FIN | SYN | RST | PSH | ACK | URG)) == 0)
		return 1;
	if ((f & (SYN | FIN)) == (SYN | FIN) || (f & (SYN | RST)) == (SYN | RST))
		return 1;
	if (!(f & ACK) && (f & (FIN | PSH | URG)))
		return 1;
	return 0;
}

/* Conntrack view of a packet. entry and dir are set for an established packet of a flow (dir is
 * the ct_entry index: 0 from the initiator, 1 from the responder), *entry alone for related. */
static __always_inline __u8 fw_ct_state(void *data, void *data_end, const struct sn_pkt *p,
					struct ct_entry **entry, int *dir)
{
	if (p->flags & SN_PKT_F_LATER_FRAG)
		return FW_CT_NEW; /* no L4 header: nothing to track or check */
	if (p->proto == IPPROTO_TCP && fw_tcp_flags_invalid(p->tcp_flags))
		return FW_CT_INVALID;
	struct ct_key key;
	__u64 now = bpf_ktime_get_boot_ns();
	if (((p->proto == IPPROTO_ICMP && p->family == SN_AF_INET) ||
	     (p->proto == IPPROTO_ICMPV6 && p->family == SN_AF_INET6)) &&
	    ct_icmp_is_error(p->proto, p->icmp_type)) {
		if (ct_key_of_icmp_error(data, data_end, p, &key) != 0)
			return FW_CT_INVALID; /* an error quoting nothing we can read */
		struct ct_entry *e = bpf_map_lookup_elem(&ct_table, &key);
		if (e && ct_entry_live(e, now)) {
			*entry = e;
			return FW_CT_RELATED;
		}
		return FW_CT_NEW;
	}
	int d = ct_key_of(p, &key);
	if (d < 0)
		return FW_CT_NEW;
	struct ct_entry *e = bpf_map_lookup_elem(&ct_table, &key);
	if (!e || !ct_entry_live(e, now))
		return FW_CT_NEW;
	/* d is relative to the key (0 = a->b); the entry's arrays are relative to the initiator. */
	int rd = ((d == 0) == ((e->flags & CT_F_INIT_IS_A) != 0)) ? 0 : 1;
	/* The responder's packets are established from the first reply on, as in netfilter:
	 * tc-conntrack records that reply only after XDP has judged it, so waiting for
	 * CT_F_SEEN_REPLY would drop every first reply under a default deny. The initiator's
	 * packets are established once a reply was seen. */
	if (rd == 0 && !(e->flags & CT_F_SEEN_REPLY))
		return FW_CT_NEW;
	*dir = rd;
	*entry = e;
	return FW_CT_ESTABLISHED;
}

static __always_inline void fw_emit(struct xdp_md *ctx, struct sentinel_counters *c, const struct sn_pkt *p,
				    __u32 rule_num, __u8 action, __u8 reason)
{
	struct fw_event *e = sn_event_reserve(&fw_events, sizeof(*e), c);
	if (!e)
		return;
	sn_event_fill_hdr(&e->hdr, SN_EV_FIREWALL, SN_PROG_XDP_FIREWALL, 0, sizeof(*e));
	__builtin_memcpy(e->src_addr, p->src, 16);
	__builtin_memcpy(e->dst_addr, p->dst, 16);
	e->rule_num = rule_num;
	e->ifindex = ctx->ingress_ifindex;
	e->src_port = p->sport;
	e->dst_port = p->dport;
	e->vlan_id = p->vlan_id;
	e->pkt_len = p->pkt_len;
	e->family = p->family;
	e->proto = p->proto;
	e->action = action;
	e->reason = reason;
	e->icmp_type = p->icmp_type;
	e->icmp_code = p->icmp_code;
	e->tcp_flags = p->tcp_flags;
	e->vlan_depth = p->vlan_depth;
	sn_event_submit(e, c);
}

/* Applies an action; returns the XDP verdict. Pass verdicts continue down the chain. */
static __always_inline int fw_apply(struct xdp_md *ctx, struct sentinel_counters *c, const struct sn_pkt *p,
				    __u8 action, __u32 rule_num, __u8 reason)
{
	if (action == FW_ACT_REJECT) {
		sn_count(c, SN_CNT_DROPPED, 1);
		fw_emit(ctx, c, p, rule_num, action, reason);
#ifdef FW_HAVE_REPLY
		return sn_reply_reject(ctx, p, sn_counters_get(&fw_counters_ext, ctx->ingress_ifindex));
#else
		return XDP_DROP; /* the agent refuses reject rules in such a build */
#endif
	}
	if (action == FW_ACT_DROP) {
		sn_count(c, SN_CNT_DROPPED, 1);
		fw_emit(ctx, c, p, rule_num, action, reason);
		return XDP_DROP;
	}
	if (action == FW_ACT_LOG)
		fw_emit(ctx, c, p, rule_num, action, reason);
	sn_count(c, SN_CNT_PASSED, 1);
	return XDP_PASS;
}

static __always_inline int fw_judge(struct xdp_md *ctx, struct sentinel_counters *c)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sn_pkt pkt = {};

	__u32 zero = 0;
	__u32 *active = bpf_map_lookup_elem(&fw_active, &zero);
	__u32 gen_idx = active ? (*active & 1) : 0;
	struct fw_gen *gen = bpf_map_lookup_elem(&fw_gen, &gen_idx);
	if (!gen)
		return XDP_PASS; /* unreachable: fw_gen is a 2-slot array */

	int rc = sn_parse(&pkt, data, data_end);
	if (rc == SN_PARSE_NOT_IP) {
		sn_count(c, SN_CNT_NON_IP, 1);
		sn_count(c, SN_CNT_PASSED, 1);
		return XDP_PASS;
	}
	if (rc != SN_PARSE_OK) {
		sn_count(c, SN_CNT_MALFORMED, 1);
		__u8 act = gen->default_action == FW_ACT_DROP ? FW_ACT_DROP : FW_ACT_PASS;
		return fw_apply(ctx, c, &pkt, act, 0, FW_REASON_MALFORMED);
	}
	if (pkt.flags & SN_PKT_F_FRAGMENT)
		sn_count(c, FW_CNT_FRAGMENT, 1);

	struct ct_entry *ce = 0;
	int cdir = -1;
	__u8 ct = fw_ct_state(data, data_end, &pkt, &ce, &cdir);
	__u32 policy = gen->policy_id;

	/* Fast path: a flow (direction) already passed by a full evaluation under this very
	 * policy skips the rules; a new policy id sends it through the rules again once. Related
	 * packets need both directions of their flow passed under this policy. */
	if (ce && policy) {
		int fast = ct == FW_CT_ESTABLISHED
				   ? (cdir == 0 ? ce->fw_pass_gen[0] == policy : ce->fw_pass_gen[1] == policy)
				   : (ce->fw_pass_gen[0] == policy && ce->fw_pass_gen[1] == policy);
		if (fast) {
			sn_count(sn_counters_get(&fw_counters_ext, ctx->ingress_ifindex), FW_XCNT_CT_FASTPATH, 1);
			sn_count(c, SN_CNT_PASSED, 1);
			return XDP_PASS;
		}
	}

	int broken = 0;
	__u32 matched = fw_lookup(&pkt, gen_idx, gen, ct, &broken);
	if (broken)
		/* Never produced by the compiler; counted so a broken structure cannot hide. */
		sn_count(sn_counters_get(&fw_counters_ext, ctx->ingress_ifindex), FW_XCNT_TREE_BROKEN, 1);

	__u8 action = gen->default_action;
	__u32 num = 0;
	__u8 reason = FW_REASON_DEFAULT;
	if (matched) {
		__u32 slot = matched - 1;
		struct fw_rule *r = bpf_map_lookup_elem(&fw_rules, &slot);
		if (r) {
			num = r->rule_num;
			struct fw_hit *h = bpf_map_lookup_elem(&fw_rule_hits, &num);
			if (h) {
				h->packets++;
				h->bytes += pkt.pkt_len;
			}
			sn_count(c, FW_CNT_RULE_HIT, 1);
			action = r->action;
			reason = FW_REASON_RULE;
		}
	}
	if (reason == FW_REASON_DEFAULT)
		sn_count(c, FW_CNT_DEFAULT, 1);
	/* A plain pass of an established direction is remembered for the fast path (log rules
	 * keep their per-packet events, so they are not). */
	if (action == FW_ACT_PASS && ct == FW_CT_ESTABLISHED && ce && policy) {
		if (cdir == 0)
			ce->fw_pass_gen[0] = policy;
		else
			ce->fw_pass_gen[1] = policy;
	}
	return fw_apply(ctx, c, &pkt, action, num, reason);
}

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	struct sentinel_counters *c = sn_counters_get(&fw_counters, ctx->ingress_ifindex);
	if (!c) {
		/* More interfaces than fw_counters holds: count them together rather than not at
		 * all. A pointer that is never NULL past here also keeps the compiler from caching
		 * the NULL test where the verifier cannot follow it. */
		__u32 zero = 0;
		c = bpf_map_lookup_elem(&fw_counters_spill, &zero);
		if (!c)
			return XDP_PASS; /* unreachable: a one-slot per-CPU array */
	}
	sn_count(c, SN_CNT_SEEN, 1);
	sn_count(c, SN_CNT_BYTES_SEEN, (__u64)(ctx->data_end - ctx->data));

	int verdict = fw_judge(ctx, c);
	if (verdict != XDP_PASS)
		return verdict;
	/* Tail calls are only legal from the entry function. A missing next program is normal
	 * (rate limiting off) and simply passes. */
	bpf_tail_call(ctx, &fw_chain, FW_TAIL_RATELIMIT);
	sn_count(c, FW_CNT_TAILCALL_MISS, 1);
	return XDP_PASS;
}
