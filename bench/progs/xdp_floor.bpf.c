// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Floor programs for the bench: the cost of the XDP hook and the test-run harness alone, so every
 * measured program is reported beside, and as a ratio to, what doing nothing costs. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int xdp_floor_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int xdp_floor_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

/* The TC hook's floor: tc-threatintel and the other TC programs are read beside it. */
SEC("tc")
int tc_floor_next(struct __sk_buff *skb)
{
	return -1; /* TCX_NEXT */
}
