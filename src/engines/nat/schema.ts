// Config schema of the `nat` section (tc-nat-ingress and tc-nat-egress), in the reference's
// shape: `snat_rules` (masquerade, snat, one_to_one) and `dnat_rules` (port_forward, dnat,
// one_to_one), each rule with an id, a priority (lower first), match_* keys and the type's own
// keys, and `hairpin`. What the reference has and we do not do yet is refused by name: aliases,
// tenants, redirect, NPTv6. Rules are checked against their type here (a key another type owns
// is an error naming the type); compile.ts turns them into kernel rules.
import type { z } from 'zod';
import { Cidr, parseAddress, type IpFamily } from '../../net/ip.js';
import { show } from '../../config/messages.js';
import { cidrOf, portRange, ruleId } from '../../config/values.js';
import { bool, custom, intIn, keyword, strictObject } from '../../config/zod-helpers.js';
import type { PortRange } from '../../net/port.js';

const IFNAME_RE = /^[A-Za-z0-9_.:-]{1,15}$/;

const ifname = custom((v, fail): string => {
  if (typeof v !== 'string' || !IFNAME_RE.test(v)) fail(`expected an interface name (1-15 characters); got ${show(v)}`);
  return v as string;
}, { type: 'string' });

const ifnameList = custom((v, fail): string[] => {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) fail('an empty list applies the rule nowhere; omit the key to apply it on every interface');
  return list.map((x, i) => {
    if (typeof x !== 'string' || !IFNAME_RE.test(x)) fail(`expected an interface name; got ${show(x)}`, Array.isArray(v) ? [i] : []);
    return x as string;
  });
}, { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }] });

/** One address (no prefix length): what a translation writes. */
export interface NatAddress {
  family: IpFamily;
  addr: Buffer;
  text: string;
}

function addressOf(v: unknown, fail: (m: string) => void): NatAddress | null {
  if (typeof v !== 'string') {
    fail(`expected an IPv4 or IPv6 address; got ${show(v)}`);
    return null;
  }
  try {
    const a = parseAddress(v.trim());
    return { family: a.family, addr: a.addr, text: v.trim() };
  } catch (e) {
    fail((e as Error).message);
    return null;
  }
}

const address = custom((v, fail): NatAddress => addressOf(v, fail) as NatAddress, { type: 'string' });

/** An address or an inclusive range "first-last" of one family (a pool), at most 65536 long. */
export interface NatPool {
  first: NatAddress;
  size: number;
}

const pool = custom((v, fail): NatPool => {
  if (typeof v !== 'string') {
    fail(`expected an address or a range "first-last"; got ${show(v)}`);
    return { first: { family: 4, addr: Buffer.alloc(16), text: '' }, size: 0 };
  }
  const [a, b, extra] = v.split('-').map((s) => s.trim());
  const first = addressOf(a, fail);
  if (!first) return { first: { family: 4, addr: Buffer.alloc(16), text: '' }, size: 0 };
  if (b === undefined) return { first, size: 1 };
  const last = addressOf(b, fail);
  if (!last || extra !== undefined) {
    if (extra !== undefined) fail(`expected an address or a range "first-last"; got ${show(v)}`);
    return { first, size: 0 };
  }
  if (last.family !== first.family) fail(`range ${show(v)} mixes IPv4 and IPv6`);
  // Only the last 32 bits may differ (the kernel counts in the last word).
  const hi = first.family === 4 ? 0 : 12;
  if (!first.addr.subarray(0, hi).equals(last.addr.subarray(0, hi))) fail(`range ${show(v)} spans more than the last 32 bits`);
  const lo32 = first.addr.readUInt32BE(hi);
  const hi32 = last.addr.readUInt32BE(hi);
  if (hi32 < lo32) fail(`range ${show(v)} ends before it starts`);
  const size = hi32 - lo32 + 1;
  if (size > 65536) fail(`range ${show(v)} holds ${size} addresses; at most 65536`);
  return { first, size };
}, { type: 'string' });

const cidr = custom((v, fail): Cidr => cidrOf(v, fail, []) as Cidr, { type: 'string' });

/** Protocols a NAT rule may name: null is any. */
const protocol = keyword({ any: 'any', tcp: 'tcp', udp: 'udp', icmp: 'icmp', icmpv6: 'icmpv6' } as const);

const NOT_YET = {
  match_src_alias: 'aliases are not expanded in NAT rules yet: write the CIDR in match_src',
  match_dst_alias: 'aliases are not expanded in NAT rules yet: write the CIDR in match_dst',
  tenant_id: 'tenants are not supported',
};

const ruleSchema = strictObject(
  {
    id: ruleId,
    enabled: bool().default(true),
    /** lower first; equal priorities keep the file's order */
    priority: intIn(0, 1_000_000, 'a priority').default(100),
    type: keyword(
      { masquerade: 'masquerade', snat: 'snat', dnat: 'dnat', port_forward: 'port_forward', one_to_one: 'one_to_one' } as const,
      { redirect: 'is not supported by this version (a redirect to the host itself: use port_forward to one of its addresses)' },
    ),
    match_src: cidr.optional(),
    match_dst: cidr.optional(),
    match_dst_port: portRange.optional(),
    match_protocol: protocol.default('any'),
    /** interfaces the rule applies on (default: every interface the agent is on) */
    interfaces: ifnameList.optional(),
    /** masquerade: the interface whose address the source becomes */
    interface: ifname.optional(),
    /** snat, dnat: the address or pool "first-last" */
    translated_addr: pool.optional(),
    /** dnat: the port the first matched port goes to (a range shifts along) */
    translated_port: intIn(1, 65535, 'a port').optional(),
    /** snat, masquerade: the source ports to allocate from (default 1024-65535) */
    port_range: portRange.optional(),
    /** snat, masquerade: always allocate, never keep the source port */
    random_ports: bool().default(false),
    /** port_forward: the external port(s) and where they go */
    ext_port: portRange.optional(),
    int_port: intIn(1, 65535, 'a port').optional(),
    /** port_forward and one_to_one: the internal host; one_to_one: its public address */
    internal_addr: address.optional(),
    external_addr: address.optional(),
  },
  NOT_YET,
);

export type NatRuleConfig = z.output<typeof ruleSchema>;

const hairpinSchema = strictObject({
  enabled: bool().default(false),
  /** the LAN whose hosts reach forwards on the public address */
  internal_subnet: cidr.optional(),
  /** the address hairpinned connections come from (the router's LAN address) */
  hairpin_snat_ip: address.optional(),
});

export const natSchema = strictObject(
  {
    enabled: bool().default(false),
    snat_rules: ruleSchema.array().default([]),
    dnat_rules: ruleSchema.array().default([]),
    hairpin: hairpinSchema.prefault({}),
    /** how often the agent reads the masquerade interfaces' addresses (seconds) */
    address_poll_secs: intIn(1, 3600, 'seconds').default(2),
  },
  { nptv6_rules: 'NPTv6 (RFC 6296) is not supported by this version yet' },
);

export type NatConfig = z.output<typeof natSchema>;
export type { PortRange };
