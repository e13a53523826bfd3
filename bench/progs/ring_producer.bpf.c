// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The event source of the ring-buffer bench (bench/ring.ts): every run of this program under
 * BPF_PROG_TEST_RUN writes one xdp-firewall drop record (struct fw_event, the product's reserve,
 * header fill and submit path with its back-pressure mark) into fw_events, which the bench
 * replaces with the firewall engine's own ring (same map, same size as the agent gives it).
 *
 * Every run takes the next number of a global sequence whether or not its record could be
 * written, so loss is exact twice over: the counters say how many runs wrote a record and how
 * many did not and why, and the consumer finds every number missing from what it read. The
 * number travels in the ports (src_port = low 16 bits, dst_port = high 16 bits), so it survives
 * decoding, the alert and the EVE line. Even numbers are IPv4 records, odd ones IPv6; the client
 * address cycles over 4,096 hosts of 198.18.0.0/15 (2001:db8::/32 for IPv6) towards one server,
 * and the rule number over the policy's rules, so the agent builds the alerts it builds for a
 * real flood (distinct flows, rules it knows). */
#include "sentinel/lib/common.h"
#include "sentinel/lib/counters.h"
#include "sentinel/lib/event.h"
#include "sentinel/contract/firewall.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct rp_config {
	__u32 rules;   /* rule numbers 1..rules are cycled over; 0 stops the producer */
	__u32 ifindex; /* the interface the records name */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} fw_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rp_config);
} rp_config SEC(".maps");

/* the next sequence number (runs so far) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rp_seq SEC(".maps");

/* SN_CNT_SEEN per run, SN_CNT_EVENTS per record written, SN_CNT_EVENTS_LOST_* per record not */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sentinel_counters);
} rp_counters SEC(".maps");

#define RP_CLIENTS 4096
#define RP_V4_NET 0xc6120000u    /* 198.18.0.0 */
#define RP_V4_SERVER 0xc6130001u /* 198.19.0.1 */
#define RP_V6_PREFIX 0x20010db8u /* 2001:db8:: */

SEC("xdp")
int ring_produce(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct sentinel_counters *c = bpf_map_lookup_elem(&rp_counters, &zero);
	__u64 *next = bpf_map_lookup_elem(&rp_seq, &zero);
	const struct rp_config *cfg = bpf_map_lookup_elem(&rp_config, &zero);
	if (!c || !next || !cfg || !cfg->rules)
		return XDP_ABORTED;
	__u64 seq = __sync_fetch_and_add(next, 1);
	sn_count(c, SN_CNT_SEEN, 1);
	struct fw_event *e = sn_event_reserve(&fw_events, sizeof(*e), c);
	if (!e)
		return XDP_DROP;
	sn_event_fill_hdr(&e->hdr, SN_EV_FIREWALL, SN_PROG_XDP_FIREWALL, 0, sizeof(*e));
	__u32 client = (__u32)(seq >> 1) % RP_CLIENTS;
	if (seq & 1) {
		e->src_addr[0] = bpf_htonl(RP_V6_PREFIX);
		e->src_addr[1] = 0;
		e->src_addr[2] = 0;
		e->src_addr[3] = bpf_htonl(client + 1);
		e->dst_addr[0] = bpf_htonl(RP_V6_PREFIX);
		e->dst_addr[1] = bpf_htonl(0x00010000u);
		e->dst_addr[2] = 0;
		e->dst_addr[3] = bpf_htonl(1);
		e->family = 6;
		e->pkt_len = 74 + 20; /* Ethernet + IPv6 + TCP SYN with options */
	} else {
		e->src_addr[0] = bpf_htonl(RP_V4_NET | client);
		e->src_addr[1] = 0;
		e->src_addr[2] = 0;
		e->src_addr[3] = 0;
		e->dst_addr[0] = bpf_htonl(RP_V4_SERVER);
		e->dst_addr[1] = 0;
		e->dst_addr[2] = 0;
		e->dst_addr[3] = 0;
		e->family = 4;
		e->pkt_len = 74; /* Ethernet + IPv4 + TCP SYN with options */
	}
	e->rule_num = 1 + (__u32)(seq % cfg->rules);
	e->ifindex = cfg->ifindex;
	e->src_port = (__u16)seq;
	e->dst_port = (__u16)(seq >> 16);
	e->vlan_id = 0;
	e->proto = IPPROTO_TCP;
	e->action = FW_ACT_DROP;
	e->reason = FW_REASON_RULE;
	e->icmp_type = 0;
	e->icmp_code = 0;
	e->tcp_flags = 0x02; /* SYN */
	e->vlan_depth = 0;
	sn_event_submit(e, c);
	return XDP_DROP;
}
