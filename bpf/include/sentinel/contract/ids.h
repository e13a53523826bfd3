/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Identifiers every record and counter carries: which program wrote it, what kind of body follows
 * the event header, which address family an address is. */
#ifndef SENTINEL_CONTRACT_IDS_H
#define SENTINEL_CONTRACT_IDS_H

#include <linux/types.h>
#include "btf_export.h"

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
	SN_EV_DNS = 3,         /* tc-dns: one DNS message (dns.h) */
	SN_EV_THREATINTEL = 4, /* tc-threatintel matches (threatintel.h) */
};

/* Address family codes used in every shared struct (0 = any in rules). */
enum sn_family {
	SN_AF_ANY = 0,
	SN_AF_INET = 4,
	SN_AF_INET6 = 6,
};

SENTINEL_BTF_EXPORT_ENUM(sentinel_program_id);
SENTINEL_BTF_EXPORT_ENUM(sentinel_event_type);
SENTINEL_BTF_EXPORT_ENUM(sn_family);

#endif
