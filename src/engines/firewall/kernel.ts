// The firewall's kernel face: the loaded xdp_firewall object, its maps as the generation writer
// needs them, and the readers for counters and rule hits. Used by the agent, the kernel tests
// and the bench, so all three drive the program exactly the same way.
import { BpfMapType } from '../../kernel/bpf-enums.js';
import { BpfObject } from '../../kernel/object.js';
import { BpfMap, bytesCodec, sumU64Slots, u32Codec, type Codec } from '../../kernel/map.js';
import { layouts } from '../../kernel/layouts.gen.js';
import { loadNative } from '../../kernel/native.js';
import { GenerationWriter, type FirewallMaps, type RawMap } from './generations.js';
import { FW } from './compile.js';

export const FIREWALL_PROGRAM = 'xdp-firewall';
export const FIREWALL_ENTRY = 'xdp_firewall';
export const FIREWALL_OBJECT_FILE = 'xdp_firewall.bpf.o';

/** Per-CPU counter slots (counters.h, firewall.h), in order. */
export const COUNTER_SLOTS = [
  'seen', 'passed', 'dropped', 'malformed', 'non_ip', 'events', 'events_lost_ring_full',
  'events_lost_backpressure', 'bytes_seen', 'rule_hit', 'default_policy', 'tailcall_miss', 'fragment',
] as const;
export type CounterSlot = (typeof COUNTER_SLOTS)[number];
export type CounterSnapshot = Record<CounterSlot, bigint>;

const COUNTERS_SIZE = layouts.sentinel_counters.size;
const HIT_SIZE = layouts.fw_hit.size;

/** BpfMap<Buffer, Buffer> as the generation writer's raw map: LPM tries have no batch update
 * in the kernel, so many-entry writes fall back to one update each there. */
class RawBpfMap implements RawMap {
  constructor(private readonly m: BpfMap<Buffer, Buffer>) {}

  lookup(key: Buffer): Buffer | null {
    return this.m.lookup(key) ?? null;
  }

  update(key: Buffer, value: Buffer): void {
    this.m.update(key, value);
  }

  delete(key: Buffer): boolean {
    return this.m.delete(key);
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

export interface FirewallKernelOptions {
  objectPath: string;
  /** bpffs directory for libbpf's pin root (maps marked for pinning); optional */
  pinRoot?: string;
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
  private readonly hits: BpfMap<number, Buffer>;

  private constructor(readonly obj: BpfObject) {
    const raw = (name: string, k: number, v: number): RawBpfMap => new RawBpfMap(obj.map(name, bytesCodec(k), bytesCodec(v)));
    this.counters = obj.map('fw_counters', u32Codec, bytesCodec(COUNTERS_SIZE) as Codec<Buffer>);
    this.hits = obj.map('fw_rule_hits', u32Codec, bytesCodec(HIT_SIZE) as Codec<Buffer>);
    const fwMaps: FirewallMaps = {
      active: raw('fw_active', 4, 4),
      gen: raw('fw_gen', 4, layouts.fw_gen.size),
      rules: raw('fw_rules', 4, layouts.fw_rule.size),
      lpmV4: raw('fw_lpm_v4', layouts.fw_lpm_v4_key.size, 1),
      lpmV6: raw('fw_lpm_v6', layouts.fw_lpm_v6_key.size, 1),
      resetRuleHits: (nums) => {
        const zero = Array.from({ length: loadNative().numPossibleCpus() }, () => Buffer.alloc(HIT_SIZE));
        for (const n of nums) this.hits.updatePerCpu(n, zero);
      },
    };
    this.writer = new GenerationWriter(fwMaps);
  }

  /** Opens and loads the object; a verifier rejection throws with the log attached. */
  static load(opts: FirewallKernelOptions): FirewallKernel {
    const obj = BpfObject.load(opts.objectPath, {
      ...(opts.pinRoot ? { pinRoot: opts.pinRoot } : {}),
      ...(opts.ringSize ? { maxEntries: { fw_events: opts.ringSize } } : {}),
    });
    try {
      return new FirewallKernel(obj);
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  get progFd(): number {
    return this.obj.progFd(FIREWALL_ENTRY);
  }

  get eventsFd(): number {
    return this.obj.mapFd('fw_events');
  }

  /** Counters per ifindex, summed over CPUs. */
  readCounters(): Map<number, CounterSnapshot> {
    const out = new Map<number, CounterSnapshot>();
    for (const [ifindex, perCpu] of this.counters.allPerCpu()) {
      const sums = sumU64Slots(perCpu);
      const snap = {} as CounterSnapshot;
      COUNTER_SLOTS.forEach((name, i) => (snap[name] = sums[i]!));
      out.set(ifindex, snap);
    }
    return out;
  }

  /** Hits of the given rule numbers, summed over CPUs. */
  readRuleHits(nums: Iterable<number>): RuleHitCount[] {
    const out: RuleHitCount[] = [];
    for (const n of nums) {
      if (n <= 0 || n >= FW.MAX_RULE_NUMS) continue;
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
    this.obj.close();
  }
}
