// The sampling loop shared by the bench's main process and its namespace children: calibrate
// each case, then interleaved rounds in rotating order, every sample checked by its subject.
import { TestRunClock, type Subject } from './harness.js';
import { repeatsFor } from './stats.js';

const CALIBRATION_REPEATS = 200_000;

/** What a result needs to know of a subject (a child process hands back only this). */
export type SubjectInfo = Pick<Subject, 'id' | 'program' | 'description' | 'family' | 'retval'>;

export interface Measured {
  subject: SubjectInfo;
  repeats: number;
  samples: number[];
  kernel: number[];
  /** samples whose CPU-time estimate fell more than 1 % outside the kernel's interval */
  disagreed: number;
  /** median of the floor measured beside this case when it was not measured with the main
   * floor (a case run in a child process, in its own namespace) */
  floorNs?: number;
  /** id of the floor case floorNs is the median of (default: the run's XDP floor) */
  floorId?: string;
}

export function measure(clock: TestRunClock, subjects: Subject[], o: { samples: number; sampleMs: number }, log: (line: string) => void): Measured[] {
  for (const s of subjects) clock.verify(s);
  log(`verified: every case returns its verdict, through the expected path (${subjects.length} cases)`);

  const targetNs = o.sampleMs * 1e6;
  const runs = subjects.map((s) => {
    const cal = clock.sample(s, Math.min(CALIBRATION_REPEATS, s.maxRepeatPerCall));
    return { s, m: { subject: s, repeats: repeatsFor(targetNs, cal.ns, { min: 10_000, max: 0xffffffff }), samples: [], kernel: [], disagreed: 0 } as Measured };
  });
  const eta = (subjects.length * o.samples * o.sampleMs) / 1000;
  log(`calibrated; ${o.samples} samples x ${subjects.length} cases x ~${o.sampleMs} ms, about ${Math.ceil(eta)} s`);

  // Rounds interleave the cases and rotate their order, so drift (frequency, a noisy neighbour)
  // lands on every case alike instead of on whichever ran last.
  for (let round = 0; round < o.samples; round++) {
    const t0 = performance.now();
    for (let i = 0; i < runs.length; i++) {
      const { s, m } = runs[(i + round) % runs.length]!;
      const r = clock.sample(s, m.repeats);
      m.samples.push(r.ns);
      m.kernel.push(r.kernelLo);
      const outside = Math.max(r.kernelLo - r.cpuEstimate, r.cpuEstimate - r.kernelHi);
      if (outside > 0.01 * r.ns) m.disagreed++;
    }
    log(`  round ${round + 1}/${o.samples} ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  return runs.map((r) => r.m);
}
