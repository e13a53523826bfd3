/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Test-only: exercises csum.h's incremental updates the way a NAT or scrub rewrite would. Every
 * parseable IPv4/IPv6 packet gets its source address replaced (198.18.99.99 / 2001:db8::9999)
 * and its TTL / hop limit set to 33; the IPv4 header checksum and the TCP/UDP/ICMPv6 checksum
 * are patched incrementally (RFC 1624), never recomputed. The frame comes back as XDP_TX so the
 * test can check it byte for byte with an independent checksum. */
#include <sentinel/lib/common.h>
#include <sentinel/lib/csum.h>
#include <sentinel/lib/parse.h>

#define NEW_TTL 33

static __always_inline __u16 *l4_check(void *data, void *data_end, const struct sn_pkt *p)
{
	__u32 off = p->l4_off & 0x7ff;
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = data + off;
		if ((void *)(th + 1) > data_end)
			return 0;
		return &th->check;
	}
	if (p->proto == IPPROTO_UDP) {
		struct udphdr *uh = data + off;
		if ((void *)(uh + 1) > data_end)
			return 0;
		return &uh->check;
	}
	if (p->proto == IPPROTO_ICMPV6) {
		__u8 *ic = data + off;
		if ((void *)(ic + 4) > data_end)
			return 0;
		return (__u16 *)(ic + 2);
	}
	return 0; /* ICMPv4's checksum covers no addresses */
}

SEC("xdp")
int xdp_reply_csum(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sn_pkt p = {};
	if (sn_parse(&p, data, data_end) != SN_PARSE_OK || (p.flags & SN_PKT_F_LATER_FRAG))
		return XDP_PASS;
	__u16 *l4 = l4_check(data, data_end, &p);
	int udp = p.proto == IPPROTO_UDP;

	if (p.family == SN_AF_INET) {
		struct iphdr *iph = data + (p.l3_off & 0x3f);
		if ((void *)(iph + 1) > data_end)
			return XDP_ABORTED;
		__be32 new_src = bpf_htonl(0xc6126363); /* 198.18.99.99 */
		__u16 old_word = *(__u16 *)&iph->ttl; /* TTL and protocol share one 16-bit word */
		iph->ttl = NEW_TTL;
		iph->check = sn_csum_replace16(iph->check, old_word, *(__u16 *)&iph->ttl);
		iph->check = sn_csum_replace32(iph->check, iph->saddr, new_src);
		/* UDP over IPv4 may carry no checksum (0): it stays so; a computed 0 is sent as 0xffff. */
		if (l4 && !(udp && *l4 == 0)) {
			__u16 c = sn_csum_replace32(*l4, iph->saddr, new_src);
			*l4 = udp && c == 0 ? 0xffff : c;
		}
		iph->saddr = new_src;
		return XDP_TX;
	}

	struct ipv6hdr *ip6 = data + (p.l3_off & 0x3f);
	if ((void *)(ip6 + 1) > data_end)
		return XDP_ABORTED;
	__u32 new_src[4] = { bpf_htonl(0x20010db8), 0, 0, bpf_htonl(0x9999) };
	ip6->hop_limit = NEW_TTL; /* not covered by any checksum */
	if (l4) {
		__u16 c = sn_csum_replace128(*l4, (__u32 *)&ip6->saddr, new_src);
		*l4 = udp && c == 0 ? 0xffff : c;
	}
	__builtin_memcpy(&ip6->saddr, new_src, 16);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
