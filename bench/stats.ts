// Statistics over bench samples, and the one calculation that turns a test-run call's two clocks
// into ns/packet. Pure: unit-tested without a kernel.

export interface Spread {
  min: number;
  max: number;
  /** 25th and 75th percentiles (linear interpolation between order statistics) */
  p25: number;
  p75: number;
}

export interface Summary extends Spread {
  median: number;
  n: number;
}

/** q-quantile (0..1) of already sorted values, linear between the two nearest ranks. */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new RangeError('quantile of no values');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile ${q} is outside 0..1`);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (pos - lo);
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new RangeError('summary of no samples');
  for (const v of values) if (!Number.isFinite(v)) throw new RangeError(`sample ${v} is not a finite number`);
  const s = [...values].sort((x, y) => x - y);
  return {
    n: s.length,
    median: quantileSorted(s, 0.5),
    min: s[0]!,
    max: s[s.length - 1]!,
    p25: quantileSorted(s, 0.25),
    p75: quantileSorted(s, 0.75),
  };
}

/** One BPF_PROG_TEST_RUN call as the bench saw it. */
export interface CallTiming {
  repeat: number;
  /** the kernel's `duration`: total run time / repeat, truncated to whole ns */
  kernelNs: number;
  /** CPU time (ns) the calling thread spent in the whole syscall */
  cpuNs: number;
}

export interface RefinedSample {
  /** ns/packet: the CPU-time estimate, clamped into the interval the kernel's figures allow */
  ns: number;
  /** bounds implied by the kernel's truncated figures: the true value lies in [lo, hi) */
  kernelLo: number;
  kernelHi: number;
  /** CPU-time estimate before clamping (for diagnostics) */
  cpuEstimate: number;
  repeats: number;
}

/**
 * The kernel reports floor(total/repeat) in whole ns, which is up to 1 ns (over 10 %) off for a
 * floor program of a few ns. The calling thread's CPU time over the same call has sub-ns
 * resolution over millions of runs; unlike the wall clock it leaves out the sleeps of every
 * repeat>1 XDP test run (the XDP dispatcher is swapped in and out, waiting for RCU: tens of ms)
 * and the time other tasks had the CPU. What CPU time the call spends besides the runs is
 * measured with a near-empty call and subtracted. The result is clamped into the kernel's own
 * interval, so the kernel stays authoritative and CPU time only places the figure inside the
 * kernel's 1-ns truncation step.
 */
export function refineSample(calls: readonly CallTiming[], fixedCostNsPerCall: number): RefinedSample {
  if (calls.length === 0) throw new RangeError('a sample needs at least one call');
  let repeats = 0;
  let lo = 0;
  let cpu = 0;
  for (const c of calls) {
    if (!(Number.isInteger(c.repeat) && c.repeat > 0)) throw new RangeError(`repeat ${c.repeat} is not a positive integer`);
    repeats += c.repeat;
    lo += c.kernelNs * c.repeat;
    cpu += c.cpuNs;
  }
  const kernelLo = lo / repeats;
  const kernelHi = (lo + repeats) / repeats;
  const cpuEstimate = (cpu - fixedCostNsPerCall * calls.length) / repeats;
  const ns = Math.min(Math.max(cpuEstimate, kernelLo), kernelHi);
  return { ns, kernelLo, kernelHi, cpuEstimate, repeats };
}

/** Repeats for one sample of about `targetNs`, from a calibration estimate of ns/packet. */
export function repeatsFor(targetNs: number, nsPerPacket: number, bounds: { min: number; max: number }): number {
  const est = Math.max(nsPerPacket, 1);
  const r = Math.round(targetNs / est);
  return Math.min(Math.max(r, bounds.min), bounds.max);
}

/** Splits `total` repeats into calls of at most `maxPerCall` each, as even as possible. */
export function splitRepeats(total: number, maxPerCall: number): number[] {
  if (!(Number.isInteger(total) && total > 0)) throw new RangeError(`total ${total} is not a positive integer`);
  if (!(Number.isInteger(maxPerCall) && maxPerCall > 0)) throw new RangeError(`maxPerCall ${maxPerCall} is not a positive integer`);
  const calls = Math.ceil(total / maxPerCall);
  const base = Math.floor(total / calls);
  const extra = total - base * calls;
  return Array.from({ length: calls }, (_, i) => base + (i < extra ? 1 : 0));
}
