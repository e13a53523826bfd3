// Turns the ring child's raw runs into figures, checks that every run accounts for every record,
// and judges the goals. Pure: unit-tested without a kernel.
//
// A figure is records the consumer read per second of its CPU time over a window of steady state
// (the consumer is pinned to one CPU; on a shared machine the wall clock measures the
// neighbours too, so the wall rate and the CPU share are printed beside). It is the consumer's
// capacity only when the producer outran it: when the producer lost records for lack of room in
// every round's window ("saturated"); otherwise the consumer kept up with everything offered and
// the figure is a floor of its capacity.
import { summarize } from './stats.js';
import type { RingRun, RingStage } from './ring-child.js';

/** records decoded into alerts per consumer CPU-second, flat out */
export const DECODE_GOAL = 1_000_000;
/** the EVE writer must keep up with this many records per second offered */
export const EVE_GOAL_RATE = 200_000;

export interface RingFigure {
  stage: RingStage;
  /** records per second offered; 0 = the producer ran flat out */
  rate: number;
  /** median over rounds of records read per consumer CPU-second in the window */
  per_cpu_s: number;
  per_cpu_s_runs: number[];
  /** consumer CPU ns per record (1e9 / per_cpu_s) */
  ns_per_record: number;
  /** median records read per wall second, and the share of its CPU the consumer used */
  per_s: number;
  cpu_share: number;
  /** median runs per second the producer made in the window (what was offered) */
  producer_per_s: number;
  /** the producer lost records for lack of room in every round's window: the consumer was the
   * bottleneck and the figure is its capacity; else a floor of it */
  saturated: boolean;
  /** JS paths: records delivered at the path's end (alerts, EVE lines) per consumer CPU-second
   * from the first record until everything was delivered, median over rounds: what the whole
   * path costs, including what was still queued when the window closed */
  whole_per_cpu_s?: number;
  /** eve: EVE lines written per consumer CPU-second and per wall second in the window (median) */
  eve_lines_per_cpu_s?: number;
  eve_lines_per_s?: number;
  /** eve: the sink's queue at the window's end minus at its start (largest over rounds) */
  eve_queue_growth?: number;
  /** eve: ms from the producer's end until everything was written (largest over rounds) */
  flush_ms?: number;
  /** over all rounds: every record accounted for */
  totals: { produced: number; written: number; lost_full: number; lost_backpressure: number; consumed: number; delivered: number; sink_dropped: number };
}

export interface RingGoal {
  met: boolean;
  note: string;
}

export interface RingRatios {
  /** each stage's per-CPU-second figure / the C consumer's, null when either is missing */
  raw_to_c: number | null;
  decode_to_c: number | null;
  eve_to_c: number | null;
  decode_to_raw: number | null;
}

const r3 = (n: number): number => Math.round(n * 1000) / 1000;

/** Problems that make a run measure something else than it claims, or lose a record without
 * counting it; none may be present. */
export function ringRunProblems(r: RingRun): string[] {
  const out: string[] = [];
  const where = `${r.stage}${r.rate ? `@${r.rate}/s` : ''} round ${r.round + 1}`;
  const lost = r.lostFull + r.lostBackpressure;
  if (r.produced <= 0) out.push(`${where}: the producer made no records`);
  if (r.producer.runs !== r.produced) out.push(`${where}: the producer ran ${r.producer.runs} times but took ${r.produced} sequence numbers`);
  if (r.written + lost !== r.produced) out.push(`${where}: ${r.produced} produced but ${r.written} written + ${lost} lost`);
  if (r.consumed !== r.written) out.push(`${where}: ${r.written} records written to the ring but ${r.consumed} read`);
  if (r.decodeFailures !== 0) out.push(`${where}: ${r.decodeFailures} records could not be decoded`);
  if (r.unknownRules !== 0) out.push(`${where}: ${r.unknownRules} alerts name a rule the engine does not know`);
  if (r.duplicates !== null && r.duplicates !== 0) out.push(`${where}: ${r.duplicates} sequence numbers arrived twice`);
  if (r.delivered + r.sinkDropped !== r.consumed) out.push(`${where}: ${r.consumed} read but ${r.delivered} delivered + ${r.sinkDropped} dropped by the sink`);
  if (r.missing !== null && r.missing !== lost + r.sinkDropped) {
    out.push(`${where}: ${r.missing} sequence numbers never arrived, but the counters say ${lost} were not written and ${r.sinkDropped} dropped by the sink`);
  }
  if (!r.window) out.push(`${where}: no window of steady state (the producer's run ended first)`);
  else if (r.window.records <= 0 || r.window.cpuNs <= 0 || r.window.wallNs <= 0) out.push(`${where}: the window saw no records or no CPU time`);
  return out;
}

export function ringFigures(runs: readonly RingRun[]): RingFigure[] {
  const groups = new Map<string, RingRun[]>();
  for (const r of runs) {
    const k = `${r.stage}|${r.rate}`;
    const l = groups.get(k) ?? [];
    l.push(r);
    groups.set(k, l);
  }
  const out: RingFigure[] = [];
  for (const list of groups.values()) {
    const { stage, rate } = list[0]!;
    const ws = list.map((r) => r.window!).filter(Boolean);
    const perCpu = ws.map((w) => w.records / (w.cpuNs / 1e9));
    const med = summarize(perCpu).median;
    const f: RingFigure = {
      stage,
      rate,
      per_cpu_s: Math.round(med),
      per_cpu_s_runs: perCpu.map(Math.round),
      ns_per_record: Math.round((1e9 / med) * 10) / 10,
      per_s: Math.round(summarize(ws.map((w) => w.records / (w.wallNs / 1e9))).median),
      cpu_share: r3(summarize(ws.map((w) => w.cpuNs / w.wallNs)).median),
      producer_per_s: Math.round(summarize(ws.map((w) => w.produced / (w.wallNs / 1e9))).median),
      saturated: ws.length > 0 && ws.every((w) => w.lostFull + w.lostBackpressure > 0),
      totals: {
        produced: sum(list, (r) => r.produced),
        written: sum(list, (r) => r.written),
        lost_full: sum(list, (r) => r.lostFull),
        lost_backpressure: sum(list, (r) => r.lostBackpressure),
        consumed: sum(list, (r) => r.consumed),
        delivered: sum(list, (r) => r.delivered),
        sink_dropped: sum(list, (r) => r.sinkDropped),
      },
    };
    const wholes = list.filter((r) => r.whole && r.whole.cpuNs > 0 && r.delivered > 0);
    if (wholes.length) f.whole_per_cpu_s = Math.round(summarize(wholes.map((r) => r.delivered / (r.whole!.cpuNs / 1e9))).median);
    if (stage === 'eve') {
      f.eve_lines_per_cpu_s = Math.round(summarize(ws.map((w) => (w.eveLines ?? 0) / (w.cpuNs / 1e9))).median);
      f.eve_lines_per_s = Math.round(summarize(ws.map((w) => (w.eveLines ?? 0) / (w.wallNs / 1e9))).median);
      f.eve_queue_growth = Math.max(...ws.map((w) => w.eveQueueGrowth ?? 0));
      f.flush_ms = Math.max(...list.map((r) => r.flushMs ?? 0));
    }
    out.push(f);
  }
  return out;
}

function sum(list: readonly RingRun[], f: (r: RingRun) => number): number {
  return list.reduce((a, r) => a + f(r), 0);
}

const flatOut = (figs: readonly RingFigure[], stage: RingStage): RingFigure | undefined => figs.find((f) => f.stage === stage && f.rate === 0);

export function ringRatios(figs: readonly RingFigure[]): RingRatios {
  const v = (s: RingStage): number | null => flatOut(figs, s)?.per_cpu_s ?? null;
  const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : r3(a / b));
  return { raw_to_c: ratio(v('raw'), v('c')), decode_to_c: ratio(v('decode'), v('c')), eve_to_c: ratio(v('eve'), v('c')), decode_to_raw: ratio(v('decode'), v('raw')) };
}

/** Records decoded into alerts per consumer CPU-second, flat out, against the goal. */
export function decodeGoal(figs: readonly RingFigure[], bound = DECODE_GOAL): RingGoal {
  const f = flatOut(figs, 'decode');
  if (!f) return { met: false, note: 'not measured' };
  const what = `${fmtRate(f.per_cpu_s)} records/CPU-s (${f.ns_per_record} ns each)${f.saturated ? '' : ', a floor: the producer never outran the consumer'}`;
  if (f.per_cpu_s >= bound) return { met: true, note: what };
  return { met: false, note: `${what}: ${((1 - f.per_cpu_s / bound) * 100).toFixed(1)} % short of ${fmtRate(bound)}` };
}

/**
 * The EVE writer is not the bottleneck at `rate` offered when, in every round, nothing was lost
 * anywhere (ring, sink), every record became a line, and the sink's queue did not grow over the
 * window by more than one batch or 1 % of the window's records (it kept up, not just buffered).
 */
export function eveGoal(figs: readonly RingFigure[], runs: readonly RingRun[], rate = EVE_GOAL_RATE, batch = 4096): RingGoal {
  const paced = runs.filter((r) => r.stage === 'eve' && r.rate === rate);
  const f = figs.find((x) => x.stage === 'eve' && x.rate === rate);
  if (!paced.length || !f) return { met: false, note: `not measured at ${fmtRate(rate)}/s` };
  const bad: string[] = [];
  for (const r of paced) {
    const w = `round ${r.round + 1}`;
    const lost = r.lostFull + r.lostBackpressure;
    if (lost) bad.push(`${w}: ${lost} records found no room in the ring`);
    if (r.sinkDropped) bad.push(`${w}: the sink dropped ${r.sinkDropped}`);
    if (r.delivered !== r.produced) bad.push(`${w}: ${r.delivered} lines for ${r.produced} records`);
    const growth = r.window?.eveQueueGrowth ?? 0;
    if (r.window && growth > Math.max(batch, 0.01 * r.window.records)) bad.push(`${w}: the sink's queue grew by ${growth} over the window`);
  }
  const cost = f.whole_per_cpu_s ? `; the whole path (decode, alert, EVE line, write) took ${fmtRate(f.whole_per_cpu_s)} records per consumer CPU-second` : '';
  const what = `${fmtRate(f.producer_per_s)} records/s offered, ${fmtRate(f.per_s)} read per second, the consumer on its CPU ${Math.round(f.cpu_share * 100)} % of the wall time${cost}`;
  if (bad.length) {
    // a consumer that had its CPU only part of the time lost records to the machine, not to its own cost
    const starved = f.cpu_share < 0.9 ? `; it had its CPU ${Math.round(f.cpu_share * 100)} % of the time (other processes on the machine), so this run shows the machine as much as the writer` : '';
    return { met: false, note: `${what}; ${bad.join('; ')}${starved}` };
  }
  return { met: true, note: what };
}

export function fmtRate(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n);
}
