// Differential test: random rule sets and random packets, judged by the kernel (test-run) and by
// the reference matcher (matchPacket in src/engines/firewall/compile.ts). Verdict and matched
// rule must agree for every packet: the rule through its hit counter (exactly one counter moves,
// or none for the default) and, for drop/log, through the event's rule number.
//
// Fields are drawn from a small space (a few overlapping CIDRs per family, edge ports, a few
// ICMP types, three VLAN ids) so that rules match often and first-match order matters.
// Seeded: FW_DIFF_SEED reproduces a run; FW_DIFF_SETS / FW_DIFF_PACKETS scale it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/index.js';
import { matchPacket, type PacketFacts } from '../../src/engines/firewall/compile.js';
import { parseAddress } from '../../src/net/ip.js';
import { buildFrame, ipv4Options, type FrameSpec, type Ipv6Ext, type L4Spec, type VlanTag } from '../support/frames.js';
import { firewallSkipReason, FW_ACT, FW_REASON, useFirewall, XDP_DROP, XDP_PASS, type FirewallHarness } from '../support/firewall-harness.js';

const skip = firewallSkipReason();

const SEED = process.env.FW_DIFF_SEED ? Number(process.env.FW_DIFF_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
const SETS = Number(process.env.FW_DIFF_SETS ?? 1000);
const PACKETS = Number(process.env.FW_DIFF_PACKETS ?? 30);

/** mulberry32: small, fast, good enough to spread test inputs; same seed, same run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rand {
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
  some<T>(xs: readonly T[], n: number): T[] {
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(this.pick(xs));
    return [...new Set(out)];
  }
}

const V4_CIDRS = ['198.18.0.0/15', '198.18.1.0/24', '198.18.1.0/25', '198.18.1.128/25', '198.18.1.7/32', '198.18.1.6/31', '198.18.2.0/23', '198.19.0.0/16', '198.18.1.32/27', '0.0.0.0/0'];
const V6_CIDRS = ['2001:db8::/32', '2001:db8:1::/48', '2001:db8:1::/64', '2001:db8:1::7/128', '2001:db8:1::6/127', '2001:db8:1:0:8000::/65', '2001:db8:2::/47', '2001:db8:1::/120', '::/0'];
const V4_ADDRS = ['198.18.1.7', '198.18.1.6', '198.18.1.5', '198.18.1.128', '198.18.1.127', '198.18.1.40', '198.18.2.9', '198.18.3.255', '198.19.7.7', '198.20.0.1', '10.1.2.3'];
const V6_ADDRS = ['2001:db8:1::7', '2001:db8:1::6', '2001:db8:1::5', '2001:db8:1:0:8000::1', '2001:db8:1:0:7fff::1', '2001:db8:1:1::1', '2001:db8:2::1', '2001:db8:3:1::1', '2001:db8:4::1', '2001:db9::1'];
const PORT_RANGES = ['53', '80', '80-443', '443', '1024-65535', '0-1023', '8080', '65535', '0'];
const PORTS = [0, 1, 52, 53, 54, 79, 80, 81, 442, 443, 444, 1023, 1024, 8079, 8080, 8081, 65534, 65535];
const ICMP4_TYPES = [0, 3, 8, 11];
const ICMP6_TYPES = [1, 2, 128, 129, 135];
const ICMP_CODES = [0, 1, 4];
const VIDS = [0, 10, 20];

type Fam = 4 | 6;

interface GeneratedPolicy {
  section: Record<string, unknown>;
}

function genPolicy(r: Rand): GeneratedPolicy {
  const a2Fam = r.pick([4, 6] as const);
  const aliases: Record<string, { values: string[] }> = {
    // a1 always holds both families, a2 one: rules of either family can use a1
    a1: { values: [...r.some(V4_CIDRS, r.int(1, 2)), ...r.some(V6_CIDRS, r.int(1, 2))] },
    a2: { values: r.some(a2Fam === 4 ? V4_CIDRS : V6_CIDRS, r.int(1, 3)) },
  };
  const n = r.int(1, 30);
  const prios = r.some(Array.from({ length: 1000 }, (_, i) => i + 1), 200).slice(0, n);
  const rules: Record<string, unknown>[] = [];
  for (let i = 0; i < prios.length; i++) {
    const rule: Record<string, unknown> = { id: `r${i}`, priority: prios[i], action: r.pick(['allow', 'deny', 'log']) };
    if (r.chance(0.1)) rule.enabled = false;
    const p = r.next();
    const proto = p < 0.3 ? null : p < 0.55 ? 'tcp' : p < 0.75 ? 'udp' : p < 0.85 ? 'icmp' : p < 0.95 ? 'icmpv6' : 47;
    if (proto !== null) rule.protocol = proto;
    // One family intent per rule keeps it compilable: literal addresses of that family (or of
    // both in every literal list), aliases that hold it.
    const fam: Fam | 'both' = proto === 'icmp' ? 4 : proto === 'icmpv6' ? 6 : r.pick([4, 6, 'both'] as const);
    for (const side of ['src', 'dst'] as const) {
      const x = r.next();
      if (x < 0.35) continue;
      if (x < 0.85) {
        if (fam === 'both') rule[`${side}_ip`] = [r.pick(V4_CIDRS), r.pick(V6_CIDRS), ...r.some([...V4_CIDRS, ...V6_CIDRS], r.int(0, 1))];
        else {
          const pool = fam === 4 ? V4_CIDRS : V6_CIDRS;
          rule[`${side}_ip`] = x < 0.65 ? r.pick(pool) : r.some(pool, r.int(2, 3));
        }
      } else rule[`${side}_alias`] = fam === a2Fam && r.chance(0.5) ? 'a2' : 'a1';
    }
    if (proto === 'tcp' || proto === 'udp') {
      if (r.chance(0.25)) rule.src_port = r.pick(PORT_RANGES);
      if (r.chance(0.5)) rule.dst_port = r.pick(PORT_RANGES);
    }
    if ((proto === 'icmp' || proto === 'icmpv6') && r.chance(0.6)) {
      rule.icmp_type = r.pick(proto === 'icmp' ? ICMP4_TYPES : ICMP6_TYPES);
      if (r.chance(0.5)) rule.icmp_code = r.pick(ICMP_CODES);
    }
    if (r.chance(0.2)) rule.vlan_id = r.pick(VIDS);
    rules.push(rule);
  }
  return {
    section: {
      mode: r.chance(0.1) ? 'alert' : 'block',
      default_policy: r.pick(['pass', 'drop']),
      aliases,
      rules: r.chance(0.5) ? rules : [...rules].reverse(),
    },
  };
}

interface GeneratedPacket {
  frame: Buffer;
  facts: PacketFacts;
  text: string;
}

function genAddr(r: Rand, fam: Fam): string {
  if (r.chance(0.8)) return r.pick(fam === 4 ? V4_ADDRS : V6_ADDRS);
  if (fam === 4) return `198.${r.int(18, 19)}.${r.int(0, 3)}.${r.int(0, 255)}`;
  return `2001:db8:${r.int(0, 3).toString(16)}::${r.int(0, 0xffff).toString(16)}`;
}

function genPacket(r: Rand): GeneratedPacket {
  const fam: Fam = r.pick([4, 6] as const);
  const src = genAddr(r, fam);
  const dst = genAddr(r, fam);
  const p = r.next();
  const kind = p < 0.35 ? 'tcp' : p < 0.65 ? 'udp' : p < 0.93 ? 'icmp' : 'gre';
  const port = (): number => (r.chance(0.85) ? r.pick(PORTS) : r.int(0, 65535));
  const laterFragment = r.chance(0.05);
  let l4: L4Spec;
  let proto: number;
  const facts: Partial<PacketFacts> = {};
  if (kind === 'tcp' || kind === 'udp') {
    const sport = port();
    const dport = port();
    l4 = kind === 'tcp' ? { proto: 'tcp', sport, dport, flags: ['syn'] } : { proto: 'udp', sport, dport };
    proto = kind === 'tcp' ? 6 : 17;
    facts.srcPort = sport;
    facts.dstPort = dport;
  } else if (kind === 'icmp') {
    const type = r.chance(0.85) ? r.pick([...ICMP4_TYPES, ...ICMP6_TYPES]) : r.int(0, 255);
    const code = r.chance(0.85) ? r.pick(ICMP_CODES) : r.int(0, 255);
    l4 = fam === 4 ? { proto: 'icmp', type, code } : { proto: 'icmpv6', type, code };
    proto = fam === 4 ? 1 : 58;
    facts.icmpType = type;
    facts.icmpCode = code;
  } else {
    l4 = { proto: 'raw', number: 47, bytes: Buffer.alloc(8, 0x5a) };
    proto = 47;
  }
  const ext: Ipv6Ext[] = [];
  let ipOptions: Buffer | undefined;
  if (laterFragment) {
    // A non-first fragment: bytes after the IP header are payload, never a port or a type.
    l4 = { proto: 'raw', number: proto, bytes: Buffer.from([0, 80, 0, 80, 8, 0, 0, 0]) };
    delete facts.srcPort;
    delete facts.dstPort;
    delete facts.icmpType;
    delete facts.icmpCode;
    facts.laterFragment = true;
    if (fam === 6) ext.push({ kind: 'fragment', offset: 8 * r.int(1, 100), more: r.chance(0.5), id: r.int(0, 1000) });
  } else if (fam === 6 && r.chance(0.15)) {
    for (let i = r.int(1, 3); i > 0; i--) ext.push(r.pick<Ipv6Ext>([{ kind: 'hop-by-hop' }, { kind: 'dest-opts' }, { kind: 'routing', addresses: [dst], segmentsLeft: 0 }, { kind: 'ah' }]));
    if (r.chance(0.3)) ext.push({ kind: 'fragment', offset: 0, more: true, id: 1 });
  } else if (fam === 4 && r.chance(0.1)) {
    ipOptions = r.pick([ipv4Options.routerAlert(), ipv4Options.nops(r.int(1, 10) * 4)]);
  }
  const v = r.next();
  const vlans: VlanTag[] = v < 0.5 ? [] : v < 0.7 ? [{ vid: 10 }] : v < 0.8 ? [{ vid: 20 }] : v < 0.85 ? [{ vid: 0 }] : [{ vid: r.pick([10, 20, 30]) }, { vid: r.pick([0, 10, 20, 30]) }];

  const spec: FrameSpec = {
    ip:
      fam === 6
        ? { version: 6, src, dst, ...(ext.length ? { ext } : {}) }
        : { src, dst, ...(ipOptions ? { options: ipOptions } : {}), ...(laterFragment ? { fragOffset: 8 * r.int(1, 100), mf: r.chance(0.5) } : {}) },
    l4,
  };
  if (vlans.length) spec.vlans = vlans;
  const s = parseAddress(src);
  const d = parseAddress(dst);
  const full: PacketFacts = {
    ...facts,
    family: fam,
    src: s.addr,
    dst: d.addr,
    proto,
    vlanId: vlans.length ? vlans[vlans.length - 1]!.vid : 0,
    vlanDepth: vlans.length,
  };
  const text = `IPv${fam} ${src} -> ${dst} ${kind}${facts.srcPort !== undefined ? ` ${facts.srcPort}->${facts.dstPort}` : ''}${facts.icmpType !== undefined ? ` type ${facts.icmpType}/${facts.icmpCode}` : ''}${laterFragment ? ' later-fragment' : ''}${ext.length ? ` ext[${ext.map((e) => e.kind).join(',')}]` : ''}${ipOptions ? ` ipopts ${ipOptions.length}` : ''} vlans[${vlans.map((t) => t.vid).join(',')}]`;
  return { frame: buildFrame(spec), facts: full, text };
}

const ACT_CODE = { pass: FW_ACT.pass, drop: FW_ACT.drop, log: FW_ACT.log, reject: FW_ACT.reject } as const;

function hitsOf(h: FirewallHarness, ids: readonly string[]): Map<string, number> {
  const nums = ids.map((id) => h.ruleNum(id));
  const got = h.kernel.readRuleHits(nums);
  assert.equal(got.length, ids.length, 'every rule has a readable hit counter');
  return new Map(ids.map((id, i) => [id, Number(got[i]!.packets)]));
}

describe('xdp-firewall differential: kernel vs reference matcher (test-run)', { skip }, () => {
  const fw = useFirewall();

  it(`${SETS} random rule sets x ${PACKETS} random packets agree (seed ${SEED})`, (t) => {
    t.diagnostic(`seed ${SEED} (FW_DIFF_SEED=${SEED} reproduces this run)`);
    const h = fw();
    const r = new Rand(prng(SEED));
    let rejected = 0;
    let judged = 0;
    const outcomes = { pass: 0, drop: 0, log: 0, reject: 0, byRule: 0, byDefault: 0 };
    const t0 = performance.now();
    for (let s = 0; s < SETS; s++) {
      let policy: GeneratedPolicy;
      let inst: ReturnType<FirewallHarness['install']>;
      for (;;) {
        policy = genPolicy(r);
        try {
          inst = h.install(policy.section);
          break;
        } catch (e) {
          // Family clashes the config rightly refuses (e.g. icmpv6 with an IPv4-only alias).
          if (!(e instanceof ConfigError)) throw e;
          rejected++;
        }
      }
      const ids = [...new Set(inst.compiled.rules.map((x) => x.ruleId))];
      let before = hitsOf(h, ids);
      for (let p = 0; p < PACKETS; p++) {
        const pkt = genPacket(r);
        const want = matchPacket(inst.compiled, pkt.facts);
        const where = () => `seed ${SEED}, rule set ${s}, packet ${p}: ${pkt.text}\nwant ${want.action} by ${want.ruleId ?? 'default'}\npolicy ${JSON.stringify(policy.section)}`;
        const j = h.judge(pkt.frame);
        assert.equal(j.verdict, want.action === 'drop' ? XDP_DROP : XDP_PASS, `verdict differs; ${where()}`);
        const after = hitsOf(h, ids);
        const moved = ids.filter((id) => after.get(id)! !== before.get(id)!).map((id) => `${id}+${after.get(id)! - before.get(id)!}`);
        assert.deepEqual(moved, want.ruleId ? [`${want.ruleId}+1`] : [], `matched rule differs (hit counters); ${where()}`);
        before = after;
        const wantEvents =
          want.action === 'pass' ? [] : [[want.ruleId ? h.ruleNum(want.ruleId) : 0, ACT_CODE[want.action], want.ruleId ? FW_REASON.rule : FW_REASON.default]];
        assert.deepEqual(j.events.map((e) => [e.ruleNum, e.action, e.reason]), wantEvents, `events differ; ${where()}`);
        assert.equal(j.delta.malformed, undefined, `generated frame counted as malformed; ${where()}`);
        outcomes[want.action]++;
        if (want.ruleId) outcomes.byRule++;
        else outcomes.byDefault++;
        judged++;
      }
    }
    t.diagnostic(`${judged} packets in ${SETS} rule sets (${rejected} generated sets refused by the config and redrawn) in ${(performance.now() - t0).toFixed(0)} ms; outcomes ${JSON.stringify(outcomes)}`);
    // The space is small on purpose: every outcome must actually occur, or the test proves little.
    for (const [k, n] of Object.entries(outcomes)) assert.ok(n > judged / 50, `outcome ${k} occurred only ${n} times in ${judged}`);
  });
});
