/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Common includes of every ebpfsentinel program, and the identifiers of the contract (ids.h).
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

#include "../contract/ids.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* TCX return codes (linux/bpf.h of Debian 12 predates TCX). */
#ifndef TCX_NEXT
#define TCX_NEXT -1
#define TCX_PASS 0
#define TCX_DROP 2
#define TCX_REDIRECT 7
#endif

#endif
