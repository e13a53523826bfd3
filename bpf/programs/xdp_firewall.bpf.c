// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* xdp-firewall: first program on the ingress path. L3/L4 rules in priority order (first match
 * wins), CIDR sets in LPM tries, a default policy, per-rule hit counters, per-interface counters
 * and drop/log events. On pass it tail-calls the next program of the XDP chain when one is
 * installed (xdp-ratelimit), else passes to the stack.
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

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SENTINEL_BTF_EXPORT(fw_event);
SENTINEL_BTF_EXPORT(sentinel_event_hdr);
SENTINEL_BTF_EXPORT(sn_pkt);

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

/* State handed to the bpf_loop callback; lives on the stack (the verifier wants that). */
struct fw_scan {
	struct sn_pkt *pkt;
	__u32 base;       /* first slot of the active generation */
	__u32 count;
	__u32 matched;    /* slot index + 1 of the first matching rule, 0 = none */
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

static __always_inline int fw_rule_match(const struct fw_rule *r, const struct sn_pkt *p)
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

static long fw_scan_one(__u32 i, void *ctx)
{
	struct fw_scan *s = ctx;
	if (i >= s->count)
		return 1;
	__u32 slot = s->base + i;
	struct fw_rule *r = bpf_map_lookup_elem(&fw_rules, &slot);
	if (!r)
		return 1;
	if (fw_rule_match(r, s->pkt)) {
		s->matched = i + 1;
		return 1;
	}
	return 0;
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

	struct fw_scan scan = {
		.pkt = &pkt,
		.base = gen_idx * FW_MAX_RULES,
		.count = gen->rule_count > FW_MAX_RULES ? FW_MAX_RULES : gen->rule_count,
		.matched = 0,
	};
	if (scan.count)
		bpf_loop(FW_MAX_RULES, fw_scan_one, &scan, 0);

	if (scan.matched) {
		__u32 slot = scan.base + scan.matched - 1;
		struct fw_rule *r = bpf_map_lookup_elem(&fw_rules, &slot);
		if (r) {
			__u32 num = r->rule_num;
			struct fw_hit *h = bpf_map_lookup_elem(&fw_rule_hits, &num);
			if (h) {
				h->packets++;
				h->bytes += pkt.pkt_len;
			}
			sn_count(c, FW_CNT_RULE_HIT, 1);
			return fw_apply(ctx, c, &pkt, r->action, num, FW_REASON_RULE);
		}
	}
	sn_count(c, FW_CNT_DEFAULT, 1);
	return fw_apply(ctx, c, &pkt, gen->default_action, 0, FW_REASON_DEFAULT);
}

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	struct sentinel_counters *c = sn_counters_get(&fw_counters, ctx->ingress_ifindex);
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
