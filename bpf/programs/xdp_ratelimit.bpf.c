// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* xdp-ratelimit: second program of the XDP chain (tail-called from xdp-firewall fw_chain[0]),
 * or attached alone when the firewall is off. In order:
 *   1. SYN cookies (synproxy.h): pure SYNs to a local listener are answered with XDP_TX when
 *      cookie mode is "always", or when the SYN rate is over the threshold meter; pure ACKs to
 *      a listener must carry a valid cookie (the agent's or the kernel's).
 *   2. Flood guards: SYN, UDP and ICMP/ICMPv6 (neighbour discovery exempt), each with an
 *      aggregate meter and a per-source meter.
 *   3. Rules in priority order (first match), then the default per-source limit.
 * All meters are GCRA over a shared TAT (ratelimit.h), so a rate holds whatever the CPU count.
 *
 * Verdicts for packets it cannot judge: non-IP and malformed pass (the firewall before it has
 * already applied its fail-closed policy), counted. A bucket that cannot be created or a TAT
 * update that loses every retry passes the packet and is counted (rl_stats). */
#include "sentinel/lib/common.h"
#include "sentinel/lib/counters.h"
#include "sentinel/lib/event.h"
#include "sentinel/lib/parse.h"
#include "sentinel/contract/ratelimit.h"
#include "sentinel/lib/rl_policy.h"
#include "sentinel/lib/synproxy.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SENTINEL_BTF_EXPORT(rl_event);
SENTINEL_BTF_EXPORT(sentinel_event_hdr);
SENTINEL_BTF_EXPORT(rl_key);
SENTINEL_BTF_EXPORT(rl_bucket);
SENTINEL_BTF_EXPORT(rl_cookie_cfg);
SENTINEL_BTF_EXPORT(rl_kstamp_key);

#define CAS_TRIES 8

/* The agent's cookie key and the options this host takes (syncookie.h); tc_syncookie reuses it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rl_cookie_cfg);
} rl_cookie_cfg SEC(".maps");

/* Kernel path: when XDP last handed a listener address and port a SYN (RL_KSTAMP_REFRESH_NS). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RL_KSTAMP_MAX);
	__type(key, struct rl_kstamp_key);
	__type(value, __u64);
} rl_kstamp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RL_MAX_BUCKETS);
	__type(key, struct rl_key);
	__type(value, struct rl_bucket);
} rl_buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_AGG_MAX);
	__type(key, __u32);
	__type(value, struct rl_bucket);
} rl_agg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RL_ST_MAX);
	__type(key, __u32);
	__type(value, __u64);
} rl_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rl_housekeeping);
} rl_housekeeping SEC(".maps");

SENTINEL_COUNTER_MAP(rl_counters);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} rl_events SEC(".maps");

static __always_inline void rl_stat(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&rl_stats, &slot);
	if (v)
		*v += 1;
}

/* Compare-and-swap attempts per meter update. A kernel test builds this program with 0, so that
 * every update "loses" and each path's counting of it can be checked without racing CPUs. */
#ifndef RL_CAS_TRIES
#define RL_CAS_TRIES CAS_TRIES
#endif

/* GCRA. Returns 1 when the packet conforms (and takes its place), 0 when over the limit,
 * -1 when every CAS retry lost (the caller passes the packet, and counts it once it passed). */
static __always_inline int rl_meter(struct rl_bucket *b, const struct rl_limit *l, __u64 now)
{
	b->last_ns = now; /* racy by design: housekeeping only needs "recently" */
	for (int i = 0; i < RL_CAS_TRIES; i++) {
		__u64 tat = b->tat;
		__u64 base = tat > now ? tat : now;
		if (base - now > l->tolerance_ns)
			return 0;
		if (__sync_val_compare_and_swap(&b->tat, tat, base + l->interval_ns) == tat)
			return 1;
	}
	return -1;
}

static __always_inline struct rl_bucket *rl_bucket_of(const struct sn_pkt *p, __u8 kind, __u32 id, int by_source, __u64 now)
{
	struct rl_key k = { .id = id, .family = p->family, .kind = kind };
	if (by_source)
		__builtin_memcpy(k.addr, p->src, 16);
	struct rl_bucket *b = bpf_map_lookup_elem(&rl_buckets, &k);
	if (b)
		return b;
	struct rl_bucket fresh = { .tat = now, .last_ns = now };
	bpf_map_update_elem(&rl_buckets, &k, &fresh, BPF_NOEXIST);
	b = bpf_map_lookup_elem(&rl_buckets, &k);
	if (!b)
		rl_stat(RL_ST_BUCKET_CREATE_FAILED);
	return b;
}

static __always_inline void rl_emit(struct xdp_md *ctx, struct sentinel_counters *c, const struct sn_pkt *p, __u8 reason,
				    __u8 action, __u32 rule_num, __u64 drops, __u8 aggregate)
{
	struct rl_event *e = sn_event_reserve(&rl_events, sizeof(*e), c);
	if (!e)
		return;
	sn_event_fill_hdr(&e->hdr, SN_EV_RATELIMIT, SN_PROG_XDP_RATELIMIT, 0, sizeof(*e));
	SN_EVENT_FILL_FLOW(e, ctx, p);
	e->drops = drops;
	e->rule_num = rule_num;
	e->reason = reason;
	e->action = action;
	e->aggregate = aggregate;
	e->_pad[0] = 0;
	e->_pad[1] = 0;
	sn_event_submit(e, c);
}

/* Counts a drop on bucket b; emits the first of every `every` drops. */
static __always_inline void rl_drop_sampled(struct xdp_md *ctx, struct sentinel_counters *c, const struct sn_pkt *p,
					    struct rl_bucket *b, __u32 every, __u8 reason, __u8 action, __u32 rule_num,
					    __u8 aggregate)
{
	__u64 n = __sync_fetch_and_add(&b->drops, 1);
	if (every <= 1 || n % every == 0)
		rl_emit(ctx, c, p, reason, action, rule_num, n + 1, aggregate);
}

/* One flood guard: per-source meter, then the aggregate one (a source already over its own
 * limit does not spend the budget everyone shares). Returns 1 when the packet is over; sets
 * *lost when a meter lost every CAS retry (the packet then went unmetered by it). */
static __always_inline int rl_guard(struct xdp_md *ctx, struct sentinel_counters *c, const struct sn_pkt *p,
				    const struct rl_gen *g, const struct rl_limit *agg, const struct rl_limit *src,
				    __u32 agg_slot, __u8 kind, __u8 reason, __u32 cnt_slot, __u64 now, int *lost)
{
	if (src->interval_ns) {
		struct rl_bucket *b = rl_bucket_of(p, kind, 0, 1, now);
		if (b) {
			int r = rl_meter(b, src, now);
			if (r < 0)
				*lost = 1;
			if (r == 0) {
				sn_count(c, cnt_slot, 1);
				rl_drop_sampled(ctx, c, p, b, g->sample_every, reason, RL_ACT_DROP, 0, 0);
				return 1;
			}
		}
	}
	if (agg->interval_ns) {
		struct rl_bucket *b = bpf_map_lookup_elem(&rl_agg, &agg_slot);
		if (b) {
			int r = rl_meter(b, agg, now);
			if (r < 0)
				*lost = 1;
			if (r == 0) {
				sn_count(c, cnt_slot, 1);
				rl_drop_sampled(ctx, c, p, b, g->sample_every, reason, RL_ACT_DROP, 0, 1);
				return 1;
			}
		}
	}
	return 0;
}

struct rl_scan {
	const struct sn_pkt *pkt;
	__u32 base;
	__u32 count;
	__u32 matched; /* slot + 1 of the first match */
};

static __always_inline int rl_rule_match(const struct rl_rule *r, const struct sn_pkt *p)
{
	if (r->family != p->family)
		return 0;
	if ((r->match & RL_M_PROTO) && r->proto != p->proto)
		return 0;
	if (r->match & RL_M_DPORT) {
		if (p->flags & SN_PKT_F_LATER_FRAG)
			return 0;
		if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
			return 0;
		if (p->dport < r->dport_lo || p->dport > r->dport_hi)
			return 0;
	}
	return ((p->src[0] & r->mask[0]) == r->addr[0]) & ((p->src[1] & r->mask[1]) == r->addr[1]) &
	       ((p->src[2] & r->mask[2]) == r->addr[2]) & ((p->src[3] & r->mask[3]) == r->addr[3]);
}

static long rl_scan_one(__u32 i, void *ctx)
{
	struct rl_scan *s = ctx;
	if (i >= s->count)
		return 1;
	__u32 slot = s->base + i;
	struct rl_rule *r = bpf_map_lookup_elem(&rl_rules, &slot);
	if (!r)
		return 1;
	if (rl_rule_match(r, s->pkt)) {
		s->matched = i + 1;
		return 1;
	}
	return 0;
}

/* --- housekeeping ------------------------------------------------------------------------ */

struct rl_sweep {
	__u64 now;
	__u64 max_idle;
};

static long rl_sweep_one(void *map, struct rl_key *key, struct rl_bucket *b, struct rl_sweep *s)
{
	__u64 last = b->last_ns;
	if (last < s->now && s->now - last > s->max_idle) {
		if (bpf_map_delete_elem(map, key) == 0)
			rl_stat(RL_ST_BUCKETS_EXPIRED);
	}
	return 0;
}

static int rl_housekeeping_cb(void *map, __u32 *key, struct rl_housekeeping *hk)
{
	struct rl_sweep s = { .now = bpf_ktime_get_ns(), .max_idle = hk->max_idle_ns };
	rl_stat(RL_ST_HOUSEKEEPING_RUNS);
	if (s.max_idle)
		bpf_for_each_map_elem(&rl_buckets, rl_sweep_one, &s, 0);
	__u64 period = hk->period_ns;
	if (period)
		bpf_timer_start(&hk->timer, period, 0);
	return 0;
}

/* The timer lives in a map value and must be armed from a program: the first packet after the
 * agent enables housekeeping does it (the agent resets `armed` when it writes the config). */
static __always_inline void rl_housekeeping_arm(void)
{
	__u32 zero = 0;
	struct rl_housekeeping *hk = bpf_map_lookup_elem(&rl_housekeeping, &zero);
	if (!hk || hk->armed || !hk->period_ns)
		return;
	if (__sync_val_compare_and_swap(&hk->armed, 0, 1) != 0)
		return;
	bpf_timer_init(&hk->timer, &rl_housekeeping, 1 /* CLOCK_MONOTONIC */);
	bpf_timer_set_callback(&hk->timer, rl_housekeeping_cb);
	bpf_timer_start(&hk->timer, hk->period_ns, 0);
}

/* --- SYN cookies ------------------------------------------------------------------------- */

#define RL_CONTINUE -1

/* Kernel path: 1 when this SYN goes to the stack so the listener stamps itself (first SYN to
 * the listener address and port, then one per RL_KSTAMP_REFRESH_NS; one CPU wins the slot). */
static __always_inline int rl_kstamp_due(const struct sn_pkt *p, __u64 now)
{
	struct rl_kstamp_key k = { .port = p->dport, .family = p->family };
	__builtin_memcpy(k.addr, p->dst, 16);
	__u64 *last = bpf_map_lookup_elem(&rl_kstamp, &k);
	if (!last) {
		/* a full LRU evicts the stalest listener: it refreshes on its next SYN */
		return bpf_map_update_elem(&rl_kstamp, &k, &now, BPF_NOEXIST) == 0;
	}
	__u64 l = *last;
	if (now - l < RL_KSTAMP_REFRESH_NS)
		return 0;
	return __sync_val_compare_and_swap(last, l, now) == l;
}

static __always_inline int rl_syn_cookies(struct xdp_md *ctx, struct sentinel_counters *c, const struct sn_pkt *p,
					  const struct rl_gen *g, __u64 now, int *lost)
{
	__u8 fl = p->tcp_flags;
	__u32 zero = 0;
	const struct rl_cookie_cfg *cfg = 0;
	if (g->cookie_path == RL_PATH_REQSK) {
		cfg = bpf_map_lookup_elem(&rl_cookie_cfg, &zero);
		if (cfg && !sc_key_set(cfg))
			cfg = 0;
	}
	/* pure SYN: SYN without ACK/RST/FIN */
	if ((fl & 0x17) == 0x02) {
		if (g->cookie_mode == RL_COOKIE_THRESHOLD) {
			__u32 slot = RL_AGG_COOKIE;
			struct rl_bucket *b = bpf_map_lookup_elem(&rl_agg, &slot);
			int m = b ? rl_meter(b, &g->cookie_threshold, now) : 1;
			if (m < 0)
				*lost = 1; /* judged under the threshold unmetered: counted if it passes */
			if (m != 0) {
				rl_stat(RL_ST_SYN_UNDER_THRESHOLD);
				return RL_CONTINUE;
			}
		}
		if (sp_socket_kind(ctx, p) != SP_SK_LISTEN) {
			rl_stat(RL_ST_SYN_NOT_ANSWERED);
			return RL_CONTINUE;
		}
		if (g->cookie_path == RL_PATH_REQSK && !cfg) {
			rl_stat(RL_ST_SYN_NOT_ANSWERED); /* no key yet: the stack answers */
			return RL_CONTINUE;
		}
		if (g->cookie_path == RL_PATH_KERNEL && rl_kstamp_due(p, now)) {
			rl_stat(RL_ST_SYN_REFRESH);
			return RL_CONTINUE;
		}
		int r = p->family == SN_AF_INET ? sp_answer_syn_v4(ctx, p, cfg) : sp_answer_syn_v6(ctx, p, cfg);
		if (r != SP_OK) {
			rl_stat(RL_ST_SYN_NOT_ANSWERED);
			return RL_CONTINUE; /* frame untouched unless the resize succeeded; stack judges it */
		}
		sn_count(c, RL_CNT_SYNCOOKIE_SENT, 1);
		return XDP_TX;
	}
	/* pure ACK (ACK only): the third packet of a cookie handshake, or a segment of a live flow */
	if ((fl & 0x17) == 0x10) {
		if (sp_socket_kind(ctx, p) != SP_SK_LISTEN)
			return RL_CONTINUE;
		int v = sp_check_ack(ctx, p, cfg);
		if (v == SP_ACK_AGENT) {
			rl_stat(RL_ST_SYNCOOKIE_VALID); /* tc_syncookie turns it into a request socket */
			return XDP_PASS;
		}
		if (v == SP_ACK_KERNEL) {
			rl_stat(RL_ST_SYNCOOKIE_VALID_KERNEL);
			return XDP_PASS;
		}
		sn_count(c, RL_CNT_SYNCOOKIE_INVALID, 1);
		sn_count(c, SN_CNT_DROPPED, 1);
		/* Invalid cookies are sampled on the aggregate cookie bucket: no per-source state for
		 * what is most likely spoofed. */
		__u32 slot = RL_AGG_COOKIE;
		struct rl_bucket *b = bpf_map_lookup_elem(&rl_agg, &slot);
		if (b)
			rl_drop_sampled(ctx, c, p, b, g->sample_every, RL_R_SYNCOOKIE_INVALID, RL_ACT_DROP, 0, 1);
		return XDP_DROP;
	}
	return RL_CONTINUE;
}

static __always_inline int rl_is_nd(const struct sn_pkt *p)
{
	return p->proto == IPPROTO_ICMPV6 && p->icmp_type >= 133 && p->icmp_type <= 137;
}

static __always_inline int rl_judge(struct xdp_md *ctx, struct sentinel_counters *c)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sn_pkt pkt = {};

	int rc = sn_parse(&pkt, data, data_end);
	if (rc == SN_PARSE_NOT_IP) {
		sn_count(c, SN_CNT_NON_IP, 1);
		return XDP_PASS;
	}
	if (rc != SN_PARSE_OK) {
		sn_count(c, SN_CNT_MALFORMED, 1);
		return XDP_PASS;
	}

	__u32 zero = 0;
	__u32 *active = bpf_map_lookup_elem(&rl_active, &zero);
	__u32 gen_idx = active ? (*active & 1) : 0;
	struct rl_gen *g = bpf_map_lookup_elem(&rl_gen, &gen_idx);
	if (!g)
		return XDP_PASS;
	__u64 now = bpf_ktime_get_ns();
	rl_housekeeping_arm();
	int lost = 0; /* a meter lost every CAS retry: see pass */

	int later_frag = pkt.flags & SN_PKT_F_LATER_FRAG;
	if (pkt.proto == IPPROTO_TCP && !later_frag) {
		if (g->cookie_mode != RL_COOKIE_OFF) {
			int v = rl_syn_cookies(ctx, c, &pkt, g, now, &lost);
			if (v != RL_CONTINUE)
				return v;
		}
		if ((pkt.tcp_flags & 0x17) == 0x02 &&
		    rl_guard(ctx, c, &pkt, g, &g->syn_agg, &g->syn_src, RL_AGG_SYN, RL_K_SYN, RL_R_SYN_FLOOD, RL_CNT_DROP_SYN_FLOOD, now, &lost))
			goto drop;
	} else if (pkt.proto == IPPROTO_UDP) {
		if (rl_guard(ctx, c, &pkt, g, &g->udp_agg, &g->udp_src, RL_AGG_UDP, RL_K_UDP, RL_R_UDP_FLOOD, RL_CNT_DROP_UDP_FLOOD, now, &lost))
			goto drop;
	} else if ((pkt.proto == IPPROTO_ICMP || pkt.proto == IPPROTO_ICMPV6) && !rl_is_nd(&pkt)) {
		if (rl_guard(ctx, c, &pkt, g, &g->icmp_agg, &g->icmp_src, RL_AGG_ICMP, RL_K_ICMP, RL_R_ICMP_FLOOD, RL_CNT_DROP_ICMP_FLOOD, now, &lost))
			goto drop;
	}

	struct rl_scan scan = {
		.pkt = &pkt,
		.base = gen_idx * RL_MAX_RULES,
		.count = g->rule_count > RL_MAX_RULES ? RL_MAX_RULES : g->rule_count,
		.matched = 0,
	};
	if (scan.count)
		bpf_loop(RL_MAX_RULES, rl_scan_one, &scan, 0);

	if (scan.matched) {
		__u32 slot = scan.base + scan.matched - 1;
		struct rl_rule *r = bpf_map_lookup_elem(&rl_rules, &slot);
		if (!r)
			goto pass;
		struct rl_limit lim = r->limit;
		__u32 num = r->rule_num;
		__u8 action = r->action;
		struct rl_bucket *b = rl_bucket_of(&pkt, RL_K_RULE, num, r->scope == RL_SCOPE_SOURCE, now);
		if (!b)
			goto pass;
		int m = rl_meter(b, &lim, now);
		if (m < 0)
			lost = 1;
		if (m != 0)
			goto pass;
		if (action == RL_ACT_PASS) {
			rl_stat(RL_ST_OVER_LIMIT_PASSED);
			rl_drop_sampled(ctx, c, &pkt, b, g->sample_every, RL_R_RULE, RL_ACT_PASS, num, r->scope == RL_SCOPE_RULE);
			goto pass;
		}
		sn_count(c, RL_CNT_DROP_RULE, 1);
		rl_drop_sampled(ctx, c, &pkt, b, g->sample_every, RL_R_RULE, RL_ACT_DROP, num, r->scope == RL_SCOPE_RULE);
		goto drop;
	}

	if (g->dflt.interval_ns) {
		struct rl_limit lim = g->dflt;
		struct rl_bucket *b = rl_bucket_of(&pkt, RL_K_DEFAULT, 0, 1, now);
		if (!b)
			goto pass;
		int m = rl_meter(b, &lim, now);
		if (m < 0)
			lost = 1;
		if (m != 0)
			goto pass;
		sn_count(c, RL_CNT_DROP_DEFAULT, 1);
		rl_drop_sampled(ctx, c, &pkt, b, g->sample_every, RL_R_DEFAULT, RL_ACT_DROP, 0, 0);
		goto drop;
	}
pass:
	/* Let through although a meter it had to pass lost every CAS retry to other CPUs: counted
	 * once per packet, whichever meters lost (flood guards, rule, default limit). */
	if (lost)
		rl_stat(RL_ST_CAS_EXHAUSTED);
	return XDP_PASS;
drop:
	sn_count(c, SN_CNT_DROPPED, 1);
	return XDP_DROP;
}

SEC("xdp")
int xdp_ratelimit(struct xdp_md *ctx)
{
	struct sentinel_counters *c = sn_counters_get(&rl_counters, ctx->ingress_ifindex);
	sn_count(c, SN_CNT_SEEN, 1);
	sn_count(c, SN_CNT_BYTES_SEEN, (__u64)(ctx->data_end - ctx->data));
	int v = rl_judge(ctx, c);
	if (v == XDP_PASS)
		sn_count(c, SN_CNT_PASSED, 1);
	return v;
}
