/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A TC program that writes a packet event the way every program does (event.h: reserve, header,
 * SN_EVENT_FILL_FLOW) for each ICMP/ICMPv6 echo packet, attached at TC ingress and egress by
 * tc-event-ifindex.test.ts to check the interface the event names. The record is a struct
 * fw_event so the agent's own decoder reads it. */
#include <sentinel/lib/common.h>
#include <sentinel/lib/counters.h>
#include <sentinel/lib/event.h>
#include <sentinel/lib/parse.h>
#include <sentinel/contract/firewall.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} flow_events SEC(".maps");

SENTINEL_COUNTER_MAP(flow_counters);

static __always_inline int emit(struct __sk_buff *skb, __u8 flags)
{
	struct sentinel_counters *c = sn_counters_get(&flow_counters, skb->ifindex);
	struct sn_pkt p = {};
	if (sn_parse(&p, (void *)(long)skb->data, (void *)(long)skb->data_end) != SN_PARSE_OK)
		return TCX_NEXT;
	if (!(p.proto == IPPROTO_ICMP && (p.icmp_type == 8 || p.icmp_type == 0)) &&
	    !(p.proto == IPPROTO_ICMPV6 && (p.icmp_type == 128 || p.icmp_type == 129)))
		return TCX_NEXT;
	struct fw_event *e = sn_event_reserve(&flow_events, sizeof(*e), c);
	if (!e)
		return TCX_NEXT;
	sn_event_fill_hdr(&e->hdr, SN_EV_FIREWALL, SN_PROG_XDP_FIREWALL, flags, sizeof(*e));
	SN_EVENT_FILL_FLOW(e, skb, &p);
	e->rule_num = 0;
	e->action = 0;
	e->reason = 0;
	e->icmp_type = p.icmp_type;
	e->icmp_code = p.icmp_code;
	e->vlan_depth = p.vlan_depth;
	sn_event_submit(e, c);
	return TCX_NEXT;
}

/* the header's flags say which hook wrote the record: 1 ingress, 2 egress */
SEC("tc")
int flow_event_ingress(struct __sk_buff *skb)
{
	return emit(skb, 1);
}

SEC("tc")
int flow_event_egress(struct __sk_buff *skb)
{
	return emit(skb, 2);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
