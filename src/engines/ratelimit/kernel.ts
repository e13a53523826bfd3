// xdp-ratelimit's kernel face: the loaded object, the generation writer (fill the inactive
// generation, then flip rl_active), housekeeping config and counter readers. Used by the engine,
// the kernel tests and the bench so all three drive the program the same way.
import { RuleNumbers } from '../rule-numbers.js';
import { InactiveGeneration } from '../../kernel/in-flight.js';
import { BpfObject } from '../../kernel/object.js';
import { BpfMap, bytesCodec, sumU64Slots, u32Codec, type Codec } from '../../kernel/map.js';
import { layouts } from '../../kernel/layouts.gen.js';
import { readPerInterface } from '../runtime/counters.js';
import { programCounterSlots, slotRun } from '../../kernel/contract-names.js';
import { type CompiledRatelimit, type GenHeader, type Limit, type RuleRow } from './compile.js';
import { rl_counter, rl_limits, rl_stat } from '../../kernel/contract.gen.js';

export const RATELIMIT_PROGRAM = 'xdp-ratelimit';
export const RATELIMIT_ENTRY = 'xdp_ratelimit';
export const RATELIMIT_OBJECT_FILE = 'xdp_ratelimit.bpf.o';
/** Per-interface counter slots (contract/counters.h, then RL_CNT_* of contract/ratelimit.h). */
export const RL_COUNTER_SLOTS = programCounterSlots('RL_CNT_', rl_counter);
export type RlCounterSlot = (typeof RL_COUNTER_SLOTS)[number];
export type RlCounters = Record<RlCounterSlot, bigint>;

/** rl_stats slots (RL_ST_* of contract/ratelimit.h), from slot 0. */
export const RL_STAT_SLOTS = slotRun('RL_ST_', rl_stat, 0).names;
export type RlStatSlot = (typeof RL_STAT_SLOTS)[number];
export type RlStats = Record<RlStatSlot, bigint>;

const L = layouts;

function writeLimit(b: Buffer, off: number, l: Limit): void {
  b.writeBigUInt64LE(l.intervalNs, off + L.rl_limit.fields.interval_ns.offset);
  b.writeBigUInt64LE(l.toleranceNs, off + L.rl_limit.fields.tolerance_ns.offset);
}

function encodeRule(r: RuleRow): Buffer {
  const F = L.rl_rule.fields;
  const b = Buffer.alloc(L.rl_rule.size);
  r.addr.copy(b, F.addr.offset, 0, 16);
  r.mask.copy(b, F.mask.offset, 0, 16);
  writeLimit(b, F.limit.offset, r.limit);
  b.writeUInt32LE(r.ruleNum, F.rule_num.offset);
  b.writeUInt16LE(r.dportLo, F.dport_lo.offset);
  b.writeUInt16LE(r.dportHi, F.dport_hi.offset);
  b.writeUInt8(r.family, F.family.offset);
  b.writeUInt8(r.proto ?? 0, F.proto.offset);
  b.writeUInt8(r.action, F.action.offset);
  b.writeUInt8(r.scope, F.scope.offset);
  b.writeUInt8(r.match, F.match.offset);
  return b;
}

function encodeGen(h: GenHeader, ruleCount: number): Buffer {
  const F = L.rl_gen.fields;
  const b = Buffer.alloc(L.rl_gen.size);
  b.writeUInt32LE(ruleCount, F.rule_count.offset);
  b.writeUInt32LE(h.sampleEvery, F.sample_every.offset);
  writeLimit(b, F.dflt.offset, h.dflt);
  writeLimit(b, F.syn_agg.offset, h.synAgg);
  writeLimit(b, F.syn_src.offset, h.synSrc);
  writeLimit(b, F.udp_agg.offset, h.udpAgg);
  writeLimit(b, F.udp_src.offset, h.udpSrc);
  writeLimit(b, F.icmp_agg.offset, h.icmpAgg);
  writeLimit(b, F.icmp_src.offset, h.icmpSrc);
  writeLimit(b, F.cookie_threshold.offset, h.cookieThreshold);
  b.writeUInt8(h.cookieMode, F.cookie_mode.offset);
  b.writeUInt8(h.cookiePath, F.cookie_path.offset);
  return b;
}

/** rl_cookie_cfg (syncookie.h): the agent's cookie key and what this host's TCP takes. */
export interface CookieConfig {
  /** 16 random bytes: SipHash key k0 (bytes 0..7) and k1 (8..15), little endian */
  key: Buffer;
  /** SC_ALLOW_* bits */
  allow: number;
  rcvWscale: number;
}

function encodeCookieConfig(c: CookieConfig): Buffer {
  const F = L.rl_cookie_cfg.fields;
  if (c.key.length !== 16) throw new RangeError('the SYN cookie key is 16 bytes');
  const b = Buffer.alloc(L.rl_cookie_cfg.size);
  c.key.copy(b, F.key.offset);
  b.writeUInt8(c.allow, F.allow.offset);
  b.writeUInt8(c.rcvWscale, F.rcv_wscale.offset);
  return b;
}

export interface RatelimitKernelOptions {
  objectPath: string;
  ringSize?: number;
}

export interface BucketEntry {
  family: 4 | 6;
  kind: number;
  id: number;
  addr: Buffer;
  tatNs: bigint;
  lastNs: bigint;
  drops: bigint;
}

export class RatelimitKernel {
  private readonly active: BpfMap<number, number>;
  private readonly gens: BpfMap<number, Buffer>;
  private readonly rules: BpfMap<number, Buffer>;
  private readonly counters: BpfMap<number, Buffer>;
  private readonly stats: BpfMap<number, Buffer>;
  private readonly hk: BpfMap<number, Buffer>;
  private readonly buckets: BpfMap<Buffer, Buffer>;
  private readonly cookieCfg: BpfMap<number, Buffer>;
  /** the generation packets are judged by */
  generation = 0;
  compiled: CompiledRatelimit | null = null;
  /** Buckets are keyed by rule number (and source): a rule keeps its number across reloads
   * wherever it moves, so it keeps its buckets; numbers are never reused, so no new rule meets
   * a removed rule's buckets (they idle out). */
  readonly numbers = new RuleNumbers({ capacity: 0xffffffff, owner: 'ratelimit', recycle: false });
  /** whether packets may still read the inactive generation (src/kernel/in-flight.ts) */
  private readonly inactive = new InactiveGeneration();

  private constructor(readonly obj: BpfObject) {
    this.active = obj.map('rl_active', u32Codec, u32Codec);
    this.gens = obj.map('rl_gen', u32Codec, bytesCodec(L.rl_gen.size));
    this.rules = obj.map('rl_rules', u32Codec, bytesCodec(L.rl_rule.size));
    this.counters = obj.map('rl_counters', u32Codec, bytesCodec(L.sentinel_counters.size) as Codec<Buffer>);
    this.stats = obj.map('rl_stats', u32Codec, bytesCodec(8));
    this.hk = obj.map('rl_housekeeping', u32Codec, bytesCodec(L.rl_housekeeping.size));
    this.buckets = obj.map('rl_buckets', bytesCodec(L.rl_key.size), bytesCodec(L.rl_bucket.size));
    this.cookieCfg = obj.map('rl_cookie_cfg', u32Codec, bytesCodec(L.rl_cookie_cfg.size));
  }

  /** The kernel face over an object already loaded (the agent's program runtime loads it). */
  static over(obj: BpfObject): RatelimitKernel {
    const k = new RatelimitKernel(obj);
    k.generation = (k.active.lookup(0) ?? 0) & 1;
    return k;
  }

  /** Opens and loads the object (tests and benches; the agent loads through its program
   * runtime). */
  static load(opts: RatelimitKernelOptions): RatelimitKernel {
    const obj = BpfObject.load(opts.objectPath, opts.ringSize ? { maxEntries: { rl_events: opts.ringSize } } : {});
    try {
      return RatelimitKernel.over(obj);
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  /** Writes the cookie key and host options (one map write: a packet sees the old or the new). */
  writeCookieConfig(c: CookieConfig): void {
    this.cookieCfg.update(0, encodeCookieConfig(c));
  }

  /** The cookie key in rl_cookie_cfg, or undefined while none was written (a kept map holds
   * the previous agent's: keeping it keeps the handshakes it answered valid). */
  readCookieKey(): Buffer | undefined {
    const v = this.cookieCfg.lookup(0);
    if (!v) return undefined;
    const F = L.rl_cookie_cfg.fields;
    const key = Buffer.from(v.subarray(F.key.offset, F.key.offset + 16));
    return key.some((b) => b !== 0) ? key : undefined;
  }

  /** rl_cookie_cfg's fd, for tc_syncookie to share the map. */
  get cookieConfigFd(): number {
    return this.obj.mapFd('rl_cookie_cfg');
  }

  get progFd(): number {
    return this.obj.progFd(RATELIMIT_ENTRY);
  }

  get eventsFd(): number {
    return this.obj.mapFd('rl_events');
  }

  /** Writes the whole policy into the inactive generation, then flips: a packet is judged by
   * the old policy or the new one, never a mix. Bucket state (TATs) survives the flip under the
   * rule's stable number, so a reload never hands anyone a fresh burst. The inactive generation
   * was live until the last flip: it is rewritten only once no packet that read rl_active before
   * that flip can still be reading it (at once when settle() already waited). Returns the new
   * generation. */
  apply(c: CompiledRatelimit): number {
    this.inactive.settleSync();
    const next = this.generation ^ 1;
    const base = next * rl_limits.RL_MAX_RULES;
    const ids = new Set(c.rows.map((r) => r.ruleId));
    const { nums } = this.numbers.assign(ids);
    if (c.rows.length) this.rules.updateBatch(c.rows.map((r, i) => [base + i, encodeRule({ ...r, ruleNum: nums.get(r.ruleId)! })] as const));
    this.gens.update(next, encodeGen(c.header, c.rows.length));
    this.active.update(0, next);
    this.inactive.flipped();
    this.generation = next;
    this.numbers.committed(ids);
    this.compiled = c;
    this.writeHousekeeping(c.housekeeping.maxIdleNs, c.housekeeping.periodNs);
    return next;
  }

  /** Resolves once no packet can still read the generation the last flip switched out (waited
   * for off the JS thread), so that the next apply need not block. */
  async settle(): Promise<void> {
    await this.inactive.settle();
  }

  /** Sets the idle age and period; the next packet (re)arms the timer with them. */
  writeHousekeeping(maxIdleNs: bigint, periodNs: bigint): void {
    const F = L.rl_housekeeping.fields;
    const cur = this.hk.lookup(0);
    const b = Buffer.alloc(L.rl_housekeeping.size);
    b.writeBigUInt64LE(maxIdleNs, F.max_idle_ns.offset);
    b.writeBigUInt64LE(periodNs, F.period_ns.offset);
    // An armed timer re-reads both values on its next run; only a changed period needs a re-arm
    // (the kernel keeps the timer field itself untouched by updates from user space).
    const samePeriod = cur !== undefined && cur.readBigUInt64LE(F.period_ns.offset) === periodNs;
    b.writeUInt32LE(samePeriod ? cur.readUInt32LE(F.armed.offset) : 0, F.armed.offset);
    this.hk.update(0, b);
  }

  readCounters(): Map<number, RlCounters> {
    return readPerInterface(this.counters, RL_COUNTER_SLOTS);
  }

  readStats(): RlStats {
    const out = {} as RlStats;
    RL_STAT_SLOTS.forEach((name, i) => {
      const per = this.stats.lookupPerCpu(i);
      out[name] = per ? sumU64Slots(per, 1)[0]! : 0n;
    });
    return out;
  }

  /** Every live bucket (status, tests; not the hot path). */
  readBuckets(): BucketEntry[] {
    const K = L.rl_key.fields;
    const V = L.rl_bucket.fields;
    return this.buckets.all().map(([k, v]) => {
      const family = k.readUInt8(K.family.offset) as 4 | 6;
      return {
        family,
        kind: k.readUInt8(K.kind.offset),
        id: k.readUInt32LE(K.id.offset),
        addr: Buffer.from(k.subarray(K.addr.offset, K.addr.offset + (family === 6 ? 16 : 4))),
        tatNs: v.readBigUInt64LE(V.tat.offset),
        lastNs: v.readBigUInt64LE(V.last_ns.offset),
        drops: v.readBigUInt64LE(V.drops.offset),
      };
    });
  }

  bucketCount(): number {
    let n = 0;
    for (const _ of this.buckets.keys()) n++;
    return n;
  }

  /** Forgets every bucket (tests and benches start from a clean slate). */
  clearBuckets(): void {
    for (const k of [...this.buckets.keys()]) this.buckets.delete(k);
    const zero = Buffer.alloc(L.rl_bucket.size);
    const agg = this.obj.map('rl_agg', u32Codec, bytesCodec(L.rl_bucket.size));
    for (let i = 0; i < 4; i++) agg.update(i, zero);
  }

  close(): void {
    this.obj.close();
  }
}
