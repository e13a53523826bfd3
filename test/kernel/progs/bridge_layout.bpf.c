/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Test-only: a struct whose layout the compiler pins down with _Static_assert; the BTF test
 * reads these asserts and checks btfStructs reports exactly the same sizes and offsets. */
#include <stddef.h>
#include <sentinel/lib/common.h>
#include <sentinel/lib/event.h>

struct bridge_layout_probe {
	__u8 a;
	__u32 b;
	__u64 c;
	__u32 addr[4];
	__u8 mac[6];
	__u16 port;
	struct sentinel_event_hdr hdr;
	__u16 matrix[2][3];
	volatile __u32 flags;
	__u32 bits_lo : 4;
	__u32 bits_hi : 12;
};

_Static_assert(sizeof(struct bridge_layout_probe) == 80, "size");
_Static_assert(offsetof(struct bridge_layout_probe, a) == 0, "a");
_Static_assert(offsetof(struct bridge_layout_probe, b) == 4, "b");
_Static_assert(offsetof(struct bridge_layout_probe, c) == 8, "c");
_Static_assert(offsetof(struct bridge_layout_probe, addr) == 16, "addr");
_Static_assert(offsetof(struct bridge_layout_probe, mac) == 32, "mac");
_Static_assert(offsetof(struct bridge_layout_probe, port) == 38, "port");
_Static_assert(offsetof(struct bridge_layout_probe, hdr) == 40, "hdr");
_Static_assert(offsetof(struct bridge_layout_probe, matrix) == 56, "matrix");
_Static_assert(offsetof(struct bridge_layout_probe, flags) == 68, "flags");
_Static_assert(sizeof(struct sentinel_event_hdr) == 16, "hdr size");
_Static_assert(offsetof(struct sentinel_event_hdr, len) == 14, "hdr len");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bridge_layout_probe);
} layout_map SEC(".maps");

SEC("xdp")
int xdp_layout(struct xdp_md *ctx)
{
	__u32 k = 0;
	struct bridge_layout_probe *p = bpf_map_lookup_elem(&layout_map, &k);
	if (p)
		p->flags++;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
