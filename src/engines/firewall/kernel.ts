// The firewall's kernel face: the loaded xdp_firewall object, its maps as the generation writer
// needs them, and the readers for counters and rule hits. Used by the agent, the kernel tests
// and the bench, so all three drive the program exactly the same way.
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { BpfMapType } from '../../kernel/bpf-enums.js';
import { ensureBpffsSync, removePinTree } from '../../kernel/bpffs.js';
import { BpfObject } from '../../kernel/object.js';
import { BpfMap, bytesCodec, sumU64Slots, u32Codec, type Codec } from '../../kernel/map.js';
import { readPerInterface } from '../runtime/counters.js';
import { layouts } from '../../kernel/layouts.gen.js';
import { loadNative } from '../../kernel/native.js';
import type { MmapWrite } from './encode.js';
import { GenerationWriter, type FirewallMaps, type RawMap } from './generations.js';
import { fw_counter, fw_ext_counter, fw_limits, sentinel_counter_block } from '../../kernel/contract.gen.js';
import { programCounterSlots, slotRun } from '../../kernel/contract-names.js';

export const FIREWALL_PROGRAM = 'xdp-firewall';
export const FIREWALL_ENTRY = 'xdp_firewall';
export const FIREWALL_OBJECT_FILE = 'xdp_firewall.bpf.o';

/** Per-CPU counter slots (contract/counters.h, then FW_CNT_* of contract/firewall.h), by slot. */
export const COUNTER_SLOTS = programCounterSlots('FW_CNT_', fw_counter);
const EXT = slotRun('FW_XCNT_', fw_ext_counter, sentinel_counter_block.SN_CNT_PROG_0);
/** Slots of fw_counters_ext (FW_XCNT_* of contract/firewall.h), from EXT_FIRST_SLOT. */
export const EXT_COUNTER_SLOTS = EXT.names;
const EXT_FIRST_SLOT = EXT.first;
export type CounterSlot = (typeof COUNTER_SLOTS)[number] | (typeof EXT_COUNTER_SLOTS)[number];
export type CounterSnapshot = Record<CounterSlot, bigint>;

const COUNTERS_SIZE = layouts.sentinel_counters.size;
const PRIVATE_PIN_PARENT = '/sys/fs/bpf';
const HIT_SIZE = layouts.fw_hit.size;

/** BpfMap<Buffer, Buffer> as the generation writer's raw map: LPM tries have no batch update
 * in the kernel, so many-entry writes fall back to one update each there. */
class RawBpfMap implements RawMap {
  /** mapping of an mmapable array, made on its first writeAt, kept until close */
  private mmap: number | null = null;

  constructor(private readonly m: BpfMap<Buffer, Buffer>) {}

  close(): void {
    if (this.mmap !== null) loadNative().mmapClose(this.mmap);
    this.mmap = null;
  }

  lookup(key: Buffer): Buffer | null {
    return this.m.lookup(key) ?? null;
  }

  update(key: Buffer, value: Buffer): void {
    this.m.update(key, value);
  }

  delete(key: Buffer): boolean {
    return this.m.delete(key);
  }

  keys(): Iterable<Buffer> {
    return this.m.keys();
  }

  writeAt(w: MmapWrite): void {
    const native = loadNative();
    this.mmap ??= native.mapMmap(this.m.fd);
    native.mmapWrite(this.mmap, w.offset, w.data);
  }

  updateMany(keys: Buffer[], values: Buffer[]): void {
    if (keys.length !== values.length) throw new Error(`${this.m.name}: ${keys.length} keys for ${values.length} values`);
    if (this.m.info.type === BpfMapType.LPM_TRIE) {
      for (let i = 0; i < keys.length; i++) this.m.update(keys[i]!, values[i]!);
      return;
    }
    const CHUNK = 4096;
    for (let i = 0; i < keys.length; i += CHUNK) {
      this.m.updateBatch(keys.slice(i, i + CHUNK).map((k, j) => [k, values[i + j]!] as const));
    }
  }
}

/** The maps the generation writer fills, over a loaded xdp_firewall object; close() drops the
 * mappings of the classifier arrays (they keep the maps alive). Each call is a new view: a
 * second writer over the same object sees what the first left (as an agent adopting pinned maps
 * would). */
export function firewallMaps(obj: BpfObject): { maps: FirewallMaps; close(): void } {
  const raws: RawBpfMap[] = [];
  const raw = (name: string, k: number, v: number): RawBpfMap => {
    const r = new RawBpfMap(obj.map(name, bytesCodec(k), bytesCodec(v)));
    raws.push(r);
    return r;
  };
  const hits = obj.map('fw_rule_hits', u32Codec, bytesCodec(HIT_SIZE) as Codec<Buffer>);
  const maps: FirewallMaps = {
    active: raw('fw_active', 4, 4),
    gen: raw('fw_gen', 4, layouts.fw_gen.size),
    rules: raw('fw_rules', 4, layouts.fw_rule.size),
    tree: raw('fw_tree', 4, layouts.fw_tree_gen.size),
    leaves: raw('fw_leaf', 4, layouts.fw_leaf_gen.size),
    wide: raw('fw_wide', 4, layouts.fw_wide_gen.size),
    lpmV4: raw('fw_lpm_v4', layouts.fw_lpm_v4_key.size, 1),
    lpmV6: raw('fw_lpm_v6', layouts.fw_lpm_v6_key.size, 1),
    resetRuleHits: (nums) => {
      const zero = Array.from({ length: loadNative().numPossibleCpus() }, () => Buffer.alloc(HIT_SIZE));
      for (const n of nums) hits.updatePerCpu(n, zero);
    },
  };
  return {
    maps,
    close: () => {
      for (const r of raws) r.close();
    },
  };
}

export interface FirewallKernelOptions {
  objectPath: string;
  /** bpffs directory of the shared maps pinned by name (ct_table of tc-conntrack):
   * <pin_root>/maps. Without it a private directory is made (and removed on close), so a
   * test or bench never touches the agent's table. */
  mapPinDir?: string;
  /** ct_table size: must equal what tc-conntrack uses (conntrack.max_entries) */
  ctMaxEntries?: number;
  /** ring buffer size in bytes (power of two) */
  ringSize?: number;
}

export interface RuleHitCount {
  ruleNum: number;
  packets: bigint;
  bytes: bigint;
}

export class FirewallKernel {
  readonly writer: GenerationWriter;
  private readonly counters: BpfMap<number, Buffer>;
  private readonly extCounters: BpfMap<number, Buffer>;
  private readonly hits: BpfMap<number, Buffer>;

  private privatePins: string | null = null;
  /** drops the mappings of the writer's maps (they keep the maps alive) */
  private readonly closeMaps: () => void;

  private constructor(readonly obj: BpfObject) {
    this.counters = obj.map('fw_counters', u32Codec, bytesCodec(COUNTERS_SIZE) as Codec<Buffer>);
    this.extCounters = obj.map('fw_counters_ext', u32Codec, bytesCodec(COUNTERS_SIZE) as Codec<Buffer>);
    this.hits = obj.map('fw_rule_hits', u32Codec, bytesCodec(HIT_SIZE) as Codec<Buffer>);
    const { maps, close } = firewallMaps(obj);
    this.closeMaps = close;
    try {
      this.writer = new GenerationWriter(maps);
    } catch (e) {
      close();
      throw e;
    }
  }

  /** The kernel face over an object already loaded (the agent's program runtime loads it). */
  static over(obj: BpfObject): FirewallKernel {
    return new FirewallKernel(obj);
  }

  /** Opens and loads the object (tests and benches; the agent loads through its program
   * runtime); a verifier rejection throws with the log attached. */
  static load(opts: FirewallKernelOptions): FirewallKernel {
    let dir = opts.mapPinDir;
    let priv: string | null = null;
    if (!dir) {
      ensureBpffsSync(PRIVATE_PIN_PARENT);
      priv = dir = mkdtempSync(path.join(PRIVATE_PIN_PARENT, 'sn-fw-'));
    }
    const maxEntries: Record<string, number> = {};
    if (opts.ringSize) maxEntries.fw_events = opts.ringSize;
    if (opts.ctMaxEntries) maxEntries.ct_table = opts.ctMaxEntries;
    let obj: BpfObject;
    try {
      obj = BpfObject.load(opts.objectPath, { pinRoot: dir, maxEntries });
    } catch (e) {
      if (priv) removePinTree(priv);
      throw e;
    }
    try {
      const k = new FirewallKernel(obj);
      k.privatePins = priv;
      return k;
    } catch (e) {
      obj.close();
      if (priv) removePinTree(priv);
      throw e;
    }
  }

  get progFd(): number {
    return this.obj.progFd(FIREWALL_ENTRY);
  }

  get eventsFd(): number {
    return this.obj.mapFd('fw_events');
  }

  /** Counters per ifindex, summed over CPUs (fw_counters, then fw_counters_ext's slots). */
  readCounters(): Map<number, CounterSnapshot> {
    const base = readPerInterface(this.counters, COUNTER_SLOTS);
    const ext = readPerInterface(this.extCounters, EXT_COUNTER_SLOTS, EXT_FIRST_SLOT);
    const zero = Object.fromEntries([...COUNTER_SLOTS, ...EXT_COUNTER_SLOTS].map((n) => [n, 0n])) as CounterSnapshot;
    const out = new Map<number, CounterSnapshot>();
    for (const ifindex of new Set([...base.keys(), ...ext.keys()])) out.set(ifindex, { ...zero, ...base.get(ifindex), ...ext.get(ifindex) });
    return out;
  }

  /** Hits of the given rule numbers, summed over CPUs. */
  readRuleHits(nums: Iterable<number>): RuleHitCount[] {
    const out: RuleHitCount[] = [];
    for (const n of nums) {
      if (n <= 0 || n >= fw_limits.FW_MAX_RULE_NUMS) continue;
      const perCpu = this.hits.lookupPerCpu(n);
      if (!perCpu) continue;
      const [packets, bytes] = sumU64Slots(perCpu, 2);
      out.push({ ruleNum: n, packets: packets!, bytes: bytes! });
    }
    return out;
  }

  /** Entries in a hash or trie map, counted key by key (status and tests, not the hot path). */
  countEntries(name: string): number {
    const info = this.obj.mapInfo().find((m) => m.name === name);
    if (!info) throw new Error(`${FIREWALL_PROGRAM}: object has no map "${name}"`);
    let n = 0;
    for (const _ of this.obj.map(name, bytesCodec(info.keySize), bytesCodec(info.valueSize)).keys()) n++;
    return n;
  }

  close(): void {
    try {
      this.closeMaps();
      this.obj.close();
    } finally {
      if (this.privatePins) removePinTree(this.privatePins);
      this.privatePins = null;
    }
  }
}
