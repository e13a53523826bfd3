// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Frame source of the drop-throughput bench that needs no live-frames test run (some kernels
 * refuse BPF_F_TEST_XDP_LIVE_FRAMES). A few seed frames circulate on a veth pair A <-> B:
 *
 *   - B runs xdp_loop_bounce: XDP_TX, so every frame B receives goes straight back to A;
 *   - A runs xdp_loop_fanout: it redirects the frame with BPF_F_BROADCAST through loop_out, a
 *     devmap holding A itself (the copy that keeps circulating: sent out of A, it arrives at B)
 *     and the target veth several times (each a copy sent to the device under test, the
 *     target's peer);
 *   - each target entry of loop_out runs xdp_loop_flow on its copy, which writes the next frame
 *     of the flow table over it, so the device under test sees the flows rotate frame by frame.
 *
 * No socket and no skb: the device under test receives XDP frames the way a NIC driver hands
 * them over. loop_budget ends the loop (the fanout drops the frame once it runs out). What the
 * device under test processed is counted on its side, never here: `sent` is only what was
 * offered to it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define LOOP_FRAME_MAX 128
#define LOOP_FLOWS_MAX 65536

/* Written by the bench before the seeds go in. */
struct loop_cfg {
	__u32 flows; /* entries of loop_frames in use */
	__u32 len;   /* length of every frame of the table (one length per run) */
};

struct loop_stats {
	__u64 laps;   /* broadcasts done */
	__u64 sent;   /* copies rewritten and handed to the target: offered to the device under test */
	__u64 ended;  /* circulating frames dropped because the budget ran out */
	__u64 errors; /* copies that could not be rewritten (length not the table's): dropped */
};

struct loop_frame {
	__u8 bytes[LOOP_FRAME_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct loop_cfg);
} loop_cfg SEC(".maps");

/* Laps left; the bench writes 0 to stop the loop early. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s64);
} loop_budget SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct loop_stats);
} loop_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LOOP_FLOWS_MAX);
	__type(key, __u32);
	__type(value, struct loop_frame);
} loop_frames SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} loop_out SEC(".maps");

SEC("xdp")
int xdp_loop_bounce(struct xdp_md *ctx)
{
	return XDP_TX;
}

SEC("xdp")
int xdp_loop_fanout(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__s64 *budget = bpf_map_lookup_elem(&loop_budget, &zero);
	struct loop_stats *s = bpf_map_lookup_elem(&loop_stats, &zero);
	if (!budget || !s)
		return XDP_ABORTED;
	if (__sync_fetch_and_add(budget, -1) <= 0) {
		__sync_fetch_and_add(&s->ended, 1);
		return XDP_DROP;
	}
	__sync_fetch_and_add(&s->laps, 1);
	return bpf_redirect_map(&loop_out, 0, BPF_F_BROADCAST);
}

/* Runs on each copy for the target after the broadcast cloned it (devmap program). */
SEC("xdp/devmap")
int xdp_loop_flow(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct loop_cfg *cfg = bpf_map_lookup_elem(&loop_cfg, &zero);
	struct loop_stats *s = bpf_map_lookup_elem(&loop_stats, &zero);
	if (!cfg || !s)
		return XDP_DROP;
	__u32 flows = cfg->flows;
	__u32 len = cfg->len;
	if (!flows || !len || len > LOOP_FRAME_MAX || len != (__u32)(ctx->data_end - ctx->data)) {
		__sync_fetch_and_add(&s->errors, 1);
		return XDP_DROP;
	}
	__u32 idx = (__u32)(__sync_fetch_and_add(&s->sent, 1) % flows);
	struct loop_frame *f = bpf_map_lookup_elem(&loop_frames, &idx);
	if (!f || bpf_xdp_store_bytes(ctx, 0, f->bytes, len)) {
		__sync_fetch_and_add(&s->errors, 1);
		return XDP_DROP;
	}
	return XDP_PASS;
}
