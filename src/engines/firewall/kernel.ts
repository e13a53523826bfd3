// The firewall's kernel face: the loaded xdp_firewall object, its maps as the generation writer
// needs them, and the readers for counters and rule hits. Used by the agent, the kernel tests
// and the bench, so all three drive the program exactly the same way.
import type { NativeBridge } from '../../kernel/native.js';
import { GenerationWriter, type FirewallMaps, type RawMap } from './generations.js';
import { FW } from './compile.js';

export const FIREWALL_PROGRAM = 'xdp-firewall';
export const FIREWALL_ENTRY = 'xdp_firewall';

/** Per-CPU counter slots (counters.h, firewall.h), in order. */
export const COUNTER_SLOTS = [
  'seen', 'passed', 'dropped', 'malformed', 'non_ip', 'events', 'events_lost_ring_full',
  'events_lost_backpressure', 'bytes_seen', 'rule_hit', 'default_policy', 'tailcall_miss', 'fragment',
] as const;
export type CounterSlot = (typeof COUNTER_SLOTS)[number];
const SN_CNT_MAX = 16;

export type CounterSnapshot = Record<CounterSlot, bigint>;

const BPF_MAP_TYPE_LPM_TRIE = 11;
const BPF_ANY = 0;

/** A map by fd with the raw operations the generation writer uses. */
export class FdMap implements RawMap {
  private batchOk = true;

  constructor(
    private readonly native: NativeBridge,
    readonly fd: number,
    readonly name: string,
    readonly type: number,
  ) {}

  lookup(key: Buffer): Buffer | null {
    return this.native.mapLookup(this.fd, key);
  }

  update(key: Buffer, value: Buffer): void {
    this.native.mapUpdate(this.fd, key, value, BPF_ANY);
  }

  delete(key: Buffer): boolean {
    return this.native.mapDelete(this.fd, key);
  }

  updateMany(keys: Buffer[], values: Buffer[]): void {
    if (keys.length !== values.length) throw new Error(`${this.name}: ${keys.length} keys for ${values.length} values`);
    if (!keys.length) return;
    // LPM tries have no batch op in the kernel; everything else takes one syscall per chunk.
    if (this.batchOk && this.type !== BPF_MAP_TYPE_LPM_TRIE) {
      try {
        const CHUNK = 4096;
        for (let i = 0; i < keys.length; i += CHUNK) {
          const k = keys.slice(i, i + CHUNK);
          const v = values.slice(i, i + CHUNK);
          this.native.mapUpdateBatch(this.fd, Buffer.concat(k), Buffer.concat(v), k.length, BPF_ANY);
        }
        return;
      } catch (e) {
        const errno = (e as { errno?: number }).errno;
        if (errno !== 22 && errno !== 95 && errno !== 524) throw e; // EINVAL / EOPNOTSUPP / ENOTSUPP
        this.batchOk = false;
      }
    }
    for (let i = 0; i < keys.length; i++) this.native.mapUpdate(this.fd, keys[i]!, values[i]!, BPF_ANY);
  }
}

export interface FirewallKernelOptions {
  native: NativeBridge;
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
  readonly progFd: number;
  readonly maps: Record<string, FdMap>;
  private closed = false;

  private constructor(
    private readonly native: NativeBridge,
    readonly obj: number,
  ) {
    this.maps = {};
    for (const m of native.objMaps(obj)) this.maps[m.name] = new FdMap(native, m.fd, m.name, m.type);
    this.progFd = native.progFd(obj, FIREWALL_ENTRY);
    const ncpu = native.numPossibleCpus();
    const fwMaps: FirewallMaps = {
      active: this.map('fw_active'),
      gen: this.map('fw_gen'),
      rules: this.map('fw_rules'),
      lpmV4: this.map('fw_lpm_v4'),
      lpmV6: this.map('fw_lpm_v6'),
      ruleHits: this.map('fw_rule_hits'),
      ruleHitsValueSize: ncpu * 16,
    };
    this.writer = new GenerationWriter(fwMaps);
  }

  /** Opens and loads the object; a verifier rejection throws with the log attached. */
  static load(opts: FirewallKernelOptions): FirewallKernel {
    const { native } = opts;
    const obj = native.objOpen(opts.objectPath, {
      ...(opts.pinRoot ? { pinRoot: opts.pinRoot } : {}),
      ...(opts.ringSize ? { maxEntries: { fw_events: opts.ringSize } } : {}),
    });
    try {
      native.objLoad(obj);
      return new FirewallKernel(native, obj);
    } catch (e) {
      native.objClose(obj);
      throw e;
    }
  }

  map(name: string): FdMap {
    const m = this.maps[name];
    if (!m) throw new Error(`${FIREWALL_PROGRAM}: object has no map "${name}"`);
    return m;
  }

  get eventsFd(): number {
    return this.map('fw_events').fd;
  }

  /** Counters per ifindex, summed over CPUs. */
  readCounters(): Map<number, CounterSnapshot> {
    const out = new Map<number, CounterSnapshot>();
    const m = this.map('fw_counters');
    const ncpu = this.native.numPossibleCpus();
    let key: Buffer | null = null;
    for (;;) {
      key = this.native.mapNextKey(m.fd, key);
      if (!key) break;
      const v = this.native.mapLookup(m.fd, key);
      if (!v) continue;
      const sums = new Array<bigint>(SN_CNT_MAX).fill(0n);
      const stride = SN_CNT_MAX * 8;
      for (let c = 0; c < ncpu; c++) {
        for (let s = 0; s < SN_CNT_MAX; s++) sums[s]! += v.readBigUInt64LE(c * stride + s * 8);
      }
      const snap = {} as CounterSnapshot;
      COUNTER_SLOTS.forEach((name, i) => (snap[name] = sums[i]!));
      out.set(key.readUInt32LE(0), snap);
    }
    return out;
  }

  /** Hits of the given rule numbers, summed over CPUs. */
  readRuleHits(nums: Iterable<number>): RuleHitCount[] {
    const m = this.map('fw_rule_hits');
    const ncpu = this.native.numPossibleCpus();
    const key = Buffer.alloc(4);
    const out: RuleHitCount[] = [];
    for (const n of nums) {
      if (n <= 0 || n >= FW.MAX_RULE_NUMS) continue;
      key.writeUInt32LE(n);
      const v = this.native.mapLookup(m.fd, key);
      if (!v) continue;
      let packets = 0n;
      let bytes = 0n;
      for (let c = 0; c < ncpu; c++) {
        packets += v.readBigUInt64LE(c * 16);
        bytes += v.readBigUInt64LE(c * 16 + 8);
      }
      out.push({ ruleNum: n, packets, bytes });
    }
    return out;
  }

  /** Entries in use per map (arrays report capacity; hash and trie maps are counted). */
  countEntries(name: string): number {
    const m = this.map(name);
    let n = 0;
    let key: Buffer | null = null;
    for (;;) {
      key = this.native.mapNextKey(m.fd, key);
      if (!key) return n;
      n++;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.objClose(this.obj);
  }
}
