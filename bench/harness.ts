// Runs programs through BPF_PROG_TEST_RUN with large repeat counts and turns the calls into
// samples. Program-agnostic: a Subject says what to run, what verdict every call must return,
// and what to check around a sample; the firewall's subjects live in bench/firewall.ts.
import { readFileSync } from 'node:fs';
import type { NativeBridge } from '../src/kernel/native.js';
import { refineSample, splitRepeats, summarize, type CallTiming, type RefinedSample } from './stats.js';

// XDP verdicts, and TCX_NEXT (-1) of the TC cases, however the bridge hands it back
const XDP_VERDICT: Readonly<Record<number, string>> = { 0: 'XDP_ABORTED', 1: 'XDP_DROP', 2: 'XDP_PASS', 3: 'XDP_TX', 4: 'XDP_REDIRECT', [-1]: 'TCX_NEXT', 4294967295: 'TCX_NEXT' };
export const XDP_DROP = 1;
export const XDP_PASS = 2;

export const verdictName = (v: number): string => XDP_VERDICT[v] ?? `verdict ${v}`;

export interface Subject {
  id: string;
  program: string;
  description: string;
  family: 4 | 6 | null;
  progFd: number;
  frame: Buffer;
  /** the XDP verdict every call must return */
  retval: number;
  /** most repeats one call may do (a program that emits events: what its ring holds) */
  maxRepeatPerCall: number;
  /** before a sample; returns the check to run after it, given the sample's repeats */
  beginSample?(): (repeats: number) => void;
  /** after each call of a sample, outside the timed syscall (drain a ring) */
  afterCall?(): void;
}

/** CPU time of the calling thread in ns (schedstat's first field: time on a CPU). Node 20 has no
 * per-thread CPU clock; process.cpuUsage() would add V8's helper threads. */
function threadCpuNs(): number {
  const text = readFileSync('/proc/thread-self/schedstat', 'utf8');
  const ns = Number(text.slice(0, text.indexOf(' ')));
  if (!Number.isFinite(ns)) throw new Error(`/proc/thread-self/schedstat: cannot read "${text.trim()}"`);
  return ns;
}

export class WrongPathError extends Error {
  override name = 'WrongPathError';
}

/** Times test-run calls and measures their fixed CPU cost with near-empty calls. */
export class TestRunClock {
  /** per subject: every fixed-cost probe so far; their median is the estimate */
  private readonly probes = new Map<string, number[]>();

  constructor(private readonly native: NativeBridge) {}

  call(s: Pick<Subject, 'id' | 'progFd' | 'frame' | 'retval'>, repeat: number): CallTiming {
    const t0 = threadCpuNs();
    const r = this.native.testRun(s.progFd, { data: s.frame, repeat, dataSizeOut: s.frame.length });
    const cpuNs = threadCpuNs() - t0;
    if (r.retval !== s.retval) {
      throw new WrongPathError(`${s.id}: the program returned ${verdictName(r.retval)}, expected ${verdictName(s.retval)}; the bench would time the wrong path`);
    }
    return { repeat, kernelNs: r.duration, cpuNs };
  }

  /** CPU ns of a repeat=2 call of `s` minus its two runs: what a call costs besides packets
   * (swapping the XDP dispatcher in and out, and for a program with events, its ring wake-up). */
  fixedCost(s: Subject): number {
    const c = this.call(s, 2);
    s.afterCall?.();
    return Math.max(0, c.cpuNs - 2 * c.kernelNs);
  }

  /** The median of a probe taken now and every earlier probe of the same subject: the fixed
   * cost is a property of the machine and the program, so one slow probe (an interrupt, a page
   * fault) must not tilt a whole sample. */
  fixedCostEstimate(s: Subject): number {
    let list = this.probes.get(s.id);
    if (!list) this.probes.set(s.id, (list = [this.fixedCost(s)]));
    list.push(this.fixedCost(s));
    return summarize(list).median;
  }

  /** One sample of `repeats` runs of `s`, in calls of at most s.maxRepeatPerCall, checked. */
  sample(s: Subject, repeats: number): RefinedSample & { calls: number } {
    const check = s.beginSample?.();
    const calls: CallTiming[] = [];
    for (const r of splitRepeats(repeats, s.maxRepeatPerCall)) {
      calls.push(this.call(s, r));
      s.afterCall?.();
    }
    check?.(repeats);
    return { ...refineSample(calls, this.fixedCostEstimate(s)), calls: calls.length };
  }

  /** Runs `s` once with its checks: proves the subject takes the intended path before timing. */
  verify(s: Subject): void {
    const check = s.beginSample?.();
    this.call(s, 1);
    s.afterCall?.();
    check?.(1);
  }
}
