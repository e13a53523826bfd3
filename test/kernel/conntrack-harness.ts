// Drives tc-conntrack through BPF_PROG_TEST_RUN exactly as the agent does (ConntrackKernel),
// with its own ct_table pin directory per test file so runs never share flows. Shared by the
// conntrack-*.test.ts kernel tests.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BootClock } from '../../src/kernel/boot-clock.js';
import { ensureBpffsSync, removePinTree } from '../../src/kernel/bpffs.js';
import { loadNative } from '../../src/kernel/native.js';
import { layouts } from '../../src/kernel/layouts.gen.js';
import { listFlows, type Flow, type FlowFilter } from '../../src/engines/conntrack/flows.js';
import {
  CONNTRACK_OBJECT_FILE,
  ConntrackKernel,
  CT_ENTRY_EGRESS,
  CT_ENTRY_INGRESS,
  zeroCounters,
  type CtCounters,
} from '../../src/engines/conntrack/kernel.js';
import { DEFAULT_TIMEOUTS, type TimeoutKey } from '../../src/engines/conntrack/states.js';
import { IN_CI } from '../support/env.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CT_OBJECT = path.join(ROOT, 'build', 'bpf', CONNTRACK_OBJECT_FILE);
/** test-run without a ctx runs on the loopback device of the caller's netns */
export const TEST_RUN_IFINDEX = 1;
/** TCX_NEXT as the u32 test-run retval: tc-conntrack never ends the chain */
export const TCX_NEXT_RET = 0xffffffff;

export function conntrackSkipReason(): string | false {
  if (IN_CI) return false;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'kernel tests need root (BPF_PROG_TEST_RUN)';
  if (!existsSync(CT_OBJECT)) return `${CT_OBJECT} is not built (make bpf)`;
  try {
    loadNative();
  } catch (e) {
    return `native addon not built (make native): ${(e as Error).message}`;
  }
  return false;
}

/** struct __sk_buff with ingress_ifindex set (the only field the tests need besides zero). */
export function skbCtx(ingressIfindex: number): Buffer {
  const b = Buffer.alloc(192);
  b.writeUInt32LE(ingressIfindex, 36); // offsetof(struct __sk_buff, ingress_ifindex)
  return b;
}

export type Dir = 'ingress' | 'egress';

export class ConntrackHarness {
  readonly clock = new BootClock();
  private constructor(readonly kernel: ConntrackKernel, readonly pinDir: string) {}

  static open(tag: string, maxEntries = 4096): ConntrackHarness {
    const pinDir = `/sys/fs/bpf/sn-ct-test-${tag}-${process.pid}`;
    ensureBpffsSync(pinDir);
    const kernel = ConntrackKernel.load({ objectPath: CT_OBJECT, mapPinDir: pinDir, maxEntries });
    return new ConntrackHarness(kernel, pinDir);
  }

  run(frame: Buffer, dir: Dir = 'ingress', ctx?: Buffer): number {
    const prog = this.kernel.obj.program(dir === 'ingress' ? CT_ENTRY_INGRESS : CT_ENTRY_EGRESS);
    return prog.testRun({ data: frame, ...(ctx ? { ctx } : {}) }).retval >>> 0;
  }

  /** Runs and returns how the loopback counters moved. */
  runDelta(frame: Buffer, dir: Dir = 'ingress', ctx?: Buffer): { ret: number; delta: Partial<Record<keyof CtCounters, number>> } {
    const before = this.counters();
    const ret = this.run(frame, dir, ctx);
    const after = this.counters();
    const delta: Partial<Record<keyof CtCounters, number>> = {};
    for (const k of Object.keys(after) as (keyof CtCounters)[]) {
      const d = Number(after[k] - before[k]);
      if (d !== 0 && k !== 'seen' && k !== 'passed' && k !== 'bytes_seen') delta[k] = d;
    }
    return { ret, delta };
  }

  counters(): CtCounters {
    return this.kernel.readCounters().get(TEST_RUN_IFINDEX) ?? zeroCounters();
  }

  flows(filter: FlowFilter = {}): Flow[] {
    const d = this.kernel.dump();
    return listFlows(d.keys, d.values, d.count, this.clock.bootNowNs(), filter, 100000).flows;
  }

  /** the one live flow whose initiator is `addr:port` (asserts there is at most one) */
  flow(initiator: string, port: number): Flow | undefined {
    const hits = this.flows({ ip: initiator }).filter((f) => f.initiator.addr === initiator && f.initiator.port === port);
    if (hits.length > 1) throw new Error(`${hits.length} flows initiated by ${initiator}:${port}`);
    return hits[0];
  }

  /** Moves the creation time of the one entry of the family whose two ports are {p1, p2} back by `secs`, as if
   * the flow had started that much earlier (rules that depend on a flow's age, such as UDP's
   * 2-second stream rule, are then reached without sleeping). */
  ageFlow(family: 4 | 6, p1: number, p2: number, secs: number): void {
    const K = layouts.ct_key.fields;
    const E = layouts.ct_entry.fields;
    const hits = [...this.kernel.table.entries()].filter(([k]) => {
      const a = k.readUInt16LE(K.port_a.offset);
      const b = k.readUInt16LE(K.port_b.offset);
      return k.readUInt8(K.family.offset) === family && ((a === p1 && b === p2) || (a === p2 && b === p1));
    });
    if (hits.length !== 1) throw new Error(`ageFlow: ${hits.length} IPv${family} entries with ports ${p1}/${p2}`);
    const [k, v] = hits[0]!;
    v.writeBigUInt64LE(v.readBigUInt64LE(E.created_ns.offset) - BigInt(Math.round(secs * 1e9)), E.created_ns.offset);
    this.kernel.table.update(k, v);
  }

  rawEntries(): number {
    return this.kernel.dump().count;
  }

  setTimeouts(t: Partial<Record<TimeoutKey, number>>): void {
    this.kernel.writeTimeouts({ ...DEFAULT_TIMEOUTS, ...t });
  }

  clear(): void {
    for (const k of [...this.kernel.table.keys()]) this.kernel.table.delete(k);
  }

  close(): void {
    this.kernel.close();
    removePinTree(this.pinDir);
  }
}

/** before/after hooks for a test file; the harness is usable inside `it`. */
export function useConntrack(tag: string, maxEntries?: number): { get(): ConntrackHarness } {
  let h: ConntrackHarness | null = null;
  before(() => {
    h = ConntrackHarness.open(tag, maxEntries);
  });
  after(() => h?.close());
  return {
    get(): ConntrackHarness {
      if (!h) throw new Error('conntrack harness not open');
      return h;
    },
  };
}
