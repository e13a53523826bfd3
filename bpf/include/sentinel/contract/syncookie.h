/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The agent's SYN cookies (lib/syncookie.h makes and checks them): the key and host options the
 * agent writes for xdp_ratelimit and tc_syncookie, and tc_syncookie's counter slots. */
#ifndef SENTINEL_CONTRACT_SYNCOOKIE_H
#define SENTINEL_CONTRACT_SYNCOOKIE_H

#include <linux/types.h>
#include "btf_export.h"
#include "counters.h"

/* SipHash-2-4's 128-bit key (lib/siphash.h), random per agent start. */
struct sn_sipkey {
	__u64 k0;
	__u64 k1;
};

/* rl_cookie_cfg.allow: what this host's TCP takes (the agent reads the sysctls), so a cookie never
 * promises an option the kernel would then refuse in bpf_sk_assign_tcp_reqsk. */
enum sc_allow {
	SC_ALLOW_TS = 0x01,
	SC_ALLOW_SACK = 0x02,
	SC_ALLOW_WSCALE = 0x04,
	SC_ALLOW_ECN = 0x08,
};

/* Key and host options, one entry, shared by xdp_ratelimit and tc_syncookie. */
struct rl_cookie_cfg {
	struct sn_sipkey key;  /* all zero: not set yet, no cookie is made or taken */
	__u8 allow;            /* SC_ALLOW_* */
	__u8 rcv_wscale;       /* the window scale we announce (what the kernel would pick) */
	__u8 _pad[6];
};

/* Program-specific counter slots of tc_syncookie (see counters.h). */
enum sc_counter {
	SC_CNT_REQSK_CREATED = SN_CNT_PROG_0, /* request socket created from an agent cookie */
	SC_CNT_NOT_AGENT_COOKIE, /* ACK to a listener without a valid agent cookie: left to it */
	SC_CNT_REQSK_REFUSED,    /* valid cookie, but the kernel refused the socket */
};

SENTINEL_BTF_EXPORT_ENUM(sc_allow);
SENTINEL_BTF_EXPORT_ENUM(sc_counter);

#endif
