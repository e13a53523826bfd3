/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* xdp-firewall: the contract between the kernel program and the agent's firewall engine.
 *
 * Policy is double-buffered. fw_rules holds two generations of FW_MAX_RULES slots each, and so
 * do the classifier maps (fw_tree, fw_wide, fw_leaf: one value each); the agent fills the inactive
 * generation (rules, tree, leaves, its fw_gen entry, its LPM sets), then flips the single u32
 * in fw_active. A packet reads fw_active once, so it is judged by the whole old rule set or
 * the whole new one, never a mix and never an empty one.
 *
 * Classifier: rules are not scanned one by one. The agent compiles them into a 256-way
 * decision DAG over a fixed packet key (struct fw_key): each inner node cuts one key byte and
 * has 256 child references (one load per level, at most FW_MAX_DEPTH levels; a tree's root may
 * be wide: two key bytes in one load); a leaf lists at most a few candidate rule slots in
 * priority order, each with a one-byte quick-reject filter, checked exactly with the rule
 * matcher. Each packet family has trees of its own (its family's rules and family-less ones),
 * so no level is spent telling IPv4 from IPv6. A family's rules are split into up to
 * FW_MAX_TREES trees (by which address they name narrowly) so that rules ignoring a field are
 * not copied across every cut of it; the packet walks the trees of its family side by side, and
 * the lowest matching slot over them is the first matching rule of the policy. */
#ifndef SENTINEL_CONTRACT_FIREWALL_H
#define SENTINEL_CONTRACT_FIREWALL_H

#include <linux/types.h>
#include "counters.h"
#include "event.h"
#include "ids.h"

/* Sizes of the policy maps and the classifier: the agent's compiler keeps within them. */
enum fw_limits {
	FW_MAX_RULES = 16384,       /* rules per generation */
	FW_MAX_RULE_NUMS = 32768,   /* stable rule numbers (hit counters), both generations */
	FW_TREE_NODES = 32768,      /* inner classifier nodes per generation (256 refs each: 32 MiB) */
	FW_LEAF_SLOTS = 262144,     /* candidate rule slots in leaves, per generation */
	FW_MAX_DEPTH = 12,          /* inner nodes on any root-to-leaf path */
	FW_MAX_TREES = 3,           /* classifier trees walked per packet (rules partitioned) */
	FW_LEAF_INLINE = 8,         /* leaf candidates checked without bpf_loop; the compiler ends a
	                             * walk in a leaf rather than cut a byte that separates nothing
	                             * for lists up to this size */
	FW_WIDE_SLOTS = 65536,      /* references in a wide root table (two key bytes at once) */
	FW_WIDE_TABLES = 8,         /* wide root tables per generation: one per family and tree
	                             * (2 x FW_MAX_TREES), a power of two */
	FW_KEY_SIZE = 48,           /* sizeof(struct fw_key) */
	FW_LPM_MAX = 262144,        /* CIDR set entries per family */
};

/* Actions (rule action and default policy). */
enum fw_action {
	FW_ACT_PASS = 0,
	FW_ACT_DROP = 1,
	FW_ACT_LOG = 2,    /* pass and emit an event */
	FW_ACT_REJECT = 3, /* drop and answer: TCP RST, else ICMP/ICMPv6 unreachable */
};

/* fw_rule.match bits: a criterion is checked only when its bit is set. */
enum fw_match {
	FW_M_SRC_NET = 0x0001,   /* src_addr/src_mask */
	FW_M_DST_NET = 0x0002,
	FW_M_SRC_SET = 0x0004,   /* src address in LPM set src_set */
	FW_M_DST_SET = 0x0008,
	FW_M_PROTO = 0x0010,
	FW_M_SRC_PORT = 0x0020,  /* src_port_lo..hi inclusive */
	FW_M_DST_PORT = 0x0040,
	FW_M_ICMP_TYPE = 0x0080,
	FW_M_ICMP_CODE = 0x0100,
	FW_M_VLAN = 0x0200,      /* vlan_id exact; 0 = untagged only */
	FW_M_CT_STATE = 0x0400,  /* packet's conntrack state bit (1 << FW_CT_*) in ct_states */
};

/* Conntrack state of a packet as rules see it (fw_rule.ct_states bit numbers). */
enum fw_ct_state {
	FW_CT_NEW = 0,
	FW_CT_ESTABLISHED = 1,
	FW_CT_RELATED = 2,
	FW_CT_INVALID = 3,
};

/* Classifier references (fw_gen.root and fw_tree values).
 *   leaf:  FW_REF_LEAF | count << FW_REF_COUNT_SHIFT | first fw_leaf slot (of the generation)
 *   inner: key byte to cut << FW_REF_BYTE_SHIFT | node index (of the generation)
 *   wide:  FW_REF_WIDE | first key byte << FW_REF_BYTE_SHIFT | second key byte << FW_REF_BYTE2_SHIFT
 *          | table (of the generation's FW_WIDE_TABLES in fw_wide); only as a tree's root. A wide
 *          root cuts two key bytes in one lookup: it is the root node and its children flattened
 *          (entry hi << 8 | lo is where cutting both bytes leads), so a tree walk saves a level. */
enum fw_ref {
	FW_REF_LEAF = 0x80000000,
	FW_REF_WIDE = 0x40000000,
	FW_REF_BYTE2_SHIFT = 8,
	FW_REF_TABLE_MASK = 0xff,
	FW_REF_COUNT_SHIFT = 20,
	FW_REF_COUNT_MASK = 0x7ff,
	FW_REF_SLOT_MASK = 0xfffff,
	FW_REF_BYTE_SHIFT = 24,
	FW_REF_BYTE_MASK = 0x3f,
	FW_REF_NODE_MASK = 0xffffff,
};

/* fw_leaf entries: the candidate's rule slot, and a quick-reject filter tested before the rule is
 * read: key byte FW_LEAF_BYTE must equal FW_LEAF_VALUE under a prefix mask of FW_LEAF_MASKLEN
 * bits (0 = no filter). The agent picks a byte the rule needs and the packets reaching the leaf
 * do not all share, so most candidates that cannot match cost one key byte, not a rule. */
enum fw_leaf_entry {
	FW_LEAF_SLOT_MASK = FW_MAX_RULES - 1,
	FW_LEAF_BYTE_SHIFT = 14,
	FW_LEAF_MASKLEN_SHIFT = 20,
	FW_LEAF_VALUE_SHIFT = 24,
};

/* fw_key.meta bits: family, later fragment, conntrack state (FW_CT_*). */
enum fw_meta {
	FW_META_V6 = 0x80,
	FW_META_LATER_FRAG = 0x40,
	FW_META_CT_MASK = 0x03,
};

/* The packet key the classifier cuts, and all the leaf check reads of the packet. Multi-byte fields are big-endian so a byte cut splits
 * a field into contiguous ranges; addresses are the packet's bytes (IPv4 in bytes 0..3 of the
 * 16, the rest zero). vlan = 0x1000 | innermost VID when tagged, 0 when untagged. Ports are 0
 * for a later fragment or a protocol without ports, exactly as the matcher sees them. */
struct fw_key {
	__u8 meta;
	__u8 proto;
	__u8 vlan[2];
	__u8 sport[2];
	__u8 dport[2];
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 _pad[6];
	__u8 src[16];  /* 4-byte aligned: the rule matcher reads the addresses as words */
	__u8 dst[16];
};

struct fw_rule {
	__u32 src_addr[4];  /* network byte order, pre-masked; IPv4 in word 0 */
	__u32 src_mask[4];
	__u32 dst_addr[4];
	__u32 dst_mask[4];
	__u32 src_set;      /* LPM set id when FW_M_SRC_SET */
	__u32 dst_set;
	__u32 rule_num;     /* stable number: hit-counter index and event rule id (0 = none) */
	__u16 src_port_lo;  /* host byte order */
	__u16 src_port_hi;
	__u16 dst_port_lo;
	__u16 dst_port_hi;
	__u16 vlan_id;
	__u16 match;        /* FW_M_* */
	__u8 family;        /* SN_AF_ANY / SN_AF_INET / SN_AF_INET6 */
	__u8 proto;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 action;        /* FW_ACT_* */
	__u8 ct_states;     /* FW_M_CT_STATE: bit (1 << FW_CT_*) per accepted state */
	__u8 _pad[2];
};

/* The classifier's arrays of one generation, each a single map value so that a walk looks its
 * generation up once and then follows references by plain loads (a map lookup per level costs
 * a store and reload of the index on the critical path of every step). */
struct fw_tree_gen {
	__u32 ref[FW_TREE_NODES * 256]; /* node n, key byte value v at n * 256 + v */
};

struct fw_wide_gen {
	__u32 ref[FW_WIDE_TABLES * FW_WIDE_SLOTS]; /* table t, entry e at t * FW_WIDE_SLOTS + e */
};

struct fw_leaf_gen {
	__u32 entry[FW_LEAF_SLOTS]; /* FW_LEAF_* candidate entries, runs in priority order */
};

/* Per-generation header: rule count, classifier root, default policy and policy id flip
 * together with the rules. */
struct fw_gen {
	__u32 rule_count;
	__u32 tree_count[2]; /* trees in roots[family]: [0] IPv4 packets, [1] IPv6 packets */
	__u32 roots[2][FW_MAX_TREES]; /* FW_REF_* of each classifier tree's root, per family */
	__u32 policy_id;     /* monotonic, never 0: conntrack fast path is valid only for this id */
	__u8 default_action; /* FW_ACT_PASS / FW_ACT_DROP / FW_ACT_LOG / FW_ACT_REJECT */
	__u8 flags;          /* FW_GEN_F_* */
	__u8 _pad[2];
};

/* fw_gen.flags */
enum fw_gen_flag {
	/* No rule of the generation has a state criterion, so the rules judge a packet alike in
	 * every conntrack state: xdp-firewall runs them before the ct_table lookup and looks up
	 * only packets they pass (for the fast path's marks). ICMP errors keep the lookup first
	 * (related packets may pass on their flow's marks whatever the rules say). */
	FW_GEN_F_STATELESS = 1,
};

/* CIDR sets: one trie per family, keyed by set id then address, so any number of rules can
 * each own a large block list. prefixlen = 32 (set id) + CIDR prefix length. */
struct fw_lpm_v4_key {
	__u32 prefixlen;
	__u32 set_id;      /* big-endian so it sorts as the leading bits of the key */
	__u8 addr[4];
};

struct fw_lpm_v6_key {
	__u32 prefixlen;
	__u32 set_id;
	__u8 addr[16];
};

struct fw_hit {
	__u64 packets;
	__u64 bytes;
};

/* Why a verdict was reached (event `reason`). */
enum fw_reason {
	FW_REASON_RULE = 1,
	FW_REASON_DEFAULT = 2,
	FW_REASON_MALFORMED = 3,
	FW_REASON_BLOCKLIST = 4, /* the dynamic block list (lib/blocklist.h); rule_num is the entry's id */
};

struct fw_event {
	struct sentinel_event_hdr hdr;
	__u32 src_addr[4];  /* network byte order */
	__u32 dst_addr[4];
	__u32 rule_num;     /* 0 when the default policy decided; FW_REASON_BLOCKLIST: the entry's id */
	__u32 ifindex;
	__u16 src_port;     /* host byte order */
	__u16 dst_port;
	__u16 vlan_id;
	__u16 pkt_len;
	__u8 family;
	__u8 proto;
	__u8 action;        /* FW_ACT_* actually applied */
	__u8 reason;        /* FW_REASON_* */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 tcp_flags;
	__u8 vlan_depth;
};

/* Program-specific counter slots (after the common ones in counters.h). */
enum fw_counter {
	FW_CNT_RULE_HIT = SN_CNT_PROG_0, /* a rule matched */
	FW_CNT_DEFAULT_POLICY,           /* default policy applied */
	FW_CNT_TAILCALL_MISS,            /* no next program in the XDP chain */
	FW_CNT_FRAGMENT,                 /* IP fragments seen */
	FW_CNT_BLOCKLIST,                /* dropped by the dynamic block list (lib/blocklist.h) */
};

/* Slots of the second counter map (fw_counters_ext, same shape, looked up only when one of
 * them moves so the common path pays for one counter lookup). The reject answer's four slots
 * come first, in lib/reply.h's order (sent, suppressed, rate-limited, failed). */
enum fw_ext_counter {
	FW_XCNT_REJECT_SENT = SN_CNT_PROG_0,
	FW_XCNT_REJECT_SUPPRESSED,
	FW_XCNT_REJECT_RATELIMITED,
	FW_XCNT_REJECT_FAILED,
	FW_XCNT_CT_FASTPATH,  /* established/related: rules skipped */
	FW_XCNT_TREE_BROKEN,  /* classifier walk ended off a leaf: default */
};

/* Slots of the XDP chain reached by tail call after a pass verdict. */
enum fw_tail {
	FW_TAIL_RATELIMIT = 0,
};

/* Slots of fw_walk_stats, the histograms of what each classifier lookup took, kept only by the
 * bench-only build (xdp_firewall.bpf.c with FW_WALK_STATS; bench/walk-stats.ts reads them):
 * FW_WS_PACKETS lookups; FW_WS_DEPTH + d the lookups whose deepest tree took d reads (a wide
 * root one, each inner node one); FW_WS_CANDS + n those that examined n leaf entries over all
 * trees; FW_WS_RULES + n those that read and matched n rules (the last slot of each histogram
 * holds that many or more). */
enum fw_walk_stats_slot {
	FW_WS_DEPTH_BUCKETS = 16,
	FW_WS_COUNT_BUCKETS = 64,
	FW_WS_PACKETS = 0,
	FW_WS_DEPTH = 1,
	FW_WS_CANDS = FW_WS_DEPTH + FW_WS_DEPTH_BUCKETS,
	FW_WS_RULES = FW_WS_CANDS + FW_WS_COUNT_BUCKETS,
	FW_WS_SLOTS = FW_WS_RULES + FW_WS_COUNT_BUCKETS,
};

SENTINEL_BTF_EXPORT_ENUM(fw_limits);
SENTINEL_BTF_EXPORT_ENUM(fw_action);
SENTINEL_BTF_EXPORT_ENUM(fw_match);
SENTINEL_BTF_EXPORT_ENUM(fw_ct_state);
SENTINEL_BTF_EXPORT_ENUM(fw_ref);
SENTINEL_BTF_EXPORT_ENUM(fw_leaf_entry);
SENTINEL_BTF_EXPORT_ENUM(fw_meta);
SENTINEL_BTF_EXPORT_ENUM(fw_reason);
SENTINEL_BTF_EXPORT_ENUM(fw_gen_flag);
SENTINEL_BTF_EXPORT_ENUM(fw_counter);
SENTINEL_BTF_EXPORT_ENUM(fw_ext_counter);
SENTINEL_BTF_EXPORT_ENUM(fw_tail);
SENTINEL_BTF_EXPORT_ENUM(fw_walk_stats_slot);

#endif
