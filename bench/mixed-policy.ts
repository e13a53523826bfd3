// The 10,000-rule policy of the throughput comparison, written twice from one description: as the
// product's firewall config and as an nftables netdev ruleset. It is laid out the way large real
// policies grow — blocks of specific denies, per-service allows and source-port allows, one block
// after another — with IPv4 and IPv6 rules in every group, CIDRs of mixed lengths, single ports
// and ranges, TCP and UDP, and a default deny; so deny rules sit all over the policy, not only at
// its top. nftables gets it as idiomatically as it allows: one rule per group over a named
// interval set (concatenated where the group matches several fields), so nftables is not made to
// walk 10,000 rules one by one; every rule counts its packets, as the firewall's rules do.
//
// The traffic (throughputFlows): thousands of distinct flows per family, each aimed at a deny
// rule (bench/aim.ts), round-robin over every deny rule of the family in priority order, so the
// frames are decided by rules from the top of the policy to its bottom.
import type { CompiledFirewall } from '../src/engines/firewall/compile.js';
import { Cidr, formatAddress, type IpFamily } from '../src/net/ip.js';
import { aimAt, frameOf } from './aim.js';
import { generateBlockList, overlaps, xorshift32 } from './blocklist.js';

export type Shape = 'src' | 'src_service' | 'dst_service' | 'src_sport';
type Proto = 'tcp' | 'udp';

export interface MixedRule {
  id: string;
  priority: number;
  action: 'allow' | 'deny';
  shape: Shape;
  family: IpFamily;
  cidr: Cidr;
  proto?: Proto;
  /** inclusive port range (dst for *_service, src for src_sport) */
  ports?: [number, number];
}

/** Groups of one block in priority order: [shape, action, share of the block's rules]. */
const GROUPS: readonly [Shape, 'allow' | 'deny', number][] = [
  ['src', 'deny', 0.3],
  ['src_service', 'deny', 0.2],
  ['dst_service', 'allow', 0.4],
  ['src_sport', 'allow', 0.1],
];
/** Blocks of GROUPS one after another (each a fifth of the policy). */
export const BLOCKS = 5;

/** Networks of one family that do not overlap each other (nftables refuses overlapping elements
 * in concatenated interval sets, and the firewall would shadow them anyway). */
function disjointNets(family: IpFamily, count: number, seed: number): Cidr[] {
  const pool = generateBlockList(family, Math.ceil(count * 1.3) + 16, seed).entries;
  const out: Cidr[] = [];
  const sorted = [...pool].sort((a, b) => Buffer.compare(a.addr, b.addr) || a.prefix - b.prefix);
  let last: Cidr | null = null;
  const kept = new Set<Cidr>();
  for (const c of sorted) {
    if (last && overlaps(last, c)) continue;
    kept.add(c);
    last = c;
  }
  for (const c of pool) if (kept.has(c) && out.length < count) out.push(c);
  if (out.length < count) throw new Error(`could only generate ${out.length} of ${count} disjoint IPv${family} networks`);
  return out;
}

/** `total` rules (even split between families and blocks), deterministic for a seed. */
export function mixedPolicy(total: number, seed: number): MixedRule[] {
  const rnd = xorshift32(seed);
  const rules: MixedRule[] = [];
  let priority = 0;
  const perBlock = total / BLOCKS;
  for (let b = 0; b < BLOCKS; b++) {
    GROUPS.forEach(([shape, action, share], g) => {
      const perFamily = Math.max(1, Math.round((perBlock * share) / 2));
      for (const family of [4, 6] as const) {
        const nets = disjointNets(family, perFamily, seed ^ ((b * GROUPS.length + g) * 0x1000 + family));
        for (const cidr of nets) {
          const r: MixedRule = { id: `m${b}-${g}-${family}-${rules.length}`, priority: ++priority, action, shape, family, cidr };
          if (shape !== 'src') {
            r.proto = rnd() % 2 ? 'tcp' : 'udp';
            const lo = 1024 + (rnd() % 60_000);
            r.ports = rnd() % 3 === 0 ? [lo, lo] : [lo, Math.min(65_535, lo + (rnd() % 500))];
          }
          rules.push(r);
        }
      }
    });
  }
  return rules.slice(0, total);
}

export interface ThroughputFlow {
  /** index of the deciding rule in the compiled policy */
  rule: number;
  ruleId: string;
  proto: number;
  frame: Buffer;
}

/** `count` distinct flows of one family, each decided (drop) by the deny rule it was aimed at,
 * round-robin over the family's deny rules in priority order (rules every draw of which an
 * earlier rule takes are left out and counted). */
export function throughputFlows(c: CompiledFirewall, family: IpFamily, count: number, seed: number): { flows: ThroughputFlow[]; denyRules: number; unreachable: number } {
  const rnd = (() => {
    const x = xorshift32(seed ^ (family === 4 ? 0x7104 : 0x7106));
    return () => x() / 4294967296;
  })();
  const deny = c.rules.map((r, i) => ({ r, i })).filter(({ r }) => r.action === 'drop' && (r.family === family || r.family === 0));
  if (!deny.length) throw new Error(`the policy has no IPv${family} deny rule to aim at`);
  const dead = new Set<number>();
  const seen = new Set<string>();
  const flows: ThroughputFlow[] = [];
  for (let k = 0; flows.length < count; k++) {
    if (dead.size === deny.length) throw new Error(`no IPv${family} deny rule of the policy can be reached`);
    const { r, i } = deny[k % deny.length]!;
    if (dead.has(i)) continue;
    const p = aimAt(c, i, family, rnd);
    if (!p) {
      dead.add(i);
      continue;
    }
    const frame = frameOf(p);
    const key = frame.toString('hex');
    if (seen.has(key)) continue;
    seen.add(key);
    flows.push({ rule: i, ruleId: r.ruleId, proto: p.proto, frame });
  }
  return { flows, denyRules: deny.length, unreachable: dead.size };
}

const net = (c: Cidr): string => `${formatAddress(c.family, c.addr)}/${c.prefix}`;
const portText = (p: [number, number]): string => (p[0] === p[1] ? `${p[0]}` : `${p[0]}-${p[1]}`);

/** The firewall config (YAML; flow style keeps 10,000 rules readable by diff). */
export function firewallYaml(rules: readonly MixedRule[], iface: string): string {
  const lines = [`agent:\n  interfaces: [${iface}]\nfirewall:\n  default_policy: deny\n  rules:`];
  for (const r of rules) {
    const side = r.shape === 'dst_service' ? 'dst_ip' : 'src_ip';
    let line = `    - { id: ${r.id}, priority: ${r.priority}, action: ${r.action}, ${side}: "${net(r.cidr)}"`;
    if (r.proto) line += `, protocol: ${r.proto}`;
    if (r.ports) line += `, ${r.shape === 'src_sport' ? 'src_port' : 'dst_port'}: "${portText(r.ports)}"`;
    lines.push(line + ' }');
  }
  return lines.join('\n') + '\n';
}

/** The same policy as one nftables netdev table on `device`. Every rule counts (as the
 * firewall's do); the last counts and drops what nothing matched (the default deny), so the
 * bench can tell which rules judged the frames. */
export function nftRuleset(rules: readonly MixedRule[], table: string, device: string): string {
  const sets: string[] = [];
  const chain: string[] = [];
  // consecutive rules with the same shape, action and family form one set-backed rule
  let i = 0;
  let n = 0;
  while (i < rules.length) {
    const first = rules[i]!;
    let j = i;
    while (j < rules.length && rules[j]!.shape === first.shape && rules[j]!.action === first.action && rules[j]!.family === first.family) j++;
    const group = rules.slice(i, j);
    const ip = first.family === 4 ? 'ip' : 'ip6';
    const addrType = first.family === 4 ? 'ipv4_addr' : 'ipv6_addr';
    const name = `g${n++}`;
    const verdict = first.action === 'allow' ? 'accept' : 'drop';
    if (first.shape === 'src') {
      sets.push(`  set ${name} { type ${addrType}; flags interval; elements = { ${group.map((r) => net(r.cidr)).join(', ')} } }`);
      chain.push(`    ${ip} saddr @${name} counter ${verdict}`);
    } else {
      const addr = first.shape === 'dst_service' ? 'daddr' : 'saddr';
      const port = first.shape === 'src_sport' ? 'sport' : 'dport';
      const elems = group.map((r) => `${net(r.cidr)} . ${r.proto} . ${portText(r.ports!)}`);
      sets.push(`  set ${name} { type ${addrType} . inet_proto . inet_service; flags interval; elements = { ${elems.join(', ')} } }`);
      chain.push(`    ${ip} ${addr} . meta l4proto . th ${port} @${name} counter ${verdict}`);
    }
    i = j;
  }
  return [
    `table netdev ${table} {`,
    ...sets,
    `  chain ingress {`,
    `    type filter hook ingress device "${device}" priority -500; policy accept;`,
    ...chain,
    `    counter drop`,
    `  }`,
    `}`,
    '',
  ].join('\n');
}

/** A netdev table on `device` with one rule: count and drop everything (the hook's own cost). */
export function nftSingleDrop(table: string, device: string): string {
  return [`table netdev ${table} {`, `  chain ingress {`, `    type filter hook ingress device "${device}" priority -500; policy accept;`, `    counter drop`, `  }`, `}`, ''].join('\n');
}

/** Packets counted by each rule of a netdev table's ingress chain (`nft -j list chain` output),
 * in chain order, with the rule's verdict. */
export function nftRuleCounters(json: string): { packets: number; verdict: 'accept' | 'drop' | 'other' }[] {
  const doc = JSON.parse(json) as { nftables: { rule?: { expr: Record<string, unknown>[] } }[] };
  const out: { packets: number; verdict: 'accept' | 'drop' | 'other' }[] = [];
  for (const item of doc.nftables) {
    if (!item.rule) continue;
    let packets: number | null = null;
    let verdict: 'accept' | 'drop' | 'other' = 'other';
    for (const e of item.rule.expr) {
      const c = e.counter as { packets?: number } | undefined;
      if (c && typeof c.packets === 'number') packets = c.packets;
      if ('drop' in e) verdict = 'drop';
      if ('accept' in e) verdict = 'accept';
    }
    if (packets === null) throw new Error('nft: a rule of the bench table has no counter');
    out.push({ packets, verdict });
  }
  return out;
}
