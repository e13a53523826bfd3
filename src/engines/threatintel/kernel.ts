// tc-threatintel's kernel face: the object (the packet program and the bloom filler), the six
// outer maps whose slots hold a generation's sets, the generation headers, the active index, the
// config and the counters. A refresh builds a whole generation in the inactive slot — new maps
// (a bloom filter cannot delete), hash sets and tries written in batches, the bloom filters
// filled in the kernel by one test run of the filler — and flips the active index once it is
// whole. Used by the engine, the kernel tests and the bench alike.
import { BpfObject } from '../../kernel/object.js';
import { BpfMap, bytesCodec, u32Codec, type Codec } from '../../kernel/map.js';
import { BpfMapType } from '../../kernel/bpf-enums.js';
import { layouts } from '../../kernel/layouts.gen.js';
import { loadNative } from '../../kernel/native.js';
import { BpfError, nativeCall, toBpfError } from '../../kernel/errors.js';
import { InactiveGeneration } from '../../kernel/in-flight.js';
import { programCounterSlots } from '../../kernel/contract-names.js';
import { ti_counter, ti_limits } from '../../kernel/contract.gen.js';
import { readPerInterface } from '../runtime/counters.js';

export const THREATINTEL_PROGRAM = 'tc-threatintel';
export const THREATINTEL_OBJECT_FILE = 'tc_threatintel.bpf.o';
export const TI_ENTRY = 'tc_threatintel';
export const TI_FILL_ENTRY = 'tc_threatintel_fill';
export const TI_RING = 'ti_events';

export const TI_COUNTER_SLOTS = programCounterSlots('TI_CNT_', ti_counter);
export type TiCounterSlot = (typeof TI_COUNTER_SLOTS)[number];
export type TiCounters = Record<TiCounterSlot, bigint>;

/** bytes of a value in the sets (struct ti_value) */
export const TI_VALUE_SIZE = layouts.ti_value.size;
export const TI_LPM4_KEY_SIZE = layouts.ti_lpm4_key.size;
export const TI_LPM6_KEY_SIZE = layouts.ti_lpm6_key.size;

/** One family's entries of one kind, ready for a batch update: `count` keys and values end to end. */
export interface SetEntries {
  keys: Buffer;
  values: Buffer;
  count: number;
}

/** A whole generation as the kernel takes it (compile.ts builds it). */
export interface KernelSet {
  /** exact addresses: 4-byte keys (network order) */
  v4: SetEntries;
  /** 16-byte keys */
  v6: SetEntries;
  /** struct ti_lpm4_key keys */
  lpm4: SetEntries;
  /** struct ti_lpm6_key keys */
  lpm6: SetEntries;
}

export interface TiConfig {
  enabled: boolean;
  quarantineIfindex: number;
  quarantineVlan: number;
}

/** What a swap took, for logs and the bench. */
export interface SwapTimings {
  slot: number;
  createMs: number;
  writeMs: number;
  fillMs: number;
  flipMs: number;
}

/** Refused: the new generation is not whole (the old one keeps enforcing). */
export class GenerationError extends Error {
  override name = 'GenerationError';
}

/** The bloom filters are sized for twice their entries: with 5 hash functions that keeps the
 * false-positive rate near 0.2% (a hit costs a hash-set lookup, never a wrong verdict). */
const BLOOM_HEADROOM = 2;
const BLOOM_HASHES = 5;
const BPF_F_NO_PREALLOC = 1;
/** test-run ctx: struct __sk_buff, cb[] at offset 48 */
const SKB_CTX_SIZE = 192;
const SKB_CB = 48;
/** a minimum Ethernet frame for the filler's test run */
const FILL_FRAME = Buffer.alloc(64);

type Kind = 'bloom4' | 'bloom6' | 'hash4' | 'hash6' | 'lpm4' | 'lpm6';
const OUTER: Readonly<Record<Kind, string>> = { bloom4: 'ti_bloom4', bloom6: 'ti_bloom6', hash4: 'ti_hash4', hash6: 'ti_hash6', lpm4: 'ti_lpm4', lpm6: 'ti_lpm6' };

export class ThreatIntelKernel {
  private readonly outer: Readonly<Record<Kind, BpfMap<number, number>>>;
  private readonly active: BpfMap<number, number>;
  private readonly gens: BpfMap<number, Buffer>;
  private readonly config: BpfMap<number, Buffer>;
  private readonly counters: BpfMap<number, Buffer>;
  /** packets may still read the inactive slot until a grace period after each flip */
  private readonly inactive = new InactiveGeneration();

  private constructor(readonly obj: BpfObject) {
    this.outer = Object.fromEntries((Object.keys(OUTER) as Kind[]).map((k) => [k, obj.map(OUTER[k], u32Codec, u32Codec)])) as Record<Kind, BpfMap<number, number>>;
    this.active = obj.map('ti_active', u32Codec, u32Codec);
    this.gens = obj.map('ti_gen', u32Codec, bytesCodec(layouts.ti_gen.size) as Codec<Buffer>);
    this.config = obj.map('ti_config', u32Codec, bytesCodec(layouts.ti_config.size) as Codec<Buffer>);
    this.counters = obj.map('ti_counters', u32Codec, bytesCodec(layouts.sentinel_counters.size) as Codec<Buffer>);
  }

  static over(obj: BpfObject): ThreatIntelKernel {
    return new ThreatIntelKernel(obj);
  }

  /** Opens and loads the object (kernel tests and benches; the agent loads through its runtime). */
  static load(objectPath: string): ThreatIntelKernel {
    const obj = BpfObject.load(objectPath);
    try {
      return new ThreatIntelKernel(obj);
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  writeConfig(c: TiConfig): void {
    const b = Buffer.alloc(layouts.ti_config.size);
    const f = layouts.ti_config.fields;
    b.writeUInt32LE(c.enabled ? 1 : 0, f.enabled.offset);
    b.writeUInt32LE(c.quarantineIfindex >>> 0, f.quarantine_ifindex.offset);
    b.writeUInt16LE(c.quarantineVlan & 0xfff, f.quarantine_vlan.offset);
    this.config.update(0, b);
  }

  /** The active slot and its generation id (0: nothing loaded). */
  activeGeneration(): { slot: number; id: number } {
    const slot = (this.active.lookup(0) ?? 0) & 1;
    const g = this.gens.lookup(slot);
    return { slot, id: g ? g.readUInt32LE(layouts.ti_gen.fields.id.offset) : 0 };
  }

  /**
   * Builds generation `id` (non-zero) from `set` in the inactive slot and flips to it. Until the
   * flip packets are judged by the old generation whole; after it by the new one whole. Throws
   * GenerationError (old generation untouched and active) if any map cannot be made or filled.
   * `bloomHeadroom`: bloom filter entries per address (default 2; below 1 the filters are
   * overfilled on purpose, which tests use to make false positives certain).
   */
  async swap(id: number, set: KernelSet, opts: { bloomHeadroom?: number } = {}): Promise<SwapTimings> {
    const headroom = opts.bloomHeadroom ?? BLOOM_HEADROOM;
    if (!Number.isInteger(id) || id <= 0 || id > 0xffffffff) throw new RangeError(`generation id ${id} is not a u32 above 0`);
    const { slot: live } = this.activeGeneration();
    const slot = live ^ 1;
    // nothing may still be reading the slot we are about to rebuild
    while (!(await this.inactive.settle()));
    const t0 = performance.now();
    const fds: Partial<Record<Kind, number>> = {};
    try {
      fds.bloom4 = create(BpfMapType.BLOOM_FILTER, 0, 4, Math.max(1, Math.ceil(set.v4.count * headroom)), 'ti_b4', 0, BLOOM_HASHES);
      fds.bloom6 = create(BpfMapType.BLOOM_FILTER, 0, 16, Math.max(1, Math.ceil(set.v6.count * headroom)), 'ti_b6', 0, BLOOM_HASHES);
      fds.hash4 = create(BpfMapType.HASH, 4, TI_VALUE_SIZE, Math.max(1, set.v4.count), 'ti_h4', 0, 0);
      fds.hash6 = create(BpfMapType.HASH, 16, TI_VALUE_SIZE, Math.max(1, set.v6.count), 'ti_h6', 0, 0);
      fds.lpm4 = create(BpfMapType.LPM_TRIE, TI_LPM4_KEY_SIZE, TI_VALUE_SIZE, Math.max(1, set.lpm4.count), 'ti_l4', BPF_F_NO_PREALLOC, 0);
      fds.lpm6 = create(BpfMapType.LPM_TRIE, TI_LPM6_KEY_SIZE, TI_VALUE_SIZE, Math.max(1, set.lpm6.count), 'ti_l6', BPF_F_NO_PREALLOC, 0);
      const t1 = performance.now();
      writeAll(fds.hash4, set.v4, 'IPv4 addresses');
      writeAll(fds.hash6, set.v6, 'IPv6 addresses');
      writeAll(fds.lpm4, set.lpm4, 'IPv4 networks');
      writeAll(fds.lpm6, set.lpm6, 'IPv6 networks');
      const t2 = performance.now();
      // the slot's header says "nothing" until it is whole: a packet that still read it would
      // pass rather than see half a set (none can, after the settle above)
      this.gens.update(slot, genHeader(0, 0, 0));
      for (const k of Object.keys(OUTER) as Kind[]) this.outer[k].update(slot, fds[k]!);
      const filled = this.fill(slot);
      if (filled.failed !== 0 || filled.pushed !== set.v4.count + set.v6.count) {
        throw new GenerationError(`bloom filters of generation ${id}: ${filled.pushed} addresses pushed of ${set.v4.count + set.v6.count}, ${filled.failed} failed`);
      }
      const t3 = performance.now();
      this.gens.update(slot, genHeader(id, set.lpm4.count, set.lpm6.count));
      this.active.update(0, slot);
      this.inactive.flipped();
      const t4 = performance.now();
      return { slot, createMs: t1 - t0, writeMs: t2 - t1, fillMs: t3 - t2, flipMs: t4 - t3 };
    } catch (e) {
      // the slot may hold some of the new maps: its header says empty, and it is inactive
      throw e instanceof GenerationError ? e : new GenerationError(`building generation ${id}: ${(e as Error).message}`);
    } finally {
      // the outer maps hold their own references
      for (const fd of Object.values(fds)) if (fd !== undefined) loadNative().closeFd(fd);
    }
  }

  /** Lets go of the inactive slot's maps (their memory) once no packet can read them. */
  async releaseInactive(): Promise<void> {
    while (!(await this.inactive.settle()));
    const slot = this.activeGeneration().slot ^ 1;
    this.gens.update(slot, genHeader(0, 0, 0));
    for (const k of Object.keys(OUTER) as Kind[]) this.outer[k].delete(slot);
  }

  /** Runs the filler over `slot`: every address of its hash sets into its bloom filters. */
  private fill(slot: number): { pushed: number; failed: number } {
    const ctx = Buffer.alloc(SKB_CTX_SIZE);
    ctx.writeUInt32LE(slot, SKB_CB);
    const r = this.obj.program(TI_FILL_ENTRY).testRun({ data: FILL_FRAME, ctx });
    return { pushed: r.retval, failed: r.ctxOut ? r.ctxOut.readUInt32LE(SKB_CB + 4) : -1 };
  }

  /** Counters per ifindex, summed over CPUs. */
  readCounters(): Map<number, TiCounters> {
    return readPerInterface(this.counters, TI_COUNTER_SLOTS);
  }

  close(): void {
    this.obj.close();
  }
}

export const TI_GENERATIONS = ti_limits.TI_GENERATIONS;

function genHeader(id: number, lpm4: number, lpm6: number): Buffer {
  const b = Buffer.alloc(layouts.ti_gen.size);
  const f = layouts.ti_gen.fields;
  b.writeUInt32LE(id, f.id.offset);
  b.writeUInt32LE(lpm4, f.lpm4.offset);
  b.writeUInt32LE(lpm6, f.lpm6.offset);
  return b;
}

function create(type: number, keySize: number, valueSize: number, maxEntries: number, name: string, flags: number, extra: number): number {
  return nativeCall(() => loadNative().mapCreate(type, keySize, valueSize, maxEntries, name, flags, extra), `creating map ${name} (${maxEntries} entries)`);
}

/** One batch update; map types without batch support (LPM tries of older kernels) one by one. */
function writeAll(fd: number, e: SetEntries, what: string): void {
  if (e.count === 0) return;
  const n = loadNative();
  try {
    n.mapUpdateBatch(fd, e.keys, e.values, e.count, 0);
    return;
  } catch (err) {
    const be = toBpfError(err, `writing ${e.count} ${what}`);
    if (!(be instanceof BpfError) || (be.code !== 'EOPNOTSUPP' && be.code !== 'ENOTSUPP' && be.code !== 'EINVAL')) throw be;
  }
  const ks = e.keys.length / e.count;
  const vs = e.values.length / e.count;
  for (let i = 0; i < e.count; i++) {
    nativeCall(() => n.mapUpdate(fd, e.keys.subarray(i * ks, (i + 1) * ks), e.values.subarray(i * vs, (i + 1) * vs), 0), `writing ${what}`);
  }
}
