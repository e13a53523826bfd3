// tc_syncookie's kernel face (bpf/programs/tc_syncookie.bpf.c): loaded only on the agent cookie
// path, sharing xdp_ratelimit's rl_cookie_cfg (key and host options) by map reuse, attached at TC
// ingress of every protected interface, and its per-interface counters.
import path from 'node:path';
import { BpfObject } from '../../kernel/object.js';
import { bytesCodec, sumU64Slots, u32Codec, type BpfMap, type Codec } from '../../kernel/map.js';
import { layouts } from '../../kernel/layouts.gen.js';

export const SYNCOOKIE_TC_PROGRAM = 'tc-syncookie';
export const SYNCOOKIE_TC_ENTRY = 'tc_syncookie';
export const SYNCOOKIE_TC_OBJECT_FILE = 'tc_syncookie.bpf.o';

/** Per-interface counter slots (counters.h, then tc_syncookie.bpf.c SC_CNT_*), in order. */
export const SC_COUNTER_SLOTS = [
  'seen', 'passed', 'dropped', 'malformed', 'non_ip', 'events', 'events_lost_ring_full',
  'events_lost_backpressure', 'bytes_seen', 'reqsk_created', 'not_agent_cookie', 'reqsk_refused',
] as const;
export type ScCounterSlot = (typeof SC_COUNTER_SLOTS)[number];
export type ScCounters = Record<ScCounterSlot, bigint>;

export class SyncookieTcKernel {
  private readonly counters: BpfMap<number, Buffer>;

  private constructor(readonly obj: BpfObject) {
    this.counters = obj.map('sc_counters', u32Codec, bytesCodec(layouts.sentinel_counters.size) as Codec<Buffer>);
  }

  /** Loads the object with rl_cookie_cfg taken from xdp_ratelimit (its fd). Throws with the
   * libbpf message when the kernel lacks the kfunc or refuses the program. */
  static load(objectDir: string, cookieCfgFd: number): SyncookieTcKernel {
    const obj = BpfObject.load(path.join(objectDir, SYNCOOKIE_TC_OBJECT_FILE), { reuseMaps: { rl_cookie_cfg: cookieCfgFd } });
    try {
      return new SyncookieTcKernel(obj);
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  get program() {
    return this.obj.program(SYNCOOKIE_TC_ENTRY);
  }

  readCounters(): Map<number, ScCounters> {
    const out = new Map<number, ScCounters>();
    for (const [ifindex, perCpu] of this.counters.allPerCpu()) {
      const sums = sumU64Slots(perCpu);
      const snap = {} as ScCounters;
      SC_COUNTER_SLOTS.forEach((name, i) => (snap[name] = sums[i]!));
      out.set(ifindex, snap);
    }
    return out;
  }

  close(): void {
    this.obj.close();
  }
}
