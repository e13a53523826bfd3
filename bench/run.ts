// `make bench`: ns/packet of each program path through BPF_PROG_TEST_RUN, beside a bare XDP_PASS
// floor program measured in the same run, as ratios to it; the firewall's cost over whole
// policies by rule count; drop throughput on a veth pair. Written to bench/results.json and
// compared with the previous file. See bench/README.md for the method.
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNative, type NativeBridge } from '../src/kernel/native.js';
import { tcpFrame } from '../test/support/frames.js';
import { ArgsError, parseBenchArgs, USAGE, type BenchArgs } from './args.js';
import { setupFirewall, type FirewallBench } from './firewall.js';
import { setupRatelimit, type RatelimitBench } from './ratelimit.js';
import { TestRunClock, verdictName, XDP_DROP, XDP_PASS, type Subject } from './harness.js';
import { loadNow, machineInfo } from './machine.js';
import { measureThroughput, THROUGHPUT_DEFAULTS, type ThroughputResult } from './throughput.js';
import { CLIENT, CLIENT_PORT, MISS_PORT, SERVER } from './policy.js';
import { compareResults, machineDifferences, parseResults, RESULTS_VERSION, type CaseResult, type ResultsFile, type RingSummary, type ScalingSummary } from './results.js';
import { measureScaling } from './scaling.js';
import { summarize } from './stats.js';
import { measure, type Measured } from './measure.js';
import { setupConntrack, type ConntrackBench } from './conntrack.js';
import { measureSyncookie } from './syncookie.js';
import { measureRing, RING_DEFAULTS, type RingResult } from './ring.js';
import { measureReplay, printReplay, type ReplayBenchResult } from './replay.js';
import { setupScrub, TC_FLOOR_ID, type ScrubBench } from './scrub.js';
import { fmtRate } from './ring-figures.js';
import { fmt, renderTable } from './table.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIREWALL_OBJ = path.join(ROOT, 'build', 'bpf', 'xdp_firewall.bpf.o');
const FLOOR_OBJ = path.join(ROOT, 'build', 'bpf-bench', 'xdp_floor.bpf.o');
const RATELIMIT_OBJ = path.join(ROOT, 'build', 'bpf', 'xdp_ratelimit.bpf.o');
const LOOPGEN_OBJ = path.join(ROOT, 'build', 'bpf-bench', 'xdp_loopgen.bpf.o');
const WALKSTATS_OBJ = path.join(ROOT, 'build', 'bpf-bench', 'xdp_firewall_walkstats.bpf.o');
const SWEEP_OBJ = path.join(ROOT, 'build', 'bpf-bench', 'xdp_sweep.bpf.o');
const REFERENCE_OBJ = path.join(ROOT, 'build', 'bpf-bench', 'xdp_stateful_ref.bpf.o');
const SCRUB_OBJ = path.join(ROOT, 'build', 'bpf', 'tc_scrub.bpf.o');
const TC_RIG_OBJ = path.join(ROOT, 'build', 'bpf-bench', 'tc_scrub_rig.bpf.o');
const FLOOR_ID = 'floor.xdp_pass';
const SEED = 0x5e17;
const TIMER =
  "BPF_PROG_TEST_RUN duration (whole ns, excludes reschedules), placed inside its 1-ns step by the calling thread's CPU time minus the measured fixed cost per call";

const log = (line: string): void => void process.stdout.write(line + '\n');

function floorSubjects(native: NativeBridge, obj: number): Subject[] {
  // The floor never reads the packet; it gets the same SYN as the firewall's cases.
  const frame = tcpFrame({ src: CLIENT[4], dst: SERVER[4], sport: CLIENT_PORT, dport: MISS_PORT, flags: ['syn'] });
  const mk = (prog: string, id: string, retval: number, what: string): Subject => ({
    id,
    program: prog,
    description: what,
    family: null,
    progFd: native.progFd(obj, prog),
    frame,
    retval,
    maxRepeatPerCall: 0xffffffff,
  });
  return [
    mk('xdp_floor_pass', FLOOR_ID, XDP_PASS, 'floor: bare XDP_PASS (hook + test-run harness alone)'),
    mk('xdp_floor_drop', 'floor.xdp_drop', XDP_DROP, 'floor: bare XDP_DROP'),
  ];
}

function measureAll(clock: TestRunClock, subjects: Subject[], args: BenchArgs): Measured[] {
  const runs = measure(clock, subjects, args, log);
  // CPU time should land in or near the kernel's interval; far outside it, the thread did work
  // the kernel's timer leaves out. The figure is clamped (within 1 ns of the kernel) either way,
  // but a reader should know the two clocks disagreed.
  const odd = runs.filter((m) => m.disagreed > 0).map((m) => `${m.subject.id} ${m.disagreed}/${m.samples.length}`);
  if (odd.length) log(`CPU time and the kernel's timer disagreed by over 1 % (figure clamped to the kernel's): ${odd.join(', ')}`);
  return runs;
}

function toResults(runs: Measured[], machine: ResultsFile['machine'], args: BenchArgs, startedAt: number): ResultsFile {
  const floor = runs.find((r) => r.subject.id === FLOOR_ID);
  if (!floor) throw new Error(`no ${FLOOR_ID} case was measured`);
  const floorNs = summarize(floor.samples).median;
  const r2 = (n: number): number => Math.round(n * 100) / 100;
  const cases: CaseResult[] = runs.map((m) => {
    const s = summarize(m.samples);
    return {
      id: m.subject.id,
      program: m.subject.program,
      description: m.subject.description,
      family: m.subject.family,
      verdict: verdictName(m.subject.retval),
      ns_per_packet: r2(s.median),
      spread: { min: r2(s.min), max: r2(s.max), p25: r2(s.p25), p75: r2(s.p75) },
      ratio_to_floor: Math.round((s.median / (m.floorNs ?? floorNs)) * 1000) / 1000,
      floor: m.floorId ?? FLOOR_ID,
      ...(m.floorNs === undefined ? {} : { floor_ns: r2(m.floorNs) }),
      repeats_per_sample: m.repeats,
      samples_ns: m.samples.map(r2),
      kernel_ns: m.kernel.map(r2),
    };
  });
  return {
    version: RESULTS_VERSION,
    generated_at: new Date().toISOString(),
    duration_s: Math.round((performance.now() - startedAt) / 100) / 10,
    machine,
    method: { samples: args.samples, sample_target_ms: args.sampleMs, statistic: 'median of interleaved samples; spread = min/max and p25/p75', timer: TIMER },
    cases,
  };
}

function printResults(res: ResultsFile): void {
  log('');
  log(
    renderTable(
      [{ title: 'case' }, { title: 'verdict' }, { title: 'ns/pkt', align: 'right' }, { title: 'min..max', align: 'right' }, { title: 'p25..p75', align: 'right' }, { title: 'x floor', align: 'right' }],
      res.cases.map((c) => [
        c.id,
        c.verdict,
        fmt(c.ns_per_packet, 2),
        `${fmt(c.spread.min, 2)}..${fmt(c.spread.max, 2)}`,
        `${fmt(c.spread.p25, 2)}..${fmt(c.spread.p75, 2)}`,
        fmt(c.ratio_to_floor, 2),
      ]),
    ),
  );
  log('');
  for (const c of res.cases) log(`  ${c.id}: ${c.description}`);
}

const CONTENDER_TITLE: Readonly<Record<string, string>> = {
  'xdp-firewall': 'xdp-firewall',
  'xdp-firewall-empty': 'fw no rules',
  'xdp-drop': 'XDP_DROP',
  'nft-sets': 'nft sets',
  'nft-drop': 'nft 1 rule',
};

function printThroughput(t: ThroughputResult): void {
  const n = t.rules.toLocaleString('en-US');
  const ratio = (x: number | null): string => (x === null ? '-' : fmt(x, 2));
  log('');
  log(`drop throughput on a veth pair, ${n}-rule policy, frames aimed at its deny rules (Mpps per CPU-second of the receiver, median of ${t.settings.rounds}):`);
  const order = ['xdp-firewall', 'xdp-firewall-empty', 'xdp-drop', 'nft-sets', 'nft-drop'];
  log(
    renderTable(
      [{ title: 'family' }, ...order.map((c) => ({ title: CONTENDER_TITLE[c]!, align: 'right' as const })), { title: 'fw/XDP_DROP', align: 'right' }, { title: 'fw/no rules', align: 'right' }, { title: 'fw/nft sets', align: 'right' }, { title: 'fw/nft 1', align: 'right' }, { title: 'XDP_DROP/nft 1', align: 'right' }],
      t.ratios.map((r) => {
        const cell = (c: string): string => {
          const f = t.figures.find((x) => x.contender === c && x.family === r.family);
          return !f ? '-' : f.mpps === null ? 'withheld' : fmt(f.mpps, 2);
        };
        return [`IPv${r.family}`, ...order.map(cell), ratio(r.firewall_to_xdp_drop), ratio(r.firewall_to_firewall_empty), ratio(r.firewall_to_nft_sets), ratio(r.firewall_to_nft_drop), ratio(r.xdp_drop_to_nft_drop)];
      }),
    ),
  );
  log('');
  log(
    renderTable(
      [{ title: 'contender' }, { title: 'family' }, { title: 'ns/frame', align: 'right' }, { title: 'per round (Mpps)', align: 'right' }, { title: 'wall Mpps', align: 'right' }, { title: 'rx CPU', align: 'right' }, { title: 'source Mpps', align: 'right' }, { title: 'margin', align: 'right' }],
      t.figures.map((f) => [
        CONTENDER_TITLE[f.contender]!,
        `IPv${f.family}`,
        f.ns_per_frame === null ? 'withheld' : fmt(f.ns_per_frame, 1),
        f.mpps_runs.map((x) => fmt(x, 2)).join(' '),
        fmt(f.wall_mpps, 2),
        `${Math.round(f.rx_cpu_share * 100)} %`,
        fmt(f.source_mpps, 2),
        fmt(f.source_margin, 2),
      ]),
    ),
  );
  for (const f of t.figures) if (f.withheld) log(`  ${CONTENDER_TITLE[f.contender]} IPv${f.family}: withheld: ${f.withheld}`);
  for (const w of t.walk) {
    log(
      `  IPv${w.family} walk (kernel-counted, ${w.frames} flows): depth p50 ${w.depth.p50} max ${w.depth.max}; leaf entries examined p50 ${w.candidates.p50} p99 ${w.candidates.p99} max ${w.candidates.max}; ` +
        `rules checked p50 ${w.rules_checked.p50} p99 ${w.rules_checked.p99} max ${w.rules_checked.max}`,
    );
  }
  for (const g of t.goal.rows) log(`  goal IPv${g.family}: xdp-firewall >= ${t.goal.bound}x bare XDP_DROP: ${g.met ? 'MET' : 'NOT MET'} (${g.ratio === null ? '-' : fmt(g.ratio, 2)}x); ${g.note}`);
}

const RING_STAGE_TITLE: Readonly<Record<string, string>> = {
  c: 'C consumer (the ring\'s limit)',
  raw: 'agent ring reader',
  decode: 'reader + decode + alert',
  eve: 'reader + decode + alert + EVE file',
};

function printRing(r: RingSummary): void {
  const kib = (r.settings.ring_bytes / 1024).toFixed(0);
  log('');
  log(
    `ring-buffer records from a kernel producer (test-run loop, CPU ${r.settings.producer_cpu}) into the firewall's ${kib} KiB ring, read on CPU ${r.settings.consumer_cpu}; ` +
      `records per second of the consumer's CPU time (median of ${r.settings.rounds}), beside the wall rate:`,
  );
  const c = r.figures.find((f) => f.stage === 'c' && f.rate === 0)?.per_cpu_s ?? null;
  log(
    renderTable(
      [
        { title: 'consumer' }, { title: 'offered' }, { title: 'per CPU-s', align: 'right' }, { title: 'ns/record', align: 'right' }, { title: 'x C', align: 'right' },
        { title: 'whole path', align: 'right' }, { title: 'per s', align: 'right' }, { title: 'CPU', align: 'right' }, { title: 'producer/s', align: 'right' }, { title: 'saturated' },
        { title: 'produced', align: 'right' }, { title: 'lost (full+mark)', align: 'right' }, { title: 'read', align: 'right' }, { title: 'delivered', align: 'right' },
      ],
      r.figures.map((f) => [
        RING_STAGE_TITLE[f.stage] ?? f.stage,
        f.rate ? `${fmtRate(f.rate)}/s` : 'flat out',
        fmtRate(f.per_cpu_s),
        fmt(f.ns_per_record, 1),
        c ? fmt(f.per_cpu_s / c, 3) : '-',
        f.whole_per_cpu_s === undefined ? '-' : fmtRate(f.whole_per_cpu_s),
        fmtRate(f.per_s),
        `${Math.round(f.cpu_share * 100)} %`,
        fmtRate(f.producer_per_s),
        f.saturated ? 'yes' : 'no',
        f.totals.produced.toLocaleString('en-US'),
        (f.totals.lost_full + f.totals.lost_backpressure).toLocaleString('en-US'),
        f.totals.consumed.toLocaleString('en-US'),
        f.totals.delivered.toLocaleString('en-US') + (f.totals.sink_dropped ? ` (+${f.totals.sink_dropped.toLocaleString('en-US')} dropped by the sink)` : ''),
      ]),
    ),
  );
  log('  per CPU-s = records read per second of the consumer process\'s CPU time in the window; whole path = records delivered at its end (alerts, EVE lines) per CPU-second');
  log('  from the first record until all were delivered; saturated = the producer lost records for lack of room in every window (else the figure is a floor)');
  log('  every run accounted: produced = written + lost (kernel counters), written = read, every sequence number delivered once or counted as lost');
  for (const f of r.figures.filter((x) => x.stage === 'eve')) {
    log(`  EVE ${f.rate ? `at ${fmtRate(f.rate)}/s` : 'flat out'}: ${fmtRate(f.eve_lines_per_cpu_s ?? 0)} lines per CPU-s in the window, sink queue growth ${f.eve_queue_growth ?? 0}, flushed ${f.flush_ms ?? 0} ms after the producer stopped`);
  }
  const ratio = (x: number | null): string => (x === null ? '-' : fmt(x, 3));
  log(`  ratios (per CPU-s): reader/C ${ratio(r.ratios.raw_to_c)}, decode/C ${ratio(r.ratios.decode_to_c)}, EVE/C ${ratio(r.ratios.eve_to_c)}, decode/reader ${ratio(r.ratios.decode_to_raw)}`);
  log(`  goal: >= ${fmtRate(r.goals.decode.bound)} records/CPU-s consumed and decoded on one core: ${r.goals.decode.met ? 'MET' : 'NOT MET'} (${r.goals.decode.note})`);
  log(`  goal: the EVE writer keeps up at ${fmtRate(r.goals.eve.rate)} records/s: ${r.goals.eve.met ? 'MET' : 'NOT MET'} (${r.goals.eve.note})`);
}

function printScaling(sc: ScalingSummary): void {
  const counts = [...new Set(sc.rows.flatMap((r) => Object.keys(r.sizes).map(Number)))].sort((a, b) => a - b);
  const label = (n: number): string => n.toLocaleString('en-US');
  log('');
  log(
    `firewall cost by rule count, frame by frame over whole policies (own ns/packet: the sweep into a bare XDP_PASS subtracted; ` +
      `lowest of ${sc.sweeps} sweeps per frame; warm = ${sc.per_frame_runs} runs per frame in a row, rotating = every frame once per pass):`,
  );
  log(
    renderTable(
      [
        { title: 'family' },
        { title: 'kind' },
        { title: 'mode' },
        ...counts.flatMap((n) => [{ title: `${label(n)} p50`, align: 'right' as const }, { title: `p99`, align: 'right' as const }, { title: `max`, align: 'right' as const }, { title: 'walk', align: 'right' as const }]),
        { title: 'p99 ratio', align: 'right' },
        { title: `<= ${sc.bound}` },
      ],
      sc.rows.map((r) => [
        `IPv${r.family}`,
        r.kind,
        r.mode,
        ...counts.flatMap((n) => {
          const f = r.sizes[String(n)]!;
          return [fmt(f.p50, 1), fmt(f.p99, 1), fmt(f.max, 1), `${f.depth_max}/${f.candidates_max}`];
        }),
        fmt(r.ratio_p99, 2),
        r.within_bound ? 'yes' : 'NO',
      ]),
    ),
  );
  log('  walk = deepest walk / most leaf entries examined by a frame of the set (kernel-counted)');
  log(`  frames: ${sc.policies.map((p) => `${label(p.rules)} IPv${p.family} ${p.frames} (${p.rules_of_family - p.unreachable}/${p.rules_of_family} rules reached)`).join(', ')}`);
  log(`  floor subtracted (rig into bare XDP_PASS): ${sc.floor.map((f) => `IPv${f.family} ${f.mode} ${fmt(f.ns, 1)} ns`).join(', ')}`);
  log('');
  log(
    `beside a minimal stateful reference (parse, one conntrack hash lookup, one LPM lookup, verdict) on the ${label(counts[counts.length - 1]!)}-rule frames ` +
      `(goal: firewall p99 <= ${sc.reference_bound}x; no-event = the firewall without its drop frames, each of which writes an event the reference does not):`,
  );
  log(
    renderTable(
      [
        { title: 'family' }, { title: 'mode' }, { title: 'reference p50', align: 'right' }, { title: 'p99', align: 'right' }, { title: 'max', align: 'right' },
        { title: 'firewall p50', align: 'right' }, { title: 'p99', align: 'right' }, { title: 'max', align: 'right' }, { title: 'p99 ratio', align: 'right' }, { title: `<= ${sc.reference_bound}` },
        { title: 'no-event p99', align: 'right' }, { title: 'ratio', align: 'right' },
      ],
      sc.reference.map((r) => [
        `IPv${r.family}`, r.mode, fmt(r.reference.p50, 1), fmt(r.reference.p99, 1), fmt(r.reference.max, 1),
        fmt(r.firewall.p50, 1), fmt(r.firewall.p99, 1), fmt(r.firewall.max, 1), fmt(r.ratio_p99, 2), r.within_bound ? 'yes' : 'NO',
        fmt(r.firewall_no_events.p99, 1), fmt(r.ratio_p99_no_events, 2),
      ]),
    ),
  );
}

function printComparison(prevText: string, file: string, next: ResultsFile, partial: boolean): void {
  const prev = parseResults(prevText, file);
  log('');
  if (!prev.ok) {
    log(`previous results not compared: ${prev.reason}`);
    return;
  }
  log(`change against ${path.relative(process.cwd(), file) || file} of ${prev.file.generated_at}:`);
  const diffs = machineDifferences(prev.file.machine, next.machine);
  if (diffs.length) log(`  note: measured on a different machine (${diffs.join('; ')}); compare ratios, not ns`);
  // A partial run (--only) leaves cases out on purpose: they are not "gone".
  const rows = compareResults(prev.file, next).filter((ch) => !partial || ch.status !== 'gone').map((ch) => [
    ch.id,
    ch.before === null ? '-' : fmt(ch.before, 2),
    ch.now === null ? '-' : fmt(ch.now, 2),
    ch.changePct === null ? '-' : `${fmt(ch.changePct, 1, true)} %`,
    ch.ratioBefore === null || ch.ratioNow === null ? '-' : `${fmt(ch.ratioBefore, 2)} -> ${fmt(ch.ratioNow, 2)}`,
    ch.status,
  ]);
  log(
    renderTable(
      [{ title: 'case' }, { title: 'before', align: 'right' }, { title: 'now', align: 'right' }, { title: 'change', align: 'right' }, { title: 'x floor', align: 'right' }, { title: 'verdict' }],
      rows,
    ),
  );
}

async function main(args: BenchArgs): Promise<void> {
  const startedAt = performance.now();
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('the bench loads BPF programs and runs them with BPF_PROG_TEST_RUN: run it as root');
  }
  // (the SYN-cookie part checks its own objects: a missing one makes that part unavailable)
  for (const f of [FIREWALL_OBJ, FLOOR_OBJ, LOOPGEN_OBJ, WALKSTATS_OBJ, SWEEP_OBJ, REFERENCE_OBJ, RATELIMIT_OBJ, SCRUB_OBJ, TC_RIG_OBJ]) if (!existsSync(f)) throw new Error(`${f} is missing: run make build first`);
  const native = loadNative();
  const machine = machineInfo(native);
  log(`ebpfsentinel bench  ${new Date().toISOString()}`);
  log(`kernel ${machine.kernel} | ${machine.cpu_model} | ${machine.ncpus} CPUs | libbpf ${machine.libbpf} | node ${machine.node} | load ${machine.load_start}`);

  const dir = mkdtempSync(path.join(tmpdir(), 'sentinel-bench-'));
  let floorObj = -1;
  let fw: FirewallBench | null = null;
  let rl: RatelimitBench | null = null;
  let ct: ConntrackBench | null = null;
  let sc: ScrubBench | null = null;
  try {
    floorObj = native.objOpen(FLOOR_OBJ, {});
    native.objLoad(floorObj);
    const floors = floorSubjects(native, floorObj);
    fw = setupFirewall({ native, objectPath: FIREWALL_OBJ, dir, listSize: args.listSize, seed: SEED, log: (l) => log(`  ${l}`) });
    const clock = new TestRunClock(native);
    rl = setupRatelimit({ native, objectPath: RATELIMIT_OBJ, log: (l) => log(`  ${l}`) });
    ct = setupConntrack({ native, objectPath: FIREWALL_OBJ, dir, log: (l) => log(`  ${l}`) });
    sc = setupScrub({ native, scrubObject: SCRUB_OBJ, rigObject: TC_RIG_OBJ, log: (l) => log(`  ${l}`) });
    const picked = (s: Subject): boolean => args.only === null || args.only.test(s.id);
    const runs = measureAll(clock, [...floors, sc.floor, ...[...fw.subjects, ...ct.subjects, ...rl.subjects, ...sc.subjects].filter(picked)], args);
    // TC cases refer to the TC floor measured beside them, not to the XDP one.
    const tcFloor = runs.find((r) => r.subject.id === TC_FLOOR_ID);
    const tcIds = new Set(sc.subjects.map((x) => x.id));
    if (tcFloor) {
      const ns = summarize(tcFloor.samples).median;
      for (const r of runs) if (tcIds.has(r.subject.id) || r === tcFloor) Object.assign(r, { floorNs: ns, floorId: TC_FLOOR_ID });
    }
    const unavailable: { part: string; reason: string }[] = [];
    // SYN cookies need a listener in the namespace of the test runs: a child in a namespace of
    // its own measures them beside its own floor, after the main cases. A kernel or build where
    // that case cannot run costs the case, not the whole bench: it is reported as unavailable.
    if (args.only === null || args.only.test('syncookie')) {
      try {
        runs.push(...measureSyncookie({ root: ROOT, samples: args.samples, sampleMs: args.sampleMs, log }));
      } catch (e) {
        const reason = (e as Error).message.split('\n')[0]!.slice(0, 500);
        unavailable.push({ part: 'syncookie', reason });
        log(`syncookie: UNAVAILABLE: ${reason}`);
      }
    }
    const scaling = args.scaling ? await measureScaling({ native, root: ROOT, dir, seed: SEED, sweeps: args.scalingSweeps, perFrame: args.scalingRuns, log }) : undefined;
    // The throughput comparison runs after the test-run cases so its traffic never overlaps them.
    const throughput = args.throughput
      ? await measureThroughput({
          native,
          root: ROOT,
          dir,
          seed: SEED,
          settings: { ...THROUGHPUT_DEFAULTS, rounds: args.throughputRounds, windowMs: args.throughputWindowMs, copies: args.throughputCopies },
          log,
        })
      : undefined;
    // Events from a kernel producer to the EVE file, beside a C consumer of the same ring. A
    // machine where it cannot run (no second CPU, a missing tool) costs this part only.
    let ring: RingResult | undefined;
    if (args.ring) {
      try {
        ring = await measureRing({
          root: ROOT,
          dir,
          settings: { ...RING_DEFAULTS, rounds: args.ringRounds, windowMs: args.ringWindowMs, eveRate: args.ringEveRate },
          log,
        });
      } catch (e) {
        const reason = (e as Error).message.split('\n')[0]!.slice(0, 500);
        unavailable.push({ part: 'ring', reason });
        log(`ring: UNAVAILABLE: ${reason}`);
      }
    }
    // A capture through `ebpfsentinel replay`, beside one bare test run per frame.
    let replay: ReplayBenchResult | undefined;
    if (args.replay) {
      try {
        replay = await measureReplay({ root: ROOT, dir, rounds: 3, log });
      } catch (e) {
        const reason = (e as Error).message.split('\n')[0]!.slice(0, 500);
        unavailable.push({ part: 'replay', reason });
        log(`replay: UNAVAILABLE: ${reason}`);
      }
    }
    const res = toResults(runs, machine, args, startedAt);
    res.machine.load_end = loadNow();
    if (throughput) res.throughput = throughput;
    if (ring) res.ring = ring;
    if (replay) res.replay = replay;
    if (unavailable.length) res.unavailable = unavailable;
    if (scaling) res.scaling = scaling;
    printResults(res);
    if (scaling) printScaling(scaling);
    if (throughput) printThroughput(throughput);
    if (ring) printRing(ring);
    if (replay) printReplay(replay, log);
    for (const u of unavailable) log(`\n${u.part}: not measured on this machine: ${u.reason}`);
    log(`\nload average (1 min): ${res.machine.load_start} at the start, ${res.machine.load_end} at the end (figures from a busy machine are noisier; compare ratios)`);

    if (existsSync(args.out)) printComparison(readFileSync(args.out, 'utf8'), args.out, res, args.only !== null);
    if (args.write) {
      const tmp = `${args.out}.tmp`;
      writeFileSync(tmp, JSON.stringify(res, null, 2) + '\n');
      renameSync(tmp, args.out);
      log(`\nwrote ${args.out} (${res.duration_s} s)`);
    } else log(`\n--no-write: ${args.out} left as it was (${res.duration_s} s)`);
  } finally {
    fw?.close();
    rl?.close();
    ct?.close();
    sc?.close();
    if (floorObj >= 0) native.objClose(floorObj);
    rmSync(dir, { recursive: true, force: true });
  }
}

let args: BenchArgs;
try {
  args = parseBenchArgs(process.argv.slice(2), path.join(ROOT, 'bench', 'results.json'));
} catch (e) {
  if (!(e instanceof ArgsError)) throw e;
  process.stderr.write(`${e.message}\n${USAGE}\n`);
  process.exit(2);
}
if (args.help) {
  log(USAGE);
} else {
  main(args).catch((e: unknown) => {
    const err = e as Error & { verifierLog?: string; libbpfMessage?: string };
    process.stderr.write(`bench failed: ${err.message}\n`);
    if (err.libbpfMessage) process.stderr.write(`libbpf: ${err.libbpfMessage}\n`);
    if (err.verifierLog) process.stderr.write(`verifier log:\n${err.verifierLog}\n`);
    process.exitCode = 1;
  });
}
