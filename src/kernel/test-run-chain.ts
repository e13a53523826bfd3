// Frames through a chain of loaded programs with BPF_PROG_TEST_RUN, a batch per native call:
// the XDP program (inbound frames), then the TC programs of the frame's direction in the order
// given, each taking the bytes the previous one left, until one drops, redirects or passes
// (TCX's reading of a TC verdict: anything but pass, drop and redirect is "next"). What
// `ebpfsentinel replay` runs a capture with (native/src/replay.c).
import { nativeCall } from './errors.js';
import { loadNative } from './native.js';

export const Verdict = { Pass: 0, Drop: 1, Tx: 2, Redirect: 3, Aborted: 4, Error: 5 } as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];
export const VERDICT_NAMES = ['pass', 'drop', 'tx', 'redirect', 'aborted', 'error'] as const;

/** The stage of a frame's result when no program ended the chain. */
export const NO_STAGE = 255;

export interface ChainPrograms {
  /** fd of the XDP program, or absent */
  xdp?: number;
  /** TC ingress and egress program fds, in pipeline order */
  ingress: readonly number[];
  egress: readonly number[];
}

/** Frames laid out as the native runner takes them; refilled batch after batch. */
export class FrameBatch {
  frames: Buffer;
  readonly offsets: Uint32Array;
  readonly dirs: Uint8Array;
  readonly results: Int32Array;
  readonly starts: BigUint64Array;
  count = 0;
  /** bytes used in `frames` */
  used = 0;

  constructor(
    readonly capacity: number,
    bytes = capacity * 2048,
  ) {
    this.frames = Buffer.allocUnsafe(bytes);
    this.offsets = new Uint32Array(capacity + 1);
    this.dirs = new Uint8Array(capacity);
    this.results = new Int32Array(2 * capacity);
    this.starts = new BigUint64Array(capacity);
  }

  get full(): boolean {
    return this.count === this.capacity;
  }

  /** Room for a frame of up to `n` bytes at `used` (the buffer grows when it must). */
  reserve(n: number): Buffer {
    if (this.used + n > this.frames.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.frames.length * 2, this.used + n));
      this.frames.copy(bigger, 0, 0, this.used);
      this.frames = bigger;
    }
    return this.frames;
  }

  /** Ends the frame written at `used` with `len` bytes; egress: run the TC egress chain only. */
  commit(len: number, egress: boolean): number {
    const i = this.count++;
    this.offsets[i] = this.used;
    this.dirs[i] = egress ? 2 : 1;
    this.used += len;
    this.offsets[i + 1] = this.used;
    return i;
  }

  clear(): void {
    this.count = 0;
    this.used = 0;
  }

  verdict(i: number): Verdict {
    return (this.results[2 * i]! & 0xff) as Verdict;
  }

  /** 0: the XDP program; 1 + k: the k-th TC program of the frame's direction; NO_STAGE: none */
  stage(i: number): number {
    return (this.results[2 * i]! >>> 8) & 0xff;
  }

  errno(i: number): number {
    return this.results[2 * i + 1]!;
  }
}

export class TestRunChain {
  private readonly spec: Int32Array;

  constructor(readonly programs: ChainPrograms) {
    const { xdp, ingress, egress } = programs;
    this.spec = Int32Array.from([xdp ?? -1, ingress.length, ...ingress, egress.length, ...egress]);
  }

  /** Runs every frame of the batch; its results and start times are filled in. */
  run(batch: FrameBatch): void {
    if (batch.count === 0) return;
    nativeCall(
      () => loadNative().replayRun(this.spec, batch.frames, batch.offsets.subarray(0, batch.count + 1), batch.dirs, batch.results, batch.starts),
      'replaying a batch of frames',
    );
  }
}
