// Config schema of the `scrub` section (tc-scrub). The public reference puts these keys under
// `firewall.scrub` with one profile for the whole host (min_ttl, min_hop_limit, max_mss,
// clear_df, random_ip_id, scrub_tcp_flags, strip_ecn, normalize_tos, tos_value); here they are a
// section of their own, the same keys make the default profile, and `interfaces` and `networks`
// override them key by key (docs/configuration.md).
import { z } from 'zod';
import type { Cidr } from '../../net/ip.js';
import { show } from '../../config/messages.js';
import { cidrList } from '../../config/values.js';
import { bool, custom, intIn, strictObject } from '../../config/zod-helpers.js';

/** Linux refuses an MSS below 88 (TCP_MIN_MSS): a smaller clamp would be ignored by the peer. */
const MIN_MSS = 88;
/** network entries per address family (the size of each LPM trie) */
export const SCRUB_MAX_NETWORKS = 4096;

export type TcpFlagsMode = 'off' | 'repair' | 'drop';

const tcpFlags = custom(
  (v, fail): TcpFlagsMode => {
    if (v === true) return 'repair';
    if (v === false) return 'off';
    const w = typeof v === 'string' ? v.trim().toLowerCase() : '';
    if (w === 'off' || w === 'repair' || w === 'drop') return w;
    fail(`expected off | repair | drop (true is repair, false is off); got ${show(v)}`);
    return 'off';
  },
  { anyOf: [{ type: 'boolean' }, { type: 'string', enum: ['off', 'repair', 'drop'] }] },
);

/** 0 turns an inherited clamp off; otherwise at least 88 (TCP_MIN_MSS). */
const maxMss = custom(
  (v, fail): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || (v !== 0 && (v < MIN_MSS || v > 65535))) {
      fail(`expected an MSS ${MIN_MSS}-65535, or 0 for no clamping; got ${show(v)}`);
    }
    return v as number;
  },
  { anyOf: [{ const: 0 }, { type: 'integer', minimum: MIN_MSS, maximum: 65535 }] },
);

/** A DSCP (0-63), or "keep" to leave it (turns an inherited rewrite off). */
const dscp = custom(
  (v, fail): number | 'keep' => {
    if (v === 'keep') return 'keep';
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 63) fail(`expected a DSCP 0-63 or "keep"; got ${show(v)}`);
    return v as number;
  },
  { anyOf: [{ type: 'integer', minimum: 0, maximum: 63 }, { const: 'keep' }] },
);

/** What one profile says. Every key is optional: absent means "as the enclosing profile". */
const profileShape = {
  /** IPv4 TTL raised to at least this (0: off) */
  min_ttl: intIn(0, 255, 'a TTL').optional(),
  /** IPv6 hop limit raised to at least this (0: off) */
  min_hop_limit: intIn(0, 255, 'a hop limit').optional(),
  /** MSS option of SYN and SYN-ACK clamped to this (0: off) */
  max_mss: maxMss.optional(),
  clear_df: bool().optional(),
  random_ip_id: bool().optional(),
  /** DSCP written into every packet (IPv4 TOS, IPv6 traffic class) */
  dscp: dscp.optional(),
  /** ECN bits cleared (not-ECT) */
  strip_ecn: bool().optional(),
  /** the whole TOS / traffic-class byte set to tos_value (the reference's pair) */
  normalize_tos: bool().optional(),
  tos_value: intIn(0, 255, 'a TOS byte').optional(),
  /** impossible TCP flag combinations and reserved bits: off, repair (where it can) or drop */
  scrub_tcp_flags: tcpFlags.optional(),
};

const referenceOnly = {
  strip_tcp_timestamps: '',
  drop_fragments: 'drop fragments with a firewall rule instead',
};

export type ScrubProfileConfig = { [K in keyof typeof profileShape]?: z.output<(typeof profileShape)[K]> };

const profileSchema = strictObject(profileShape, referenceOnly);

const networkSchema = strictObject(
  {
    /** the networks this profile applies to: a packet's source, else its destination, in one of them */
    cidr: cidrList('omit the entry instead'),
    /** the interfaces it applies on (default: every interface scrub runs on) */
    interfaces: z.array(z.string().min(1)).min(1).optional(),
    ...profileShape,
  },
  referenceOnly,
);

export type ScrubNetworkConfig = ScrubProfileConfig & { cidr: Cidr[]; interfaces?: string[] | undefined };

export const scrubSchema = strictObject(
  {
    enabled: bool().default(false),
    ...profileShape,
    /** per interface: overrides of the profile above, key by key */
    interfaces: z.record(z.string().min(1), profileSchema).default({}),
    /** per network: overrides of the interface's profile, key by key */
    networks: z.array(networkSchema).default([]),
  },
  referenceOnly,
).superRefine((s, ctx) => {
  // normalize_tos writes the whole byte; dscp and strip_ecn write parts of it: in one block,
  // which one was meant is not clear.
  const blocks: [PropertyKey[], ScrubProfileConfig][] = [[[], s]];
  for (const [name, p] of Object.entries(s.interfaces)) blocks.push([['interfaces', name], p]);
  s.networks.forEach((n, i) => blocks.push([['networks', i], n]));
  for (const [at, p] of blocks) {
    if (p.normalize_tos && (p.dscp !== undefined || p.strip_ecn !== undefined)) {
      ctx.addIssue({ code: 'custom', path: [...at, 'normalize_tos'], message: 'normalize_tos sets the whole TOS byte (tos_value): use it alone, or dscp and strip_ecn without it' });
    }
    if (p.tos_value !== undefined && p.normalize_tos !== true) {
      ctx.addIssue({ code: 'custom', path: [...at, 'tos_value'], message: 'tos_value is written only with normalize_tos: true' });
    }
  }
  for (const fam of [4, 6] as const) {
    const n = s.networks.reduce((a, e) => a + e.cidr.filter((c) => c.family === fam).length, 0);
    if (n > SCRUB_MAX_NETWORKS) ctx.addIssue({ code: 'custom', path: ['networks'], message: `${n} IPv${fam} networks: at most ${SCRUB_MAX_NETWORKS} per family` });
  }
});

export type ScrubConfig = z.output<typeof scrubSchema>;
