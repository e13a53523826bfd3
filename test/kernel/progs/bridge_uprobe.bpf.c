/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Test-only: uprobe and uretprobe on a function of a test binary; counts calls and sums the
 * first argument and the return value so the test can check both were seen. */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* 0 entry calls, 1 sum of arg1, 2 return calls, 3 sum of return values */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} probe_counts SEC(".maps");

static __always_inline void add(__u32 k, __u64 v)
{
	__u64 *c = bpf_map_lookup_elem(&probe_counts, &k);
	if (c)
		__sync_fetch_and_add(c, v);
}

SEC("uprobe")
int up_enter(struct pt_regs *ctx)
{
	add(0, 1);
	add(1, (__u64)(__u32)PT_REGS_PARM1(ctx));
	return 0;
}

SEC("uretprobe")
int up_exit(struct pt_regs *ctx)
{
	add(2, 1);
	add(3, (__u64)(__u32)PT_REGS_RC(ctx));
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
