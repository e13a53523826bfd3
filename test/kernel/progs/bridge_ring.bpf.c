/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Test-only: ring-buffer producers (one record per run, variable length), a too-short record
 * producer, and an XDP program that rewrites and shrinks the frame for test-run data out. */
#include <sentinel/lib/common.h>
#include <sentinel/lib/event.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} events2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} seq SEC(".maps");

/* Record: event header, u32 sequence, u32 first 4 frame bytes, then (seq % 8) bytes of
 * value (seq & 0xff): lengths 24..31 so the reader's length handling is exercised. */
struct ring_rec {
	struct sentinel_event_hdr hdr;
	__u32 seq;
	__u8 head[4];
	__u8 tail[8];
};

static __always_inline int emit(struct xdp_md *ctx, void *ring)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u32 k = 0;
	__u32 *s = bpf_map_lookup_elem(&seq, &k);
	if (!s)
		return XDP_ABORTED;
	/* test runs are serial on one CPU; a plain increment is enough (and clang 14 without
	 * -mcpu=v3 cannot use the result of an atomic add) */
	__u32 n = *s;
	*s = n + 1;
	struct ring_rec r = {};
	__u32 extra = n % 8;
	__u32 len = 24 + extra;
	sn_event_fill_hdr(&r.hdr, SN_EV_FIREWALL, 0, 0, (__u16)len);
	r.seq = n;
	if (data + 4 <= data_end)
		__builtin_memcpy(r.head, data, 4);
	for (int i = 0; i < 8; i++)
		r.tail[i] = (__u8)(n & 0xff);
	if (len > sizeof(r))
		return XDP_ABORTED;
	bpf_ringbuf_output(ring, &r, len, 0);
	return XDP_PASS;
}

SEC("xdp")
int xdp_emit(struct xdp_md *ctx)
{
	return emit(ctx, &events);
}

SEC("xdp")
int xdp_emit2(struct xdp_md *ctx)
{
	return emit(ctx, &events2);
}

SEC("xdp")
int xdp_emit_short(struct xdp_md *ctx)
{
	__u64 v = 0xdeadbeef;
	bpf_ringbuf_output(&events, &v, sizeof(v), 0);
	return XDP_PASS;
}

/* Swaps the Ethernet addresses and trims 4 bytes off the end; returns XDP_TX. */
SEC("xdp")
int xdp_rewrite(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	__u8 tmp[ETH_ALEN];
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
	if (bpf_xdp_adjust_tail(ctx, -4))
		return XDP_ABORTED;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
