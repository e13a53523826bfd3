// Turns the throughput child's raw runs into figures, and decides which figures may be printed
// at all. Pure: unit-tested without a kernel.
//
// The figure: frames the contender processed per second of CPU time its NAPI thread ran (the
// receiver is pinned to a CPU of its own, and on a shared machine the wall clock would measure
// the neighbours). A figure is a property of the contender only if the frame source outran it:
// the source's own rate per second of its threads' CPU time must exceed the contender's by
// SOURCE_MARGIN, else the figure is withheld and the reason printed instead.
import { summarize } from './stats.js';
import type { Contender, ThroughputRun } from './throughput-child.js';

/** The source must offer this many times what the contender takes (per CPU-second each). */
export const SOURCE_MARGIN = 1.2;
/** The goal: xdp-firewall with the policy at least this share of bare XDP_DROP. */
export const THROUGHPUT_GOAL = 0.8;

export interface ThroughputFigure {
  contender: Contender;
  family: 4 | 6;
  /** median Mpps per receiver CPU-second over rounds; null when withheld */
  mpps: number | null;
  /** receiver CPU ns per frame (1000 / mpps); null when withheld */
  ns_per_frame: number | null;
  /** why the figure is withheld */
  withheld?: string;
  /** per round: Mpps per receiver CPU-second */
  mpps_runs: number[];
  /** median wall-clock Mpps (what the receiver did with the CPU share it got) */
  wall_mpps: number;
  /** median share of its CPU the receiver's thread got during the windows */
  rx_cpu_share: number;
  /** median Mpps the source offered per CPU-second of its two threads */
  source_mpps: number;
  /** source_mpps / the contender's median rate */
  source_margin: number;
  /** frames processed over all rounds */
  frames: number;
}

export interface ThroughputRatios {
  family: 4 | 6;
  /** each null when either figure is withheld */
  firewall_to_xdp_drop: number | null;
  firewall_to_firewall_empty: number | null;
  firewall_to_nft_sets: number | null;
  firewall_to_nft_drop: number | null;
  xdp_drop_to_nft_drop: number | null;
}

export interface ThroughputGoal {
  bound: number;
  rows: { family: 4 | 6; ratio: number | null; met: boolean; note: string }[];
}

const r3 = (n: number): number => Math.round(n * 1000) / 1000;

/** Problems that make a run measure something else than it claims; none may be present. */
export function runProblems(r: ThroughputRun): string[] {
  const out: string[] = [];
  const where = `${r.contender} IPv${r.family} round ${r.round + 1}`;
  if (r.processed <= 0) out.push(`${where}: the receiver processed no frames`);
  if (r.misjudged !== 0) out.push(`${where}: ${r.misjudged} of ${r.processed} frames were judged by another path than the rules aimed at (or the default)`);
  if (r.loopErrors !== 0) out.push(`${where}: the source failed to rewrite ${r.loopErrors} frames`);
  // rx_packets is read on both sides of the contender's count, the midpoint kept: the two agree
  // within how far it moved meanwhile, plus a NAPI poll (veth updates its stats once per poll).
  if (Math.abs(r.processed - r.rxPackets) > r.rxSpan / 2 + 2 * 64 + 0.001 * r.processed) out.push(`${where}: the contender counted ${r.processed} frames, the receiving veth ${r.rxPackets}`);
  if (r.rxCpuNs <= 0 || r.loopCpuNs <= 0) out.push(`${where}: no CPU time was read for the receiver or the source`);
  return out;
}

export function throughputFigures(runs: readonly ThroughputRun[], margin = SOURCE_MARGIN): ThroughputFigure[] {
  const keys = new Map<string, ThroughputRun[]>();
  for (const r of runs) {
    const k = `${r.contender}|${r.family}`;
    const l = keys.get(k) ?? [];
    l.push(r);
    keys.set(k, l);
  }
  const out: ThroughputFigure[] = [];
  for (const list of keys.values()) {
    const { contender, family } = list[0]!;
    const perCpu = list.map((r) => r.processed / (r.rxCpuNs / 1e3));
    const med = summarize(perCpu).median;
    const source = summarize(list.map((r) => r.offered / (r.loopCpuNs / 1e3))).median;
    const f: ThroughputFigure = {
      contender,
      family,
      mpps: r3(med),
      ns_per_frame: Math.round((1000 / med) * 10) / 10,
      mpps_runs: perCpu.map(r3),
      wall_mpps: r3(summarize(list.map((r) => r.processed / (r.wallNs / 1e3))).median),
      rx_cpu_share: r3(summarize(list.map((r) => r.rxCpuNs / r.wallNs)).median),
      source_mpps: r3(source),
      source_margin: r3(source / med),
      frames: list.reduce((a, r) => a + r.processed, 0),
    };
    if (source < margin * med) {
      f.withheld = `the frame source offered ${source.toFixed(2)} Mpps per CPU-second, not ${margin}x the ${med.toFixed(2)} the contender took: the figure would be the source's, not the contender's`;
      f.mpps = null;
      f.ns_per_frame = null;
    }
    out.push(f);
  }
  return out;
}

export function throughputRatios(figs: readonly ThroughputFigure[]): ThroughputRatios[] {
  const get = (c: Contender, fam: 4 | 6): number | null => figs.find((f) => f.contender === c && f.family === fam)?.mpps ?? null;
  const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : r3(a / b));
  const fams = [...new Set(figs.map((f) => f.family))].sort();
  return fams.map((family) => {
    const fw = get('xdp-firewall', family);
    return {
      family,
      firewall_to_xdp_drop: ratio(fw, get('xdp-drop', family)),
      firewall_to_firewall_empty: ratio(fw, get('xdp-firewall-empty', family)),
      firewall_to_nft_sets: ratio(fw, get('nft-sets', family)),
      firewall_to_nft_drop: ratio(fw, get('nft-drop', family)),
      xdp_drop_to_nft_drop: ratio(get('xdp-drop', family), get('nft-drop', family)),
    };
  });
}

/** The goal per family, with how far off it is and where the frames' CPU time went. */
export function throughputGoal(figs: readonly ThroughputFigure[], ratios: readonly ThroughputRatios[], bound = THROUGHPUT_GOAL): ThroughputGoal {
  const ns = (c: Contender, fam: 4 | 6): number | null => figs.find((f) => f.contender === c && f.family === fam)?.ns_per_frame ?? null;
  return {
    bound,
    rows: ratios.map((r) => {
      const ratio = r.firewall_to_xdp_drop;
      if (ratio === null) return { family: r.family, ratio, met: false, note: 'not measured: a figure was withheld (see the figures)' };
      const drop = ns(`xdp-drop`, r.family)!;
      const fw = ns('xdp-firewall', r.family)!;
      const empty = ns('xdp-firewall-empty', r.family);
      const where =
        `receiver CPU per frame: bare XDP_DROP ${drop} ns, xdp-firewall ${fw} ns (+${(fw - drop).toFixed(1)})` +
        (empty === null ? '' : `, of which the program without rules +${(empty - drop).toFixed(1)} and the 10,000 rules +${(fw - empty).toFixed(1)}`);
      if (ratio >= bound) return { family: r.family, ratio, met: true, note: where };
      return { family: r.family, ratio, met: false, note: `${((1 - ratio / bound) * 100).toFixed(1)} % short of ${bound}x; ${where}` };
    }),
  };
}
