// tc-scrub's kernel face: the loaded object (one TC ingress program), its profile maps (per
// interface, per network in two LPM tries), its counters and its per-interface action counters.
// Used by the engine, the kernel tests and the bench, so all of them drive the program alike.
import { BpfObject } from '../../kernel/object.js';
import { BpfMap, bytesCodec, u32Codec, type Codec } from '../../kernel/map.js';
import { layouts } from '../../kernel/layouts.gen.js';
import { namesByValue, programCounterSlots, slotRun } from '../../kernel/contract-names.js';
import { scrub_action, scrub_action_count, scrub_counter } from '../../kernel/contract.gen.js';
import { readPerInterface } from '../runtime/counters.js';
import { encodeNetKey, encodeProfile, type ScrubPolicy } from './compile.js';

export const SCRUB_PROGRAM = 'tc-scrub';
export const SCRUB_OBJECT_FILE = 'tc_scrub.bpf.o';
export const SCRUB_ENTRY = 'tc_scrub';
export const SCRUB_MAPS = { ifaces: 'scrub_ifaces', nets4: 'scrub_nets_v4', nets6: 'scrub_nets_v6' } as const;

/** Per-CPU counter slots (contract/counters.h, then SCRUB_CNT_* of contract/scrub.h). */
export const SCRUB_COUNTER_SLOTS = programCounterSlots('SCRUB_CNT_', scrub_counter);
export type ScrubCounterSlot = (typeof SCRUB_COUNTER_SLOTS)[number];
export type ScrubCounters = Record<ScrubCounterSlot, bigint>;

/** The actions counted per interface (enum scrub_action), by slot. */
export const SCRUB_ACTIONS = slotRun('SCRUB_A_', scrub_action, 0).names;
export type ScrubAction = (typeof SCRUB_ACTIONS)[number];
export type ScrubActionCounts = Record<ScrubAction, bigint>;
if (SCRUB_ACTIONS.length !== scrub_action_count.SCRUB_A_MAX) throw new Error('scrub_action and SCRUB_A_MAX disagree');
export const scrubActionName = namesByValue('SCRUB_A_', scrub_action);

export interface WriteResult {
  written: number;
  removed: number;
}

export class ScrubKernel {
  private readonly ifaces: BpfMap<number, Buffer>;
  private readonly nets4: BpfMap<Buffer, Buffer>;
  private readonly nets6: BpfMap<Buffer, Buffer>;
  private readonly counters: BpfMap<number, Buffer>;
  private readonly actions: BpfMap<number, Buffer>;

  private constructor(readonly obj: BpfObject) {
    const profile = bytesCodec(layouts.scrub_profile.size) as Codec<Buffer>;
    this.ifaces = obj.map(SCRUB_MAPS.ifaces, u32Codec, profile);
    this.nets4 = obj.map(SCRUB_MAPS.nets4, bytesCodec(layouts.scrub_net_v4.size), profile);
    this.nets6 = obj.map(SCRUB_MAPS.nets6, bytesCodec(layouts.scrub_net_v6.size), profile);
    this.counters = obj.map('scrub_counters', u32Codec, bytesCodec(layouts.sentinel_counters.size) as Codec<Buffer>);
    this.actions = obj.map('scrub_actions', u32Codec, bytesCodec(layouts.scrub_action_counters.size) as Codec<Buffer>);
  }

  /** The kernel face over an object already loaded (the agent's program runtime loads it). */
  static over(obj: BpfObject): ScrubKernel {
    return new ScrubKernel(obj);
  }

  /** Opens and loads the object (kernel tests and benches). */
  static load(objectPath: string): ScrubKernel {
    const obj = BpfObject.load(objectPath);
    try {
      return new ScrubKernel(obj);
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  get entryFd(): number {
    return this.obj.progFd(SCRUB_ENTRY);
  }

  /** Writes the policy: every entry of it (each one map update, so a packet sees a profile whole,
   * old or new), then removes the entries it no longer has. The network entries go in before
   * the interface entries that tell the kernel to look them up, and go out after. */
  writePolicy(p: ScrubPolicy): WriteResult {
    const hex = (k: Buffer): string => k.toString('hex');
    const nets = (list: ScrubPolicy['nets4']): Map<string, [Buffer, Buffer]> =>
      new Map(list.map((e) => {
        const k = encodeNetKey(e.ifindex, e.cidr);
        return [hex(k), [k, encodeProfile(e.profile)]];
      }));
    const n4 = nets(p.nets4);
    const n6 = nets(p.nets6);
    let written = 0;
    let removed = 0;
    for (const [map, want] of [[this.nets4, n4], [this.nets6, n6]] as const) {
      for (const [k, v] of want.values()) map.update(k, v);
      written += want.size;
    }
    for (const [i, prof] of p.ifaces) this.ifaces.update(i, encodeProfile(prof));
    written += p.ifaces.size;
    for (const i of [...this.ifaces.keys()]) if (!p.ifaces.has(i) && this.ifaces.delete(i)) removed++;
    for (const [map, want] of [[this.nets4, n4], [this.nets6, n6]] as const) {
      for (const k of [...map.keys()]) if (!want.has(hex(k)) && map.delete(k)) removed++;
    }
    return { written, removed };
  }

  /** Counts of the entries of each profile map. */
  entries(): { ifaces: number; nets4: number; nets6: number } {
    return { ifaces: [...this.ifaces.keys()].length, nets4: [...this.nets4.keys()].length, nets6: [...this.nets6.keys()].length };
  }

  /** Counters per ifindex, summed over CPUs. */
  readCounters(): Map<number, ScrubCounters> {
    return readPerInterface(this.counters, SCRUB_COUNTER_SLOTS);
  }

  /** Action counts per ifindex, summed over CPUs. */
  readActions(): Map<number, ScrubActionCounts> {
    return readPerInterface(this.actions, SCRUB_ACTIONS);
  }

  close(): void {
    this.obj.close();
  }
}
