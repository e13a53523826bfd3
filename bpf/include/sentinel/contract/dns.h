/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* tc-dns: what it hands the agent — one record per DNS message seen over UDP or TCP port 53
 * (IPv4 and IPv6), the message bytes copied up to a bound, and its counter slots. The kernel
 * only finds and copies messages; the agent decodes them (src/alerts/dns-wire.ts). */
#ifndef SENTINEL_CONTRACT_DNS_H
#define SENTINEL_CONTRACT_DNS_H

#include <linux/types.h>
#include "btf_export.h"
#include "counters.h"
#include "event.h"

enum dns_limits {
	/* message bytes copied per record; a longer message is cut there and flagged */
	DNS_MSG_MAX = 1024,
	DNS_PORT = 53,
};

/* dns_event.flags */
enum dns_event_flag {
	DNS_EV_F_TCP = 0x01,       /* from a TCP segment: the message follows the 2-byte length */
	DNS_EV_F_TRUNCATED = 0x02, /* msg_len > cap_len: the copy was cut */
	DNS_EV_F_FROM_SERVER = 0x04, /* source port 53 (a response, by the port) */
};

struct dns_event {
	struct sentinel_event_hdr hdr;
	__u32 src_addr[4];  /* network byte order */
	__u32 dst_addr[4];
	__u32 ifindex;
	__u16 src_port;     /* host byte order */
	__u16 dst_port;
	__u16 vlan_id;
	__u16 pkt_len;
	__u8 family;
	__u8 proto;
	__u8 tcp_flags;
	__u8 flags;         /* DNS_EV_F_* */
	__u16 msg_len;      /* the message's length as the packet has it (UDP payload, TCP length prefix) */
	__u16 cap_len;      /* bytes of it in msg */
	__u8 msg[DNS_MSG_MAX];
};

/* Program-specific counter slots of tc_dns (after the common ones in counters.h). */
enum dns_counter {
	DNS_CNT_MESSAGES = SN_CNT_PROG_0, /* DNS messages found (UDP or TCP, port 53) */
	DNS_CNT_TCP,                      /* of which over TCP */
	DNS_CNT_TRUNCATED,                /* copied only in part (longer than DNS_MSG_MAX or than the packet) */
	DNS_CNT_TCP_NOT_MESSAGE_START,    /* TCP segments on port 53 too short to hold a length prefix */
	DNS_CNT_COPY_FAILED,              /* bpf_skb_load_bytes refused: no record */
};

SENTINEL_BTF_EXPORT_ENUM(dns_limits);
SENTINEL_BTF_EXPORT_ENUM(dns_event_flag);
SENTINEL_BTF_EXPORT_ENUM(dns_counter);

#endif
