// Random firewall policies and packets for the differential tests (unit: classifier walk vs the
// linear oracle; kernel: test-run vs the oracle). Seeded, so a failure names a seed that
// reproduces it. Rules draw from a small address space so they overlap and first-match order
// matters; packets are biased to rule edges (first/last address of a CIDR and one past it,
// port range bounds and their neighbours) because that is where a classifier goes wrong.
import { formatAddress, parseAddress, type IpFamily } from '../../src/net/ip.js';
import type { PacketFacts } from '../../src/engines/firewall/compile.js';
import type { FrameSpec, L4Spec, TcpFlagName, VlanTag } from './frames.js';

/** mulberry32: small, fast, good enough to spread test inputs; same seed, same run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rand {
  constructor(readonly next: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

const CT_NAMES = ['new', 'established', 'related', 'invalid'] as const;

/** Addresses inside 198.18.0.0/23 and 2001:db8::/118-ish, so random prefixes overlap. */
function randAddr(r: Rand, fam: IpFamily): Uint8Array {
  const a = new Uint8Array(16);
  if (fam === 4) {
    a.set([198, 18, r.int(0, 1), r.chance(0.5) ? r.pick([0, 1, 127, 128, 254, 255]) : r.int(0, 255)]);
  } else {
    a.set([0x20, 0x01, 0x0d, 0xb8]);
    a[14] = r.int(0, 3);
    a[15] = r.chance(0.5) ? r.pick([0, 1, 127, 128, 255]) : r.int(0, 255);
    if (r.chance(0.1)) a[5] = 1;
  }
  return a;
}

function fmt(fam: IpFamily, a: Uint8Array): string {
  if (fam === 4) return `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
  const w: string[] = [];
  for (let i = 0; i < 16; i += 2) w.push(((a[i]! << 8) | a[i + 1]!).toString(16));
  return w.join(':');
}

function randCidr(r: Rand, fam: IpFamily): string {
  const bits = fam === 4 ? 32 : 128;
  const len = r.chance(0.15) ? bits : fam === 4 ? r.int(15, 32) : r.pick([32, 64, 100, 110, 112, 118, 120, 121, 124, 127, 128]);
  return `${fmt(fam, randAddr(r, fam))}/${len}`;
}

function randPortRange(r: Rand): string {
  const edge = [0, 1, 22, 53, 79, 80, 81, 443, 1023, 1024, 8080, 65534, 65535];
  const lo = r.chance(0.6) ? r.pick(edge) : r.int(0, 65535);
  if (r.chance(0.4)) return String(lo);
  const hi = Math.min(65535, lo + (r.chance(0.5) ? r.int(1, 300) : r.int(1, 65535)));
  return `${lo}-${hi}`;
}

export interface RandomRuleOpts {
  /** allow the reject action (the nftables comparison cannot express it) */
  reject: boolean;
  /** no VLAN and no conntrack-state conditions: rules any stateless filter can express */
  stateless?: boolean;
}

/** A firewall section (as config) of `n` random rules. */
export function randomPolicy(r: Rand, n: number, o: RandomRuleOpts): Record<string, unknown> {
  const rules: Record<string, unknown>[] = [];
  const actions = o.reject ? ['allow', 'deny', 'log', 'reject'] : ['allow', 'deny', 'log'];
  for (let i = 0; i < n; i++) {
    const rule: Record<string, unknown> = { id: `r${i}`, priority: i * 3 + 1, action: r.pick(actions) };
    const p = r.next();
    const proto = p < 0.25 ? null : p < 0.5 ? 'tcp' : p < 0.7 ? 'udp' : p < 0.8 ? 'icmp' : p < 0.9 ? 'icmpv6' : 47;
    if (proto !== null) rule.protocol = proto;
    const fam: IpFamily | 'both' = proto === 'icmp' ? 4 : proto === 'icmpv6' ? 6 : r.pick([4, 6, 'both'] as const);
    for (const side of ['src', 'dst'] as const) {
      if (r.chance(0.4)) continue;
      if (fam === 'both') rule[`${side}_ip`] = [randCidr(r, 4), randCidr(r, 6)];
      else if (r.chance(0.15)) rule[`${side}_ip`] = [randCidr(r, fam), randCidr(r, fam), randCidr(r, fam)];
      else rule[`${side}_ip`] = randCidr(r, fam);
    }
    if (proto === 'tcp' || proto === 'udp') {
      if (r.chance(0.3)) rule.src_port = randPortRange(r);
      if (r.chance(0.6)) rule.dst_port = randPortRange(r);
    }
    if ((proto === 'icmp' || proto === 'icmpv6') && r.chance(0.6)) {
      rule.icmp_type = r.pick(proto === 'icmp' ? [0, 3, 8, 11] : [1, 128, 129, 135]);
      if (r.chance(0.4)) rule.icmp_code = r.pick([0, 1, 4]);
    }
    if (!o.stateless && r.chance(0.15)) rule.vlan_id = r.pick([0, 10, 20]);
    if (!o.stateless && r.chance(0.25)) {
      const s = CT_NAMES.filter(() => r.chance(0.5));
      rule.state = s.length ? s : [r.pick(CT_NAMES)];
    }
    rules.push(rule);
  }
  return { default_policy: r.pick(['pass', 'drop']), mode: r.chance(0.05) ? 'alert' : 'block', rules };
}

/** Packet facts near the rules' edges (or anywhere, now and then). */
export function randomFacts(r: Rand, policy: Record<string, unknown>): PacketFacts {
  const rules = policy.rules as Record<string, unknown>[];
  const near = rules.length && r.chance(0.8) ? r.pick(rules) : null;
  const edgeAddr = (fam: IpFamily, spec: unknown): Uint8Array => {
    const list = spec === undefined ? [] : (Array.isArray(spec) ? spec : [spec]).map(String).filter((c) => c.includes(':') === (fam === 6));
    if (!list.length || r.chance(0.2)) return randAddr(r, fam);
    const [a, l] = r.pick(list).split('/');
    const base = parseAddress(a!).addr;
    const len = Number(l);
    const out = new Uint8Array(16);
    out.set(base.subarray(0, fam === 4 ? 4 : 16));
    const bits = fam === 4 ? 32 : 128;
    // first, last, one before the first, one past the last
    const last = r.chance(0.5);
    for (let b = len; b < bits; b++) {
      const byte = b >> 3;
      const m = 0x80 >> (b & 7);
      if (last) out[byte]! |= m;
      else out[byte]! &= ~m;
    }
    if (r.chance(0.4)) {
      const n = fam === 4 ? 4 : 16;
      const up = last;
      for (let i = n - 1; i >= 0; i--) {
        if (up) {
          out[i] = (out[i]! + 1) & 0xff;
          if (out[i] !== 0) break;
        } else {
          out[i] = (out[i]! - 1) & 0xff;
          if (out[i] !== 0xff) break;
        }
      }
    }
    return out;
  };
  const edgePort = (spec: unknown): number => {
    if (spec === undefined || r.chance(0.25)) return r.chance(0.5) ? r.pick([0, 22, 53, 80, 443, 1024, 65535]) : r.int(0, 65535);
    const [lo, hi] = String(spec).split('-').map(Number);
    const v = r.pick([lo!, hi ?? lo!]) + r.pick([-1, 0, 0, 1]);
    return Math.max(0, Math.min(65535, v));
  };
  const proto0 = near?.protocol;
  const fam: IpFamily = proto0 === 'icmp' ? 4 : proto0 === 'icmpv6' ? 6 : r.pick([4, 6] as const);
  const kinds = ['tcp', 'udp', 'icmp', 'gre'] as const;
  const kind = proto0 === 'tcp' || proto0 === 'udp' ? proto0 : proto0 === 'icmp' || proto0 === 'icmpv6' ? 'icmp' : proto0 === 47 ? 'gre' : r.pick(kinds);
  const laterFragment = r.chance(0.05);
  const f: PacketFacts = {
    family: fam,
    src: edgeAddr(fam, near?.src_ip),
    dst: edgeAddr(fam, near?.dst_ip),
    proto: kind === 'tcp' ? 6 : kind === 'udp' ? 17 : kind === 'icmp' ? (fam === 4 ? 1 : 58) : 47,
  };
  if (!laterFragment && (kind === 'tcp' || kind === 'udp')) {
    f.srcPort = edgePort(near?.src_port);
    f.dstPort = edgePort(near?.dst_port);
  }
  if (!laterFragment && kind === 'icmp') {
    f.icmpType = near?.icmp_type !== undefined && r.chance(0.7) ? Number(near.icmp_type) : r.pick([0, 1, 3, 8, 11, 128, 129, 135]);
    f.icmpCode = near?.icmp_code !== undefined && r.chance(0.7) ? Number(near.icmp_code) : r.pick([0, 1, 4]);
  }
  if (laterFragment) f.laterFragment = true;
  const v = r.next();
  if (v < 0.2) {
    f.vlanId = r.pick([0, 10, 20, 30]);
    f.vlanDepth = r.chance(0.8) ? 1 : 2;
  }
  f.ctState = r.int(0, 3);
  return f;
}

/** The frame of a packet's facts: TCP with the given flags (an ACK by default), UDP, ICMP or
 * ICMPv6 with its type and code, other protocols as 8 opaque bytes; a later fragment carries
 * 8 bytes of the middle of a datagram at a random offset. VLAN tags as the facts say. */
export function frameSpecOfFacts(r: Rand, f: PacketFacts, tcpFlags: TcpFlagName[] = ['ack']): FrameSpec {
  const src = formatAddress(f.family, f.src);
  const dst = formatAddress(f.family, f.dst);
  let l4: L4Spec;
  if (f.laterFragment) l4 = { proto: 'raw', number: f.proto, bytes: Buffer.from([0, 80, 0, 80, 8, 0, 0, 0]) };
  else if (f.proto === 6) l4 = { proto: 'tcp', sport: f.srcPort ?? 0, dport: f.dstPort ?? 0, flags: tcpFlags };
  else if (f.proto === 17) l4 = { proto: 'udp', sport: f.srcPort ?? 0, dport: f.dstPort ?? 0 };
  else if (f.proto === 1) l4 = { proto: 'icmp', type: f.icmpType ?? 0, code: f.icmpCode ?? 0 };
  else if (f.proto === 58) l4 = { proto: 'icmpv6', type: f.icmpType ?? 0, code: f.icmpCode ?? 0 };
  else l4 = { proto: 'raw', number: f.proto, bytes: Buffer.alloc(8, 0x5a) };
  const vlans: VlanTag[] = (f.vlanDepth ?? 0) === 0 ? [] : f.vlanDepth === 1 ? [{ vid: f.vlanId ?? 0 }] : [{ vid: 30 }, { vid: f.vlanId ?? 0 }];
  const spec: FrameSpec = {
    ip: f.family === 6
      ? { version: 6, src, dst, ...(f.laterFragment ? { ext: [{ kind: 'fragment' as const, offset: 8 * r.int(1, 50), more: r.chance(0.5), id: 7 }] } : {}) }
      : { src, dst, ...(f.laterFragment ? { fragOffset: 8 * r.int(1, 50), mf: r.chance(0.5) } : {}) },
    l4,
  };
  if (vlans.length) spec.vlans = vlans;
  return spec;
}

/** One line naming a packet for failure messages. */
export function factsText(f: PacketFacts): string {
  return `IPv${f.family} ${formatAddress(f.family, f.src)} -> ${formatAddress(f.family, f.dst)} proto ${f.proto} ports ${f.srcPort ?? '-'}->${f.dstPort ?? '-'} icmp ${f.icmpType ?? '-'}/${f.icmpCode ?? '-'}${f.vlanDepth ? ` vlan ${f.vlanId}x${f.vlanDepth}` : ''}${f.laterFragment ? ' later-fragment' : ''}`;
}

/** A large policy (thousands of rules) shaped like real ones: one network per rule (source or
 * destination, now and then both), half of them with a protocol and a port range or an ICMP type,
 * networks of many lengths that do not overlap each other (each rule owns a slot of the test
 * ranges 198.18.0.0/15 and 2001:db8::/32 and takes a prefix inside it) — followed by `dense`
 * rules drawn as randomPolicy draws them (small, overlapping networks, where first-match order
 * is what decides). The dense rules come last: one of them is often a catch-all, which placed
 * first would decide every packet. */
export function largePolicy(r: Rand, n: number, dense: number): Record<string, unknown> {
  const rules: Record<string, unknown>[] = [];
  const slots = { 4: 0, 6: 0 };
  const net = (fam: IpFamily): string => {
    const k = ++slots[fam];
    const a = new Uint8Array(16);
    if (fam === 4) {
      // slot k: 16 addresses at 198.18.0.0 + 32k (outside the dense rules' 198.18.0.0/23)
      const base = 1024 + k * 32;
      a.set([198, 18 + (base >> 16), (base >> 8) & 0xff, base & 0xff]);
      a[3]! |= r.chance(0.5) ? 0 : r.int(0, 15);
      return `${fmt(4, a)}/${r.pick([28, 29, 30, 31, 32])}`;
    }
    // slot k: 2001:db8:<k>::/48
    a.set([0x20, 0x01, 0x0d, 0xb8, (k >> 8) & 0xff, k & 0xff]);
    for (let i = 6; i < 16; i++) a[i] = r.chance(0.6) ? 0 : r.int(0, 255);
    return `${fmt(6, a)}/${r.pick([48, 56, 64, 96, 120, 128])}`;
  };
  for (let i = 0; i < n - dense; i++) {
    const fam: IpFamily = r.chance(0.5) ? 4 : 6;
    const rule: Record<string, unknown> = { id: `b${i}`, priority: i * 3 + 1, action: r.pick(['allow', 'deny', 'log']) };
    rule[r.chance(0.6) ? 'src_ip' : 'dst_ip'] = net(fam);
    if (r.chance(0.2)) rule[rule.src_ip ? 'dst_ip' : 'src_ip'] = net(fam);
    const p = r.next();
    if (p < 0.6) {
      rule.protocol = r.chance(0.5) ? 'tcp' : 'udp';
      if (r.chance(0.8)) rule[r.chance(0.8) ? 'dst_port' : 'src_port'] = randPortRange(r);
    } else if (p < 0.7) {
      rule.protocol = fam === 4 ? 'icmp' : 'icmpv6';
      if (r.chance(0.5)) rule.icmp_type = r.pick(fam === 4 ? [0, 3, 8, 11] : [1, 128, 129, 135]);
    }
    rules.push(rule);
  }
  const tail = randomPolicy(r, dense, { reject: false, stateless: true }).rules as Record<string, unknown>[];
  tail.forEach((x, j) => rules.push({ ...x, id: `d${j}`, priority: (n - dense + j) * 3 + 1 }));
  return { default_policy: r.pick(['pass', 'drop']), mode: 'block', rules };
}
