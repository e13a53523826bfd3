// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Per-frame timing over many frames in one BPF_PROG_TEST_RUN. The test run repeats one buffer;
 * this program, run as the test-run program, writes frame i of sweep_frames over it at the start
 * of frame i's group of per_frame runs, stamps the time there (sweep_stamps[i]), and tail-calls
 * the program under test (sweep_next[0]) on every run. One extra run at the end stamps the end
 * and returns XDP_PASS without a tail call. So (stamps[i+1] - stamps[i]) / per_frame is frame
 * i's time per run: warm when per_frame is large (its first run follows another frame, the rest
 * repeat it), frames rotating over the whole table when per_frame is 1. The rig's own share
 * (the rewrite, the stamp, the tail call) is the same sweep into a bare XDP_PASS, which the bench
 * measures beside and subtracts. Every program under test here leaves the frame as it is. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SWEEP_FRAME_MAX 128
#define SWEEP_FRAMES_MAX 16384

struct sweep_cfg {
	__u32 frames;    /* frames in this sweep */
	__u32 per_frame; /* runs per frame */
	__u32 len;       /* length of every frame (the test-run buffer's) */
	__u32 pad;
};

struct sweep_state {
	__u64 run;    /* runs so far (the bench zeroes it before each sweep) */
	__u64 errors; /* frames that could not be written: the sweep is void */
};

struct sweep_frame {
	__u8 bytes[SWEEP_FRAME_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sweep_cfg);
} sweep_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sweep_state);
} sweep_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SWEEP_FRAMES_MAX);
	__type(key, __u32);
	__type(value, struct sweep_frame);
} sweep_frames SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SWEEP_FRAMES_MAX + 1);
	__type(key, __u32);
	__type(value, __u64);
} sweep_stamps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} sweep_next SEC(".maps");

SEC("xdp")
int xdp_sweep(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct sweep_cfg *cfg = bpf_map_lookup_elem(&sweep_cfg, &zero);
	struct sweep_state *st = bpf_map_lookup_elem(&sweep_state, &zero);
	if (!cfg || !st)
		return XDP_ABORTED;
	__u32 per = cfg->per_frame;
	__u32 len = cfg->len;
	if (!per || !len || len > SWEEP_FRAME_MAX || len != (__u32)(ctx->data_end - ctx->data)) {
		st->errors++;
		return XDP_ABORTED;
	}
	__u64 run = st->run++;
	__u64 idx = run / per;
	if (idx >= cfg->frames || idx >= SWEEP_FRAMES_MAX) {
		__u32 end = idx < SWEEP_FRAMES_MAX ? (__u32)idx : SWEEP_FRAMES_MAX;
		__u64 *t = bpf_map_lookup_elem(&sweep_stamps, &end);
		if (t)
			*t = bpf_ktime_get_ns();
		return XDP_PASS;
	}
	if (run % per == 0) {
		__u32 i = (__u32)idx;
		struct sweep_frame *f = bpf_map_lookup_elem(&sweep_frames, &i);
		if (!f || bpf_xdp_store_bytes(ctx, 0, f->bytes, len)) {
			st->errors++;
			return XDP_ABORTED;
		}
		__u64 *t = bpf_map_lookup_elem(&sweep_stamps, &i);
		if (t)
			*t = bpf_ktime_get_ns();
	}
	bpf_tail_call(ctx, &sweep_next, 0);
	st->errors++; /* no program under test */
	return XDP_ABORTED;
}
