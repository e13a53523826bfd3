// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Stand-in for the next program of the XDP chain (xdp-ratelimit): counts the packets it is
 * handed and answers XDP_TX, a verdict xdp-firewall never gives, so a test can tell that the
 * tail call happened. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} chain_hits SEC(".maps");

SEC("xdp")
int xdp_chain_target(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 *n = bpf_map_lookup_elem(&chain_hits, &k);
	if (n)
		__sync_fetch_and_add(n, 1);
	return XDP_TX;
}
