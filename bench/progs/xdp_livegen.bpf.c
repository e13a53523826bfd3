// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Traffic generator of the throughput comparison. Run with BPF_PROG_TEST_RUN in live-frames mode
 * (BPF_F_TEST_XDP_LIVE_FRAMES), it redirects every frame into the sending veth, so the receiving
 * veth gets XDP frames the way a NIC hands them over: no socket, no skb, no copy. Traffic from
 * AF_PACKET or sockets would make veth copy every packet for native XDP and measure veth instead
 * of the program under test. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ifindex of the sending veth, written by the bench */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} livegen_target SEC(".maps");

SEC("xdp")
int xdp_livegen(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u32 *ifindex = bpf_map_lookup_elem(&livegen_target, &zero);

	if (!ifindex || !*ifindex)
		return XDP_ABORTED;
	return bpf_redirect(*ifindex, 0);
}
