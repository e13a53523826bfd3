/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Test-only programs for the bridge: XDP and TC programs that count ICMP echo packets per
 * family (so real traffic can be asserted exactly), a pinned map shared between objects, and
 * one map of each type the bridge's map calls must handle. */
#include <sentinel/lib/common.h>
#include <sentinel/lib/parse.h>

/* slot = direction * 2 + (family == v6): 0 in/v4, 1 in/v6, 2 out/v4, 3 out/v6 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} echo_counts SEC(".maps");

/* Pinned by name under the object's pin root: a second object reuses it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bridge_shared SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} t_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} t_array SEC(".maps");

/* value_size 12 exercises the 8-byte per-CPU stride */
struct pcpu_val {
	__u32 a, b, c;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct pcpu_val);
} t_percpu SEC(".maps");

struct lpm_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 128);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v6_key);
	__type(value, __u32);
} t_lpm SEC(".maps");

static __always_inline void count_echo(void *data, void *data_end, __u32 dir)
{
	struct sn_pkt p = {};
	if (sn_parse(&p, data, data_end) != SN_PARSE_OK)
		return;
	int echo = (p.proto == IPPROTO_ICMP && (p.icmp_type == 8 || p.icmp_type == 0)) ||
		    (p.proto == IPPROTO_ICMPV6 && (p.icmp_type == 128 || p.icmp_type == 129));
	if (!echo)
		return;
	__u32 slot = dir * 2 + (p.family == SN_AF_INET6 ? 1 : 0);
	__u64 *c = bpf_map_lookup_elem(&echo_counts, &slot);
	if (c)
		__sync_fetch_and_add(c, 1);
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	count_echo((void *)(long)ctx->data, (void *)(long)ctx->data_end, 0);
	return XDP_PASS;
}

/* Replacement program for link-update tests: counts echo into slots 2/3 (and every packet
 * into slot 6) so the test can tell which program ran. */
SEC("xdp")
int xdp_count_alt(struct xdp_md *ctx)
{
	count_echo((void *)(long)ctx->data, (void *)(long)ctx->data_end, 1);
	__u32 slot = 6;
	__u64 *c = bpf_map_lookup_elem(&echo_counts, &slot);
	if (c)
		__sync_fetch_and_add(c, 1);
	return XDP_PASS;
}

SEC("tc")
int tc_count_ingress(struct __sk_buff *skb)
{
	count_echo((void *)(long)skb->data, (void *)(long)skb->data_end, 0);
	return TCX_NEXT;
}

SEC("tc")
int tc_count_egress(struct __sk_buff *skb)
{
	count_echo((void *)(long)skb->data, (void *)(long)skb->data_end, 1);
	return TCX_NEXT;
}

/* Bumps bridge_shared[1] once per test run so two objects can be shown to share it. */
SEC("xdp")
int xdp_shared_bump(struct xdp_md *ctx)
{
	__u32 k = 1;
	__u64 one = 1, *v = bpf_map_lookup_elem(&bridge_shared, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&bridge_shared, &k, &one, BPF_NOEXIST);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
