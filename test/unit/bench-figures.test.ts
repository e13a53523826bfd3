// The bench's judgements from raw measurements: which throughput figures may be printed, the
// ratios and the goal; the rule-scaling sweep's per-frame figures, bounds and reference goal;
// the walk histograms. Pure: no kernel.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { frameLows, percentiles, REFERENCE_BOUND, SCALING_BOUND, scalingSummaryOf, type FrameTimes, type Kind } from '../../bench/scaling-figures.js';
import type { Contender, ThroughputRun } from '../../bench/throughput-child.js';
import { runProblems, SOURCE_MARGIN, throughputFigures, throughputGoal, throughputRatios } from '../../bench/throughput-figures.js';
import { histogram, type WalkStats } from '../../bench/walk-stats.js';

function run(contender: Contender, family: 4 | 6, round: number, mppsPerCpu: number, sourceMpps = 4, extra: Partial<ThroughputRun> = {}): ThroughputRun {
  const rxCpuNs = 200e6;
  const processed = Math.round(mppsPerCpu * (rxCpuNs / 1e3));
  const loopCpuNs = 300e6;
  return {
    contender,
    family,
    round,
    processed,
    misjudged: 0,
    rxPackets: processed,
    rxSpan: 400,
    overflow: 1000,
    offered: Math.round(sourceMpps * (loopCpuNs / 1e3)),
    loopErrors: 0,
    wallNs: 600e6,
    rxCpuNs,
    loopCpuNs,
    rxSleeps: 10,
    ...extra,
  };
}

describe('bench throughput figures', () => {
  it('a figure is the median rate per receiver CPU-second over rounds, with the wall rate and CPU share beside it', () => {
    const figs = throughputFigures([run('xdp-drop', 4, 0, 2), run('xdp-drop', 4, 1, 1.8), run('xdp-drop', 4, 2, 2.2)]);
    assert.equal(figs.length, 1);
    const f = figs[0]!;
    assert.equal(f.mpps, 2);
    assert.equal(f.ns_per_frame, 500);
    assert.deepEqual(f.mpps_runs, [2, 1.8, 2.2]);
    assert.equal(f.rx_cpu_share, 0.333);
    assert.equal(f.wall_mpps, 0.667);
    assert.equal(f.source_mpps, 4);
    assert.equal(f.source_margin, 2);
    assert.equal(f.withheld, undefined);
    assert.equal(f.frames, 3 * 400_000);
  });

  it('withholds a figure the source did not outrun by the margin, and says why', () => {
    const [f] = throughputFigures([run('xdp-drop', 6, 0, 3, 3.3)]);
    assert.equal(f!.mpps, null);
    assert.equal(f!.ns_per_frame, null);
    assert.match(f!.withheld!, /offered 3\.30 Mpps per CPU-second, not 1\.2x the 3\.00 the contender took/);
    // just over the margin: printed
    const [g] = throughputFigures([run('xdp-drop', 6, 0, 3, 3 * SOURCE_MARGIN + 0.01)]);
    assert.equal(g!.mpps, 3);
  });

  it('ratios per family; null where a figure is withheld', () => {
    const runs = [
      run('xdp-firewall', 4, 0, 1.6),
      run('xdp-drop', 4, 0, 2),
      run('xdp-firewall-empty', 4, 0, 1.8),
      run('nft-sets', 4, 0, 0.4),
      run('nft-drop', 4, 0, 1),
      run('xdp-firewall', 6, 0, 1.5),
      run('xdp-drop', 6, 0, 2, 2.1), // withheld
    ];
    const figs = throughputFigures(runs);
    const ratios = throughputRatios(figs);
    assert.deepEqual(ratios[0], { family: 4, firewall_to_xdp_drop: 0.8, firewall_to_firewall_empty: 0.889, firewall_to_nft_sets: 4, firewall_to_nft_drop: 1.6, xdp_drop_to_nft_drop: 2 });
    assert.deepEqual(ratios[1], { family: 6, firewall_to_xdp_drop: null, firewall_to_firewall_empty: null, firewall_to_nft_sets: null, firewall_to_nft_drop: null, xdp_drop_to_nft_drop: null });
    const goal = throughputGoal(figs, ratios);
    assert.equal(goal.rows[0]!.met, true, '0.8 meets the 0.8 goal');
    assert.match(goal.rows[0]!.note, /bare XDP_DROP 500 ns, xdp-firewall 625 ns \(\+125\.0\), of which the program without rules \+55\.6 and the 10,000 rules \+69\.4/);
    assert.equal(goal.rows[1]!.met, false);
    assert.match(goal.rows[1]!.note, /not measured/);
  });

  it('the goal says how far off it is', () => {
    const figs = throughputFigures([run('xdp-firewall', 4, 0, 1), run('xdp-drop', 4, 0, 2)]);
    const goal = throughputGoal(figs, throughputRatios(figs));
    assert.equal(goal.rows[0]!.met, false);
    assert.equal(goal.rows[0]!.ratio, 0.5);
    assert.match(goal.rows[0]!.note, /^37\.5 % short of 0\.8x; .*bare XDP_DROP 500 ns, xdp-firewall 1000 ns/);
  });

  it('a run that did not measure what it claims is named', () => {
    assert.deepEqual(runProblems(run('nft-sets', 4, 0, 1)), []);
    const bad = runProblems(run('nft-sets', 6, 2, 1, 4, { misjudged: 5, loopErrors: 2, rxPackets: 100 }));
    assert.equal(bad.length, 3);
    assert.match(bad[0]!, /nft-sets IPv6 round 3: 5 of 200000 frames were judged by another path/);
    assert.match(bad[1]!, /failed to rewrite 2 frames/);
    assert.match(bad[2]!, /counted 200000 frames, the receiving veth 100/);
    assert.match(runProblems(run('xdp-drop', 4, 0, 0))[0]!, /processed no frames/);
  });
});

describe('bench walk histogram', () => {
  it('mean, p50, p99 and max of value counts; trailing empty buckets dropped', () => {
    const h = histogram([0, 90, 9, 1, 0, 0]);
    assert.deepEqual(h, { counts: [0, 90, 9, 1], mean: 1.11, p50: 1, p99: 2, max: 3 });
    assert.throws(() => histogram([0, 0]), /no frames/);
  });
});

function walk(depth: number, cands: number): WalkStats {
  const h = (v: number): ReturnType<typeof histogram> => histogram([...new Array<number>(v).fill(0), 5]);
  return { frames: 5, depth: h(depth), candidates: h(cands), rules_checked: h(1) };
}

describe('bench rule-scaling figures', () => {
  it('per frame: the lowest over sweeps', () => {
    assert.deepEqual(frameLows([[3, 10], [1, 30], [2, 20]]), [1, 10]);
    assert.throws(() => frameLows([[1], [1, 2]]), /different frame counts/);
    assert.deepEqual(percentiles([5, 1, 3]), { p50: 3, p99: 4.96, max: 5, frames: 3 });
  });

  // per-frame times: `base` ns for every frame of the kind plus the floor, three sweeps alike
  function times(id: string, family: 4 | 6, kinds: Kind[], ns: (k: Kind, i: number) => number, floor: number): FrameTimes {
    const one = kinds.map((k, i) => ns(k, i) + floor);
    return { id, family, kinds, warm: [one, one, one], rotating: [one, one, one].map((s) => s.map((x) => x * 2)) };
  }

  it('subtracts the floor, judges p99 largest / smallest against the bound and the reference goal', () => {
    const kinds: Kind[] = [...new Array<Kind>(100).fill('pass'), ...new Array<Kind>(100).fill('drop'), ...new Array<Kind>(100).fill('miss')];
    const frameTimes: FrameTimes[] = [];
    for (const family of [4, 6] as const) {
      frameTimes.push(times(`floor.v${family}`, family, kinds, () => 0, 10));
      frameTimes.push(times(`xdp-firewall.10.v${family}`, family, kinds, (k) => (k === 'drop' ? 100 : 40), 10));
      // 10,000 rules: one slow pass frame in a hundred sets p99 between it and the rest
      frameTimes.push(times(`xdp-firewall.10000.v${family}`, family, kinds, (k, i) => (k === 'drop' ? 110 : k === 'pass' && i === 0 ? 200 : 50), 10));
      frameTimes.push(times(`reference.v${family}`, family, kinds, () => 40, 10));
    }
    const walks = new Map<string, WalkStats>();
    for (const n of [10, 10000]) for (const f of [4, 6]) for (const k of ['pass', 'drop', 'miss']) walks.set(`${n}|${f}|${k}`, walk(n === 10 ? 1 : 7, n === 10 ? 1 : 3));
    const frames = { 10: { 4: { rules: 6, unreachable: 0, frames: 300 }, 6: { rules: 4, unreachable: 0, frames: 300 } }, 10000: { 4: { rules: 6000, unreachable: 2, frames: 300 }, 6: { rules: 4000, unreachable: 0, frames: 300 } } };
    const sc = scalingSummaryOf({ sizes: [10000, 10], frameTimes, walks, frames, perFrame: 200, sweeps: 3 });
    assert.equal(sc.bound, SCALING_BOUND);
    assert.equal(sc.reference_bound, REFERENCE_BOUND);
    assert.deepEqual(sc.floor, [
      { family: 4, mode: 'rotating', ns: 20 },
      { family: 4, mode: 'warm', ns: 10 },
      { family: 6, mode: 'rotating', ns: 20 },
      { family: 6, mode: 'warm', ns: 10 },
    ]);
    const row = (f: 4 | 6, kind: Kind, mode: string): (typeof sc.rows)[number] => sc.rows.find((r) => r.family === f && r.kind === kind && r.mode === mode)!;
    assert.equal(sc.rows.length, 12);
    const pass = row(4, 'pass', 'warm');
    assert.deepEqual(pass.sizes['10'], { p50: 40, p99: 40, max: 40, frames: 100, depth_max: 1, candidates_max: 1, rules_checked_max: 1 });
    assert.deepEqual(pass.sizes['10000'], { p50: 50, p99: 51.5, max: 200, frames: 100, depth_max: 7, candidates_max: 3, rules_checked_max: 1 });
    assert.equal(pass.ratio_p99, 1.288);
    assert.equal(pass.within_bound, true);
    const miss = row(6, 'miss', 'warm');
    assert.equal(miss.ratio_p99, 1.25);
    assert.equal(row(4, 'drop', 'warm').ratio_p99, 1.1);
    // rotating doubled everything, floor included: own cost doubles, ratios stay
    assert.deepEqual(row(6, 'pass', 'rotating').sizes['10']!.p50, 80);
    const ref = sc.reference.find((r) => r.family === 4 && r.mode === 'warm')!;
    assert.deepEqual(ref.reference, { p50: 40, p99: 40, max: 40, frames: 300 });
    assert.equal(ref.firewall.p99, 110);
    assert.equal(ref.ratio_p99, 2.75);
    assert.equal(ref.within_bound, false);
    // without the drop frames: the one slow pass frame and 199 at 50
    assert.deepEqual(ref.firewall_no_events, { p50: 50, p99: 50, max: 200, frames: 200 });
    assert.equal(ref.ratio_p99_no_events, 1.25);
    assert.deepEqual(sc.policies[0], { rules: 10, family: 4, rules_of_family: 6, unreachable: 0, frames: 300 });
  });

  it('refuses to compare a kind the smallest policy has no frames of', () => {
    const kinds: Kind[] = ['pass', 'miss'];
    const frameTimes = [4, 6].flatMap((f) => ['floor', 'xdp-firewall.10', 'xdp-firewall.1000', 'reference'].map((id) => times(`${id}.v${f}`, f as 4 | 6, kinds, () => 1, 1)));
    const walks = new Map<string, WalkStats>();
    for (const n of [10, 1000]) for (const f of [4, 6]) for (const k of ['pass', 'miss']) walks.set(`${n}|${f}|${k}`, walk(1, 1));
    const frames = { 10: { 4: { rules: 1, unreachable: 0, frames: 2 }, 6: { rules: 1, unreachable: 0, frames: 2 } }, 1000: { 4: { rules: 1, unreachable: 0, frames: 2 }, 6: { rules: 1, unreachable: 0, frames: 2 } } };
    assert.throws(() => scalingSummaryOf({ sizes: [10, 1000], frameTimes, walks, frames, perFrame: 10, sweeps: 3 }), /the 10-rule policy has no IPv4 drop frames to compare/);
  });
});
