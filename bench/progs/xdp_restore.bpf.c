// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Frame restorer for bench cases whose program rewrites the packet in place. BPF_PROG_TEST_RUN
 * runs every repeat on the same buffer without resetting it, so after one run of xdp-ratelimit's
 * SYN-cookie answer the frame is a SYN-ACK and later runs would time another path. This program
 * writes the original frame back (bytes kept in restore_frame) and tail-calls the program under
 * test (restore_next[0]). Its own cost is measured by the same restore tail-calling a bare XDP_TX
 * (restore_next[1]), reported beside the case so it can be subtracted. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define RESTORE_MAX 256

struct restore_frame {
	__u32 len;
	__u8 bytes[RESTORE_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct restore_frame);
} restore_frame SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} restore_next SEC(".maps");

/* Restores done, per CPU: a sample checks it moved by exactly its repeats. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} restore_count SEC(".maps");

static __always_inline int restore(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct restore_frame *f = bpf_map_lookup_elem(&restore_frame, &zero);
	if (!f)
		return -1;
	__u32 len = f->len;
	/* The program under test must leave the length alone (a pure SYN is answered in place);
	 * a different length means the bench would time something else: abort, loudly. */
	if (len == 0 || len > RESTORE_MAX || len != (__u32)(ctx->data_end - ctx->data))
		return -1;
	if (bpf_xdp_store_bytes(ctx, 0, f->bytes, len))
		return -1;
	__u64 *n = bpf_map_lookup_elem(&restore_count, &zero);
	if (n)
		*n += 1;
	return 0;
}

SEC("xdp")
int xdp_restore_then_test(struct xdp_md *ctx)
{
	if (restore(ctx))
		return XDP_ABORTED;
	bpf_tail_call(ctx, &restore_next, 0);
	return XDP_ABORTED; /* slot empty */
}

SEC("xdp")
int xdp_restore_then_tx(struct xdp_md *ctx)
{
	if (restore(ctx))
		return XDP_ABORTED;
	bpf_tail_call(ctx, &restore_next, 1);
	return XDP_ABORTED;
}

SEC("xdp")
int xdp_bare_tx(struct xdp_md *ctx)
{
	return XDP_TX;
}
