// Packets aimed at a rule: for a compiled rule, a packet inside everything the rule names
// (addresses drawn inside its networks, ports inside its ranges, its protocol and ICMP type),
// kept only when the reference matcher says that very rule decides it (first match in priority
// order), so a packet shadowed by an earlier rule is never passed off as reaching a later one.
// Used by the throughput flows (aimed at deny rules) and the rule-scaling sweep (aimed at every
// rule). Frames of one family all get the same length (a TCP SYN's), the UDP and ICMP ones
// padded with payload, because both the loop frame source and the sweep rig rewrite one buffer.
import { ruleMatches, type CompiledFirewall, type CompiledRule, type PacketFacts } from '../src/engines/firewall/compile.js';
import { formatAddress, parseCidr, type Cidr, type IpFamily } from '../src/net/ip.js';
import { icmpFrame, tcpFrame, udpFrame } from '../test/support/frames.js';
import { fw_match } from '../src/kernel/contract.gen.js';

export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMP = 1;
export const PROTO_ICMPV6 = 58;

/** Where addresses come from when the rule leaves a side open: the benchmark ranges. */
export const FILLER: Readonly<Record<IpFamily, Cidr>> = { 4: parseCidr('198.18.0.0/15'), 6: parseCidr('2001:db8::/32') };

/** Criteria aim() cannot satisfy by construction (sets, VLANs, conntrack state). */
const UNAIMABLE = fw_match.FW_M_SRC_SET | fw_match.FW_M_DST_SET | fw_match.FW_M_VLAN | fw_match.FW_M_CT_STATE;

/** A random address inside a network (host bits drawn, network bits kept). */
export function addressIn(net: Pick<Cidr, 'family' | 'addr' | 'prefix'>, rnd: () => number): Uint8Array {
  const a = new Uint8Array(16);
  const bytes = net.family === 4 ? 4 : 16;
  for (let i = 0; i < bytes; i++) {
    const keep = Math.max(0, Math.min(8, net.prefix - i * 8));
    const mask = (0xff00 >> keep) & 0xff;
    a[i] = (net.addr[i]! & mask) | (Math.floor(rnd() * 256) & ~mask & 0xff);
  }
  return a;
}

const inRange = (r: { lo: number; hi: number } | null, rnd: () => number): number => (r ? r.lo + Math.floor(rnd() * (r.hi - r.lo + 1)) : 1024 + Math.floor(rnd() * 64512));

/** Index of the rule that decides the packet (first match), -1 for the default. */
export function decidingRule(c: CompiledFirewall, p: PacketFacts): number {
  return c.rules.findIndex((r) => ruleMatches(c, r, p));
}

/** One try at a packet inside rule `index`; null when the rule cannot be aimed at or the try
 * was decided by another rule. `family` is used for a rule of either family. */
export function aimOnce(c: CompiledFirewall, index: number, family: IpFamily, rnd: () => number): PacketFacts | null {
  const r: CompiledRule = c.rules[index]!;
  if (r.match & UNAIMABLE) return null;
  const fam: IpFamily = r.family === 0 ? family : r.family;
  let proto = r.proto;
  if (proto === null) proto = rnd() < 0.5 ? PROTO_TCP : PROTO_UDP;
  const p: PacketFacts = {
    family: fam,
    src: addressIn(r.srcNet ?? FILLER[fam], rnd),
    dst: addressIn(r.dstNet ?? FILLER[fam], rnd),
    proto,
  };
  if (proto === PROTO_TCP || proto === PROTO_UDP) {
    p.srcPort = inRange(r.srcPort, rnd);
    p.dstPort = inRange(r.dstPort, rnd);
  } else if (proto === PROTO_ICMP || proto === PROTO_ICMPV6) {
    p.icmpType = r.icmpType ?? (proto === PROTO_ICMP ? 8 : 128);
    p.icmpCode = r.icmpCode ?? 0;
  } else return null;
  return decides(c, index, p) ? p : null;
}

/** Rule `index` matches the packet and no earlier rule does (first match). Only the earlier
 * rules whose match region overlaps the rule's can match a packet inside it (pure geometry of
 * the rules, nothing of the classifier), so only those are tried. */
export function decides(c: CompiledFirewall, index: number, p: PacketFacts): boolean {
  if (!ruleMatches(c, c.rules[index]!, p)) return false;
  for (const j of earlierOverlapping(c, index)) if (ruleMatches(c, c.rules[j]!, p)) return false;
  return true;
}

const overlapCache = new WeakMap<CompiledFirewall, Map<number, number[]>>();

const netsMeet = (a: Cidr | null, b: Cidr | null): boolean => {
  if (!a || !b) return true;
  if (a.family !== b.family) return false;
  const shorter = a.prefix <= b.prefix ? a : b;
  const other = shorter === a ? b : a;
  return shorter.contains(other.family, other.addr);
};
const rangesMeet = (a: { lo: number; hi: number } | null, b: { lo: number; hi: number } | null): boolean => !a || !b || (a.lo <= b.hi && b.lo <= a.hi);
const sameOrOpen = <T>(a: T | null, b: T | null): boolean => a === null || b === null || a === b;

/** Rules before `index` that some packet could match together with it (conservative: a
 * criterion the test cannot judge counts as overlapping). */
export function earlierOverlapping(c: CompiledFirewall, index: number): number[] {
  let m = overlapCache.get(c);
  if (!m) overlapCache.set(c, (m = new Map()));
  let out = m.get(index);
  if (out) return out;
  const r = c.rules[index]!;
  out = [];
  for (let j = 0; j < index; j++) {
    const q = c.rules[j]!;
    if (r.family !== 0 && q.family !== 0 && r.family !== q.family) continue;
    if (!sameOrOpen(r.proto, q.proto) || !sameOrOpen(r.icmpType, q.icmpType) || !sameOrOpen(r.icmpCode, q.icmpCode)) continue;
    if (!netsMeet(r.srcNet, q.srcNet) || !netsMeet(r.dstNet, q.dstNet)) continue;
    if (!rangesMeet(r.srcPort, q.srcPort) || !rangesMeet(r.dstPort, q.dstPort)) continue;
    out.push(j);
  }
  m.set(index, out);
  return out;
}

/** A packet rule `index` decides, in up to `tries` draws; null if none was found (the rule is
 * shadowed where it was tried). */
export function aimAt(c: CompiledFirewall, index: number, family: IpFamily, rnd: () => number, tries = 32): PacketFacts | null {
  for (let t = 0; t < tries; t++) {
    const p = aimOnce(c, index, family, rnd);
    if (p) return p;
  }
  return null;
}

/** Frame length of every bench frame of a family (a TCP SYN without options). */
export const FRAME_LEN: Readonly<Record<IpFamily, number>> = { 4: 54, 6: 74 };

/** The Ethernet frame of a packet: TCP (a SYN unless `tcp` says otherwise), UDP, ICMP; UDP and
 * ICMP padded to FRAME_LEN. */
export function frameOf(p: PacketFacts, tcp: 'syn' | 'ack' = 'syn'): Buffer {
  const src = formatAddress(p.family, p.src);
  const dst = formatAddress(p.family, p.dst);
  const pad = (base: number): Buffer => Buffer.alloc(FRAME_LEN[p.family] - base);
  let f: Buffer;
  if (p.proto === PROTO_TCP) f = tcpFrame({ src, dst, sport: p.srcPort!, dport: p.dstPort!, flags: [tcp] });
  else if (p.proto === PROTO_UDP) f = udpFrame({ src, dst, sport: p.srcPort!, dport: p.dstPort!, payload: pad(p.family === 4 ? 42 : 62) });
  else f = icmpFrame({ src, dst, type: p.icmpType!, code: p.icmpCode!, payload: pad(p.family === 4 ? 42 : 62) });
  if (f.length !== FRAME_LEN[p.family]) throw new Error(`bench frame of protocol ${p.proto} is ${f.length} bytes, expected ${FRAME_LEN[p.family]}`);
  return f;
}
