// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The TC side of the bench: a bare TC floor (the hook and the test-run harness alone, every TC
 * case's ratio refers to it), and a frame restorer for tc-scrub's MSS clamp. BPF_PROG_TEST_RUN
 * runs every repeat on the same skb, so after one clamp the SYN already carries the small MSS and
 * later runs would time the no-rewrite path; tc_restore writes the original frame back (bytes in
 * tc_restore_frame) and tail-calls the program under test (tc_restore_next[0]). Its own cost is
 * measured by the same restore tail-calling the floor (tc_restore_next[1]). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TCX_NEXT -1
#define TC_RESTORE_MAX 256

struct tc_restore_frame {
	__u32 len;
	__u8 bytes[TC_RESTORE_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tc_restore_frame);
} tc_restore_frame SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} tc_restore_next SEC(".maps");

/* Restores done, per CPU: a sample checks it moved by exactly its repeats. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} tc_restore_count SEC(".maps");

SEC("tc")
int tc_floor_next(struct __sk_buff *skb)
{
	return TCX_NEXT;
}

static __always_inline int tc_restore_to(struct __sk_buff *skb, __u32 slot)
{
	__u32 zero = 0;
	struct tc_restore_frame *f = bpf_map_lookup_elem(&tc_restore_frame, &zero);
	if (!f)
		return 2; /* TC_ACT_SHOT: a wrong verdict the bench refuses to time */
	__u32 len = f->len;
	if (len == 0 || len > TC_RESTORE_MAX || len != skb->len)
		return 2;
	if (bpf_skb_store_bytes(skb, 0, f->bytes, len, 0))
		return 2;
	__u64 *n = bpf_map_lookup_elem(&tc_restore_count, &zero);
	if (n)
		*n += 1;
	bpf_tail_call(skb, &tc_restore_next, slot);
	return 2; /* the slot was empty */
}

SEC("tc")
int tc_restore(struct __sk_buff *skb)
{
	return tc_restore_to(skb, 0);
}

SEC("tc")
int tc_restore_floor(struct __sk_buff *skb)
{
	return tc_restore_to(skb, 1);
}
