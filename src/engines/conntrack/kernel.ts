// tc-conntrack's kernel face: the loaded object (ingress and egress entry programs), the shared
// flow table, the timeout config map, the tracked-interface set and the counters. Used by the
// engine, the kernel tests and the bench, so all of them drive the program the same way.
import path from 'node:path';
import { BpfObject } from '../../kernel/object.js';
import { BpfMap, bytesCodec, u32Codec, type Codec } from '../../kernel/map.js';
import { layouts } from '../../kernel/layouts.gen.js';
import { loadNative } from '../../kernel/native.js';
import { nativeCall } from '../../kernel/errors.js';
import { readPerInterface } from '../runtime/counters.js';
import { checkPinnedShared } from '../runtime/shared-maps.js';
import { CT_ENTRY_SIZE, CT_KEY_SIZE } from './flows.js';
import { encodeTimeouts, type TimeoutKey } from './states.js';
import { programCounterSlots } from '../../kernel/contract-names.js';
import { ct_counter } from '../../kernel/contract.gen.js';

export const CONNTRACK_PROGRAM = 'tc-conntrack';
export const CONNTRACK_OBJECT_FILE = 'tc_conntrack.bpf.o';
export const CT_ENTRY_INGRESS = 'tc_conntrack_ingress';
export const CT_ENTRY_EGRESS = 'tc_conntrack_egress';
export const CT_TABLE = 'ct_table';

/** Per-CPU counter slots (contract/counters.h, then CT_CNT_* of contract/conntrack.h). */
export const CT_COUNTER_SLOTS = programCounterSlots('CT_CNT_', ct_counter);
export type CtCounterSlot = (typeof CT_COUNTER_SLOTS)[number];
export type CtCounters = Record<CtCounterSlot, bigint>;

export function zeroCounters(): CtCounters {
  return Object.fromEntries(CT_COUNTER_SLOTS.map((s) => [s, 0n])) as CtCounters;
}

export interface ConntrackKernelOptions {
  objectPath: string;
  /** libbpf pin root for maps marked LIBBPF_PIN_BY_NAME: ct_table is shared through it */
  mapPinDir: string;
  /** ct_table size; every object sharing the table must be given the same */
  maxEntries: number;
}

export interface TableDump {
  keys: Buffer;
  values: Buffer;
  count: number;
}

export class ConntrackKernel {
  readonly table: BpfMap<Buffer, Buffer>;
  private readonly config: BpfMap<number, Buffer>;
  private readonly ifaces: BpfMap<number, Buffer>;
  private readonly counters: BpfMap<number, Buffer>;

  private constructor(readonly obj: BpfObject) {
    this.table = obj.map(CT_TABLE, bytesCodec(CT_KEY_SIZE), bytesCodec(CT_ENTRY_SIZE));
    this.config = obj.map('ct_config', u32Codec, bytesCodec(layouts.ct_config.size) as Codec<Buffer>);
    this.ifaces = obj.map('ct_ifaces', u32Codec, bytesCodec(1) as Codec<Buffer>);
    this.counters = obj.map('ct_counters', u32Codec, bytesCodec(layouts.sentinel_counters.size) as Codec<Buffer>);
  }

  /** The kernel face over an object already loaded (the agent's program runtime loads it). */
  static over(obj: BpfObject): ConntrackKernel {
    return new ConntrackKernel(obj);
  }

  /** Opens and loads the object, reusing the pinned ct_table when one exists (tests and
   * benches; the agent loads through its program runtime). A pinned table of another size
   * cannot be reused: that is refused with a message saying what to do. */
  static load(opts: ConntrackKernelOptions): ConntrackKernel {
    checkPinnedShared(path.join(opts.mapPinDir, CT_TABLE), { name: CT_TABLE, keySize: CT_KEY_SIZE, valueSize: CT_ENTRY_SIZE, maxEntries: opts.maxEntries });
    const obj = BpfObject.load(opts.objectPath, { pinRoot: opts.mapPinDir, maxEntries: { [CT_TABLE]: opts.maxEntries } });
    try {
      return new ConntrackKernel(obj);
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  get maxEntries(): number {
    return this.table.info.maxEntries;
  }

  writeTimeouts(t: Readonly<Record<TimeoutKey, number>>): void {
    // One array element: the kernel copies it whole, so a packet sees at worst one stale slot.
    this.config.update(0, encodeTimeouts(t, layouts.ct_config.size));
  }

  readTimeoutsRaw(): Buffer | undefined {
    return this.config.lookup(0);
  }

  /** Interfaces the program is attached to: egress skips packets already tracked at ingress. */
  setInterfaces(ifindexes: readonly number[]): void {
    const want = new Set(ifindexes);
    for (const k of [...this.ifaces.keys()]) if (!want.has(k)) this.ifaces.delete(k);
    for (const i of want) this.ifaces.update(i, Buffer.from([1]));
  }

  /** Whole table in one batch read. */
  dump(): TableDump {
    return nativeCall(() => loadNative().mapLookupAll(this.table.fd), `map '${CT_TABLE}' lookupAll`);
  }

  /** Deletes the given entries (by index into dump) whose deadline has still passed when
   * re-read; returns how many were removed. A flow refreshed since the dump survives. */
  deleteExpired(d: TableDump, indexes: readonly number[], now: bigint): number {
    let n = 0;
    for (const i of indexes) {
      const key = d.keys.subarray(i * CT_KEY_SIZE, (i + 1) * CT_KEY_SIZE);
      const cur = this.table.lookup(key);
      if (!cur) continue;
      if (cur.readBigUInt64LE(layouts.ct_entry.fields.expires_ns.offset) > now) continue;
      if (this.table.delete(key)) n++;
    }
    return n;
  }

  /** Counters per ifindex, summed over CPUs. */
  readCounters(): Map<number, CtCounters> {
    return readPerInterface(this.counters, CT_COUNTER_SLOTS);
  }

  close(): void {
    this.obj.close();
  }
}
