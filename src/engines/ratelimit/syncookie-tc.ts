// tc_syncookie's kernel face (bpf/programs/tc_syncookie.bpf.c): loaded only on the agent cookie
// path, sharing xdp_ratelimit's rl_cookie_cfg (key and host options) by map reuse, attached at TC
// ingress of every protected interface, and its per-interface counters.
import type { BpfObject } from '../../kernel/object.js';
import { bytesCodec, u32Codec, type BpfMap, type Codec } from '../../kernel/map.js';
import { layouts } from '../../kernel/layouts.gen.js';
import { readPerInterface } from '../runtime/counters.js';
import { programCounterSlots } from '../../kernel/contract-names.js';
import { sc_counter } from '../../kernel/contract.gen.js';

export const SYNCOOKIE_TC_PROGRAM = 'tc-syncookie';
export const SYNCOOKIE_TC_ENTRY = 'tc_syncookie';
export const SYNCOOKIE_TC_OBJECT_FILE = 'tc_syncookie.bpf.o';

/** Per-interface counter slots (contract/counters.h, then SC_CNT_* of contract/syncookie.h). */
export const SC_COUNTER_SLOTS = programCounterSlots('SC_CNT_', sc_counter);
export type ScCounterSlot = (typeof SC_COUNTER_SLOTS)[number];
export type ScCounters = Record<ScCounterSlot, bigint>;

export class SyncookieTcKernel {
  private readonly counters: BpfMap<number, Buffer>;

  private constructor(readonly obj: BpfObject) {
    this.counters = obj.map('sc_counters', u32Codec, bytesCodec(layouts.sentinel_counters.size) as Codec<Buffer>);
  }

  /** The kernel face over the loaded object (rl_cookie_cfg reused from xdp_ratelimit by fd:
   * the engine's program runtime loads it so). */
  static over(obj: BpfObject): SyncookieTcKernel {
    return new SyncookieTcKernel(obj);
  }

  readCounters(): Map<number, ScCounters> {
    return readPerInterface(this.counters, SC_COUNTER_SLOTS);
  }

  close(): void {
    this.obj.close();
  }
}
