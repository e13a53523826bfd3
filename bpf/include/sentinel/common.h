/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Common includes and identifiers shared by every ebpfsentinel program.
 * Packet programs need no vmlinux.h: the UAPI headers describe every wire format we parse. */
#ifndef SENTINEL_COMMON_H
#define SENTINEL_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* Which program wrote a record or a counter (event header `program`). */
enum sentinel_program_id {
	SN_PROG_XDP_FIREWALL = 1,
	SN_PROG_XDP_RATELIMIT = 2,
	SN_PROG_TC_CONNTRACK = 3,
	SN_PROG_TC_NAT_INGRESS = 4,
	SN_PROG_TC_NAT_EGRESS = 5,
	SN_PROG_TC_IDS = 6,
	SN_PROG_TC_THREATINTEL = 7,
	SN_PROG_TC_DNS = 8,
	SN_PROG_UPROBE_DLP = 9,
	SN_PROG_TC_SCRUB = 10,
};

/* Kind of body that follows the event header (event header `type`). */
enum sentinel_event_type {
	SN_EV_FIREWALL = 1,
	SN_EV_RATELIMIT = 2,   /* xdp-ratelimit drops and SYN-cookie events (ratelimit.h) */
};

/* Address family codes used in every shared struct (0 = any in rules). */
#define SN_AF_ANY 0
#define SN_AF_INET 4
#define SN_AF_INET6 6

/* TCX return codes (linux/bpf.h of Debian 12 predates TCX). */
#ifndef TCX_NEXT
#define TCX_NEXT -1
#define TCX_PASS 0
#define TCX_DROP 2
#define TCX_REDIRECT 7
#endif

#endif
