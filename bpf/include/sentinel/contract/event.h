/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The one header every ring-buffer record starts with; each program's contract defines the body
 * that follows it (fw_event, rl_event...). */
#ifndef SENTINEL_CONTRACT_EVENT_H
#define SENTINEL_CONTRACT_EVENT_H

#include <linux/types.h>
#include "btf_export.h"
#include "ids.h"

struct sentinel_event_hdr {
	__u64 ts_ns;   /* bpf_ktime_get_boot_ns() */
	__u16 type;    /* enum sentinel_event_type */
	__u8 program;  /* enum sentinel_program_id */
	__u8 flags;    /* type specific */
	__u16 cpu;     /* bpf_get_smp_processor_id() */
	__u16 len;     /* whole record, header included */
};

#endif
