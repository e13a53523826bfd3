// Rule scaling over whole policies: for 10, 1,000 and 10,000 mixed rules (bench/firewall-scale.ts,
// one seeded generator cut at each size), a packet aimed at each rule of a family (at least
// MIN_FRAMES per family, so small policies get several packets per rule) and as many packets
// that match nothing (near misses: an aimed packet moved to a port or ICMP type no rule on its
// way takes, so it walks to a real leaf and its candidates fail), timed frame by frame through
// the sweep rig (bench/sweep.ts):
//   - warm: each frame run `perFrame` times in a row (its first run follows another frame);
//   - rotating: every frame once per pass over the whole set, so the policy's structures are
//     visited the way many flows visit them (caches hold what fits, not the one frame's path).
// TCP packets are ACKs of flows the conntrack table does not hold (new to the firewall, decided
// by the rules): like UDP and ICMP echo they cost one conntrack lookup, where a SYN skips it, so
// policies whose rules favour other protocols are compared on the same footing (and with the
// reference, which looks every packet up).
// Each frame's figure is the median of `sweeps` passes, minus the same sweep into a bare
// XDP_PASS (the rig, the tail call and the XDP hook): the program's own ns per packet. Beside
// the firewall, the same frames of the 10,000-rule policy go through a minimal stateful
// reference program (bench/progs/xdp_stateful_ref.bpf.c). Every call is checked: each
// frame's rule (or the default) counted exactly its runs, drops wrote exactly their events.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseConfigText } from '../src/catalog.js';
import { compileFirewall, type CompiledFirewall, type PacketFacts } from '../src/engines/firewall/compile.js';
import { FirewallKernel, type CounterSnapshot } from '../src/engines/firewall/kernel.js';
import { sumCounters } from './firewall.js';
import { layouts } from '../src/kernel/layouts.gen.js';
import type { NativeBridge } from '../src/kernel/native.js';
import { Cidr, type IpFamily } from '../src/net/ip.js';
import { prng } from '../test/support/firewall-random.js';
import { addressIn, aimAt, decidingRule, FILLER, frameOf, PROTO_ICMP, PROTO_ICMPV6 } from './aim.js';
import { MIXED_SIZES, mixedRules, mixedRulesYaml } from './firewall-scale.js';
import { scalingSummaryOf, type FrameTimes, type ScalingResult } from './scaling-figures.js';
import { SweepRig, type SweepTarget } from './sweep.js';
import { walkStats, type WalkStats } from './walk-stats.js';
import { fw_match } from '../src/kernel/contract.gen.js';

/** Frames per family and kind at least (p99 is then the 10th slowest of 1,000). */
export const MIN_FRAMES = 1000;
/** Ring of each firewall: drops write events, and a call may write only what fits below the
 * program's 3/4 back-pressure mark (a dropped event would make a drop cheaper than it is). */
const RING_BYTES = 64 << 20;

export interface ScalingOptions {
  native: NativeBridge;
  root: string;
  dir: string;
  seed: number;
  sweeps: number;
  perFrame: number;
  log: (line: string) => void;
}

export interface ScaleFrame {
  /** a hit the rule passes, a hit the rule drops (and writes an event for), or a miss */
  kind: 'pass' | 'drop' | 'miss';
  /** index of the deciding compiled rule, -1 for the default */
  rule: number;
  ruleId: string | null;
  action: 'pass' | 'drop';
  frame: Buffer;
}

/** A near miss of a hit packet: another port or ICMP type (or, failing that, another source)
 * until no rule matches; null if none was found. */
function nearMiss(c: CompiledFirewall, p: PacketFacts, rnd: () => number): PacketFacts | null {
  for (let t = 0; t < 24; t++) {
    const q: PacketFacts = { ...p };
    if (p.proto === PROTO_ICMP || p.proto === PROTO_ICMPV6) q.icmpType = Math.floor(rnd() * 256);
    else q.dstPort = 1 + Math.floor(rnd() * 65535);
    if (t >= 12) q.src = addressIn(FILLER[p.family], rnd);
    if (decidingRule(c, q) === -1) return q;
  }
  return null;
}

/** The hit and miss frames of one family for a compiled policy (see the header). */
export function scalingFrames(c: CompiledFirewall, family: IpFamily, minFrames: number, seed: number): { hits: ScaleFrame[]; misses: ScaleFrame[]; rules: number; unreachable: number } {
  const rnd = prng(seed ^ (family === 4 ? 0x5c4 : 0x5c6));
  const mine = c.rules.map((r, i) => ({ r, i })).filter(({ r }) => r.family === family || r.family === 0);
  const facts: PacketFacts[] = [];
  const hits: ScaleFrame[] = [];
  const reachable: number[] = [];
  const add = (i: number, p: PacketFacts): void => {
    const r = c.rules[i]!;
    facts.push(p);
    const action = r.action === 'drop' ? 'drop' : 'pass';
    hits.push({ kind: action, rule: i, ruleId: r.ruleId, action, frame: frameOf(p, 'ack') });
  };
  for (const { i } of mine) {
    const p = aimAt(c, i, family, rnd);
    if (p) {
      reachable.push(i);
      add(i, p);
    }
  }
  if (!reachable.length) throw new Error(`no IPv${family} rule of the ${c.rules.length}-rule policy can be reached`);
  for (let k = 0; hits.length < minFrames; k++) {
    const i = reachable[k % reachable.length]!;
    const p = aimAt(c, i, family, rnd);
    if (p) add(i, p);
  }
  const misses: ScaleFrame[] = [];
  const miss = c.defaultAction === 'drop' ? 'drop' : 'pass';
  for (let k = 0; misses.length < minFrames; k++) {
    if (k > minFrames * 20) throw new Error(`only ${misses.length} IPv${family} packets matching no rule of the ${c.rules.length}-rule policy were found`);
    const q = nearMiss(c, facts[k % facts.length]!, rnd);
    if (q) misses.push({ kind: 'miss', rule: -1, ruleId: null, action: miss, frame: frameOf(q, 'ack') });
  }
  return { hits, misses, rules: mine.length, unreachable: mine.length - reachable.length };
}

/** The firewall as a sweep target, every call checked through its counters and its ring.
 * `hits` holds the hit count each rule number must have reached (shared by the subjects of one
 * loaded policy: hit counters are per rule, whatever the family that hit it). */
function firewallTarget(
  native: NativeBridge,
  id: string,
  k: FirewallKernel,
  frames: readonly ScaleFrame[],
  ruleNum: (ruleId: string) => number,
  hits: Map<number, bigint>,
  recordSize: number,
  rings: number[],
): SweepTarget {
  let consumed = 0;
  const ring = native.ringOpen([k.eventsFd], (_b, count, _length, lost) => {
    if (lost) throw new Error(`the ring reader lost ${lost} records`);
    consumed += count;
  });
  rings.push(ring);
  const maxEvents = Math.floor((RING_BYTES * 3) / 4 / recordSize) - 4096;
  return {
    id,
    progFd: k.progFd,
    fitsOneCall: (idx, per) => idx.reduce((a, i) => a + (frames[i]!.action === 'drop' ? per : 0), 0) <= maxEvents,
    afterCall: () => void native.ringConsume(ring),
    begin() {
      native.ringConsume(ring);
      const c0 = sumCounters(k);
      const consumed0 = consumed;
      return (idx, per) => {
        const want: Record<string, number> = { seen: 0, passed: 0, dropped: 0, events: 0, rule_hit: 0, default_policy: 0, events_lost_ring_full: 0, events_lost_backpressure: 0 };
        const touched = new Set<number>();
        for (const i of idx) {
          const f = frames[i]!;
          want.seen! += per;
          if (f.action === 'drop') {
            want.dropped! += per;
            want.events! += per;
          } else want.passed! += per;
          if (f.ruleId === null) want.default_policy! += per;
          else {
            want.rule_hit! += per;
            const n = ruleNum(f.ruleId);
            hits.set(n, (hits.get(n) ?? 0n) + BigInt(per));
            touched.add(n);
          }
        }
        const c1 = sumCounters(k);
        const problems: string[] = [];
        for (const [key, exp] of Object.entries(want)) {
          const got = Number(c1[key as keyof CounterSnapshot] - c0[key as keyof CounterSnapshot]);
          if (got !== exp) problems.push(`${key} moved by ${got}, expected ${exp}`);
        }
        if (consumed - consumed0 !== want.events) problems.push(`${consumed - consumed0} events read from the ring, expected ${want.events}`);
        for (const h of k.readRuleHits(touched)) {
          if (h.packets !== hits.get(h.ruleNum)) problems.push(`rule number ${h.ruleNum} has ${h.packets} hits, expected ${hits.get(h.ruleNum)}`);
        }
        if (problems.length) throw new Error(`${id}: after a sweep of ${idx.length} frames x ${per}: ${problems.slice(0, 5).join('; ')}`);
      };
    },
  };
}

/** A per-CPU u64 slot summed over CPUs. */
function perCpuSum(native: NativeBridge, fd: number, slot: number): bigint {
  const key = Buffer.alloc(4);
  key.writeUInt32LE(slot);
  const v = native.mapLookup(fd, key);
  let s = 0n;
  for (let i = 0; v && i + 8 <= v.length; i += 8) s += v.readBigUInt64LE(i);
  return s;
}

/** The first seed from `seed` whose smallest cut holds, per family, an allow and a deny rule:
 * else the smallest policy has no pass or no drop frames of a family to compare against (a
 * property of the packets, not of the classifier). */
export function scalingSeed(seed: number): number {
  for (let s = seed; s < seed + 1000; s++) {
    const small = mixedRules(MIXED_SIZES[0], s);
    const ok = ([4, 6] as const).every((f) =>
      (['allow', 'deny'] as const).every((a) => small.some((r) => r.action === a && [r.src_ip, r.dst_ip].some((ip) => ip !== undefined && ip.includes(':') === (f === 6)))),
    );
    if (ok) return s;
  }
  throw new Error(`no seed from ${seed} gives a ${MIXED_SIZES[0]}-rule policy with an allow and a deny rule per family`);
}

export async function measureScaling(o: ScalingOptions): Promise<ScalingResult> {
  const { native } = o;
  const t0 = performance.now();
  const fwObj = path.join(o.root, 'build', 'bpf', 'xdp_firewall.bpf.o');
  const seed = scalingSeed(o.seed);
  const all = mixedRules(Math.max(...MIXED_SIZES), seed);
  const policies: { n: number; compiled: CompiledFirewall; frames: Record<IpFamily, ScaleFrame[]>; info: Record<IpFamily, { rules: number; unreachable: number }> }[] = [];
  for (const n of MIXED_SIZES) {
    const file = path.join(o.dir, `scaling-${n}.yaml`);
    const text = `agent:\n  interfaces: [bench0]\nfirewall:\n  default_policy: pass\n  rules:${mixedRulesYaml(all.slice(0, n))}\n`;
    writeFileSync(file, text);
    const cfg = parseConfigText(text, file);
    const compiled = compileFirewall(cfg.firewall, cfg.resolved.firewall.aliases);
    const frames = {} as Record<IpFamily, ScaleFrame[]>;
    const info = {} as Record<IpFamily, { rules: number; unreachable: number }>;
    for (const family of [4, 6] as const) {
      const f = scalingFrames(compiled, family, MIN_FRAMES, seed + n);
      frames[family] = [...f.hits, ...f.misses];
      info[family] = { rules: f.rules, unreachable: f.unreachable };
    }
    policies.push({ n, compiled, frames, info });
    const st = compiled.classifier.stats;
    o.log(
      `scaling: ${n.toLocaleString('en-US')} rules: classifier ${st.nodes} nodes / ${st.leaves} leaves / largest leaf ${st.maxLeaf} / depth ${st.maxDepth}; ` +
        ([4, 6] as const).map((f) => `IPv${f} ${frames[f].length} frames (${info[f].rules - info[f].unreachable} of ${info[f].rules} rules reached)`).join(', ') +
        ` (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
  }

  const walkObj = path.join(o.root, 'build', 'bpf-bench', 'xdp_firewall_walkstats.bpf.o');
  const walks = new Map<string, WalkStats>();
  for (const p of policies) {
    for (const family of [4, 6] as const) {
      for (const kind of ['pass', 'drop', 'miss'] as const) {
        const frames = p.frames[family].filter((f) => f.kind === kind).map((f) => f.frame);
        if (frames.length) walks.set(`${p.n}|${family}|${kind}`, walkStats(native, walkObj, p.compiled, frames));
      }
    }
  }

  const rig = new SweepRig(native, path.join(o.root, 'build', 'bpf-bench', 'xdp_sweep.bpf.o'));
  const kernels: FirewallKernel[] = [];
  const rings: number[] = [];
  const floorObj = native.objOpen(path.join(o.root, 'build', 'bpf-bench', 'xdp_floor.bpf.o'), {});
  const refObj = native.objOpen(path.join(o.root, 'build', 'bpf-bench', 'xdp_stateful_ref.bpf.o'), {});
  try {
    native.objLoad(floorObj);
    native.objLoad(refObj);
    const [ev] = native.btfStructs(fwObj, ['fw_event']);
    const recordSize = 8 + Math.ceil(ev!.size / 8) * 8;

    // the subjects, per family: the three firewalls, the reference, the floor
    interface Subject {
      id: string;
      family: IpFamily;
      frames: ScaleFrame[];
      target: SweepTarget;
    }
    const subjects: Subject[] = [];
    for (const p of policies) {
      const k = FirewallKernel.load({ objectPath: fwObj, ringSize: RING_BYTES });
      kernels.push(k);
      const applied = k.writer.apply(p.compiled);
      const ruleNum = (id: string): number => {
        const n = applied.ruleNums.get(id);
        if (n === undefined) throw new Error(`rule ${id} has no rule number`);
        return n;
      };
      const hits = new Map<number, bigint>();
      for (const family of [4, 6] as const) {
        const id = `xdp-firewall.${p.n}.v${family}`;
        subjects.push({ id, family, frames: p.frames[family], target: firewallTarget(native, id, k, p.frames[family], ruleNum, hits, recordSize, rings) });
      }
    }
    const largest = policies[policies.length - 1]!;
    fillReference(native, refObj, largest.compiled, o.seed);
    const refCounts = native.mapFd(refObj, 'ref_counts');
    const readRef = (): bigint[] => [0, 1, 2, 3, 4].map((slot) => perCpuSum(native, refCounts, slot));
    for (const family of [4, 6] as const) {
      const frames = largest.frames[family];
      subjects.push({
        id: `reference.v${family}`,
        family,
        frames,
        target: {
          id: `reference.v${family}`,
          progFd: native.progFd(refObj, 'xdp_stateful_ref'),
          fitsOneCall: () => true,
          begin() {
            const c0 = readRef();
            return (idx, per) => {
              const c1 = readRef();
              const d = c1.map((v, i) => Number(v - c0[i]!));
              const runs = idx.length * per;
              if (d[0]! + d[1]! !== runs || d[2] !== 0 || d[4] !== 0) {
                throw new Error(`reference.v${family}: after ${runs} runs: pass ${d[0]}, drop ${d[1]}, conntrack hits ${d[2]}, malformed ${d[4]} (expected every run judged, no hit, none malformed)`);
              }
            };
          },
        },
      });
      subjects.push({
        id: `floor.v${family}`,
        family,
        frames,
        target: { id: `floor.v${family}`, progFd: native.progFd(floorObj, 'xdp_floor_pass'), fitsOneCall: () => true },
      });
    }

    const modes = [
      { mode: 'warm' as const, perFrame: o.perFrame },
      { mode: 'rotating' as const, perFrame: 1 },
    ];
    const times = new Map<string, number[][]>(); // id|mode -> per sweep, per frame
    const eta = performance.now();
    for (let s = 0; s < o.sweeps; s++) {
      for (let i = 0; i < subjects.length; i++) {
        const sub = subjects[(i + s) % subjects.length]!;
        for (const m of modes) {
          const key = `${sub.id}|${m.mode}`;
          const list = times.get(key) ?? [];
          list.push(rig.sweep(sub.target, sub.frames.map((f) => f.frame), m.perFrame));
          times.set(key, list);
        }
      }
      o.log(`scaling: sweep ${s + 1}/${o.sweeps} ${((performance.now() - eta) / 1000).toFixed(1)} s`);
    }

    const frameTimes: FrameTimes[] = subjects.map((sub) => ({
      id: sub.id,
      family: sub.family as 4 | 6,
      kinds: sub.frames.map((f) => f.kind),
      warm: times.get(`${sub.id}|warm`)!,
      rotating: times.get(`${sub.id}|rotating`)!,
    }));
    return scalingSummaryOf({
      sizes: policies.map((p) => p.n),
      frameTimes,
      walks,
      frames: Object.fromEntries(policies.map((p) => [p.n, { 4: { ...p.info[4], frames: p.frames[4].length }, 6: { ...p.info[6], frames: p.frames[6].length } }])),
      perFrame: o.perFrame,
      sweeps: o.sweeps,
    });
  } finally {
    for (const r of rings) native.ringClose(r);
    for (const k of kernels) k.close();
    rig.close();
    native.objClose(floorObj);
    native.objClose(refObj);
  }
}

/** The reference's tables: its LPM tries hold the destination networks of the policy's rules
 * (drop for deny rules; the first rule of a network wins, as in the policy), its conntrack table
 * 10,000 flows of other hosts (so a lookup searches a populated table and misses). */
function fillReference(native: NativeBridge, obj: number, c: CompiledFirewall, seed: number): void {
  const seen = new Set<string>();
  for (const r of c.rules) {
    if (!(r.match & fw_match.FW_M_DST_NET) || !r.dstNet) continue;
    const net: Cidr = r.dstNet;
    const k = `${net.family}/${net.prefix}/${Buffer.from(net.addr).toString('hex')}`;
    if (seen.has(k)) continue;
    seen.add(k);
    const bytes = net.family === 4 ? 4 : 16;
    const key = Buffer.alloc(4 + bytes);
    key.writeUInt32LE(net.prefix, 0);
    Buffer.from(net.addr).copy(key, 4, 0, bytes);
    native.mapUpdate(native.mapFd(obj, net.family === 4 ? 'ref_lpm_v4' : 'ref_lpm_v6'), key, Buffer.from([r.action === 'drop' ? 1 : 0]));
  }
  const rnd = prng(seed ^ 0xc7);
  const keySize = layouts.ct_key.size;
  const valueSize = layouts.ct_entry.size;
  const ct = native.mapFd(obj, 'ref_ct');
  for (let i = 0; i < 10_000; i++) {
    const key = Buffer.alloc(keySize);
    const fam: IpFamily = i % 2 ? 6 : 4;
    // other hosts: outside the benchmark ranges the frames use
    Buffer.from(addressIn({ family: fam, addr: Buffer.from(fam === 4 ? [10, 0, 0, 0] : [0xfd, 0, 0, 0]), prefix: 8 }, rnd)).copy(key, 0, 0, 16);
    Buffer.from(addressIn({ family: fam, addr: Buffer.from(fam === 4 ? [10, 0, 0, 0] : [0xfd, 0, 0, 0]), prefix: 8 }, rnd)).copy(key, 16, 0, 16);
    key.writeUInt16LE(1024 + Math.floor(rnd() * 60000), 32);
    key.writeUInt16LE(443, 34);
    key[36] = fam;
    key[37] = 6;
    native.mapUpdate(ct, key, Buffer.alloc(valueSize));
  }
}

