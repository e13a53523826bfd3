// Per-frame timing of many frames in one test run, through the sweep rig
// (bench/progs/xdp_sweep.bpf.c): frame i is written over the test-run buffer at the start of its
// group of `perFrame` runs and the time is stamped there, every run tail-calls the program under
// test. A sweep gives each frame's ns per run, rig included; the bench sweeps a bare XDP_PASS
// the same way and subtracts that.
import type { NativeBridge } from '../src/kernel/native.js';

const SWEEP_FRAME_MAX = 128;
const SWEEP_FRAMES_MAX = 16384;

export interface SweepTarget {
  id: string;
  progFd: number;
  /** whether these frames may go in one call (a program that writes an event per drop may
   * write only what its ring holds below back-pressure) */
  fitsOneCall(frames: readonly number[], perFrame: number): boolean;
  /** before a call; returns the check to run after it */
  begin?(): (frames: readonly number[], perFrame: number) => void;
  /** after each call, outside the timed syscall (drain a ring) */
  afterCall?(): void;
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

export class SweepRig {
  private readonly obj: number;
  private readonly fd: { cfg: number; state: number; frames: number; stamps: number; next: number };
  readonly progFd: number;

  constructor(
    private readonly native: NativeBridge,
    objectPath: string,
  ) {
    this.obj = native.objOpen(objectPath, {});
    try {
      native.objLoad(this.obj);
      const m = (n: string): number => native.mapFd(this.obj, n);
      this.fd = { cfg: m('sweep_cfg'), state: m('sweep_state'), frames: m('sweep_frames'), stamps: m('sweep_stamps'), next: m('sweep_next') };
      this.progFd = native.progFd(this.obj, 'xdp_sweep');
    } catch (e) {
      native.objClose(this.obj);
      throw e;
    }
  }

  /** ns per run of each frame (rig included), in the order given. Frames share one length. */
  sweep(target: SweepTarget, frames: readonly Buffer[], perFrame: number): number[] {
    if (frames.length === 0) throw new RangeError('a sweep needs frames');
    const len = frames[0]!.length;
    if (len > SWEEP_FRAME_MAX || frames.some((f) => f.length !== len)) throw new Error(`sweep frames must share one length of at most ${SWEEP_FRAME_MAX} bytes`);
    this.native.mapUpdate(this.fd.next, u32(0), u32(target.progFd));
    const out: number[] = [];
    let start = 0;
    while (start < frames.length) {
      // the largest chunk the target allows, up to what the rig holds
      let n = Math.min(SWEEP_FRAMES_MAX, frames.length - start);
      const idx = (k: number): number[] => Array.from({ length: k }, (_, j) => start + j);
      while (n > 1 && !target.fitsOneCall(idx(n), perFrame)) n = Math.ceil(n / 2);
      out.push(...this.call(target, frames.slice(start, start + n), idx(n), perFrame));
      start += n;
    }
    return out;
  }

  private call(target: SweepTarget, frames: readonly Buffer[], indexes: readonly number[], perFrame: number): number[] {
    const n = frames.length;
    const keys = Buffer.alloc(4 * n);
    const values = Buffer.alloc(SWEEP_FRAME_MAX * n);
    frames.forEach((f, i) => {
      keys.writeUInt32LE(i, 4 * i);
      f.copy(values, SWEEP_FRAME_MAX * i);
    });
    this.native.mapUpdateBatch(this.fd.frames, keys, values, n);
    const cfg = Buffer.alloc(16);
    cfg.writeUInt32LE(n, 0);
    cfg.writeUInt32LE(perFrame, 4);
    cfg.writeUInt32LE(frames[0]!.length, 8);
    this.native.mapUpdate(this.fd.cfg, u32(0), cfg);
    this.native.mapUpdate(this.fd.state, u32(0), Buffer.alloc(16));
    const check = target.begin?.();
    const runs = n * perFrame + 1;
    const r = this.native.testRun(this.progFd, { data: frames[0]!, repeat: runs });
    target.afterCall?.();
    const st = this.native.mapLookup(this.fd.state, u32(0))!;
    const done = Number(st.readBigUInt64LE(0));
    const errors = Number(st.readBigUInt64LE(8));
    if (r.retval !== 2 || done !== runs || errors !== 0) {
      throw new Error(`sweep of ${target.id}: ${done} of ${runs} runs, ${errors} rig errors, last verdict ${r.retval} (the program under test must leave the frame as it is)`);
    }
    check?.(indexes, perFrame);
    const all = this.native.mapLookupAll(this.fd.stamps);
    const stamp = new Map<number, bigint>();
    for (let i = 0; i < all.count; i++) stamp.set(all.keys.readUInt32LE(4 * i), all.values.readBigUInt64LE(8 * i));
    const ns: number[] = [];
    for (let i = 0; i < n; i++) {
      const a = stamp.get(i);
      const b = stamp.get(i + 1);
      if (a === undefined || b === undefined || b < a) throw new Error(`sweep of ${target.id}: no valid stamps around frame ${i}`);
      ns.push(Number(b - a) / perFrame);
    }
    return ns;
  }

  close(): void {
    this.native.objClose(this.obj);
  }
}
