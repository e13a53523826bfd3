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
  /** the floor's median when it was measured apart from the run's floor case (a case run in a
   * child process in its own namespace measures the same floor program beside itself) */
  floor_ns: z.number().positive().optional(),
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
const walkSchema = z.strictObject({
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

const percentilesSchema = z.strictObject({ p50: z.number(), p99: z.number(), max: z.number(), frames: z.number().int().positive() });
const mode = z.enum(['warm', 'rotating']);

const scalingSchema = z.strictObject({
  method: z.string(),
  /** p99 at the largest policy / p99 at the smallest must stay within this */
  bound: z.number().positive(),
  /** the firewall's p99 at the largest policy / the reference's must stay within this */
  reference_bound: z.number().positive(),
  per_frame_runs: z.number().int().positive(),
  sweeps: z.number().int().positive(),
  floor: z.array(z.strictObject({ family, mode, ns: z.number() })),
  policies: z.array(
    z.strictObject({ rules: z.number().int().positive(), family, rules_of_family: z.number().int().nonnegative(), unreachable: z.number().int().nonnegative(), frames: z.number().int().positive() }),
  ),
  rows: z.array(
    z.strictObject({
      family,
      kind: z.enum(['pass', 'drop', 'miss']),
      mode,
      /** rule count -> the program's own ns per packet over the frames, and their deepest walk */
      sizes: z.record(
        z.string(),
        percentilesSchema.extend({ depth_max: z.number().int().nonnegative(), candidates_max: z.number().int().nonnegative(), rules_checked_max: z.number().int().nonnegative() }),
      ),
      ratio_p99: z.number(),
      within_bound: z.boolean(),
    }),
  ),
  reference: z.array(
    z.strictObject({
      family,
      mode,
      reference: percentilesSchema,
      firewall: percentilesSchema,
      ratio_p99: z.number(),
      within_bound: z.boolean(),
      firewall_no_events: percentilesSchema,
      ratio_p99_no_events: z.number(),
    }),
  ),
});

const ringStage = z.enum(['c', 'raw', 'decode', 'eve']);
const ringGoal = z.strictObject({ met: z.boolean(), note: z.string() });

const replayFigure = z.strictObject({ per_s: z.number().nonnegative(), per_cpu_s: z.number().nonnegative(), per_cpu_s_runs: z.array(z.number()) });
const replaySchema = z.strictObject({
  method: z.string(),
  settings: z.strictObject({ frames: z.number().int().positive(), rounds: z.number().int().positive(), batch: z.number().int().positive() }),
  replay: replayFigure.extend({ alerts: z.number().int().nonnegative() }),
  floor: replayFigure,
  goal: z.strictObject({ target: z.number().positive(), met: z.boolean(), note: z.string() }),
});

const ringSchema = z.strictObject({
  method: z.string(),
  settings: z.strictObject({
    rounds: z.number().int().positive(),
    warmupMs: z.number().int().nonnegative(),
    windowMs: z.number().int().positive(),
    eveRate: z.number().int().positive(),
    producer_cpu: z.number().int().nonnegative(),
    consumer_cpu: z.number().int().nonnegative(),
    ring_bytes: z.number().int().positive(),
    record_bytes: z.number().int().positive(),
  }),
  figures: z.array(
    z.strictObject({
      stage: ringStage,
      /** records per second offered, 0 = flat out */
      rate: z.number().int().nonnegative(),
      /** records read per second of the consumer's CPU time in the window (median) */
      per_cpu_s: z.number().nonnegative(),
      per_cpu_s_runs: z.array(z.number()),
      ns_per_record: z.number().nonnegative(),
      per_s: z.number().nonnegative(),
      cpu_share: z.number().nonnegative(),
      producer_per_s: z.number().nonnegative(),
      saturated: z.boolean(),
      /** JS paths: records delivered at the path's end per consumer CPU-second, from the first
       * record until everything was delivered (median) */
      whole_per_cpu_s: z.number().nonnegative().optional(),
      eve_lines_per_cpu_s: z.number().nonnegative().optional(),
      eve_lines_per_s: z.number().nonnegative().optional(),
      eve_queue_growth: z.number().optional(),
      flush_ms: z.number().nonnegative().optional(),
      totals: z.strictObject({
        produced: z.number().int().nonnegative(),
        written: z.number().int().nonnegative(),
        lost_full: z.number().int().nonnegative(),
        lost_backpressure: z.number().int().nonnegative(),
        consumed: z.number().int().nonnegative(),
        delivered: z.number().int().nonnegative(),
        sink_dropped: z.number().int().nonnegative(),
      }),
    }),
  ),
  ratios: z.strictObject({ raw_to_c: ratio, decode_to_c: ratio, eve_to_c: ratio, decode_to_raw: ratio }),
  goals: z.strictObject({ decode: ringGoal.extend({ bound: z.number().positive() }), eve: ringGoal.extend({ rate: z.number().positive() }) }),
});

const resultsSchema = z.strictObject({
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
  /** the firewall's per-frame cost over whole policies by rule count, beside a reference */
  scaling: scalingSchema.optional(),
  /** ring-buffer records from a kernel producer to the decoded alert and the EVE file, beside
   * a C consumer of the same ring */
  ring: ringSchema.optional(),
  /** ebpfsentinel replay: frames per second through the product's replay, beside a bare test-run floor */
  replay: replaySchema.optional(),
});

export type ResultsFile = z.infer<typeof resultsSchema>;
export type ScalingSummary = z.infer<typeof scalingSchema>;
export type ThroughputSummary = z.infer<typeof throughputSchema>;
export type RingSummary = z.infer<typeof ringSchema>;

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
