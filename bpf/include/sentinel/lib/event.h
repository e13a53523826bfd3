/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* How a program writes a ring-buffer record (its header: contract/event.h): the reserve path with
 * back-pressure, the header and flow fill, the submit. A record that cannot be written never
 * changes a verdict; it is counted as lost with a reason. */
#ifndef SENTINEL_EVENT_H
#define SENTINEL_EVENT_H

#include "common.h"
#include "counters.h"
#include "../contract/event.h"

/* Skip emitting when more than 3/4 of the ring is unconsumed: leaves room for bursts from
 * other CPUs and keeps a stalled consumer from starving every program of ring space. */
#define SN_RING_HIGH_WATER_NUM 3
#define SN_RING_HIGH_WATER_DEN 4

static __always_inline void *sn_event_reserve(void *ring, __u32 size, struct sentinel_counters *c)
{
	__u64 avail = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA);
	__u64 cap = bpf_ringbuf_query(ring, BPF_RB_RING_SIZE);
	if (avail * SN_RING_HIGH_WATER_DEN > cap * SN_RING_HIGH_WATER_NUM) {
		sn_count(c, SN_CNT_EVENTS_LOST_BACKPRESSURE, 1);
		return 0;
	}
	void *rec = bpf_ringbuf_reserve(ring, size, 0);
	if (!rec) {
		sn_count(c, SN_CNT_EVENTS_LOST_RING_FULL, 1);
		return 0;
	}
	return rec;
}

static __always_inline void sn_event_fill_hdr(struct sentinel_event_hdr *h, __u16 type, __u8 program,
					      __u8 flags, __u16 len)
{
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->type = type;
	h->program = program;
	h->flags = flags;
	h->cpu = (__u16)bpf_get_smp_processor_id();
	h->len = len;
}

static __always_inline void sn_event_submit(void *rec, struct sentinel_counters *c)
{
	bpf_ringbuf_submit(rec, 0);
	sn_count(c, SN_CNT_EVENTS, 1);
}

/* The interface a packet event is about: the device the program runs on. XDP sees packets
 * only as they arrive (ingress_ifindex). At TC it is skb->ifindex, the receiving device at
 * ingress and the sending one at egress; skb->ingress_ifindex would be wrong at egress (0 for a
 * packet the host sends, the receiving device for one it forwards). */
static __always_inline __u32 sn_xdp_ifindex(const struct xdp_md *ctx)
{
	return ctx->ingress_ifindex;
}

static __always_inline __u32 sn_skb_ifindex(const struct __sk_buff *skb)
{
	return skb->ifindex;
}

/* Chosen by the context's type, so no program can pick the wrong field for its hook (any other
 * context type does not compile). */
#define SN_EVENT_IFINDEX(ctx)                                     \
	_Generic((ctx),                                           \
		struct xdp_md *: sn_xdp_ifindex,                  \
		const struct xdp_md *: sn_xdp_ifindex,            \
		struct __sk_buff *: sn_skb_ifindex,               \
		const struct __sk_buff *: sn_skb_ifindex)(ctx)

/* The flow part every packet event has under the same member names (src_addr, dst_addr,
 * ifindex, src_port, dst_port, vlan_id, pkt_len, family, proto, tcp_flags), filled from the
 * program's context (struct xdp_md or struct __sk_buff) and the parsed packet; the agent
 * decodes it with one function (src/engines/event-flow.ts). A macro because the event structs
 * differ around it. */
#define SN_EVENT_FILL_FLOW(e, ctx, p)                           \
	do {                                                    \
		__builtin_memcpy((e)->src_addr, (p)->src, 16);  \
		__builtin_memcpy((e)->dst_addr, (p)->dst, 16);  \
		(e)->ifindex = SN_EVENT_IFINDEX(ctx);           \
		(e)->src_port = (p)->sport;                     \
		(e)->dst_port = (p)->dport;                     \
		(e)->vlan_id = (p)->vlan_id;                    \
		(e)->pkt_len = (p)->pkt_len;                    \
		(e)->family = (p)->family;                      \
		(e)->proto = (p)->proto;                        \
		(e)->tcp_flags = (p)->tcp_flags;                \
	} while (0)

#endif
