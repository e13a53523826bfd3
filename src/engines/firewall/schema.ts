// Config schema of the `firewall` section (xdp-firewall). The shape follows the public
// reference (rules with id, priority, action, protocol, src_ip/dst_ip, ports, icmp, vlan_id) so
// its users can bring their files; departures are listed in docs/configuration.md.
import { z } from 'zod';
import { show } from '../../config/messages.js';
import { cidrList, cidrOf, portRange, ruleId } from '../../config/values.js';
import { bool, custom, intIn, keyword, strictObject } from '../../config/zod-helpers.js';
import type { Cidr } from '../../net/ip.js';
import { valuesByName } from '../../kernel/contract-names.js';
import { fw_ct_state } from '../../kernel/contract.gen.js';

export type FwAction = 'pass' | 'drop' | 'log' | 'reject';

/** Conntrack states a rule can match (`state`), with their FW_CT_* bit numbers. */
export const CT_STATE_BITS = valuesByName('FW_CT_', fw_ct_state);
export type CtStateName = keyof typeof CT_STATE_BITS;

export const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

const PROTOCOL_NAMES: Record<string, number | null> = {
  any: null,
  '*': null,
  tcp: PROTO_TCP,
  udp: PROTO_UDP,
  icmp: PROTO_ICMP,
  icmpv6: PROTO_ICMPV6,
};

/** Name of an IP protocol number for people (config echo, status, alerts). */
export function protocolName(p: number | null): string {
  if (p === null) return 'any';
  for (const [name, n] of Object.entries(PROTOCOL_NAMES)) if (n === p && name !== '*') return name;
  return String(p);
}

/** "any" is null: the rule does not look at the protocol. */
const protocol = custom((v, fail): number | null => {
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0 && v <= 255) return v;
  } else if (typeof v === 'string') {
    const p = PROTOCOL_NAMES[v.trim().toLowerCase()];
    if (p !== undefined) return p;
  }
  fail(`expected tcp | udp | icmp | icmpv6 | any or a protocol number 0-255; got ${show(v)}`);
  return null;
});

const ALIAS_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

const aliasRef = custom((v, fail): string => {
  if (typeof v !== 'string' || !ALIAS_NAME_RE.test(v)) fail(`expected an alias name; got ${show(v)}`);
  return v as string;
});

const ACTIONS = { allow: 'pass', pass: 'pass', accept: 'pass', deny: 'drop', drop: 'drop', block: 'drop', log: 'log', reject: 'reject', reset: 'reject' } as const;

const ctStateList = custom((v, fail): CtStateName[] => {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) fail('an empty state list matches nothing; omit the key to match any state');
  const out = new Set<CtStateName>();
  list.forEach((s, i) => {
    const name = typeof s === 'string' ? s.trim().toLowerCase() : s;
    if (typeof name === 'string' && Object.hasOwn(CT_STATE_BITS, name)) out.add(name as CtStateName);
    else fail(`expected new | established | related | invalid; got ${show(s)}`, Array.isArray(v) ? [i] : []);
  });
  return [...out];
});

const ruleShape = {
  id: ruleId,
  priority: intIn(1, 0xffffffff, 'a priority (lower is evaluated first)'),
  action: keyword<FwAction>(ACTIONS),
  enabled: bool().default(true),
  protocol: protocol.default(null),
  src_ip: cidrList('omit the key to match any address').optional(),
  dst_ip: cidrList('omit the key to match any address').optional(),
  src_alias: aliasRef.optional(),
  dst_alias: aliasRef.optional(),
  src_port: portRange.optional(),
  dst_port: portRange.optional(),
  icmp_type: intIn(0, 255).optional(),
  icmp_code: intIn(0, 255).optional(),
  vlan_id: intIn(0, 4094, 'a VLAN id (0 = untagged only)').optional(),
  /** conntrack state(s) the packet must be in */
  state: ctStateList.optional(),
  description: z.string().optional(),
};

const RULE_UNSUPPORTED: Record<string, string> = {
  scope: '',
  flags: '',
  negate_source: '',
  negate_destination: '',
  src_mac: '',
  dst_mac: '',
  dscp_match: '',
  dscp_mark: '',
  src_port_alias: '',
  dst_port_alias: '',
  src_mac_alias: '',
  dst_mac_alias: '',
  schedule: '',
  max_states: '',
  interfaces: '',
  tenant_id: '',
  system: '',
};

export const ruleSchema = strictObject(ruleShape, RULE_UNSUPPORTED).superRefine((r, ctx) => {
  const add = (key: string, message: string): void => ctx.addIssue({ code: 'custom', path: [key], message });
  const proto = protocolName(r.protocol);
  const l4 = r.protocol === PROTO_TCP || r.protocol === PROTO_UDP;
  const icmp = r.protocol === PROTO_ICMP || r.protocol === PROTO_ICMPV6;
  for (const k of ['src_port', 'dst_port'] as const) {
    if (r[k] !== undefined && !l4) add(k, `${k} needs protocol tcp or udp (protocol is ${proto})`);
  }
  for (const k of ['icmp_type', 'icmp_code'] as const) {
    if (r[k] !== undefined && !icmp) add(k, `${k} needs protocol icmp or icmpv6 (protocol is ${proto})`);
  }
  if (r.icmp_code !== undefined && r.icmp_type === undefined) add('icmp_code', 'icmp_code needs icmp_type');
  if (r.src_ip && r.src_alias !== undefined) add('src_alias', 'use either src_ip or src_alias, not both');
  if (r.dst_ip && r.dst_alias !== undefined) add('dst_alias', 'use either dst_ip or dst_alias, not both');
});

export type FirewallRuleConfig = z.output<typeof ruleSchema>;

const aliasValues = custom((v, fail): Cidr[] => {
  if (!Array.isArray(v)) {
    fail(`expected a list of addresses/CIDRs; got ${show(v)}`);
    return [];
  }
  const out: Cidr[] = [];
  for (let i = 0; i < v.length; i++) {
    const c = cidrOf(v[i], fail, [i]);
    if (c) out.push(c);
  }
  return out;
});

const aliasFile = custom((v, fail): string => {
  if (typeof v !== 'string' || v.trim() === '') fail(`expected a file path; got ${show(v)}`);
  return v as string;
});

const ALIAS_TYPES_LATER = 'is not supported by this version (only ip_set)';

const aliasSchema = strictObject(
  {
    type: keyword({ ip_set: 'ip_set' }, {
      port_set: ALIAS_TYPES_LATER,
      nested: ALIAS_TYPES_LATER,
      url_table: ALIAS_TYPES_LATER,
      url_table_json: ALIAS_TYPES_LATER,
      geoip: ALIAS_TYPES_LATER,
      dynamic_dns: ALIAS_TYPES_LATER,
      interface_group: ALIAS_TYPES_LATER,
      mac_set: ALIAS_TYPES_LATER,
      bgp_asn: ALIAS_TYPES_LATER,
      external: ALIAS_TYPES_LATER,
    }).default('ip_set'),
    /** inline addresses/CIDRs */
    values: aliasValues.default([]),
    /** file with one address/CIDR per line; '#' comments; relative to the config file */
    file: aliasFile.optional(),
    description: z.string().optional(),
  },
  {
    aliases: '',
    url: '',
    refresh_interval: '',
    country_codes: '',
    hostnames: '',
    interfaces: '',
    exclude: '',
    json_path: '',
    asn_numbers: '',
  },
);

export type FirewallAliasConfig = z.output<typeof aliasSchema>;

const aliases = z
  .record(z.string(), aliasSchema)
  .superRefine((rec, ctx) => {
    for (const name of Object.keys(rec)) {
      if (!ALIAS_NAME_RE.test(name)) {
        ctx.addIssue({ code: 'custom', path: [name], message: `alias name "${name}" must be 1-64 letters, digits, "-" or "_"` });
      }
    }
  });

export const firewallSchema = strictObject(
  {
    enabled: bool().default(true),
    /** block: deny rules drop. alert: deny rules (and a drop default) only log. */
    mode: keyword({ block: 'block', enforce: 'block', alert: 'alert', monitor: 'alert', observe: 'alert' }).default('block'),
    default_policy: keyword({ pass: 'pass', accept: 'pass', allow: 'pass', drop: 'drop', deny: 'drop', block: 'drop' }).default('pass'),
    rules: z.array(ruleSchema).default([]),
    aliases: aliases.default({}),
  },
  {
    anti_lockout: 'no synthetic rules are added: write an explicit allow rule for your management ports',
    scrub: 'packet normalisation is the top-level scrub section (tc-scrub)',
    schedules: '',
  },
).superRefine((fw, ctx) => {
  // "First match by priority" is ambiguous with ties, so priorities must be unique like ids.
  const ids = new Map<string, number>();
  const prios = new Map<number, number>();
  fw.rules.forEach((r, i) => {
    const firstId = ids.get(r.id);
    if (firstId !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate id "${r.id}" (already used by rules[${firstId}])` });
    } else ids.set(r.id, i);
    const firstPrio = prios.get(r.priority);
    if (firstPrio !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['rules', i, 'priority'],
        message: `duplicate priority ${r.priority} (already used by rules[${firstPrio}] "${fw.rules[firstPrio]!.id}"): first-match order would be ambiguous`,
      });
    } else prios.set(r.priority, i);
    for (const k of ['src_alias', 'dst_alias'] as const) {
      const name = r[k];
      if (name !== undefined && !Object.hasOwn(fw.aliases, name)) {
        const known = Object.keys(fw.aliases);
        ctx.addIssue({
          code: 'custom',
          path: ['rules', i, k],
          message: `unknown alias "${name}" (${known.length ? `defined: ${known.join(', ')}` : 'firewall.aliases is empty'})`,
        });
      }
    }
  });
});

export type FirewallConfig = z.output<typeof firewallSchema>;
