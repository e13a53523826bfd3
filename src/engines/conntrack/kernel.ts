// tc-conntrack's kernel face: the loaded object (ingress and egress entry programs), the shared
// flow table, the timeout config map, the tracked-interface set and the counters. Used by the
// engine, the kernel tests and the bench, so all of them drive the program the same way.
import { existsSync } from 'node:fs';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { BpfObject } from '../../kernel/object.js';
import { BpfMap, bytesCodec, sumU64Slots, u32Codec, type Codec } from '../../kernel/map.js';
import { layouts } from '../../kernel/layouts.gen.js';
import { loadNative } from '../../kernel/native.js';
import { nativeCall } from '../../kernel/errors.js';
import { CT_ENTRY_SIZE, CT_KEY_SIZE } from './flows.js';
import { encodeTimeouts, type TimeoutKey } from './states.js';

export const CONNTRACK_PROGRAM = 'tc-conntrack';
export const CONNTRACK_OBJECT_FILE = 'tc_conntrack.bpf.o';
export const CT_ENTRY_INGRESS = 'tc_conntrack_ingress';
export const CT_ENTRY_EGRESS = 'tc_conntrack_egress';
export const CT_TABLE = 'ct_table';
/** maps private to this object (pinned by the engine; ct_table is pinned by libbpf, shared) */
export const CT_PRIVATE_MAPS = ['ct_config', 'ct_ifaces', 'ct_counters'] as const;

/** Per-CPU counter slots (counters.h, then CT_CNT_* of ct.h), in order. */
export const CT_COUNTER_SLOTS = [
  'seen', 'passed', 'dropped', 'malformed', 'non_ip', 'events', 'events_lost_ring_full',
  'events_lost_backpressure', 'bytes_seen', 'new_flows', 'invalid', 'table_full', 'expired',
  'untracked', 'related', 'skipped_forwarded',
] as const;
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

  /** Opens and loads the object, reusing the pinned ct_table when one exists. A pinned table of
   * another size cannot be reused: that is refused with a message saying what to do. */
  static load(opts: ConntrackKernelOptions): ConntrackKernel {
    const pin = path.join(opts.mapPinDir, CT_TABLE);
    if (existsSync(pin)) {
      const fd = nativeCall(() => loadNative().objGet(pin), `opening pinned ${pin}`);
      let info;
      try {
        info = nativeCall(() => loadNative().mapInfo(fd), `map ${pin}`);
      } finally {
        loadNative().closeFd(fd);
      }
      if (info.maxEntries !== opts.maxEntries || info.keySize !== CT_KEY_SIZE || info.valueSize !== CT_ENTRY_SIZE) {
        throw new Error(
          `the pinned conntrack table ${pin} holds ${info.maxEntries} entries of ${info.keySize}+${info.valueSize} bytes, ` +
            `but conntrack.max_entries is ${opts.maxEntries} (entries of ${CT_KEY_SIZE}+${CT_ENTRY_SIZE} bytes): ` +
            `set max_entries back to ${info.maxEntries}, or stop every program using it and remove the pin to start a new table`,
        );
      }
    }
    const obj = BpfObject.load(opts.objectPath, { pinRoot: opts.mapPinDir, maxEntries: { [CT_TABLE]: opts.maxEntries } });
    try {
      return new ConntrackKernel(obj);
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  /** Pins the private maps under dir (stale pins of a previous run are replaced). */
  pinPrivateMaps(dir: string): string[] {
    const out: string[] = [];
    for (const name of CT_PRIVATE_MAPS) {
      const p = path.join(dir, name);
      rmSync(p, { force: true });
      this.obj.pinMap(name, p);
      out.push(p);
    }
    return out;
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
    const out = new Map<number, CtCounters>();
    for (const [ifindex, perCpu] of this.counters.allPerCpu()) {
      const sums = sumU64Slots(perCpu);
      const snap = {} as CtCounters;
      CT_COUNTER_SLOTS.forEach((name, i) => (snap[name] = sums[i] ?? 0n));
      out.set(ifindex, snap);
    }
    return out;
  }

  close(): void {
    this.obj.close();
  }
}
