// Drives xdp-ratelimit through BPF_PROG_TEST_RUN for the kernel tests and the bench: policy from
// the real config schemas and compiler, written by the real kernel writer, counters and events
// read back the way the agent reads them.
import path from 'node:path';
import { existsSync } from 'node:fs';
import { loadNative, type NativeBridge } from '../../src/kernel/native.js';
import { compileRatelimit } from '../../src/engines/ratelimit/compile.js';
import { ddosSchema, ratelimitSchema } from '../../src/engines/ratelimit/schema.js';
import { RatelimitKernel, RL_COUNTER_SLOTS, type CookieConfig, type RlCounters, type RlStats } from '../../src/engines/ratelimit/kernel.js';
import { decodeRatelimitEvent, emptyRatelimitEvent, type RatelimitEventRecord } from '../../src/engines/ratelimit/events.js';
import { bytesCodec } from '../../src/kernel/map.js';
import { layouts } from '../../src/kernel/layouts.gen.js';
import { IN_CI } from '../support/env.js';
import { REPO_ROOT } from '../support/firewall-harness.js';
import { sc_allow } from '../../src/kernel/contract.gen.js';

export const RATELIMIT_OBJECT = path.join(REPO_ROOT, 'build', 'bpf', 'xdp_ratelimit.bpf.o');
export const XDP_DROP = 1;
export const XDP_PASS = 2;
export const XDP_TX = 3;
/** BPF_PROG_TEST_RUN runs XDP on the loopback device of the caller's namespace */
const TEST_RUN_IFINDEX = 1;

export function ratelimitSkipReason(): string | false {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('must run as root');
  if (!existsSync(RATELIMIT_OBJECT)) problems.push(`${RATELIMIT_OBJECT} not built (make build)`);
  if (problems.length === 0) return false;
  if (IN_CI) throw new Error(`CI=true and this test cannot run: ${problems.join('; ')}`);
  return problems.join('; ');
}

export type Delta = Partial<Record<keyof RlCounters, number>>;

export interface Policy {
  ratelimit?: Record<string, unknown>;
  ddos?: Record<string, unknown>;
}

/** The cookie key and host options the harness starts with: a fixed key (tests recompute cookies
 * with an independent SipHash), every TCP option allowed, window scale 7. */
export const HARNESS_COOKIE_CONFIG: CookieConfig = {
  key: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'),
  allow: sc_allow.SC_ALLOW_TS | sc_allow.SC_ALLOW_SACK | sc_allow.SC_ALLOW_WSCALE | sc_allow.SC_ALLOW_ECN,
  rcvWscale: 7,
};

export class RatelimitHarness {
  readonly native: NativeBridge = loadNative();
  readonly kernel: RatelimitKernel;
  private readonly ring: number;
  private readonly events: RatelimitEventRecord[] = [];
  private readonly scratch = emptyRatelimitEvent();

  constructor(objectPath = RATELIMIT_OBJECT) {
    this.kernel = RatelimitKernel.load({ objectPath });
    try {
      this.kernel.writeCookieConfig(HARNESS_COOKIE_CONFIG);
      this.ring = this.native.ringOpen([this.kernel.eventsFd], (batch, _count, length, lost) => this.onBatch(batch, length, lost));
    } catch (e) {
      this.kernel.close();
      throw e;
    }
  }

  private onBatch(batch: Buffer | null, length: number, lost: number): void {
    if (lost) throw new Error(`the ring reader lost ${lost} records`);
    let off = 0;
    while (batch && off + 4 <= length) {
      const len = batch.readUInt32LE(off);
      off += 4;
      if (!decodeRatelimitEvent(batch, off, len, this.scratch)) throw new Error(`undecodable ratelimit record of ${len} bytes`);
      this.events.push({ ...this.scratch, src: Buffer.from(this.scratch.src), dst: Buffer.from(this.scratch.dst) });
      off += len;
    }
  }

  /** Installs a policy (flips the generation) and forgets every bucket. */
  install(p: Policy): void {
    this.reload(p);
    this.kernel.clearBuckets();
    this.drainEvents();
  }

  /** Applies a policy as a config reload does: the generation flips, buckets stay. The SYN
   * cookie path is the policy's ddos.syn_protection.cookies (auto: the agent's). */
  reload(p: Policy): void {
    const rl = ratelimitSchema.parse({ enabled: true, ...(p.ratelimit ?? {}) });
    const ddos = ddosSchema.parse(p.ddos ?? {});
    this.kernel.apply(compileRatelimit(rl, ddos, ddos.syn_protection.cookies === 'kernel' ? 'kernel' : 'agent'));
  }

  /** Forgets when the kernel path last handed each listener a SYN (rl_kstamp). */
  clearRefreshStamps(): void {
    const m = this.kernel.obj.map('rl_kstamp', bytesCodec(layouts.rl_kstamp_key.size), bytesCodec(8));
    for (const k of [...m.keys()]) m.delete(k);
  }

  counters(): RlCounters {
    const c = this.kernel.readCounters().get(TEST_RUN_IFINDEX);
    if (c) return c;
    return Object.fromEntries(RL_COUNTER_SLOTS.map((k) => [k, 0n])) as RlCounters;
  }

  stats(): RlStats {
    return this.kernel.readStats();
  }

  /** Runs `frame` `repeat` times; returns the last verdict, the output frame and counter deltas. */
  run(frame: Buffer, repeat = 1): { retval: number; out: Buffer; delta: Delta } {
    const before = this.kernel.readCounters().get(TEST_RUN_IFINDEX);
    const r = this.native.testRun(this.kernel.progFd, { data: frame, repeat });
    const after = this.kernel.readCounters().get(TEST_RUN_IFINDEX)!;
    const delta: Delta = {};
    for (const [k, v] of Object.entries(after) as [keyof RlCounters, bigint][]) {
      const d = Number(v - (before?.[k] ?? 0n));
      if (d !== 0) delta[k] = d;
    }
    return { retval: r.retval, out: r.dataOut, delta };
  }

  verdict(frame: Buffer): number {
    return this.run(frame).retval;
  }

  drainEvents(): RatelimitEventRecord[] {
    this.native.ringConsume(this.ring);
    return this.events.splice(0);
  }

  close(): void {
    this.native.ringClose(this.ring);
    this.kernel.close();
  }
}
