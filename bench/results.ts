// bench/results.json: the figures of one run, kept in the repository so the next run can say
// what changed. The schema is a flat list of cases so later programs add cases without changing
// it; `version` changes only when an existing field changes meaning.
import { z } from 'zod';

export const RESULTS_VERSION = 2;

const spreadSchema = z.strictObject({
  min: z.number(),
  max: z.number(),
  p25: z.number(),
  p75: z.number(),
});

const caseSchema = z.strictObject({
  /** stable across runs: the comparison key */
  id: z.string().min(1),
  /** the program measured (the floor cases name the floor program) */
  program: z.string().min(1),
  description: z.string(),
  family: z.union([z.literal(4), z.literal(6), z.null()]),
  /** the verdict the bench checked on every call */
  verdict: z.string(),
  /** median of the samples */
  ns_per_packet: z.number().positive(),
  spread: spreadSchema,
  /** ns_per_packet / the floor's ns_per_packet, both from this run */
  ratio_to_floor: z.number().positive(),
  /** id of the floor case of this run the ratio refers to */
  floor: z.string().min(1),
  repeats_per_sample: z.number().int().positive(),
  /** every sample's ns/packet, in the order taken */
  samples_ns: z.array(z.number()),
  /** the kernel's own whole-ns figure per sample (see bench/README.md) */
  kernel_ns: z.array(z.number()),
});

const machineSchema = z.strictObject({
  kernel: z.string(),
  cpu_model: z.string(),
  ncpus: z.number().int().positive(),
  libbpf: z.string(),
  node: z.string(),
  /** 1-minute load average when the run started and when it ended (how idle the machine was) */
  load_start: z.number().nonnegative().optional(),
  load_end: z.number().nonnegative().optional(),
});

const methodSchema = z.strictObject({
  samples: z.number().int().positive(),
  sample_target_ms: z.number().positive(),
  statistic: z.string(),
  timer: z.string(),
});

const family = z.union([z.literal(4), z.literal(6)]);
const contender = z.enum(['xdp-drop', 'xdp-firewall', 'xdp-firewall-empty', 'nft-drop', 'nft-sets']);
const histogramSchema = z.strictObject({
  counts: z.array(z.number().int().nonnegative()),
  mean: z.number().nonnegative(),
  p50: z.number().int().nonnegative(),
  p99: z.number().int().nonnegative(),
  max: z.number().int().nonnegative(),
});
export const walkSchema = z.strictObject({
  frames: z.number().int().positive(),
  depth: histogramSchema,
  candidates: histogramSchema,
  rules_checked: histogramSchema,
});
const ratio = z.number().positive().nullable();

const throughputSchema = z.strictObject({
  method: z.string(),
  rules: z.number().int().positive(),
  settings: z.strictObject({
    copies: z.number().int().positive(),
    seeds: z.number().int().positive(),
    warmupMs: z.number().int().nonnegative(),
    windowMs: z.number().int().positive(),
    rounds: z.number().int().positive(),
    loop_cpu: z.number().int().nonnegative(),
    rx_cpu: z.number().int().nonnegative(),
    source_margin: z.number().positive(),
  }),
  flows: z.array(
    z.strictObject({
      family,
      flows: z.number().int().positive(),
      deny_rules: z.number().int().positive(),
      unreachable: z.number().int().nonnegative(),
      tcp: z.number().int().nonnegative(),
      udp: z.number().int().nonnegative(),
      rule_span: z.tuple([z.number(), z.number()]),
    }),
  ),
  /** kernel-counted walk of the flows through the 10,000-rule policy */
  walk: z.array(walkSchema.extend({ family })),
  figures: z.array(
    z.strictObject({
      contender,
      family,
      /** Mpps per second of the receiver's CPU time (median); null when withheld */
      mpps: z.number().positive().nullable(),
      ns_per_frame: z.number().positive().nullable(),
      withheld: z.string().optional(),
      mpps_runs: z.array(z.number()),
      wall_mpps: z.number().nonnegative(),
      rx_cpu_share: z.number().nonnegative(),
      source_mpps: z.number().nonnegative(),
      source_margin: z.number().nonnegative(),
      frames: z.number().int().positive(),
    }),
  ),
  ratios: z.array(
    z.strictObject({
      family,
      firewall_to_xdp_drop: ratio,
      firewall_to_firewall_empty: ratio,
      firewall_to_nft_sets: ratio,
      firewall_to_nft_drop: ratio,
      xdp_drop_to_nft_drop: ratio,
    }),
  ),
  goal: z.strictObject({
    bound: z.number().positive(),
    rows: z.array(z.strictObject({ family, ratio, met: z.boolean(), note: z.string() })),
  }),
});

const scalingSchema = z.strictObject({
  /** the ratio the largest policy's ns/packet must stay within, against the smallest's */
  bound: z.number().positive(),
  rows: z.array(
    z.strictObject({
      family: z.union([z.literal(4), z.literal(6)]),
      kind: z.enum(['hit', 'miss']),
      /** rule count -> ns/packet (median), as in the cases xdp-firewall.v<family>.syn.mixed_<n>_<kind> */
      ns: z.record(z.string(), z.number().positive()),
      /** ns at the largest rule count / ns at the smallest */
      ratio: z.number().positive(),
      within_bound: z.boolean(),
    }),
  ),
});

export const resultsSchema = z.strictObject({
  version: z.literal(RESULTS_VERSION),
  generated_at: z.string(),
  duration_s: z.number().nonnegative(),
  machine: machineSchema,
  method: methodSchema,
  cases: z.array(caseSchema),
  /** drop throughput on a veth pair (absent when the run skipped it) */
  throughput: throughputSchema.optional(),
  /** parts of the bench that could not run on this machine, and why */
  unavailable: z.array(z.strictObject({ part: z.string(), reason: z.string() })).optional(),
  /** firewall cost by rule count (the mixed-policy cases) and whether it stays flat */
  scaling: scalingSchema.optional(),
});

export type ResultsFile = z.infer<typeof resultsSchema>;
export type ScalingSummary = z.infer<typeof scalingSchema>;

/** How much slower a packet may be with the largest mixed policy than with the smallest. */
export const SCALING_BOUND = 1.3;

const MIXED_ID = /^xdp-firewall\.v([46])\.syn\.mixed_(\d+)_(hit|miss)$/;

/** The scaling summary of a run's mixed-policy cases (null when it has none, e.g. --only). Each
 * family and kind needs at least two rule counts. */
export function scalingSummary(cases: readonly CaseResult[], bound = SCALING_BOUND): ScalingSummary | null {
  const groups = new Map<string, { family: 4 | 6; kind: 'hit' | 'miss'; ns: Map<number, number> }>();
  for (const c of cases) {
    const m = MIXED_ID.exec(c.id);
    if (!m) continue;
    const family = m[1] === '4' ? 4 : 6;
    const kind = m[3] === 'hit' ? 'hit' : 'miss';
    const key = `${family}.${kind}`;
    const g = groups.get(key) ?? { family, kind, ns: new Map<number, number>() };
    g.ns.set(Number(m[2]), c.ns_per_packet);
    groups.set(key, g);
  }
  const rows = [...groups.values()]
    .filter((g) => g.ns.size >= 2)
    .sort((a, b) => a.family - b.family || a.kind.localeCompare(b.kind))
    .map((g) => {
      const counts = [...g.ns.keys()].sort((a, b) => a - b);
      const ratio = Math.round((g.ns.get(counts[counts.length - 1]!)! / g.ns.get(counts[0]!)!) * 1000) / 1000;
      return { family: g.family, kind: g.kind, ns: Object.fromEntries(counts.map((n) => [String(n), g.ns.get(n)!])), ratio, within_bound: ratio <= bound };
    });
  return rows.length ? { bound, rows } : null;
}
export type CaseResult = z.infer<typeof caseSchema>;
export type MachineInfo = z.infer<typeof machineSchema>;

/** Reads a previous results file's text: the parsed file, or why it cannot be compared. */
export function parseResults(text: string, name: string): { ok: true; file: ResultsFile } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, reason: `${name} is not valid JSON: ${(e as Error).message}` };
  }
  const v = (json as { version?: unknown } | null)?.version;
  if (v !== RESULTS_VERSION) {
    return { ok: false, reason: `${name} has schema version ${JSON.stringify(v)}, this bench writes version ${RESULTS_VERSION}` };
  }
  const r = resultsSchema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0]!;
    return { ok: false, reason: `${name}: ${i.path.join('.') || '(root)'}: ${i.message}` };
  }
  return { ok: true, file: r.data };
}

export type ChangeStatus = 'changed' | 'within-noise' | 'new' | 'gone';

export interface CaseChange {
  id: string;
  status: ChangeStatus;
  before: number | null;
  now: number | null;
  /** (now - before) / before in %, null for new or gone cases */
  changePct: number | null;
  ratioBefore: number | null;
  ratioNow: number | null;
}

/**
 * Per case id: the change of the median against the previous run. A change is "within noise"
 * when the new median falls inside the previous run's min..max or the previous median inside
 * the new run's min..max: either run's own scatter already covers it.
 */
export function compareResults(prev: ResultsFile, next: ResultsFile): CaseChange[] {
  const before = new Map(prev.cases.map((c) => [c.id, c]));
  const out: CaseChange[] = [];
  for (const c of next.cases) {
    const p = before.get(c.id);
    if (!p) {
      out.push({ id: c.id, status: 'new', before: null, now: c.ns_per_packet, changePct: null, ratioBefore: null, ratioNow: c.ratio_to_floor });
      continue;
    }
    before.delete(c.id);
    const inside = (x: number, s: { min: number; max: number }): boolean => x >= s.min && x <= s.max;
    const noise = inside(c.ns_per_packet, p.spread) || inside(p.ns_per_packet, c.spread);
    out.push({
      id: c.id,
      status: noise ? 'within-noise' : 'changed',
      before: p.ns_per_packet,
      now: c.ns_per_packet,
      changePct: ((c.ns_per_packet - p.ns_per_packet) / p.ns_per_packet) * 100,
      ratioBefore: p.ratio_to_floor,
      ratioNow: c.ratio_to_floor,
    });
  }
  for (const p of before.values()) {
    out.push({ id: p.id, status: 'gone', before: p.ns_per_packet, now: null, changePct: null, ratioBefore: p.ratio_to_floor, ratioNow: null });
  }
  return out;
}

/** Differences between the machines of two runs, as "field: before -> now" lines. */
export function machineDifferences(prev: MachineInfo, next: MachineInfo): string[] {
  const out: string[] = [];
  // the load is how busy the machine was, not which machine it is
  for (const k of (Object.keys(next) as (keyof MachineInfo)[]).filter((k) => k !== 'load_start' && k !== 'load_end')) {
    if (prev[k] !== next[k]) out.push(`${k}: ${prev[k]} -> ${next[k]}`);
  }
  return out;
}
