// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tc-conntrack: the flow table (ct.h) kept by a TCP/UDP/ICMP-echo state machine that sees both
 * directions (one entry per ingress and one per egress program, attached to every configured
 * interface). It never changes a verdict: every packet continues (TCX_NEXT), including malformed
 * ones, which are only counted (fail-open: tracking is observation, enforcement is elsewhere).
 *
 * A packet forwarded between two tracked interfaces passes ingress on one and egress on the
 * other; it is tracked at ingress only (egress skips packets whose ingress interface is in
 * ct_ifaces), so every packet counts once and advances the state machine once.
 *
 * A flow the NAT translated is filed under the key its first packet made, whichever tuple a
 * later packet carries here: the NAT's table (lib/nat.h) names the flow of each translated
 * tuple, so a reply translated back only after this program ran still counts as the reply. */
#include "sentinel/lib/common.h"
#include "sentinel/lib/counters.h"
#include "sentinel/lib/event.h"
#include "sentinel/lib/parse.h"
#include "sentinel/lib/ct.h"
#include "sentinel/lib/nat.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SENTINEL_BTF_EXPORT(ct_key);
SENTINEL_BTF_EXPORT(ct_entry);
SENTINEL_BTF_EXPORT(ct_config);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ct_config);
} ct_config SEC(".maps");

/* Interfaces this program is attached to (value unused): the forwarded-packet test above. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} ct_ifaces SEC(".maps");

SENTINEL_COUNTER_MAP(ct_counters);

#define SEC_NS 1000000000ULL

/* Built-in defaults (seconds, contract/conntrack.h); used for every slot the agent left 0. */
static __always_inline __u64 ct_default_timeout(__u8 state)
{
	switch (state) {
	case CT_S_NEW: return CT_TO_TCP_NEW;
	case CT_S_SYN_SENT: return CT_TO_TCP_SYN_SENT;
	case CT_S_SYN_RECV: return CT_TO_TCP_SYN_RECV;
	case CT_S_ESTABLISHED: return CT_TO_TCP_ESTABLISHED;
	case CT_S_FIN_WAIT: return CT_TO_TCP_FIN_WAIT;
	case CT_S_CLOSE_WAIT: return CT_TO_TCP_CLOSE_WAIT;
	case CT_S_LAST_ACK: return CT_TO_TCP_LAST_ACK;
	case CT_S_TIME_WAIT: return CT_TO_TCP_TIME_WAIT;
	case CT_S_CLOSE: return CT_TO_TCP_CLOSE;
	case CT_S_UDP_UNREPLIED: return CT_TO_UDP_UNREPLIED;
	case CT_S_UDP_ASSURED: return CT_TO_UDP_ASSURED;
	case CT_S_ICMP_UNREPLIED: return CT_TO_ICMP_UNREPLIED;
	case CT_S_ICMP_REPLIED: return CT_TO_ICMP_REPLIED;
	case CT_S_UDP_REPLIED: return CT_TO_UDP_UNREPLIED;
	default: return 30;
	}
}

static __always_inline __u64 ct_timeout_ns(__u8 state)
{
	__u32 zero = 0;
	struct ct_config *cfg = bpf_map_lookup_elem(&ct_config, &zero);
	/* The index is masked (CT_S_MAX <= 16) so the verifier sees the bound clang may move. */
	__u32 i = state & 15;
	if (cfg && i < CT_S_MAX) {
		__u64 t = cfg->timeout_ns[i];
		if (t)
			return t;
	}
	return ct_default_timeout(state) * SEC_NS;
}

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

/* netfilter's classes of TCP segment (get_conntrack_index): the flags that decide a transition,
 * in this order of precedence. */
enum ct_tcp_class {
	CT_TC_SYN,
	CT_TC_SYNACK,
	CT_TC_FIN,
	CT_TC_ACK,
	CT_TC_RST,
	CT_TC_NONE,
};

static __always_inline int ct_tcp_class(__u8 f)
{
	if (f & TH_RST)
		return CT_TC_RST;
	if (f & TH_SYN)
		return (f & TH_ACK) ? CT_TC_SYNACK : CT_TC_SYN;
	if (f & TH_FIN)
		return CT_TC_FIN;
	if (f & TH_ACK)
		return CT_TC_ACK;
	return CT_TC_NONE;
}

/* State a packet creates when no live entry exists; CT_S_NONE = creates nothing (invalid).
 * TCP as netfilter (nf_conntrack_tcp_loose on): a SYN opens, a plain ACK is picked up mid-stream
 * (CT_S_NEW, netfilter's unanswered ESTABLISHED), anything else (SYN-ACK, FIN, RST, no flag)
 * creates nothing. */
static __always_inline __u8 ct_initial_state(const struct sn_pkt *p)
{
	if (p->proto == IPPROTO_UDP)
		return CT_S_UDP_UNREPLIED;
	if (p->proto != IPPROTO_TCP)
		return ct_icmp_is_echo_request(p->proto, p->icmp_type) ? CT_S_ICMP_UNREPLIED : CT_S_NONE;
	int c = ct_tcp_class(p->tcp_flags);
	if (c == CT_TC_SYN)
		return CT_S_SYN_SENT;
	if (c == CT_TC_ACK)
		return CT_S_NEW;
	return CT_S_NONE;
}

/* TCP transition for a packet from side `dir` (0 = initiator), netfilter's tcp_conntracks table
 * without its window tracking: from FIN_WAIT on, FINs and ACKs move the state whichever side
 * sends them (a second FIN, or a retransmitted first one, leads to LAST_ACK; any ACK after a FIN
 * to CLOSE_WAIT; any ACK in LAST_ACK to TIME_WAIT). Returns the next state, or CT_S_NONE when
 * netfilter finds the packet invalid or ignores it (counted invalid, entry unchanged). RST and
 * reopening a closed tuple are handled by the caller. Documented in docs/architecture.md. */
static __always_inline __u8 ct_tcp_next(__u8 s, __u8 dir, __u8 f)
{
	int c = ct_tcp_class(f);
	if (c == CT_TC_RST)
		return CT_S_CLOSE;
	if (c == CT_TC_NONE)
		return CT_S_NONE;

	switch (s) {
	case CT_S_NEW: /* netfilter: ESTABLISHED, not yet answered */
		if (c == CT_TC_FIN)
			return CT_S_FIN_WAIT;
		if (c == CT_TC_ACK)
			return dir ? CT_S_ESTABLISHED : CT_S_NEW;
		return CT_S_NONE;
	case CT_S_SYN_SENT:
		if (dir == 0)
			return c == CT_TC_SYN ? CT_S_SYN_SENT : CT_S_NONE;
		/* SYN-ACK; a simultaneous open's SYN (netfilter's SYN_SENT2) is folded in here */
		return (c == CT_TC_SYNACK || c == CT_TC_SYN) ? CT_S_SYN_RECV : CT_S_NONE;
	case CT_S_SYN_RECV:
		if (c == CT_TC_FIN)
			return CT_S_FIN_WAIT;
		if (c == CT_TC_ACK)
			return dir ? CT_S_SYN_RECV : CT_S_ESTABLISHED;
		if (c == CT_TC_SYNACK && dir == 1)
			return CT_S_SYN_RECV; /* the SYN-ACK retransmitted */
		if (c == CT_TC_SYN && dir == 0)
			return CT_S_SYN_RECV; /* the SYN retransmitted (its SYN-ACK was lost) */
		return CT_S_NONE;
	case CT_S_ESTABLISHED:
		if (c == CT_TC_FIN)
			return CT_S_FIN_WAIT;
		return c == CT_TC_ACK ? CT_S_ESTABLISHED : CT_S_NONE;
	case CT_S_FIN_WAIT:
	case CT_S_CLOSE_WAIT:
		if (c == CT_TC_FIN)
			return CT_S_LAST_ACK;
		return c == CT_TC_ACK ? CT_S_CLOSE_WAIT : CT_S_NONE;
	case CT_S_LAST_ACK:
		if (c == CT_TC_FIN)
			return CT_S_LAST_ACK;
		return c == CT_TC_ACK ? CT_S_TIME_WAIT : CT_S_NONE;
	case CT_S_TIME_WAIT:
	case CT_S_CLOSE:
		return (c == CT_TC_FIN || c == CT_TC_ACK) ? s : CT_S_NONE;
	default:
		return CT_S_NONE;
	}
}

/* netfilter marks a TCP flow ASSURED on a packet that keeps it ESTABLISHED (or completes the
 * handshake from SYN_RECV) once a reply had been seen before that packet: the client's ACK of a
 * handshake, or the third packet of a flow picked up mid-stream. */
static __always_inline int ct_tcp_assures(__u8 old, __u8 next, int seen_reply_before)
{
	return seen_reply_before && next == CT_S_ESTABLISHED && (old == CT_S_SYN_RECV || old == CT_S_ESTABLISHED);
}

/* netfilter's UDP stream rule: a packet of a flow whose reply was seen before it, arriving more
 * than 2 s after the flow's first packet, marks the flow ASSURED (udp_timeout_stream from then
 * on). The reply itself never assures. */
#define CT_UDP_STREAM_NS (2ULL * SEC_NS)

static __always_inline int ct_create(struct ct_key *k, int key_dir, __u8 state, __u64 now, __u64 len,
				     struct sentinel_counters *c, __u64 flags)
{
	struct ct_entry e = {};
	e.created_ns = now;
	e.last_seen_ns = now;
	e.expires_ns = now + ct_timeout_ns(state);
	e.packets[0] = 1;
	e.bytes[0] = len;
	e.state = state;
	e.flags = key_dir == 0 ? CT_F_INIT_IS_A : 0;
	if (bpf_map_update_elem(&ct_table, k, &e, flags)) {
		sn_count(c, CT_CNT_TABLE_FULL, 1);
		return -1;
	}
	sn_count(c, CT_CNT_NEW_FLOWS, 1);
	return 0;
}

static __always_inline int ct_track(struct __sk_buff *skb, int egress)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct sentinel_counters *c = sn_counters_get(&ct_counters, skb->ifindex);
	__u64 len = skb->len;

	sn_count(c, SN_CNT_SEEN, 1);
	sn_count(c, SN_CNT_BYTES_SEEN, len);
	sn_count(c, SN_CNT_PASSED, 1);

	if (egress && skb->ingress_ifindex) {
		__u32 iif = skb->ingress_ifindex;
		if (bpf_map_lookup_elem(&ct_ifaces, &iif)) {
			sn_count(c, CT_CNT_SKIPPED_FORWARDED, 1);
			return TCX_NEXT;
		}
	}

	struct sn_pkt p = {};
	/* skb->len: a TCP segment made on this host or forwarded from one may hold its payload
	 * outside the linear area; its IP length is checked against the whole packet. */
	int rc = sn_parse_len(&p, data, data_end, skb->len);
	if (rc == SN_PARSE_NOT_IP) {
		sn_count(c, SN_CNT_NON_IP, 1);
		return TCX_NEXT;
	}
	if (rc != SN_PARSE_OK) {
		sn_count(c, SN_CNT_MALFORMED, 1);
		return TCX_NEXT;
	}

	struct ct_key k;
	int key_dir = ct_key_of(&p, &k);
	__u64 now = bpf_ktime_get_boot_ns();
	/* nat_dir: -1 not a translated flow, else who sent the packet (0 initiator) */
	int nat_dir = -1;
	if (key_dir >= 0 && nat_ct_key_of(&p, &k, &nat_dir) < 0)
		nat_dir = -1;
	if (key_dir < 0) {
		/* An error about a tracked flow is related traffic: it refreshes nothing. */
		if (ct_key_of_icmp_error(data, data_end, &p, &k) == 0) {
			struct ct_entry *r = bpf_map_lookup_elem(&ct_table, &k);
			if (r && ct_entry_live(r, now)) {
				sn_count(c, CT_CNT_RELATED, 1);
				return TCX_NEXT;
			}
		}
		sn_count(c, CT_CNT_UNTRACKED, 1);
		return TCX_NEXT;
	}

	struct ct_entry *e = bpf_map_lookup_elem(&ct_table, &k);
	if (nat_dir >= 0 && (!e || !ct_entry_live(e, now))) {
		/* the flow of a translation that outlived it: the NAT rebinds on its next first
		 * packet; a reply alone makes no flow */
		if (nat_dir == 1) {
			sn_count(c, CT_CNT_INVALID, 1);
			return TCX_NEXT;
		}
		nat_dir = -1;
		key_dir = ct_key_of(&p, &k);
		e = bpf_map_lookup_elem(&ct_table, &k);
	}
	if (e && !ct_entry_live(e, now)) {
		sn_count(c, CT_CNT_EXPIRED, 1);
		__u8 st = ct_initial_state(&p);
		if (st == CT_S_NONE) {
			bpf_map_delete_elem(&ct_table, &k);
			sn_count(c, CT_CNT_INVALID, 1);
		} else {
			ct_create(&k, key_dir, st, now, len, c, BPF_ANY);
		}
		return TCX_NEXT;
	}
	if (!e) {
		__u8 st = ct_initial_state(&p);
		if (st == CT_S_NONE) {
			sn_count(c, CT_CNT_INVALID, 1);
			return TCX_NEXT;
		}
		/* NOEXIST: when the other direction raced us to it, our packet is simply not counted
		 * in the new entry (the race is counted as a failed update, never silent). */
		ct_create(&k, key_dir, st, now, len, c, BPF_NOEXIST);
		return TCX_NEXT;
	}

	/* dir: 0 = from the initiator. */
	__u8 dir = nat_dir >= 0 ? (__u8)nat_dir : ((e->flags & CT_F_INIT_IS_A) ? 0 : 1) ^ (__u8)key_dir;
	__u8 next;
	if (p.proto == IPPROTO_TCP) {
		__u8 f = p.tcp_flags;
		if ((e->state == CT_S_TIME_WAIT || e->state == CT_S_CLOSE) && (f & TH_SYN) && !(f & TH_ACK) &&
		    !(f & TH_RST)) {
			/* A new connection reusing the tuple: a fresh flow with its SYN sender as initiator
			 * (the counters and the firewall's marks of the old one go with it). */
			ct_create(&k, key_dir, CT_S_SYN_SENT, now, len, c, BPF_EXIST);
			return TCX_NEXT;
		}
		if ((f & TH_RST) && !(e->flags & CT_F_SEEN_REPLY)) {
			/* A connection whose only answer is a reset never existed (refused, or aborted
			 * before any reply): removed at once, as netfilter does. */
			bpf_map_delete_elem(&ct_table, &k);
			sn_count(c, CT_CNT_EXPIRED, 1);
			return TCX_NEXT;
		}
		__u8 old = e->state;
		next = ct_tcp_next(old, dir, f);
		if (next == CT_S_NONE) {
			sn_count(c, CT_CNT_INVALID, 1);
			return TCX_NEXT;
		}
		int seen_reply = (e->flags & CT_F_SEEN_REPLY) != 0;
		if (ct_tcp_assures(old, next, seen_reply))
			e->flags |= CT_F_ASSURED;
		if (ct_tcp_class(f) == CT_TC_FIN)
			e->flags |= dir ? CT_F_FIN_RESP : CT_F_FIN_INIT;
		if (dir == 1)
			e->flags |= CT_F_SEEN_REPLY;
	} else if (p.proto == IPPROTO_UDP) {
		next = e->state;
		if (e->flags & CT_F_SEEN_REPLY) {
			if (!(e->flags & CT_F_ASSURED) && now - e->created_ns > CT_UDP_STREAM_NS) {
				e->flags |= CT_F_ASSURED;
				next = CT_S_UDP_ASSURED;
			}
		} else if (dir == 1) {
			e->flags |= CT_F_SEEN_REPLY;
			next = CT_S_UDP_REPLIED;
		}
	} else {
		/* ICMP echo: requests come from the initiator, replies from the responder. */
		int req = ct_icmp_is_echo_request(p.proto, p.icmp_type);
		if (req != (dir == 0)) {
			sn_count(c, CT_CNT_INVALID, 1);
			return TCX_NEXT;
		}
		next = e->state;
		if (dir == 1) {
			e->flags |= CT_F_SEEN_REPLY; /* netfilter never marks ICMP assured */
			next = CT_S_ICMP_REPLIED;
		}
	}

	e->state = next;
	e->last_seen_ns = now;
	e->expires_ns = now + ct_timeout_ns(next);
	if (dir == 0) {
		__sync_fetch_and_add(&e->packets[0], 1);
		__sync_fetch_and_add(&e->bytes[0], len);
	} else {
		__sync_fetch_and_add(&e->packets[1], 1);
		__sync_fetch_and_add(&e->bytes[1], len);
	}
	return TCX_NEXT;
}

SEC("tc")
int tc_conntrack_ingress(struct __sk_buff *skb)
{
	return ct_track(skb, 0);
}

SEC("tc")
int tc_conntrack_egress(struct __sk_buff *skb)
{
	return ct_track(skb, 1);
}
