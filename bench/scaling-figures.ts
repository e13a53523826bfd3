// The rule-scaling sweep's figures and verdicts from the raw per-frame times. Pure: unit-tested.
//
// Per frame: the lowest of its sweeps' ns per run (on a shared machine noise only ever adds:
// an interrupt, a neighbour's cache traffic; the lowest is the frame's own cost, and p99 over
// frames then ranks frames, not noise), minus the floor (the median over frames of the same
// sweep into a bare XDP_PASS, same family and mode): the program's own cost. Per
// policy size, family, kind and mode: p50, p99 and the maximum over frames, with the deepest
// walk and the most candidates those frames took (kernel-counted). The bound: p99 at the largest
// size / p99 at the smallest <= SCALING_BOUND; the reference goal: the firewall's p99 at the
// largest size (hits and misses together) <= REFERENCE_BOUND x the reference's on the same frames.
import { quantileSorted, summarize } from './stats.js';
import type { WalkStats } from './walk-stats.js';

/** How much slower p99 may be with 10,000 rules than with 10. */
export const SCALING_BOUND = 1.3;
/** The firewall's p99 at 10,000 rules against the minimal stateful reference's. */
export const REFERENCE_BOUND = 1.5;

export type Mode = 'warm' | 'rotating';
/** pass: a hit on an allow rule; drop: a hit on a deny rule (which writes an event); miss */
export type Kind = 'pass' | 'drop' | 'miss';

export interface FrameTimes {
  /** xdp-firewall.<rules>.v<family>, reference.v<family>, floor.v<family> */
  id: string;
  family: 4 | 6;
  kinds: Kind[];
  /** per sweep, per frame: ns per run, rig included */
  warm: number[][];
  rotating: number[][];
}

export interface Percentiles {
  p50: number;
  p99: number;
  max: number;
  frames: number;
}

export interface SizeFigures extends Percentiles {
  /** deepest walk (reads along the deepest tree) and most leaf entries / rules checked by a frame */
  depth_max: number;
  candidates_max: number;
  rules_checked_max: number;
}

export interface ScalingRow {
  family: 4 | 6;
  kind: Kind;
  mode: Mode;
  /** rule count -> figures */
  sizes: Record<string, SizeFigures>;
  /** p99 at the largest size / p99 at the smallest */
  ratio_p99: number;
  within_bound: boolean;
}

export interface ReferenceRow {
  family: 4 | 6;
  mode: Mode;
  reference: Percentiles;
  /** the largest policy, all its frames (what the goal is judged on) */
  firewall: Percentiles;
  ratio_p99: number;
  within_bound: boolean;
  /** the same without the drop frames (each of which writes an event the reference does not):
   * what the gap owes to the events */
  firewall_no_events: Percentiles;
  ratio_p99_no_events: number;
}

export interface ScalingResult {
  method: string;
  bound: number;
  reference_bound: number;
  per_frame_runs: number;
  sweeps: number;
  /** ns per run of the rig into a bare XDP_PASS, subtracted from every figure */
  floor: { family: 4 | 6; mode: Mode; ns: number }[];
  policies: { rules: number; family: 4 | 6; rules_of_family: number; unreachable: number; frames: number }[];
  rows: ScalingRow[];
  reference: ReferenceRow[];
}

export interface ScalingInput {
  sizes: number[];
  frameTimes: FrameTimes[];
  /** `${size}|${family}|${kind}` -> kernel-counted walk of those frames */
  walks: ReadonlyMap<string, WalkStats>;
  frames: Record<number, Record<4 | 6, { rules: number; unreachable: number; frames: number }>>;
  perFrame: number;
  sweeps: number;
}

const r2 = (n: number): number => Math.round(n * 100) / 100;
const r3 = (n: number): number => Math.round(n * 1000) / 1000;

/** Per frame: the lowest over sweeps. */
export function frameLows(sweeps: readonly (readonly number[])[]): number[] {
  if (sweeps.length === 0) throw new RangeError('no sweeps');
  const n = sweeps[0]!.length;
  if (sweeps.some((s) => s.length !== n)) throw new Error('sweeps of different frame counts');
  return Array.from({ length: n }, (_, i) => Math.min(...sweeps.map((s) => s[i]!)));
}

export function percentiles(values: readonly number[]): Percentiles {
  const s = [...values].sort((a, b) => a - b);
  return { p50: r2(quantileSorted(s, 0.5)), p99: r2(quantileSorted(s, 0.99)), max: r2(s[s.length - 1]!), frames: s.length };
}

const SCALING_METHOD =
  'Per-frame timing through a sweep rig: one BPF_PROG_TEST_RUN runs many frames, each written over the buffer at the start of its group of runs and stamped there (bpf_ktime_get_ns), every run tail-calling the program under test. warm: each frame run per_frame_runs times in a row; rotating: every frame once per pass over the whole set. Per frame the lowest of the sweeps (noise only adds), minus the same sweep into a bare XDP_PASS: the program\'s own ns per packet (the XDP hook excluded). Frames: a packet aimed at each rule of the family (several per rule where the policy has fewer than 1,000), and as many near misses (an aimed packet moved to a port or ICMP type no rule on its way takes). Every call checked through the program\'s counters, rule hits and events.';

export function scalingSummaryOf(input: ScalingInput): ScalingResult {
  const byId = new Map(input.frameTimes.map((f) => [f.id, f]));
  const get = (id: string): FrameTimes => {
    const f = byId.get(id);
    if (!f) throw new Error(`scaling: no times for ${id}`);
    return f;
  };
  const modes: Mode[] = ['warm', 'rotating'];
  const floor: ScalingResult['floor'] = [];
  const floorNs = (family: 4 | 6, mode: Mode): number => {
    let f = floor.find((x) => x.family === family && x.mode === mode);
    if (!f) {
      f = { family, mode, ns: r2(summarize(frameLows(get(`floor.v${family}`)[mode])).median) };
      floor.push(f);
    }
    return f.ns;
  };
  const own = (id: string, family: 4 | 6, mode: Mode): { ns: number[]; kinds: Kind[] } => {
    const t = get(id);
    const fl = floorNs(family, mode);
    return { ns: frameLows(t[mode]).map((x) => x - fl), kinds: t.kinds };
  };
  const sizes = [...input.sizes].sort((a, b) => a - b);
  const small = sizes[0]!;
  const large = sizes[sizes.length - 1]!;
  const rows: ScalingRow[] = [];
  const reference: ReferenceRow[] = [];
  for (const family of [4, 6] as const) {
    for (const mode of modes) {
      for (const kind of ['pass', 'drop', 'miss'] as const) {
        const figs: Record<string, SizeFigures> = {};
        for (const n of sizes) {
          const o = own(`xdp-firewall.${n}.v${family}`, family, mode);
          const w = input.walks.get(`${n}|${family}|${kind}`);
          if (!w || !o.kinds.includes(kind)) throw new Error(`scaling: the ${n}-rule policy has no IPv${family} ${kind} frames to compare`);
          figs[String(n)] = {
            ...percentiles(o.ns.filter((_, i) => o.kinds[i] === kind)),
            depth_max: w.depth.max,
            candidates_max: w.candidates.max,
            rules_checked_max: w.rules_checked.max,
          };
        }
        const ratio = r3(figs[String(large)]!.p99 / figs[String(small)]!.p99);
        rows.push({ family, kind, mode, sizes: figs, ratio_p99: ratio, within_bound: ratio <= SCALING_BOUND });
      }
      const ref = percentiles(own(`reference.v${family}`, family, mode).ns);
      const o = own(`xdp-firewall.${large}.v${family}`, family, mode);
      const fw = percentiles(o.ns);
      const quiet = percentiles(o.ns.filter((_, i) => o.kinds[i] !== 'drop'));
      const ratio = r3(fw.p99 / ref.p99);
      reference.push({
        family,
        mode,
        reference: ref,
        firewall: fw,
        ratio_p99: ratio,
        within_bound: ratio <= REFERENCE_BOUND,
        firewall_no_events: quiet,
        ratio_p99_no_events: r3(quiet.p99 / ref.p99),
      });
    }
  }
  const policies: ScalingResult['policies'] = [];
  for (const n of sizes) for (const family of [4, 6] as const) {
    const f = input.frames[n]![family];
    policies.push({ rules: n, family, rules_of_family: f.rules, unreachable: f.unreachable, frames: f.frames });
  }
  return {
    method: SCALING_METHOD,
    bound: SCALING_BOUND,
    reference_bound: REFERENCE_BOUND,
    per_frame_runs: input.perFrame,
    sweeps: input.sweeps,
    floor: floor.sort((a, b) => a.family - b.family || a.mode.localeCompare(b.mode)),
    policies,
    rows,
    reference,
  };
}
