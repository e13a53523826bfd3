// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tc-dns: passive DNS. At TC ingress (last in the pipeline), every DNS message over UDP or TCP
 * port 53, IPv4 and IPv6, is copied into the ring for the agent, which decodes it: the kernel
 * parses no DNS. The copy is bounded (DNS_MSG_MAX bytes); a longer message, or one the packet
 * holds only in part, is flagged and counted as truncated. It never changes a verdict (TCX_NEXT),
 * and a record it cannot write is counted (events lost, copy failed), never silent. */
#include "sentinel/lib/common.h"
#include "sentinel/lib/counters.h"
#include "sentinel/lib/event.h"
#include "sentinel/lib/parse.h"
#include "sentinel/contract/dns.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SENTINEL_BTF_EXPORT(dns_event);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} dns_events SEC(".maps");

SENTINEL_COUNTER_MAP(dns_counters);

SEC("tc")
int tc_dns(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct sentinel_counters *c = sn_counters_get(&dns_counters, skb->ifindex);
	if (!c)
		return TCX_NEXT; /* the counter map is full: nothing can be counted, nothing is sent */
	sn_count(c, SN_CNT_SEEN, 1);
	sn_count(c, SN_CNT_BYTES_SEEN, skb->len);
	sn_count(c, SN_CNT_PASSED, 1);

	struct sn_pkt p = {};
	int rc = sn_parse(&p, data, data_end);
	if (rc == SN_PARSE_NOT_IP) {
		sn_count(c, SN_CNT_NON_IP, 1);
		return TCX_NEXT;
	}
	if (rc != SN_PARSE_OK) {
		sn_count(c, SN_CNT_MALFORMED, 1);
		return TCX_NEXT;
	}
	if ((p.proto != IPPROTO_UDP && p.proto != IPPROTO_TCP) || !p.l4_off || (p.sport != DNS_PORT && p.dport != DNS_PORT))
		return TCX_NEXT;

	__u32 off;
	__u32 msg_len;
	__u8 flags = p.sport == DNS_PORT ? DNS_EV_F_FROM_SERVER : 0;
	if (p.proto == IPPROTO_UDP) {
		off = p.l4_off + 8;
		__u8 ulen[2];
		if (bpf_skb_load_bytes(skb, p.l4_off + 4, ulen, 2))
			return TCX_NEXT;
		msg_len = ((__u32)ulen[0] << 8 | ulen[1]);
		msg_len = msg_len >= 8 ? msg_len - 8 : 0;
	} else {
		__u8 doff;
		if (bpf_skb_load_bytes(skb, p.l4_off + 12, &doff, 1))
			return TCX_NEXT;
		off = p.l4_off + ((doff >> 4) << 2);
		/* segments without payload (handshake, ACKs) carry no message */
		if (off >= skb->len)
			return TCX_NEXT;
		__u8 pre[2];
		if (off + 2 > skb->len || bpf_skb_load_bytes(skb, off, pre, 2)) {
			sn_count(c, DNS_CNT_TCP_NOT_MESSAGE_START, 1);
			return TCX_NEXT;
		}
		msg_len = ((__u32)pre[0] << 8 | pre[1]);
		off += 2;
		flags |= DNS_EV_F_TCP;
		sn_count(c, DNS_CNT_TCP, 1);
	}
	sn_count(c, DNS_CNT_MESSAGES, 1);
	__u32 avail = skb->len > off ? skb->len - off : 0;
	__u32 cap = msg_len < avail ? msg_len : avail;
	if (cap > DNS_MSG_MAX)
		cap = DNS_MSG_MAX;
	if (cap < msg_len) {
		flags |= DNS_EV_F_TRUNCATED;
		sn_count(c, DNS_CNT_TRUNCATED, 1);
	}

	struct dns_event *e = sn_event_reserve(&dns_events, sizeof(*e), c);
	if (!e)
		return TCX_NEXT;
	SN_EVENT_FILL_FLOW(e, skb, &p);
	e->flags = flags;
	e->msg_len = (__u16)msg_len;
	e->cap_len = (__u16)cap;
	if (cap > 0 && cap <= DNS_MSG_MAX && bpf_skb_load_bytes(skb, off, e->msg, cap)) {
		bpf_ringbuf_discard(e, 0);
		sn_count(c, DNS_CNT_COPY_FAILED, 1);
		return TCX_NEXT;
	}
	sn_event_fill_hdr(&e->hdr, SN_EV_DNS, SN_PROG_TC_DNS, 0, sizeof(*e));
	sn_event_submit(e, c);
	return TCX_NEXT;
}
