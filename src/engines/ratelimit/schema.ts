// Config schemas of the `ratelimit` and `ddos` sections (both enforced by xdp-ratelimit). The
// shape follows the public reference (enabled, default_rate, default_burst, rules[] with id,
// src_ip, rate, burst, action; ddos.syn_protection with enabled/threshold_mode/threshold_pps)
// with its limits lifted: src_ip takes CIDRs and lists, IPv4 and IPv6, and rules can match a
// protocol and a destination port range. Departures are listed in docs/configuration.md.
import { z } from 'zod';
import { cidrList, portRange, ruleId } from '../../config/values.js';
import { bool, intIn, keyword, strictObject } from '../../config/zod-helpers.js';
import type { CookiePathSetting } from './syncookie-path.js';
import { rl_limits } from '../../kernel/contract.gen.js';

const MAX_RATE = 100_000_000;
/** kernel rule slots per generation; a rule with both families takes two */
const RL_MAX_RULE_ROWS = rl_limits.RL_MAX_RULES;

const rate = (what: string) => intIn(1, MAX_RATE, what);

export type RlProtocol = 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'any';
const PROTO_NUM: Record<RlProtocol, number | null> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, any: null };
export const protocolNumber = (p: RlProtocol): number | null => PROTO_NUM[p];

const ruleSchema = strictObject(
  {
    id: ruleId,
    /** evaluation order, lower first; rules without one follow, in list order */
    priority: intIn(1, 0xffffffff, 'a priority (lower is evaluated first)').optional(),
    enabled: bool().default(true),
    /** sources this rule applies to; omitted = every source (both families) */
    src_ip: cidrList('omit the key to match every source').optional(),
    protocol: keyword<RlProtocol>({ tcp: 'tcp', udp: 'udp', icmp: 'icmp', icmpv6: 'icmpv6', any: 'any', '*': 'any' }).default('any'),
    dst_port: portRange.optional(),
    rate: rate('a rate in packets per second'),
    burst: rate('a burst in packets').optional(),
    /** drop: packets over the limit are dropped; pass: they pass and are only counted (monitor) */
    action: keyword({ drop: 'drop', deny: 'drop', block: 'drop', pass: 'pass', allow: 'pass', log: 'pass' } as const).default('drop'),
    /** source: one bucket per source address; rule: one bucket shared by all matching traffic */
    per: keyword({ source: 'source', src: 'source', rule: 'rule' } as const).default('source'),
    description: z.string().optional(),
  },
  { algorithm: 'only GCRA (an exact token bucket) is implemented', interfaces: '', tenant_id: '' },
).superRefine((r, ctx) => {
  if (r.dst_port !== undefined && r.protocol !== 'tcp' && r.protocol !== 'udp') {
    ctx.addIssue({ code: 'custom', path: ['dst_port'], message: `dst_port needs protocol tcp or udp (protocol is ${r.protocol})` });
  }
});

export type RatelimitRuleConfig = z.output<typeof ruleSchema>;

export const ratelimitSchema = strictObject(
  {
    enabled: bool().default(false),
    /** per-source limit for traffic no rule matches; 0 = unlimited */
    default_rate: intIn(0, MAX_RATE, 'a rate in packets per second (0 = no default limit)').default(0),
    /** defaults to default_rate (one second of traffic) */
    default_burst: rate('a burst in packets').optional(),
    rules: z.array(ruleSchema).default([]),
    /** one event per N drops of each bucket (N = 1: every drop) */
    event_sample_every: intIn(1, 1_000_000, 'a sampling interval (events per N drops)').default(100),
    /** buckets idle longer than this are deleted by the kernel housekeeping timer */
    bucket_idle_timeout_secs: intIn(1, 86_400, 'a timeout in seconds').default(60),
    /** how often the housekeeping timer walks the buckets */
    housekeeping_interval_secs: intIn(1, 3_600, 'an interval in seconds').default(10),
  },
  { default_algorithm: 'only GCRA (an exact token bucket) is implemented', country_tiers: '' },
).superRefine((rl, ctx) => {
  const ids = new Map<string, number>();
  const prios = new Map<number, number>();
  let rows = 0;
  rl.rules.forEach((r, i) => {
    const first = ids.get(r.id);
    if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate id "${r.id}" (already used by rules[${first}])` });
    else ids.set(r.id, i);
    if (r.priority !== undefined) {
      const p = prios.get(r.priority);
      if (p !== undefined) ctx.addIssue({ code: 'custom', path: ['rules', i, 'priority'], message: `duplicate priority ${r.priority} (already used by rules[${p}]): first-match order would be ambiguous` });
      else prios.set(r.priority, i);
    }
    rows += r.src_ip ? r.src_ip.length : 2;
  });
  if (rows > RL_MAX_RULE_ROWS) {
    ctx.addIssue({ code: 'custom', path: ['rules'], message: `rules need ${rows} kernel slots (one per CIDR, two for a rule without src_ip); the limit is ${RL_MAX_RULE_ROWS}` });
  }
});

export type RatelimitConfig = z.output<typeof ratelimitSchema>;

const guard = (defaults: { max_pps: number }) =>
  strictObject({
    enabled: bool().default(false),
    /** aggregate limit over all sources, packets per second (0 = none) */
    max_pps: intIn(0, MAX_RATE, 'a rate in packets per second (0 = none)').default(defaults.max_pps),
    /** per-source limit, packets per second (0 = none) */
    per_source_pps: intIn(0, MAX_RATE, 'a rate in packets per second (0 = none)').default(0),
  });

export const ddosSchema = strictObject(
  {
    enabled: bool().default(false),
    syn_protection: strictObject({
      enabled: bool().default(false),
      /** true: cookies only above threshold_pps SYNs per second; false: every SYN gets a cookie */
      threshold_mode: bool().default(true),
      threshold_pps: rate('a SYN rate in packets per second').default(10_000),
      /** whose cookies: auto (the agent's where the kernel has bpf_sk_assign_tcp_reqsk, else the
       * kernel's), agent, or kernel (syncookie-path.ts) */
      cookies: keyword<CookiePathSetting>({ auto: 'auto', agent: 'agent', kernel: 'kernel' }).default('auto'),
    }).prefault({}),
    /** SYN flood guard: drops SYNs over the limits (applies to SYNs not answered with cookies) */
    syn_flood: guard({ max_pps: 0 }).prefault({}),
    udp_protection: guard({ max_pps: 0 }).prefault({}),
    /** ICMP and ICMPv6 (neighbour discovery is never limited) */
    icmp_protection: guard({ max_pps: 0 }).prefault({}),
  },
  { amplification_protection: '', connection_tracking: '', policies: '' },
).superRefine((d, ctx) => {
  if (!d.enabled) return;
  const any = d.syn_protection.enabled || d.syn_flood.enabled || d.udp_protection.enabled || d.icmp_protection.enabled;
  if (!any) ctx.addIssue({ code: 'custom', path: ['enabled'], message: 'ddos.enabled is true but no protection is enabled (syn_protection, syn_flood, udp_protection, icmp_protection)' });
  for (const k of ['syn_flood', 'udp_protection', 'icmp_protection'] as const) {
    const g = d[k];
    if (g.enabled && g.max_pps === 0 && g.per_source_pps === 0) ctx.addIssue({ code: 'custom', path: [k], message: `${k} is enabled but sets neither max_pps nor per_source_pps` });
  }
});

export type DdosConfig = z.output<typeof ddosSchema>;
