/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Test-only: a bare XDP_PASS for the far end of a veth that receives XDP_TX answers. veth
 * delivers an XDP_TX frame into its peer's XDP ring and kicks the peer's NAPI only when the peer
 * has an XDP program; without one the answers wait until unrelated traffic drains the ring. A
 * NIC needs nothing of the kind: this is a property of the lab's veth pairs. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_peer_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
