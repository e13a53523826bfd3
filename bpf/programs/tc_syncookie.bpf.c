// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tc_syncookie: the second half of xdp-ratelimit's SYN cookies on kernels with
 * bpf_sk_assign_tcp_reqsk (6.9+), attached at TC ingress of every interface xdp-ratelimit
 * protects. xdp-ratelimit answered the SYN with the agent's cookie (synproxy.h) and already
 * dropped forged ACKs; here a pure ACK addressed to a listening socket that returns one of those
 * cookies becomes a request socket carrying what the cookie encodes (MSS, window scales, SACK,
 * timestamps, ECN), assigned to the packet. The stack then completes the handshake from it as
 * from one of its own cookies, whatever the listener's queue and net.ipv4.tcp_syncookies (non-zero)
 * say: no listener stamping, no host sysctl change.
 *
 * It never drops: anything else continues (TCX_NEXT), and an ACK it cannot turn into a socket
 * reaches the listener as it would without the agent (which resets it). Every outcome is counted.
 * Separate object from xdp_ratelimit because the kfunc does not exist on older kernels, where
 * this object alone fails to load; it shares rl_cookie_cfg with xdp_ratelimit (map reuse). */
#include "sentinel/lib/common.h"
#include "sentinel/lib/counters.h"
#include "sentinel/lib/parse.h"
#include "sentinel/lib/syncookie.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* include/net/tcp.h; the kfunc checks the size and that reserved is zero */
struct bpf_tcp_req_attrs {
	__u32 rcv_tsval;
	__u32 rcv_tsecr;
	__u16 mss;
	__u8 rcv_wscale;
	__u8 snd_wscale;
	__u8 ecn_ok;
	__u8 wscale_ok;
	__u8 sack_ok;
	__u8 tstamp_ok;
	__u8 usec_ts_ok;
	__u8 reserved[3];
};

/* Never dereferenced here; a definition (not a forward declaration) because libbpf matches
 * kfunc prototypes by kind and a FWD is not a STRUCT. */
struct sock {
	__u8 opaque;
};
extern int bpf_sk_assign_tcp_reqsk(struct __sk_buff *skb, struct sock *sk, struct bpf_tcp_req_attrs *attrs,
				   int attrs__sz) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rl_cookie_cfg);
} rl_cookie_cfg SEC(".maps");

SENTINEL_COUNTER_MAP(sc_counters); /* slots: contract/syncookie.h SC_CNT_* */

static __always_inline int sc_ack_to_listener(struct __sk_buff *skb, struct sentinel_counters *c, const struct sn_pkt *p)
{
	__u32 zero = 0;
	struct rl_cookie_cfg *cfg = bpf_map_lookup_elem(&rl_cookie_cfg, &zero);
	if (!cfg || !sc_key_set(cfg))
		return TCX_NEXT;

	struct bpf_sock_tuple t = {};
	struct bpf_sock *skc;
	if (p->family == SN_AF_INET) {
		t.ipv4.saddr = p->src[0];
		t.ipv4.daddr = p->dst[0];
		t.ipv4.sport = bpf_htons(p->sport);
		t.ipv4.dport = bpf_htons(p->dport);
		skc = bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv4), (__u64)(__s64)-1, 0);
	} else {
		__builtin_memcpy(t.ipv6.saddr, p->src, 16);
		__builtin_memcpy(t.ipv6.daddr, p->dst, 16);
		t.ipv6.sport = bpf_htons(p->sport);
		t.ipv6.dport = bpf_htons(p->dport);
		skc = bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv6), (__u64)(__s64)-1, 0);
	}
	if (!skc)
		return TCX_NEXT;
	if (skc->state != 10 /* BPF_TCP_LISTEN */)
		goto release;

	struct sc_parse ps = {};
	__u32 off = p->l4_off;
	if (off > 1500 || bpf_skb_load_bytes(skb, off, ps.t.b, 20))
		goto release;
	__u32 th_len = (ps.t.b[12] >> 4) * 4;
	if (th_len < 20 || th_len > 60 || bpf_skb_load_bytes(skb, off, ps.t.b, th_len))
		goto release;

	struct sc_decoded d;
	ps.th_len = th_len;
	sc_parse_opts(&ps);
	const struct tcphdr *h = (const struct tcphdr *)ps.t.b;
	__u32 ports = ((__u32)h->dest << 16) | h->source;
	if (sc_check(cfg, p, ports, bpf_ntohl(h->seq), bpf_ntohl(h->ack_seq), &ps.o, &d)) {
		sn_count(c, SC_CNT_NOT_AGENT_COOKIE, 1);
		goto release;
	}

	struct bpf_tcp_req_attrs attrs = {};
	attrs.mss = d.mss;
	if (d.wscale != SC_NO_WSCALE) {
		attrs.wscale_ok = 1;
		attrs.snd_wscale = d.wscale;
		attrs.rcv_wscale = cfg->rcv_wscale;
	}
	attrs.sack_ok = d.sack_ok;
	attrs.ecn_ok = d.ecn_ok;
	if (d.ts_ok) {
		attrs.tstamp_ok = 1;
		attrs.rcv_tsval = ps.o.tsval;
		attrs.rcv_tsecr = ps.o.tsecr;
	}
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);
	if (!tp || bpf_sk_assign_tcp_reqsk(skb, (struct sock *)tp, &attrs, sizeof(attrs))) {
		sn_count(c, SC_CNT_REQSK_REFUSED, 1);
		goto release;
	}
	sn_count(c, SC_CNT_REQSK_CREATED, 1);
release:
	bpf_sk_release(skc);
	return TCX_NEXT;
}

SEC("tc")
int tc_syncookie(struct __sk_buff *skb)
{
	struct sentinel_counters *c = sn_counters_get(&sc_counters, skb->ifindex);
	sn_count(c, SN_CNT_SEEN, 1);
	sn_count(c, SN_CNT_BYTES_SEEN, skb->len);
	sn_count(c, SN_CNT_PASSED, 1); /* never drops */

	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct sn_pkt pkt = {};
	int rc = sn_parse(&pkt, data, data_end);
	if (rc == SN_PARSE_NOT_IP) {
		sn_count(c, SN_CNT_NON_IP, 1);
		return TCX_NEXT;
	}
	if (rc != SN_PARSE_OK) {
		/* the headers may sit beyond the linear part: a pure ACK never does in practice, and
		 * a packet that is not one is none of our business; counted all the same */
		sn_count(c, SN_CNT_MALFORMED, 1);
		return TCX_NEXT;
	}
	if (pkt.proto != IPPROTO_TCP || (pkt.flags & SN_PKT_F_LATER_FRAG) || (pkt.tcp_flags & 0x17) != 0x10)
		return TCX_NEXT;
	return sc_ack_to_listener(skb, c, &pkt);
}
