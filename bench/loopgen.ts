// The drop-throughput frame source (bench/progs/xdp_loopgen.bpf.c) and the NAPI threads it runs
// on. Runs inside the bench's namespace (the throughput child): a pair A <-> B keeps a few seed
// frames circulating, and every lap broadcasts `copies` frames, each rewritten to the next flow
// of the table, through the target veth to the device under test. The pair's NAPI threads are
// pinned to one CPU and the receiver's to the other, so the source and the contender each have
// a CPU, and the CPU time of both sides is read from their threads.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { NativeBridge } from '../src/kernel/native.js';
import { INJECT_PY } from '../src/lab/traffic.js';

const FRAME_MAX = 128;
const FLOWS_MAX = 65536;
const DEVMAP_SLOTS = 16;

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

export const ifindexOf = (dev: string): number => Number(readFileSync(`/sys/class/net/${dev}/ifindex`, 'utf8').trim());

/** Moves a device's NAPI polling into a kernel thread of its own (needs NAPI: XDP or GRO on). */
export function threadedNapi(dev: string): void {
  writeFileSync(`/sys/class/net/${dev}/threaded`, '1');
}

/** The NAPI threads of a device ("napi/<dev>-<id>"; a comm is cut at 15 characters, so the
 * device name must leave room for the dash). */
export function napiThreads(dev: string): number[] {
  const want = `napi/${dev}-`;
  if (want.length > 15) throw new Error(`device name ${dev} is too long to find its NAPI threads by name`);
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let comm: string;
    try {
      comm = readFileSync(`/proc/${e}/comm`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (comm.startsWith(want)) out.push(Number(e));
  }
  return out;
}

export function pinThread(pid: number, cpu: number): void {
  execFileSync('taskset', ['-pc', String(cpu), String(pid)], { stdio: 'ignore' });
}

export function threadCpus(pid: number): string {
  const m = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m?.[1] ?? '?';
}

export interface ThreadSample {
  /** ns the thread ran (schedstat) */
  cpuNs: number;
  /** times it went to sleep (a NAPI thread: out of work) */
  voluntary: number;
}

export function threadSample(pids: readonly number[]): ThreadSample {
  let cpuNs = 0;
  let voluntary = 0;
  for (const pid of pids) {
    cpuNs += Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
    voluntary += Number(/\nvoluntary_ctxt_switches:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  }
  if (!Number.isFinite(cpuNs) || !Number.isFinite(voluntary)) throw new Error(`cannot read the CPU time of threads ${pids.join(', ')}`);
  return { cpuNs, voluntary };
}

export interface LoopStats {
  laps: number;
  /** copies rewritten and handed to the target: offered to the device under test */
  sent: number;
  ended: number;
  errors: number;
}

export interface LoopDevices {
  /** runs the fanout (receives from b) */
  a: string;
  /** runs the bounce (XDP_TX back to a) */
  b: string;
  /** sends the copies to its peer, the device under test */
  target: string;
}

export class LoopSource {
  private readonly obj: number;
  private readonly links: number[] = [];
  private seeded = 0;
  private len = 0;

  constructor(
    private readonly native: NativeBridge,
    objectPath: string,
    private readonly devs: LoopDevices,
    readonly copies: number,
  ) {
    if (!(copies >= 1 && copies < DEVMAP_SLOTS)) throw new RangeError(`copies per lap ${copies} is outside 1..${DEVMAP_SLOTS - 1}`);
    this.obj = native.objOpen(objectPath, {});
    try {
      native.objLoad(this.obj);
      const out = native.mapFd(this.obj, 'loop_out');
      const entry = (ifindex: number, progFd: number): Buffer => {
        const b = Buffer.alloc(8);
        b.writeUInt32LE(ifindex, 0);
        b.writeInt32LE(progFd, 4);
        return b;
      };
      native.mapUpdate(out, u32(0), entry(ifindexOf(devs.a), 0));
      const flowFd = native.progFd(this.obj, 'xdp_loop_flow');
      for (let i = 1; i <= copies; i++) native.mapUpdate(out, u32(i), entry(ifindexOf(devs.target), flowFd));
      this.setBudget(0);
      this.links.push(native.xdpAttach(native.progFd(this.obj, 'xdp_loop_bounce'), ifindexOf(devs.b), 'native').link);
      this.links.push(native.xdpAttach(native.progFd(this.obj, 'xdp_loop_fanout'), ifindexOf(devs.a), 'native').link);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Loads the flow table (frames of one length). The loop must be stopped. */
  setFlows(frames: readonly Buffer[]): void {
    if (frames.length === 0 || frames.length > FLOWS_MAX) throw new RangeError(`${frames.length} flows is outside 1..${FLOWS_MAX}`);
    const len = frames[0]!.length;
    if (len > FRAME_MAX || frames.some((f) => f.length !== len)) throw new Error(`loop frames must share one length of at most ${FRAME_MAX} bytes`);
    const fd = this.native.mapFd(this.obj, 'loop_frames');
    const keys = Buffer.alloc(4 * frames.length);
    const values = Buffer.alloc(FRAME_MAX * frames.length);
    frames.forEach((f, i) => {
      keys.writeUInt32LE(i, 4 * i);
      f.copy(values, FRAME_MAX * i);
    });
    this.native.mapUpdateBatch(fd, keys, values, frames.length);
    const cfg = Buffer.alloc(8);
    cfg.writeUInt32LE(frames.length, 0);
    cfg.writeUInt32LE(len, 4);
    this.native.mapUpdate(this.native.mapFd(this.obj, 'loop_cfg'), u32(0), cfg);
    this.len = len;
  }

  private setBudget(laps: number): void {
    const v = Buffer.alloc(8);
    v.writeBigInt64LE(BigInt(laps));
    this.native.mapUpdate(this.native.mapFd(this.obj, 'loop_budget'), u32(0), v);
  }

  stats(): LoopStats {
    const v = this.native.mapLookup(this.native.mapFd(this.obj, 'loop_stats'), u32(0));
    if (!v) throw new Error('loop_stats has no entry');
    return { laps: Number(v.readBigUInt64LE(0)), sent: Number(v.readBigUInt64LE(8)), ended: Number(v.readBigUInt64LE(16)), errors: Number(v.readBigUInt64LE(24)) };
  }

  /** Sends `seeds` copies of `frame` out of b (AF_PACKET; the process inherits this one's CPU
   * affinity): they arrive at a, whose fanout starts them circulating until `budget` laps are
   * done or stop() is called. */
  start(frame: Buffer, seeds: number, budget: number): void {
    if (frame.length !== this.len) throw new Error(`seed frame is ${frame.length} bytes, the flow table's are ${this.len}`);
    this.setBudget(budget);
    const input = Array.from({ length: seeds }, () => frame.toString('hex')).join('\n') + '\n';
    const r = spawnSync('python3', ['-c', INJECT_PY, this.devs.b], { input, encoding: 'utf8', timeout: 10_000 });
    const sent = Number(r.stdout.trim());
    if (r.status !== 0 || sent !== seeds) throw new Error(`seeding the loop on ${this.devs.b}: sent ${r.stdout.trim() || 0} of ${seeds}: ${r.stderr || r.error?.message || ''}`);
    this.seeded += seeds;
  }

  /** Ends the loop and waits until every seed frame was dropped by the fanout. */
  async stop(timeoutMs = 2000): Promise<void> {
    this.setBudget(0);
    const t0 = performance.now();
    while (this.stats().ended < this.seeded) {
      if (performance.now() - t0 > timeoutMs) {
        // Frames lost on the way (a full ring) never come back to be ended: not an error of
        // the run, but the count must be settled before the next one.
        this.seeded = this.stats().ended;
        return;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    for (const l of this.links.splice(0)) this.native.linkDestroy(l);
    this.native.objClose(this.obj);
  }
}
