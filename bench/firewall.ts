// The xdp-firewall subjects: each policy goes through the product's own path (YAML config ->
// compileFirewall -> FirewallKernel writer), each packet is checked against the reference
// matcher before the kernel sees it, and every sample is checked afterwards through the
// program's own counters: the deciding rule's hits, the verdict counter, events written and lost.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseConfigText } from '../src/catalog.js';
import { compileFirewall, matchPacket, type CompiledFirewall } from '../src/engines/firewall/compile.js';
import { COUNTER_SLOTS, EXT_COUNTER_SLOTS, FirewallKernel, type CounterSnapshot } from '../src/engines/firewall/kernel.js';
import type { NativeBridge } from '../src/kernel/native.js';
import { parseAddress, type IpFamily } from '../src/net/ip.js';
import { tcpFrame } from '../test/support/frames.js';
import { blockListText, generateBlockList, hitHost, type BlockList } from './blocklist.js';
import { WrongPathError, XDP_DROP, XDP_PASS, type Subject } from './harness.js';
import { firewallCases, policyYaml, type FirewallCase, type PolicyName } from './policy.js';
import { fw_action } from '../src/kernel/contract.gen.js';

export const FIREWALL_PROGRAM = 'xdp-firewall';
const PROTO_TCP = 6;
/** Ring for the deny policy: big enough that a call of ~1M drops stays under the program's 3/4
 * back-pressure mark, so every timed drop really writes its event. */
const DENY_RING_BYTES = 128 << 20;

export interface FirewallBenchOptions {
  native: NativeBridge;
  objectPath: string;
  /** scratch directory for the policy files and the block list */
  dir: string;
  /** CIDRs per family in the block list */
  listSize: number;
  seed: number;
  log: (line: string) => void;
}

export interface FirewallBench {
  subjects: Subject[];
  lists: Record<IpFamily, BlockList>;
  close(): void;
}

interface LoadedPolicy {
  compiled: CompiledFirewall;
  kernel: FirewallKernel;
  ruleNums: Map<string, number>;
}

/** The program's counters summed over every interface (zero where nothing counted yet). */
export function sumCounters(kernel: FirewallKernel): CounterSnapshot {
  const total = Object.fromEntries([...COUNTER_SLOTS, ...EXT_COUNTER_SLOTS].map((k) => [k, 0n])) as CounterSnapshot;
  for (const snap of kernel.readCounters().values()) for (const k of Object.keys(snap) as (keyof CounterSnapshot)[]) total[k] += snap[k];
  return total;
}

/** Where the fields the check reads sit in an fw_event, from the object's BTF. */
function eventLayout(native: NativeBridge, objectPath: string): { size: number; ruleNum: number; action: number } {
  const [ev] = native.btfStructs(objectPath, ['fw_event']);
  if (!ev) throw new Error(`${objectPath}: no struct fw_event in its BTF`);
  const off = (name: string): number => {
    const m = ev.members.find((x) => x.name === name);
    if (!m) throw new Error(`${objectPath}: struct fw_event has no member ${name}`);
    return m.bitOffset / 8;
  };
  return { size: ev.size, ruleNum: off('rule_num'), action: off('action') };
}

export function setupFirewall(o: FirewallBenchOptions): FirewallBench {
  const { native } = o;
  const lists: Record<IpFamily, BlockList> = {
    4: generateBlockList(4, o.listSize, o.seed),
    6: generateBlockList(6, o.listSize, o.seed),
  };
  const listFile = path.join(o.dir, 'blocklist.txt');
  writeFileSync(listFile, blockListText([lists[4], lists[6]]));

  const kernels: FirewallKernel[] = [];
  const rings: number[] = [];
  const close = (): void => {
    for (const r of rings.splice(0)) native.ringClose(r);
    for (const k of kernels.splice(0)) k.close();
  };

  try {
    const policies = new Map<PolicyName, LoadedPolicy>();
    for (const name of ['base', 'many-rules', 'blocklist-deny', 'blocklist-allow'] as const) {
      const t0 = performance.now();
      const file = path.join(o.dir, `${name}.yaml`);
      const text = policyYaml(name, listFile);
      writeFileSync(file, text);
      const cfg = parseConfigText(text, file);
      const compiled = compileFirewall(cfg.firewall, cfg.resolved.firewall.aliases);
      const wantEntries = name.startsWith('blocklist') ? o.listSize : 0;
      if (compiled.lpmEntries.v4 !== wantEntries || compiled.lpmEntries.v6 !== wantEntries) {
        throw new Error(`policy ${name}: ${compiled.lpmEntries.v4} IPv4 and ${compiled.lpmEntries.v6} IPv6 LPM entries, expected ${wantEntries} each`);
      }
      const kernel = FirewallKernel.load({ objectPath: o.objectPath, ...(name === 'blocklist-deny' ? { ringSize: DENY_RING_BYTES } : {}) });
      kernels.push(kernel);
      const applied = kernel.writer.apply(compiled);
      policies.set(name, { compiled, kernel, ruleNums: applied.ruleNums });
      o.log(`policy ${name}: ${compiled.rules.length} kernel rules, ${applied.setEntries} LPM entries, loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }

    const ev = eventLayout(native, o.objectPath);
    const record = 8 + Math.ceil(ev.size / 8) * 8; // ring record header + body, 8-aligned
    const maxEventsPerCall = Math.floor((DENY_RING_BYTES * 3) / 4 / record) - 4096;

    const subjects: Subject[] = [];
    for (const family of [4, 6] as const) {
      const listed = hitHost(lists[family]).address;
      for (const c of firewallCases(family, listed, o.listSize)) {
        const p = policies.get(c.policy)!;
        subjects.push(firewallSubject(c, p, { native, emitsEvents: c.expectAction === 'drop', maxEventsPerCall, ev, rings }));
      }
    }
    return { subjects, lists, close };
  } catch (e) {
    close();
    throw e;
  }
}

function firewallSubject(
  c: FirewallCase,
  p: LoadedPolicy,
  x: { native: NativeBridge; emitsEvents: boolean; maxEventsPerCall: number; ev: ReturnType<typeof eventLayout>; rings: number[] },
): Subject {
  // The reference matcher has the kernel's semantics; if it disagrees with the case, the case
  // is wrong before any timing starts.
  const src = parseAddress(c.src);
  const dst = parseAddress(c.dst);
  const ref = matchPacket(p.compiled, { family: c.family, src: src.addr, dst: dst.addr, proto: PROTO_TCP, srcPort: c.sport, dstPort: c.dport });
  if (ref.ruleId !== c.expectRule || ref.action !== c.expectAction) {
    throw new WrongPathError(`${c.id}: the policy decides ${ref.ruleId ?? 'default'} -> ${ref.action}, the case expects ${c.expectRule ?? 'default'} -> ${c.expectAction}`);
  }
  const ruleNum = c.expectRule === null ? null : p.ruleNums.get(c.expectRule);
  if (ruleNum === undefined) throw new Error(`${c.id}: rule ${c.expectRule} has no rule number after apply`);

  const { native } = x;
  const kernel = p.kernel;
  let consumed = 0;
  let lastRecord: Buffer | null = null;
  let ring = -1;
  if (x.emitsEvents) {
    ring = native.ringOpen([kernel.eventsFd], (batch, count, _length, lost) => {
      if (lost) throw new Error(`${c.id}: the ring reader lost ${lost} records`);
      consumed += count;
      if (batch && count > 0) {
        const len = batch.readUInt32LE(0);
        lastRecord = Buffer.from(batch.subarray(4, 4 + len));
      }
    });
    x.rings.push(ring);
  }
  const hits = (): bigint => (ruleNum === null ? 0n : (kernel.readRuleHits([ruleNum])[0]?.packets ?? 0n));

  return {
    id: c.id,
    program: FIREWALL_PROGRAM,
    description: c.description,
    family: c.family,
    progFd: kernel.progFd,
    frame: tcpFrame({ src: c.src, dst: c.dst, sport: c.sport, dport: c.dport, flags: ['syn'] }),
    retval: c.expectAction === 'drop' ? XDP_DROP : XDP_PASS,
    maxRepeatPerCall: x.emitsEvents ? x.maxEventsPerCall : 0xffffffff,
    afterCall: x.emitsEvents ? () => void native.ringConsume(ring) : undefined,
    beginSample() {
      if (x.emitsEvents) native.ringConsume(ring); // nothing of an earlier sample is counted here
      const c0 = sumCounters(kernel);
      const h0 = hits();
      const consumed0 = consumed;
      lastRecord = null;
      return (repeats: number) => {
        const c1 = sumCounters(kernel);
        const n = BigInt(repeats);
        const d = (k: keyof CounterSnapshot): bigint => c1[k] - c0[k];
        const problems: string[] = [];
        const want = (what: string, got: bigint, exp: bigint): void => {
          if (got !== exp) problems.push(`${what} moved by ${got}, expected ${exp}`);
        };
        want('seen', d('seen'), n);
        want(c.expectAction === 'drop' ? 'dropped' : 'passed', d(c.expectAction === 'drop' ? 'dropped' : 'passed'), n);
        if (ruleNum === null) want('default_policy', d('default_policy'), n);
        else {
          want('rule_hit', d('rule_hit'), n);
          want(`hits of rule ${c.expectRule}`, hits() - h0, n);
        }
        want('events', d('events'), x.emitsEvents ? n : 0n);
        want('events_lost_backpressure', d('events_lost_backpressure'), 0n);
        want('events_lost_ring_full', d('events_lost_ring_full'), 0n);
        if (x.emitsEvents) {
          want('events consumed from the ring', BigInt(consumed - consumed0), n);
          const r: Buffer | null = lastRecord;
          if (!r || r.length < x.ev.size) problems.push('no complete event record was read');
          else {
            want('event rule_num', BigInt(r.readUInt32LE(x.ev.ruleNum)), BigInt(ruleNum ?? 0));
            want('event action', BigInt(r[x.ev.action]!), BigInt(fw_action.FW_ACT_DROP));
          }
        }
        if (problems.length) throw new WrongPathError(`${c.id}: after ${repeats} runs: ${problems.join('; ')}`);
      };
    },
  };
}
