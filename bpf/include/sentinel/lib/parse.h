/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Packet parsing shared by XDP and TC programs: Ethernet, up to two VLAN tags (802.1Q/802.1ad),
 * IPv4 (IHL honoured) and IPv6 with its extension-header chain, then the L4 ports / ICMP type.
 * Every read is bounds-checked against data_end; the caller decides the verdict for
 * SN_PARSE_MALFORMED (each program documents fail-open or fail-closed). */
#ifndef SENTINEL_PARSE_H
#define SENTINEL_PARSE_H

#include "common.h"

#define SN_PARSE_OK 0
#define SN_PARSE_NOT_IP 1     /* ARP, LLDP, ... */
#define SN_PARSE_MALFORMED 2  /* truncated or inconsistent headers */

#define SN_ETH_P_8021Q 0x8100
#define SN_ETH_P_8021AD 0x88A8
#define SN_IPV6_MAX_EXT 8     /* extension headers walked before giving up (malformed) */

#define SN_PKT_F_FRAGMENT 0x01    /* IP fragment (any) */
#define SN_PKT_F_LATER_FRAG 0x02  /* non-first fragment: no L4 header in this packet */
#define SN_PKT_F_VLAN 0x04        /* at least one VLAN tag */

struct sn_pkt {
	__u32 src[4];      /* network byte order; IPv4 uses src[0] only, rest zero */
	__u32 dst[4];
	__u32 l3_off;      /* offset of the IP header from data */
	__u32 l4_off;      /* offset of the L4 header from data (0 when absent) */
	__u16 sport;       /* host byte order; 0 when not TCP/UDP */
	__u16 dport;
	__u16 vlan_id;     /* innermost VID (12 bits), 0 when untagged */
	__u16 vlan_outer;  /* outer VID with QinQ, else equal to vlan_id */
	__u16 pkt_len;     /* bytes from data to data_end */
	__u8 family;       /* SN_AF_INET / SN_AF_INET6 */
	__u8 proto;        /* L4 protocol after extension headers */
	__u8 icmp_type;    /* ICMP / ICMPv6 only */
	__u8 icmp_code;
	__u8 tcp_flags;    /* byte 13 of the TCP header */
	__u8 vlan_depth;   /* 0, 1 or 2 */
	__u8 flags;        /* SN_PKT_F_* */
	__u8 _pad[1];
	__u16 icmp_id;     /* ICMP/ICMPv6 echo identifier (host order); 0 for other types */
};

struct sn_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

static __always_inline int sn_parse_l4(struct sn_pkt *p, void *data, void *data_end, __u32 off)
{
	if (p->flags & SN_PKT_F_LATER_FRAG)
		return SN_PARSE_OK; /* ports live in the first fragment only */
	if (off > 0xffff)
		return SN_PARSE_MALFORMED;
	void *l4 = data + off;
	p->l4_off = off;
	switch (p->proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = l4;
		if ((void *)(th + 1) > data_end)
			return SN_PARSE_MALFORMED;
		if (th->doff < 5)
			return SN_PARSE_MALFORMED;
		p->sport = bpf_ntohs(th->source);
		p->dport = bpf_ntohs(th->dest);
		p->tcp_flags = ((__u8 *)th)[13];
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = l4;
		if ((void *)(uh + 1) > data_end)
			return SN_PARSE_MALFORMED;
		p->sport = bpf_ntohs(uh->source);
		p->dport = bpf_ntohs(uh->dest);
		break;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		__u8 *ic = l4;
		if ((void *)(ic + 8) > data_end) /* type, code, checksum, 4 bytes rest-of-header */
			return SN_PARSE_MALFORMED;
		p->icmp_type = ic[0];
		p->icmp_code = ic[1];
		/* Echo request/reply (v4 8/0, v6 128/129): conntrack keys them by identifier. */
		if ((p->proto == IPPROTO_ICMP && (ic[0] == 8 || ic[0] == 0)) ||
		    (p->proto == IPPROTO_ICMPV6 && (ic[0] == 128 || ic[0] == 129)))
			p->icmp_id = ((__u16)ic[4] << 8) | ic[5];
		break;
	}
	default:
		break;
	}
	return SN_PARSE_OK;
}

static __always_inline int sn_parse_ipv4(struct sn_pkt *p, void *data, void *data_end, __u32 off, __u32 pkt_len)
{
	struct iphdr *iph = data + off;
	if ((void *)(iph + 1) > data_end)
		return SN_PARSE_MALFORMED;
	if (iph->version != 4 || iph->ihl < 5)
		return SN_PARSE_MALFORMED;
	__u32 hlen = iph->ihl * 4;
	if (data + off + hlen > data_end)
		return SN_PARSE_MALFORMED;
	/* Addresses first: a malformed-packet event can still say who sent it. */
	p->family = SN_AF_INET;
	p->l3_off = off;
	p->proto = iph->protocol;
	p->src[0] = iph->saddr;
	p->dst[0] = iph->daddr;
	__u32 tot = bpf_ntohs(iph->tot_len);
	/* Shorter than its header, or longer than what arrived: truncated (Ethernet padding may
	 * make the frame longer than tot_len, never shorter). */
	if (tot < hlen || off + tot > pkt_len)
		return SN_PARSE_MALFORMED;
	__u16 frag = bpf_ntohs(iph->frag_off);
	if (frag & 0x3fff) { /* MF set or offset non-zero */
		p->flags |= SN_PKT_F_FRAGMENT;
		if (frag & 0x1fff)
			p->flags |= SN_PKT_F_LATER_FRAG;
	}
	return sn_parse_l4(p, data, data_end, off + hlen);
}

static __always_inline int sn_ipv6_is_ext(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS || nh == 135 ||
	       nh == IPPROTO_FRAGMENT || nh == IPPROTO_AH;
}

static __always_inline int sn_parse_ipv6(struct sn_pkt *p, void *data, void *data_end, __u32 off, __u32 pkt_len)
{
	struct ipv6hdr *ip6 = data + off;
	if ((void *)(ip6 + 1) > data_end)
		return SN_PARSE_MALFORMED;
	if (ip6->version != 6)
		return SN_PARSE_MALFORMED;
	p->family = SN_AF_INET6;
	p->l3_off = off;
	__builtin_memcpy(p->src, &ip6->saddr, 16);
	__builtin_memcpy(p->dst, &ip6->daddr, 16);
	__u32 plen = bpf_ntohs(ip6->payload_len);
	/* payload_len 0 is legal only for a jumbogram, which carries a hop-by-hop option. */
	if (plen == 0 ? ip6->nexthdr != IPPROTO_HOPOPTS : off + sizeof(*ip6) + plen > pkt_len)
		return SN_PARSE_MALFORMED;
	__u8 nexthdr = ip6->nexthdr;
	off += sizeof(*ip6);

	/* Walk the chain: each header's own type decides its length. */
	/* One pass more than the headers we accept: the last may only find the upper layer. */
#pragma unroll
	for (int i = 0; i <= SN_IPV6_MAX_EXT; i++) {
		__u8 *eh = data + off;
		if (i == SN_IPV6_MAX_EXT && sn_ipv6_is_ext(nexthdr))
			return SN_PARSE_MALFORMED; /* chain longer than we are willing to walk */
		switch (nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case 135: /* mobility */
			if ((void *)(eh + 2) > data_end)
				return SN_PARSE_MALFORMED;
			nexthdr = eh[0];
			off += ((__u32)eh[1] + 1) * 8;
			break;
		case IPPROTO_FRAGMENT: {
			if ((void *)(eh + 8) > data_end)
				return SN_PARSE_MALFORMED;
			nexthdr = eh[0];
			__u16 fo = ((__u16)eh[2] << 8) | eh[3];
			p->flags |= SN_PKT_F_FRAGMENT;
			if (fo & 0xfff8)
				p->flags |= SN_PKT_F_LATER_FRAG;
			off += 8;
			break;
		}
		case IPPROTO_AH:
			if ((void *)(eh + 2) > data_end)
				return SN_PARSE_MALFORMED;
			nexthdr = eh[0];
			off += ((__u32)eh[1] + 2) * 4;
			break;
		default:
			/* Upper-layer header (TCP/UDP/ICMPv6/ESP/No Next Header...). */
			p->proto = nexthdr;
			return sn_parse_l4(p, data, data_end, off);
		}
		if (off > 1024)
			return SN_PARSE_MALFORMED;
	}
	return SN_PARSE_MALFORMED; /* unreachable: the last pass returns */
}

/* Parses from data; fills *p (which the caller zeroes). Headers are read between data and
 * data_end; the lengths the IP header gives are checked against pkt_len, the packet's whole
 * length: at XDP that is data_end - data, in TC skb->len, which also counts the paged part an skb
 * may hold beyond its linear data (a forwarded TCP segment's payload often sits there). */
static __always_inline int sn_parse_len(struct sn_pkt *p, void *data, void *data_end, __u32 pkt_len)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return SN_PARSE_MALFORMED;
	p->pkt_len = (__u16)(data_end - data);
	__u16 proto = bpf_ntohs(eth->h_proto);
	__u32 off = sizeof(*eth);

#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != SN_ETH_P_8021Q && proto != SN_ETH_P_8021AD)
			break;
		struct sn_vlan_hdr *vh = data + off;
		if ((void *)(vh + 1) > data_end)
			return SN_PARSE_MALFORMED;
		__u16 vid = bpf_ntohs(vh->tci) & 0x0fff;
		if (p->vlan_depth == 0)
			p->vlan_outer = vid;
		p->vlan_id = vid;
		p->vlan_depth++;
		p->flags |= SN_PKT_F_VLAN;
		proto = bpf_ntohs(vh->encap_proto);
		off += sizeof(*vh);
	}
	if (proto == SN_ETH_P_8021Q || proto == SN_ETH_P_8021AD)
		return SN_PARSE_MALFORMED; /* more than two tags */

	if (proto == ETH_P_IP)
		return sn_parse_ipv4(p, data, data_end, off, pkt_len);
	if (proto == ETH_P_IPV6)
		return sn_parse_ipv6(p, data, data_end, off, pkt_len);
	return SN_PARSE_NOT_IP;
}

/* A packet whose every byte is between data and data_end (XDP, or linear test frames). */
static __always_inline int sn_parse(struct sn_pkt *p, void *data, void *data_end)
{
	return sn_parse_len(p, data, data_end, (__u32)(data_end - data));
}

#endif
