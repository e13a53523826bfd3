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
#include "sentinel/lib/common.h"
#include "sentinel/lib/counters.h"
#include "sentinel/lib/event.h"
#include "sentinel/lib/parse.h"
#include "sentinel/contract/firewall.h"
#include "sentinel/lib/fw_policy.h"
#include "sentinel/lib/ct.h"
#include "sentinel/lib/blocklist.h"
#define SN_REPLY_CNT_BASE FW_XCNT_REJECT_SENT
#include "sentinel/lib/reply.h"
_Static_assert(SN_REPLY_CNT_FAILED == FW_XCNT_REJECT_FAILED, "reject slots of fw_ext_counter in reply.h's order");

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SENTINEL_BTF_EXPORT(fw_event);
SENTINEL_BTF_EXPORT(sentinel_event_hdr);
SENTINEL_BTF_EXPORT(sn_pkt);
SENTINEL_BTF_EXPORT(fw_key);

/* The lookup's per-packet state (struct fw_leaf_rest): per CPU rather than on the stack, because
 * the frames main -> fw_lookup -> bpf_loop callback would pass the verifier's 512-byte limit. */
struct fw_leaf_rest;
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fw_leaf_rest);
} fw_scratch SEC(".maps");

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

/* fw_candidate's result besides a matching generation-relative slot: no candidate of the leaf
 * beats the limit. */
#define FW_WALK_NONE 0x10000

/* Where a walk that did not end in a leaf stops: a leaf of no candidates (so nothing is checked)
 * at a slot the compiler never uses (FW_LEAF_SLOTS is far below the slot field's range). */
#define FW_REF_BROKEN (FW_REF_LEAF | FW_REF_SLOT_MASK)

/* The lookup's state (in fw_scratch): the packet key, and a long leaf's remaining candidates for
 * the bpf_loop callback. */
struct fw_leaf_rest {
	struct fw_key key;
	__u32 gen;    /* active generation, 0 or 1 */
	__u32 limit;  /* only slots below it can win; the callback lowers it to a matching slot */
	__u32 base;   /* fw_leaf index of the first candidate left */
	__u32 pad;
#ifdef FW_WALK_STATS
	/* Kept here rather than in registers: the verifier does not track map memory, so the
	 * counts do not multiply the walk's states. */
	__u32 cands;  /* leaf entries examined by this packet */
	__u32 rules;  /* of them, rules read and matched (past the quick-reject filter) */
	__u32 reads[FW_MAX_TREES]; /* per tree: a wide root one, each inner node one */
	__u32 ws_key;  /* fw_walk_stats slot being bumped (a map key from here costs no stack) */
#endif
};

#ifdef FW_WALK_STATS
/* Bench-only build (-DFW_WALK_STATS: build/bpf-bench/xdp_firewall_walkstats.bpf.o): what each
 * lookup took, as per-CPU histograms in fw_walk_stats (one value of FW_WS_SLOTS counters), so
 * the bench reports the walk depth and candidate counts of its traffic from the kernel's own
 * walk. Never in the product build. Slots: enum fw_walk_stats_slot (contract/firewall.h). */
struct fw_walk_stats {
	__u64 slot[FW_WS_SLOTS];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fw_walk_stats);
} fw_walk_stats SEC(".maps");

/* One lookup for all four histograms: each helper call would spill the walk's live values. */
static __always_inline void fw_ws_record(struct fw_leaf_rest *st)
{
	st->ws_key = 0;
	struct fw_walk_stats *w = bpf_map_lookup_elem(&fw_walk_stats, &st->ws_key);
	if (!w)
		return;
	__u32 depth = st->reads[0] > st->reads[1] ? st->reads[0] : st->reads[1];
	depth = depth > st->reads[2] ? depth : st->reads[2];
	__u32 c = st->cands < FW_WS_COUNT_BUCKETS - 1 ? st->cands : FW_WS_COUNT_BUCKETS - 1;
	__u32 r = st->rules < FW_WS_COUNT_BUCKETS - 1 ? st->rules : FW_WS_COUNT_BUCKETS - 1;
	w->slot[FW_WS_PACKETS] += 1;
	w->slot[FW_WS_DEPTH + (depth < FW_WS_DEPTH_BUCKETS - 1 ? depth : FW_WS_DEPTH_BUCKETS - 1)] += 1;
	w->slot[FW_WS_CANDS + c] += 1;
	w->slot[FW_WS_RULES + r] += 1;
}
#define FW_WS(stmt) stmt
#else
#define FW_WS(stmt)
#endif

static __always_inline int fw_net_match(const __u32 *addr, const __u32 *want, const __u32 *mask)
{
	return ((addr[0] & mask[0]) == want[0]) & ((addr[1] & mask[1]) == want[1]) &
	       ((addr[2] & mask[2]) == want[2]) & ((addr[3] & mask[3]) == want[3]);
}

static __always_inline int fw_set_match(__u8 family, __u32 set_id, const __u8 *addr)
{
	if (family == SN_AF_INET) {
		struct fw_lpm_v4_key k = { .prefixlen = 64, .set_id = bpf_htonl(set_id) };
		__builtin_memcpy(k.addr, addr, 4);
		return bpf_map_lookup_elem(&fw_lpm_v4, &k) != 0;
	}
	struct fw_lpm_v6_key k6 = { .prefixlen = 160, .set_id = bpf_htonl(set_id) };
	__builtin_memcpy(k6.addr, addr, 16);
	return bpf_map_lookup_elem(&fw_lpm_v6, &k6) != 0;
}

/* The exact rule check, on the classifier key: it holds everything a rule can look at
 * (firewall.h), so the walk needs no other view of the packet. */
static __always_inline int fw_rule_match(const struct fw_rule *r, const struct fw_key *k)
{
	__u16 m = r->match;
	__u8 family = (k->meta & FW_META_V6) ? SN_AF_INET6 : SN_AF_INET;

	if (r->family && r->family != family)
		return 0;
	if ((m & FW_M_PROTO) && r->proto != k->proto)
		return 0;
	/* The key's vlan is 0x1000 | VID when tagged, 0 when untagged; rule VLAN 0 = untagged only. */
	if ((m & FW_M_VLAN) && ((__u16)(k->vlan[0] << 8 | k->vlan[1]) != (r->vlan_id ? (0x1000 | r->vlan_id) : 0)))
		return 0;
	/* Port and ICMP criteria need the L4 header: a later fragment never matches them. */
	if ((m & (FW_M_SRC_PORT | FW_M_DST_PORT | FW_M_ICMP_TYPE | FW_M_ICMP_CODE)) && (k->meta & FW_META_LATER_FRAG))
		return 0;
	__u16 sport = k->sport[0] << 8 | k->sport[1];
	__u16 dport = k->dport[0] << 8 | k->dport[1];
	if ((m & FW_M_SRC_PORT) && (sport < r->src_port_lo || sport > r->src_port_hi))
		return 0;
	if ((m & FW_M_DST_PORT) && (dport < r->dst_port_lo || dport > r->dst_port_hi))
		return 0;
	if ((m & FW_M_ICMP_TYPE) && r->icmp_type != k->icmp_type)
		return 0;
	if ((m & FW_M_ICMP_CODE) && r->icmp_code != k->icmp_code)
		return 0;
	if ((m & FW_M_CT_STATE) && !(r->ct_states & (1 << (k->meta & FW_META_CT_MASK))))
		return 0;
	if ((m & FW_M_SRC_NET) && !fw_net_match((const __u32 *)k->src, r->src_addr, r->src_mask))
		return 0;
	if ((m & FW_M_DST_NET) && !fw_net_match((const __u32 *)k->dst, r->dst_addr, r->dst_mask))
		return 0;
	/* Set lookups last: they are the most expensive criterion. */
	if ((m & FW_M_SRC_SET) && !fw_set_match(family, r->src_set, k->src))
		return 0;
	if ((m & FW_M_DST_SET) && !fw_set_match(family, r->dst_set, k->dst))
		return 0;
	return 1;
}

/* Checks leaf entry li of the generation: the generation-relative rule slot when that rule
 * matches, FW_WALK_NONE when this and every later candidate of the leaf cannot win (leaves are in
 * priority order, so a slot at or past the limit ends the leaf), 0xffffffff to go on with the
 * next candidate. */
static __always_inline __u32 fw_candidate(struct fw_leaf_rest *st, const struct fw_leaf_gen *leaves, __u32 rule_base,
					   __u32 li, __u32 limit)
{
	const struct fw_key *key = &st->key;
	__u32 e = leaves->entry[li & (FW_LEAF_SLOTS - 1)];
	__u32 rel = e & FW_LEAF_SLOT_MASK;
	if (rel >= limit)
		return FW_WALK_NONE;
	FW_WS(st->cands++);
	__u32 fb = (e >> FW_LEAF_BYTE_SHIFT) & 0x3f;
	__u32 fmask = (0xff00 >> ((e >> FW_LEAF_MASKLEN_SHIFT) & 0xf)) & 0xff;
	if (fb >= FW_KEY_SIZE || ((((const __u8 *)key)[fb] ^ (e >> FW_LEAF_VALUE_SHIFT)) & fmask))
		return 0xffffffff; /* filtered out: this candidate cannot match */
	FW_WS(st->rules++);
	__u32 ri = rule_base + rel;
	struct fw_rule *r = bpf_map_lookup_elem(&fw_rules, &ri);
	if (!r)
		return FW_WALK_NONE;
	return fw_rule_match(r, key) ? rel : 0xffffffff;
}

static long fw_candidate_cb(__u32 n, void *ctx)
{
	__u32 zero = 0;
	struct fw_leaf_rest *c = bpf_map_lookup_elem(&fw_scratch, &zero);
	if (!c)
		return 1;
	__u32 g = c->gen & 1;
	struct fw_leaf_gen *leaves = bpf_map_lookup_elem(&fw_leaf, &g);
	if (!leaves)
		return 1;
	__u32 got = fw_candidate(c, leaves, g * FW_MAX_RULES, c->base + n, c->limit);
	if (got == 0xffffffff)
		return 0;
	if (got < c->limit)
		c->limit = got;
	return 1;
}

/* One level down: the child of inner node ref for the key, FW_REF_BROKEN on a reference the
 * compiler does not produce there. */
static __always_inline __u32 fw_step(const __u8 *kb, const struct fw_tree_gen *tree, __u32 ref)
{
	__u32 byte = (ref >> FW_REF_BYTE_SHIFT) & FW_REF_BYTE_MASK;
	__u32 node = ref & FW_REF_NODE_MASK;
	if ((ref & FW_REF_WIDE) || byte >= FW_KEY_SIZE || node >= FW_TREE_NODES)
		return FW_REF_BROKEN;
	return tree->ref[((node & (FW_TREE_NODES - 1)) << 8) | kb[byte]];
}

/* Where a tree's root leads for the key: a wide root is looked up by its two key bytes at once
 * (firewall.h); any other root is itself. */
static __always_inline __u32 fw_root(const __u8 *kb, const struct fw_wide_gen *wide, __u32 ref)
{
	if ((ref & (FW_REF_LEAF | FW_REF_WIDE)) != FW_REF_WIDE)
		return ref;
	__u32 a = (ref >> FW_REF_BYTE_SHIFT) & FW_REF_BYTE_MASK;
	__u32 b = (ref >> FW_REF_BYTE2_SHIFT) & FW_REF_BYTE_MASK;
	__u32 t = ref & FW_REF_TABLE_MASK;
	if (a >= FW_KEY_SIZE || b >= FW_KEY_SIZE || t >= FW_WIDE_TABLES)
		return FW_REF_BROKEN;
	_Static_assert(FW_WIDE_SLOTS == 1 << 16 && FW_WIDE_TABLES == 8, "a masked wide index stays in fw_wide_gen");
	return wide->ref[(t & 7) << 16 | (__u32)kb[a] << 8 | kb[b]];
}

/* The first candidate of a leaf that matches below limit (generation-relative slot), or
 * FW_WALK_NONE. Its first FW_LEAF_INLINE candidates are checked here; the rest of a longer leaf
 * (only when the compiler's node budget ran short) through bpf_loop. */
static __always_inline __u32 fw_leaf_first(struct fw_leaf_rest *st, const struct fw_leaf_gen *leaves, __u32 g,
					    __u32 leaf, __u32 limit)
{
	__u32 base = leaf & FW_REF_SLOT_MASK;
	__u32 count = (leaf >> FW_REF_COUNT_SHIFT) & FW_REF_COUNT_MASK;
	for (__u32 i = 0; i < FW_LEAF_INLINE; i++) {
		if (i >= count)
			return FW_WALK_NONE;
		__u32 got = fw_candidate(st, leaves, g * FW_MAX_RULES, base + i, limit);
		if (got != 0xffffffff)
			return got; /* a matching slot, or FW_WALK_NONE: the leaf is done */
	}
	if (count <= FW_LEAF_INLINE)
		return FW_WALK_NONE;
	st->limit = limit;
	st->base = base + FW_LEAF_INLINE;
	bpf_loop(count - FW_LEAF_INLINE, fw_candidate_cb, NULL, 0);
	return st->limit < limit ? st->limit : FW_WALK_NONE;
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
	/* Word copies: the key's address fields are 4-byte aligned (firewall.h), and a byte-wise
	 * copy costs 64 loads and stores on every packet. */
	__u32 *ks = (__u32 *)k->src, *kd = (__u32 *)k->dst;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		ks[i] = p->src[i];
		kd[i] = p->dst[i];
	}
}

/* fw_lookup's flag: a tree walk did not end in a leaf. */
#define FW_LOOKUP_BROKEN 0x80000000

/* The first matching rule over the packet family's trees: fw_rules index + 1, 0 for none, with
 * FW_LOOKUP_BROKEN or'ed in when a walk broke. The trees are descended side by side, level by
 * level: each walk is a chain of dependent loads, and side by side the CPU overlaps the chains,
 * so a packet pays about for its deepest walk rather than for the sum (one after the other, each
 * further tree cost as much as the whole lookup of a small policy). Then each leaf's
 * candidates, tree by tree: later trees need a lower slot to win. A global function: verified
 * once, apart from the packet path. The depth bound, not trust in the structure, ends a walk
 * through a broken (cyclic) one. */
__noinline __u32 fw_lookup(const struct sn_pkt *pkt, __u32 gen_idx, const struct fw_gen *gen, __u32 ct)
{
	if (!pkt || !gen)
		return FW_LOOKUP_BROKEN;
	__u32 zero = 0;
	struct fw_leaf_rest *st = bpf_map_lookup_elem(&fw_scratch, &zero);
	if (!st)
		return FW_LOOKUP_BROKEN;
	__u32 g = gen_idx & 1;
	struct fw_tree_gen *tree = bpf_map_lookup_elem(&fw_tree, &g);
	struct fw_wide_gen *wide = bpf_map_lookup_elem(&fw_wide, &g);
	struct fw_leaf_gen *leaves = bpf_map_lookup_elem(&fw_leaf, &g);
	if (!tree || !wide || !leaves)
		return FW_LOOKUP_BROKEN; /* unreachable: 2-slot arrays */
	__u32 f = pkt->family == SN_AF_INET6 ? 1 : 0;
	fw_key_of(&st->key, pkt, ct & FW_META_CT_MASK);
	st->gen = g;
	const __u8 *kb = (const __u8 *)&st->key;
	__u32 trees = gen->tree_count[f];
	_Static_assert(FW_MAX_TREES == 3, "three walks side by side");
	/* An absent tree is a leaf of no candidates. */
	__u32 r0 = trees > 0 ? fw_root(kb, wide, gen->roots[f][0]) : FW_REF_LEAF;
	__u32 r1 = trees > 1 ? fw_root(kb, wide, gen->roots[f][1]) : FW_REF_LEAF;
	__u32 r2 = trees > 2 ? fw_root(kb, wide, gen->roots[f][2]) : FW_REF_LEAF;
#ifdef FW_WALK_STATS
	st->cands = 0;
	st->rules = 0;
	st->reads[0] = trees > 0 && (gen->roots[f][0] & (FW_REF_LEAF | FW_REF_WIDE)) == FW_REF_WIDE;
	st->reads[1] = trees > 1 && (gen->roots[f][1] & (FW_REF_LEAF | FW_REF_WIDE)) == FW_REF_WIDE;
	st->reads[2] = trees > 2 && (gen->roots[f][2] & (FW_REF_LEAF | FW_REF_WIDE)) == FW_REF_WIDE;
#endif
	for (int d = 0; d < FW_MAX_DEPTH; d++) {
		if (r0 & r1 & r2 & FW_REF_LEAF)
			break;
		if (!(r0 & FW_REF_LEAF)) {
			r0 = fw_step(kb, tree, r0);
			FW_WS(st->reads[0]++);
		}
		if (!(r1 & FW_REF_LEAF)) {
			r1 = fw_step(kb, tree, r1);
			FW_WS(st->reads[1]++);
		}
		if (!(r2 & FW_REF_LEAF)) {
			r2 = fw_step(kb, tree, r2);
			FW_WS(st->reads[2]++);
		}
	}
	__u32 broken = 0;
	if (!(r0 & r1 & r2 & FW_REF_LEAF) || r0 == FW_REF_BROKEN || r1 == FW_REF_BROKEN || r2 == FW_REF_BROKEN) {
		/* Never produced by the compiler; the caller counts it. Such a walk checks nothing. */
		broken = FW_LOOKUP_BROKEN;
		r0 = (r0 & FW_REF_LEAF) ? r0 : FW_REF_BROKEN;
		r1 = (r1 & FW_REF_LEAF) ? r1 : FW_REF_BROKEN;
		r2 = (r2 & FW_REF_LEAF) ? r2 : FW_REF_BROKEN;
	}
	__u32 limit = fw_leaf_first(st, leaves, g, r0, FW_MAX_RULES);
	const __u32 has = FW_REF_COUNT_MASK << FW_REF_COUNT_SHIFT;
	if (r1 & has) {
		__u32 got = fw_leaf_first(st, leaves, g, r1, limit);
		if (got < limit)
			limit = got;
	}
	if (r2 & has) {
		__u32 got = fw_leaf_first(st, leaves, g, r2, limit);
		if (got < limit)
			limit = got;
	}
	FW_WS(fw_ws_record(st));
	return (limit < FW_MAX_RULES ? g * FW_MAX_RULES + limit + 1 : 0) | broken;
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

/* An ICMP/ICMPv6 error of the packet's own family (it may be related to a flow it quotes). */
static __always_inline int fw_icmp_error(const struct sn_pkt *p)
{
	return ((p->proto == IPPROTO_ICMP && p->family == SN_AF_INET) ||
		(p->proto == IPPROTO_ICMPV6 && p->family == SN_AF_INET6)) &&
	       ct_icmp_is_error(p->proto, p->icmp_type);
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
	/* A pure SYN (no ACK, RST or FIN) opens a connection attempt: new whatever the table holds
	 * (on a live flow it is a retransmission or a port reuse, for the rules to judge again),
	 * so it needs no lookup and never takes the fast path. */
	if (p->proto == IPPROTO_TCP && (p->tcp_flags & 0x17) == 0x02)
		return FW_CT_NEW;
	struct ct_key key;
	/* The clock is read only once an entry is found: most packets of a flood of new flows miss,
	 * and a clock read is not free (a paravirtual clock: a few tens of ns). */
	if (fw_icmp_error(p)) {
		if (ct_key_of_icmp_error(data, data_end, p, &key) != 0)
			return FW_CT_INVALID; /* an error quoting nothing we can read */
		struct ct_entry *e = bpf_map_lookup_elem(&ct_table, &key);
		if (e && ct_entry_live(e, bpf_ktime_get_boot_ns())) {
			*entry = e;
			return FW_CT_RELATED;
		}
		return FW_CT_NEW;
	}
	int d = ct_key_of(p, &key);
	if (d < 0)
		return FW_CT_NEW;
	struct ct_entry *e = bpf_map_lookup_elem(&ct_table, &key);
	if (!e || !ct_entry_live(e, bpf_ktime_get_boot_ns()))
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

/* Whether a packet in conntrack state ct of entry ce may skip the rules: its flow (direction) was
 * passed by a full evaluation under this very policy; a new policy id sends it through the rules
 * again once. Related packets need both directions of their flow passed under this policy. */
static __always_inline int fw_fast(const struct ct_entry *ce, __u8 ct, int cdir, __u32 policy)
{
	if (!ce || !policy)
		return 0;
	if (ct == FW_CT_ESTABLISHED)
		return cdir == 0 ? ce->fw_pass_gen[0] == policy : ce->fw_pass_gen[1] == policy;
	return ce->fw_pass_gen[0] == policy && ce->fw_pass_gen[1] == policy;
}

static __always_inline void fw_emit(struct xdp_md *ctx, struct sentinel_counters *c, const struct sn_pkt *p,
				    __u32 rule_num, __u8 action, __u8 reason)
{
	struct fw_event *e = sn_event_reserve(&fw_events, sizeof(*e), c);
	if (!e)
		return;
	sn_event_fill_hdr(&e->hdr, SN_EV_FIREWALL, SN_PROG_XDP_FIREWALL, 0, sizeof(*e));
	SN_EVENT_FILL_FLOW(e, ctx, p);
	e->rule_num = rule_num;
	e->action = action;
	e->reason = reason;
	e->icmp_type = p->icmp_type;
	e->icmp_code = p->icmp_code;
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
		return sn_reply_reject(ctx, p, sn_counters_get(&fw_counters_ext, ctx->ingress_ifindex));
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

/* A packet the dynamic block list holds: dropped whatever the policy says, counted, and sampled
 * into an event naming the entry. */
static __always_inline int fw_blocked(struct xdp_md *ctx, struct sentinel_counters *c, const struct sn_pkt *p,
				      struct bl_value *bl)
{
	sn_count(c, FW_CNT_BLOCKLIST, 1);
	sn_count(c, SN_CNT_DROPPED, 1);
	if (sn_blocklist_hit(bl))
		fw_emit(ctx, c, p, bl->id, FW_ACT_DROP, FW_REASON_BLOCKLIST);
	return XDP_DROP;
}

/* fw_lookup, with a broken walk counted (never produced by the compiler; counted so a broken
 * structure cannot hide; such a walk checks nothing). */
static __always_inline __u32 fw_lookup_counted(struct xdp_md *ctx, const struct sn_pkt *p, __u32 gen_idx,
					       const struct fw_gen *gen, __u8 ct)
{
	__u32 matched = fw_lookup(p, gen_idx, gen, ct);
	if (matched & FW_LOOKUP_BROKEN)
		sn_count(sn_counters_get(&fw_counters_ext, ctx->ingress_ifindex), FW_XCNT_TREE_BROKEN, 1);
	return matched & ~FW_LOOKUP_BROKEN;
}

/* The action of fw_lookup's result: the matched rule's, else the default policy's. */
static __always_inline __u8 fw_action_of(const struct fw_gen *gen, __u32 matched)
{
	if (!matched)
		return gen->default_action;
	__u32 slot = matched - 1;
	struct fw_rule *r = bpf_map_lookup_elem(&fw_rules, &slot);
	return r ? r->action : gen->default_action;
}

/* A packet of a flow the rules already passed under this policy (fw_fast). */
static __always_inline int fw_fastpath(struct xdp_md *ctx, struct sentinel_counters *c)
{
	sn_count(sn_counters_get(&fw_counters_ext, ctx->ingress_ifindex), FW_XCNT_CT_FASTPATH, 1);
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

	/* Before conntrack and the rules: a blocked address costs one lookup, and an established
	 * flow from it is cut too. */
	struct bl_value *bl = sn_blocklist_lookup(pkt.family, pkt.src, pkt.dst);
	if (bl)
		return fw_blocked(ctx, c, &pkt, bl);

	struct ct_entry *ce = 0;
	int cdir = -1;
	__u32 policy = gen->policy_id;
	/* Under a policy without state rules the rules come first and only a packet they pass is
	 * looked up in ct_table: a dropped packet never pays for the lookup (most of a flood of new
	 * flows: a miss in a table of 262,144 buckets is a cache miss or worse), and the verdict is
	 * the same either way, because the rules judge every state alike and the fast path only
	 * repeats a pass they gave the flow under this policy. (One exception: ct_table keys have
	 * no VLAN, so a passed flow's tuple arriving on a VLAN the rules deny was let through by
	 * the fast path; here the rules drop it, as they say.) */
	int late_ct = (gen->flags & FW_GEN_F_STATELESS) && !fw_icmp_error(&pkt);
	__u8 ct = FW_CT_NEW;
	__u32 matched = 0;
	if (late_ct) {
		matched = fw_lookup_counted(ctx, &pkt, gen_idx, gen, ct);
		if (fw_action_of(gen, matched) != FW_ACT_PASS)
			goto judged;
	}
	/* One call site: fw_ct_state inlined twice would pass the verifier's stack limit. */
	ct = fw_ct_state(data, data_end, &pkt, &ce, &cdir);
	/* Under late_ct this packet already has its verdict (pass) from the rules: one the fast
	 * path would have given is counted as the fast path's, the same counters as before. */
	if (fw_fast(ce, ct, cdir, policy))
		return fw_fastpath(ctx, c);
	if (!late_ct)
		matched = fw_lookup_counted(ctx, &pkt, gen_idx, gen, ct);
judged:;
	__u8 action = gen->default_action;
	__u32 num = 0;
	__u8 reason = FW_REASON_DEFAULT;
	if (matched) {
		__u32 slot = matched - 1;
		struct fw_rule *r = bpf_map_lookup_elem(&fw_rules, &slot);
		if (r) {
			num = r->rule_num;
			action = r->action;
			reason = FW_REASON_RULE;
		}
	}
	if (reason == FW_REASON_RULE) {
		struct fw_hit *h = bpf_map_lookup_elem(&fw_rule_hits, &num);
		if (h) {
			h->packets++;
			h->bytes += pkt.pkt_len;
		}
		sn_count(c, FW_CNT_RULE_HIT, 1);
	} else {
		sn_count(c, FW_CNT_DEFAULT_POLICY, 1);
	}
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
