/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Stand-ins for the TC pipeline's programs (tc-order.test.ts): ten TC programs that differ only
 * in their id (1..9 stand for ours, 15 for a foreign program). On every ICMP/ICMPv6 echo packet
 * each one counts its run per family and appends its id to a trace carried in the packet's
 * skb->cb (4 bits a step, behind a marker word so leftovers of the stack are never read as a
 * trace), then records the trace so far. Every program continues the chain (TCX_NEXT, which
 * clsact reads as TC_ACT_UNSPEC: go on to the next filter), so the longest trace recorded for a
 * packet is the order the kernel ran the whole chain in. */
#include <sentinel/lib/common.h>
#include <sentinel/lib/parse.h>

#define STAGE_MARK 0x5e17c0deu
#define STAGE_MAX_STEPS 8

/* runs[id * 2 + (family == v6)] */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u64);
} stage_runs SEC(".maps");

struct stage_trace_key {
	__u32 trace; /* ids in run order, the first in the low nibble */
	__u8 steps;  /* ids in the trace */
	__u8 family; /* SN_AF_INET / SN_AF_INET6 */
	__u8 icmp_type;
	__u8 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct stage_trace_key);
	__type(value, __u64);
} stage_traces SEC(".maps");

static __always_inline int is_echo(const struct sn_pkt *p)
{
	if (p->family == SN_AF_INET && p->proto == IPPROTO_ICMP)
		return p->icmp_type == 8 || p->icmp_type == 0;
	if (p->family == SN_AF_INET6 && p->proto == IPPROTO_ICMPV6)
		return p->icmp_type == 128 || p->icmp_type == 129;
	return 0;
}

static __always_inline int stage(struct __sk_buff *skb, __u32 id)
{
	struct sn_pkt p = {};
	if (sn_parse(&p, (void *)(long)skb->data, (void *)(long)skb->data_end) != SN_PARSE_OK || !is_echo(&p))
		return TCX_NEXT;
	__u32 slot = id * 2 + (p.family == SN_AF_INET6);
	__u64 *runs = bpf_map_lookup_elem(&stage_runs, &slot);
	if (runs)
		__sync_fetch_and_add(runs, 1);

	if (skb->cb[0] != STAGE_MARK) {
		skb->cb[0] = STAGE_MARK;
		skb->cb[1] = 0;
		skb->cb[2] = 0;
	}
	__u32 steps = skb->cb[1];
	if (steps >= STAGE_MAX_STEPS)
		return TCX_NEXT;
	__u32 trace = skb->cb[2] | (id << (4 * steps));
	skb->cb[1] = steps + 1;
	skb->cb[2] = trace;

	struct stage_trace_key k = { .trace = trace, .steps = steps + 1, .family = p.family, .icmp_type = p.icmp_type };
	__u64 one = 1, *n = bpf_map_lookup_elem(&stage_traces, &k);
	if (!n) {
		if (!bpf_map_update_elem(&stage_traces, &k, &one, BPF_NOEXIST))
			return TCX_NEXT;
		n = bpf_map_lookup_elem(&stage_traces, &k); /* another CPU created it first */
	}
	if (n)
		__sync_fetch_and_add(n, 1);
	return TCX_NEXT;
}

#define STAGE(id)                                       \
	SEC("tc") int stage_##id(struct __sk_buff *skb) \
	{                                               \
		return stage(skb, id);                  \
	}

STAGE(1)
STAGE(2)
STAGE(3)
STAGE(4)
STAGE(5)
STAGE(6)
STAGE(7)
STAGE(8)
STAGE(9)
STAGE(15)

char LICENSE[] SEC("license") = "Dual BSD/GPL";
