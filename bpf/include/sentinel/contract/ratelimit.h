/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* xdp-ratelimit: the contract between the kernel program and the agent's ratelimit engine.
 *
 * Every limit is a GCRA meter (generic cell rate algorithm): one u64 "theoretical arrival time"
 * (TAT) per bucket, advanced with compare-and-swap. A packet conforms when TAT - now <= tolerance;
 * it then moves TAT to max(TAT, now) + interval. interval = 1e9 / rate and tolerance =
 * (burst - 1) * interval, so a bucket admits `burst` packets at once and `rate` per second
 * after that, exactly. The TAT is shared by every CPU (plain LRU hash, atomics): per-CPU buckets
 * would admit rate x nCPU.
 *
 * Policy is double-buffered like the firewall's: rl_rules holds two generations of RL_MAX_RULES
 * rules, rl_gen one header per generation (defaults, flood guards, SYN cookie mode), and the
 * agent flips the single u32 in rl_active. A packet reads rl_active once. */
#ifndef SENTINEL_CONTRACT_RATELIMIT_H
#define SENTINEL_CONTRACT_RATELIMIT_H

#include <linux/bpf.h> /* struct bpf_timer */
#include "counters.h"
#include "event.h"
#include "ids.h"

/* rl_rule.action: what happens to packets over the rule's limit. */
enum rl_action {
	RL_ACT_DROP = 0,
	RL_ACT_PASS = 1,         /* monitor only: counted and sampled, still passed */
};

/* rl_rule.scope: who shares one bucket. */
enum rl_scope {
	RL_SCOPE_SOURCE = 0,     /* one bucket per source address matching the rule */
	RL_SCOPE_RULE = 1,       /* one bucket for all traffic matching the rule */
};

/* rl_rule.match bits */
enum rl_match {
	RL_M_SRC = 0x01,         /* addr/mask (always set by the agent; /0 matches all) */
	RL_M_PROTO = 0x02,
	RL_M_DPORT = 0x04,       /* dport_lo..hi inclusive; TCP/UDP only */
};

/* rl_gen.cookie_mode */
enum rl_cookie_mode {
	RL_COOKIE_OFF = 0,
	RL_COOKIE_ALWAYS = 1,
	RL_COOKIE_THRESHOLD = 2, /* only SYNs beyond the cookie_threshold meter get cookies */
};

/* rl_gen.cookie_path: whose cookies, and how the listener comes to accept their ACKs
 * (lib/synproxy.h). The agent picks it from what the kernel offers. */
enum rl_cookie_path {
	RL_PATH_REQSK = 1,       /* agent cookies; tc_syncookie creates the request socket */
	RL_PATH_KERNEL = 2,      /* kernel cookies; tcp_syncookies=2 and refresh SYNs */
};

/* A meter: interval_ns = 0 means "no limit". */
struct rl_limit {
	__u64 interval_ns;       /* 1e9 / rate */
	__u64 tolerance_ns;      /* (burst - 1) * interval_ns */
};

struct rl_rule {
	__u32 addr[4];           /* network byte order, pre-masked; IPv4 in word 0 */
	__u32 mask[4];
	struct rl_limit limit;
	__u32 rule_num;          /* stable number (bucket key and event rule id), never 0 */
	__u16 dport_lo;          /* host byte order */
	__u16 dport_hi;
	__u8 family;             /* SN_AF_INET / SN_AF_INET6 (a rule with both families is two rows) */
	__u8 proto;
	__u8 action;             /* RL_ACT_* */
	__u8 scope;              /* RL_SCOPE_* */
	__u8 match;              /* RL_M_* */
	__u8 _pad[7];
};

struct rl_gen {
	__u32 rule_count;
	__u32 sample_every;      /* 1 event per N drops of a bucket (N >= 1) */
	struct rl_limit dflt;    /* default per-source limit when no rule matches */
	struct rl_limit syn_agg; /* flood guards: aggregate and per source */
	struct rl_limit syn_src;
	struct rl_limit udp_agg;
	struct rl_limit udp_src;
	struct rl_limit icmp_agg;
	struct rl_limit icmp_src;
	struct rl_limit cookie_threshold; /* SYN rate above which SYNs get cookies (threshold mode) */
	__u8 cookie_mode;        /* RL_COOKIE_* */
	__u8 cookie_path;        /* RL_PATH_* (0 while cookies are off) */
	__u8 _pad[6];
};

/* Bucket kinds (rl_key.kind) */
enum rl_bucket_kind {
	RL_K_DEFAULT = 0,
	RL_K_RULE = 1,
	RL_K_SYN = 2,
	RL_K_UDP = 3,
	RL_K_ICMP = 4,
};

struct rl_key {
	__u32 addr[4];           /* source address (zero for scope rule) */
	__u32 id;                /* rule_num for RL_K_RULE, else 0 */
	__u8 family;
	__u8 kind;               /* RL_K_* */
	__u16 _pad;
};

struct rl_bucket {
	__u64 tat;               /* theoretical arrival time, ns (bpf_ktime_get_ns) */
	__u64 last_ns;           /* last packet seen, for housekeeping */
	__u64 drops;             /* packets over the limit (sampling and status) */
};

/* Aggregate meters (rl_agg array slots) */
enum rl_agg {
	RL_AGG_SYN = 0,
	RL_AGG_UDP = 1,
	RL_AGG_ICMP = 2,
	RL_AGG_COOKIE = 3,       /* SYN rate meter of threshold mode */
};

/* Housekeeping: a bpf_timer walks rl_buckets every period_ns and deletes buckets idle longer
 * than max_idle_ns. Armed by the first packet after the agent writes the config. */
struct rl_housekeeping {
	struct bpf_timer timer;
	__u64 max_idle_ns;
	__u64 period_ns;
	__u32 armed;
	__u32 _pad;
};

/* Program-specific per-interface counter slots (after the common ones in counters.h). */
enum rl_counter {
	RL_CNT_DROP_RULE = SN_CNT_PROG_0, /* over a rule's limit, dropped */
	RL_CNT_DROP_DEFAULT,              /* over the default per-source limit */
	RL_CNT_DROP_SYN_FLOOD,            /* SYN flood guard */
	RL_CNT_DROP_UDP_FLOOD,            /* UDP flood guard */
	RL_CNT_DROP_ICMP_FLOOD,           /* ICMP flood guard */
	RL_CNT_SYNCOOKIE_SENT,            /* SYN answered with a SYN-ACK cookie (XDP_TX) */
	RL_CNT_SYNCOOKIE_INVALID,         /* ACK to a listener with a bad cookie, dropped */
};

/* Global per-CPU statistics (rl_stats array) that do not fit the counter block; named like
 * counter slots (counters.h). */
enum rl_stat {
	RL_ST_SYNCOOKIE_VALID = 0,   /* cookie ACK validated and passed to the stack */
	RL_ST_OVER_LIMIT_PASSED,     /* over a limit with action pass (monitor) */
	RL_ST_SYN_NOT_ANSWERED,      /* SYN under cookie protection left to the stack: IP options,
				      * IPv6 extension headers, no local listener, helper error */
	RL_ST_BUCKETS_EXPIRED,       /* buckets removed by housekeeping */
	RL_ST_BUCKET_CREATE_FAILED,  /* bucket could not be created: packet passed unmetered */
	RL_ST_CAS_EXHAUSTED,         /* passed although a meter it had to pass (flood guard, rule,
				      * default limit) lost every CAS retry: once per packet */
	RL_ST_HOUSEKEEPING_RUNS,
	RL_ST_SYN_UNDER_THRESHOLD,   /* threshold mode, SYN below it, left to the stack */
	RL_ST_SYN_REFRESH,           /* kernel path: SYN handed to the stack so its listener keeps
				      * taking cookie ACKs (one per listener address and port per
				      * RL_KSTAMP_REFRESH_NS) */
	RL_ST_SYNCOOKIE_VALID_KERNEL, /* ACK with a cookie the kernel itself issued, passed */
};

/* Kernel path: the kernel takes a cookie ACK only on a listener that sent a cookie itself in the
 * last two minutes (tcp_synq_no_recent_overflow), and stamps a listener at most once a second.
 * XDP hands the stack the first SYN to each listener address and port, and one more every
 * RL_KSTAMP_REFRESH_NS; with tcp_syncookies=2 the listener answers it with its own cookie and is
 * stamped, so the cookies XDP answers the rest with are accepted. A listener that appears while
 * cookies are on is covered from its first SYN. */
enum rl_kstamp {
	RL_KSTAMP_REFRESH_NS = 1000000000,
};

/* Sizes of the maps and arrays above. */
enum rl_limits {
	RL_MAX_RULES = 1024,        /* rules per generation */
	RL_MAX_BUCKETS = 262144,    /* per-source / per-rule buckets (LRU) */
	RL_AGG_MAX = RL_AGG_COOKIE + 1,
	RL_ST_MAX = RL_ST_SYNCOOKIE_VALID_KERNEL + 1,
	RL_KSTAMP_MAX = 4096,       /* listener stamps (kernel path) */
};

struct rl_kstamp_key {
	__u32 addr[4];           /* listener address as the SYN names it, network order */
	__u16 port;              /* host order */
	__u8 family;
	__u8 _pad;
};

/* rl_event.reason */
enum rl_reason {
	RL_R_RULE = 1,
	RL_R_DEFAULT = 2,
	RL_R_SYN_FLOOD = 3,
	RL_R_UDP_FLOOD = 4,
	RL_R_ICMP_FLOOD = 5,
	RL_R_SYNCOOKIE_INVALID = 6,
};

struct rl_event {
	struct sentinel_event_hdr hdr;
	__u32 src_addr[4];       /* network byte order */
	__u32 dst_addr[4];
	__u64 drops;             /* drops of this bucket so far (this event samples them) */
	__u32 rule_num;          /* 0 unless reason is RL_R_RULE */
	__u32 ifindex;
	__u16 src_port;          /* host byte order */
	__u16 dst_port;
	__u16 vlan_id;
	__u16 pkt_len;
	__u8 family;
	__u8 proto;
	__u8 reason;             /* RL_R_* */
	__u8 action;             /* RL_ACT_* applied */
	__u8 tcp_flags;
	__u8 aggregate;          /* 1 when an aggregate (all sources) meter tripped */
	__u8 _pad[2];
};

SENTINEL_BTF_EXPORT_ENUM(rl_action);
SENTINEL_BTF_EXPORT_ENUM(rl_scope);
SENTINEL_BTF_EXPORT_ENUM(rl_match);
SENTINEL_BTF_EXPORT_ENUM(rl_cookie_mode);
SENTINEL_BTF_EXPORT_ENUM(rl_cookie_path);
SENTINEL_BTF_EXPORT_ENUM(rl_bucket_kind);
SENTINEL_BTF_EXPORT_ENUM(rl_agg);
SENTINEL_BTF_EXPORT_ENUM(rl_counter);
SENTINEL_BTF_EXPORT_ENUM(rl_stat);
SENTINEL_BTF_EXPORT_ENUM(rl_kstamp);
SENTINEL_BTF_EXPORT_ENUM(rl_limits);
SENTINEL_BTF_EXPORT_ENUM(rl_reason);

#endif
