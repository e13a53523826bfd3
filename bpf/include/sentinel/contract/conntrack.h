/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection tracking contract: the flow table written by tc-conntrack and read by every program
 * that wants flow state (xdp-firewall fast path, NAT, IDS), the agent's timeout configuration and
 * tc-conntrack's counter slots. One LRU entry per flow, keyed by a direction-normalised tuple so
 * both directions of a flow hit the same entry (lib/ct.h declares the table and builds keys). */
#ifndef SENTINEL_CONTRACT_CONNTRACK_H
#define SENTINEL_CONTRACT_CONNTRACK_H

#include <linux/types.h>
#include "counters.h"
#include "ids.h"

enum ct_limits {
	CT_DEFAULT_MAX_ENTRIES = 262144, /* flow table size before the agent sets its own */
};

/* Endpoint a is the lower one: address bytes in network order compared first, then the port.
 * Addresses network byte order, IPv4 in word 0 (rest zero); ports host byte order; ICMP/ICMPv6
 * echo keeps the echo identifier in both ports. */
struct ct_key {
	__u32 addr_a[4];
	__u32 addr_b[4];
	__u16 port_a;
	__u16 port_b;
	__u8 family; /* SN_AF_INET / SN_AF_INET6 */
	__u8 proto;  /* IPPROTO_TCP / UDP / ICMP / ICMPV6 */
	__u8 _pad[2];
};

/* Per-direction arrays: [0] = from the initiator, [1] = from the responder.
 * Times are bpf_ktime_get_boot_ns(); expires_ns <= now means the entry is dead (treat as absent).
 * fw_pass_gen belongs to xdp-firewall: tc-conntrack zeroes it when it creates an entry and never
 * writes it otherwise. */
struct ct_entry {
	__u64 created_ns;
	__u64 last_seen_ns;
	__u64 expires_ns;
	__u64 packets[2];
	__u64 bytes[2];
	__u32 fw_pass_gen[2];
	__u8 state; /* CT_S_* */
	__u8 flags; /* CT_F_* */
	__u8 _pad[6];
};

enum ct_flag {
	CT_F_INIT_IS_A = 0x01,  /* the initiator is endpoint a of the key */
	CT_F_SEEN_REPLY = 0x02, /* the responder has sent at least one valid packet */
	CT_F_ASSURED = 0x04,    /* netfilter's ASSURED: TCP answered and acknowledged (see
				 * ct_tcp_assures), UDP still talking both ways 2 s after its
				 * first packet; never ICMP */
	CT_F_FIN_INIT = 0x08,   /* TCP: the initiator has sent a FIN */
	CT_F_FIN_RESP = 0x10,   /* TCP: the responder has sent a FIN */
};

/* States. 0 is never stored. TCP follows the netfilter vocabulary; CT_S_NEW is a TCP flow
 * picked up mid-stream (no SYN seen) that has not been answered yet. UDP: unreplied until the
 * responder answers, replied after, assured once it still talks 2 s after its first packet
 * (netfilter's UDP stream rule). New states are appended: the numbers are the agent's contract. */
enum ct_state {
	CT_S_NONE = 0,
	CT_S_NEW = 1,
	CT_S_SYN_SENT = 2,
	CT_S_SYN_RECV = 3,
	CT_S_ESTABLISHED = 4,
	CT_S_FIN_WAIT = 5,
	CT_S_CLOSE_WAIT = 6,
	CT_S_LAST_ACK = 7,
	CT_S_TIME_WAIT = 8,
	CT_S_CLOSE = 9,
	CT_S_UDP_UNREPLIED = 10,
	CT_S_UDP_ASSURED = 11,
	CT_S_ICMP_UNREPLIED = 12,
	CT_S_ICMP_REPLIED = 13,
	CT_S_UDP_REPLIED = 14,
};

/* Built-in timeouts in seconds, close to netfilter's, for every state whose ct_config slot the
 * agent left 0; named by the agent's config keys (conntrack.timeouts.<key>), whose defaults they
 * are. UDP_REPLIED lives by UDP_UNREPLIED's, as netfilter's udp_timeout until a flow is a stream. */
enum ct_default_timeout {
	CT_TO_TCP_NEW = 60,
	CT_TO_TCP_SYN_SENT = 120,
	CT_TO_TCP_SYN_RECV = 60,
	CT_TO_TCP_ESTABLISHED = 432000,
	CT_TO_TCP_FIN_WAIT = 120,
	CT_TO_TCP_CLOSE_WAIT = 60,
	CT_TO_TCP_LAST_ACK = 30,
	CT_TO_TCP_TIME_WAIT = 120,
	CT_TO_TCP_CLOSE = 10,
	CT_TO_UDP_UNREPLIED = 30,
	CT_TO_UDP_ASSURED = 120,
	CT_TO_ICMP_UNREPLIED = 30,
	CT_TO_ICMP_REPLIED = 30,
};

enum ct_state_count {
	CT_S_MAX = CT_S_UDP_REPLIED + 1, /* one past the highest state: timeout_ns[] size */
};

/* Per-state timeout configuration (array map of one element, written by the agent). A zero
 * slot means "use the built-in default" so a program works before the agent has written it. */
struct ct_config {
	__u64 timeout_ns[CT_S_MAX];
};

/* Program-specific counter slots of tc-conntrack (see counters.h). */
enum ct_counter {
	CT_CNT_NEW_FLOWS = SN_CNT_PROG_0, /* flows created */
	CT_CNT_INVALID,           /* packets that fit no valid transition */
	CT_CNT_TABLE_FULL,        /* map update failed (entry not created) */
	CT_CNT_EXPIRED,           /* entries ended by the kernel: dead on touch, a closed flow
				   * replaced by a new SYN, a reset before any reply */
	CT_CNT_UNTRACKED,         /* IP packets of a protocol/type not tracked */
	CT_CNT_RELATED,           /* ICMP errors whose quoted flow is in the table */
	CT_CNT_SKIPPED_FORWARDED, /* egress of a packet already tracked at ingress */
};

SENTINEL_BTF_EXPORT_ENUM(ct_limits);
SENTINEL_BTF_EXPORT_ENUM(ct_flag);
SENTINEL_BTF_EXPORT_ENUM(ct_state);
SENTINEL_BTF_EXPORT_ENUM(ct_state_count);
SENTINEL_BTF_EXPORT_ENUM(ct_default_timeout);
SENTINEL_BTF_EXPORT_ENUM(ct_counter);

#endif
