import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compareResults, machineDifferences, parseResults, RESULTS_VERSION, type CaseResult, type ResultsFile, type ScalingSummary, type ThroughputSummary } from '../../bench/results.js';
import { REFERENCE_BOUND, SCALING_BOUND } from '../../bench/scaling-figures.js';
import { SOURCE_MARGIN, THROUGHPUT_GOAL } from '../../bench/throughput-figures.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function kase(id: string, ns: number, min: number, max: number, floorNs = 8): CaseResult {
  return {
    id,
    program: 'xdp-firewall',
    description: id,
    family: 4,
    verdict: 'XDP_PASS',
    ns_per_packet: ns,
    spread: { min, max, p25: min, p75: max },
    ratio_to_floor: ns / floorNs,
    floor: 'floor.xdp_pass',
    repeats_per_sample: 1000,
    samples_ns: [min, ns, max],
    kernel_ns: [Math.floor(min), Math.floor(ns), Math.floor(max)],
  };
}

function file(cases: CaseResult[], kernel = '6.18.0'): ResultsFile {
  return {
    version: RESULTS_VERSION,
    generated_at: '2026-01-01T00:00:00.000Z',
    duration_s: 30,
    machine: { kernel, cpu_model: 'cpu', ncpus: 2, libbpf: '1.1', node: 'v20.0.0' },
    method: { samples: 3, sample_target_ms: 300, statistic: 'median', timer: 'test' },
    cases,
  };
}

describe('bench results file', () => {
  it('reads back what it writes', () => {
    const f = file([kase('floor.xdp_pass', 8, 7.9, 8.1), kase('a', 100, 98, 102)]);
    const r = parseResults(JSON.stringify(f), 'results.json');
    assert.ok(r.ok);
    assert.deepEqual(r.file, f);
  });

  it('says why a file cannot be compared: JSON, version, a missing or wrong field', () => {
    const bad = (text: string): string => {
      const r = parseResults(text, 'old.json');
      assert.equal(r.ok, false);
      return (r as { reason: string }).reason;
    };
    assert.match(bad('{"version": 1,'), /old\.json is not valid JSON/);
    assert.match(bad(JSON.stringify({ ...file([]), version: 1 })), /schema version 1, this bench writes version 2/);
    assert.match(bad('[]'), /schema version undefined/);
    const noNs = file([kase('a', 1, 1, 1)]) as unknown as { cases: Record<string, unknown>[] };
    delete noNs.cases[0]!.ns_per_packet;
    assert.match(bad(JSON.stringify(noNs)), /cases\.0\.ns_per_packet/);
    const negative = file([kase('a', -5, 1, 1)]);
    assert.match(bad(JSON.stringify(negative)), /cases\.0\.ns_per_packet/);
    const extra = { ...file([]), surprise: true };
    assert.match(bad(JSON.stringify(extra)), /surprise/);
  });
});

describe('bench results comparison', () => {
  it('reports the change per case, and whether either run’s scatter covers it', () => {
    const prev = file([kase('same', 100, 98, 103), kase('slower', 100, 99, 101), kase('faster', 100, 99, 101), kase('old-only', 5, 5, 5)]);
    const next = file([kase('same', 102, 101, 104), kase('slower', 120, 118, 125), kase('faster', 90, 89, 91), kase('new-only', 7, 7, 7)]);
    const byId = new Map(compareResults(prev, next).map((c) => [c.id, c]));
    assert.equal(byId.get('same')!.status, 'within-noise');
    assert.ok(Math.abs(byId.get('same')!.changePct! - 2) < 1e-9);
    assert.equal(byId.get('slower')!.status, 'changed');
    assert.ok(Math.abs(byId.get('slower')!.changePct! - 20) < 1e-9);
    assert.equal(byId.get('faster')!.status, 'changed');
    assert.ok(Math.abs(byId.get('faster')!.changePct! + 10) < 1e-9);
    assert.deepEqual(
      { ...byId.get('new-only')! },
      { id: 'new-only', status: 'new', before: null, now: 7, changePct: null, ratioBefore: null, ratioNow: 7 / 8 },
    );
    assert.equal(byId.get('old-only')!.status, 'gone');
    assert.equal(byId.get('old-only')!.before, 5);
    assert.equal(byId.size, 5);
  });

  it('a previous median inside the new run’s range is noise too', () => {
    const prev = file([kase('x', 100, 100, 100)]);
    const next = file([kase('x', 110, 95, 115)]);
    assert.equal(compareResults(prev, next)[0]!.status, 'within-noise');
  });

  it('names the machine fields that differ (the load is not the machine)', () => {
    assert.deepEqual(machineDifferences(file([]).machine, file([]).machine), []);
    assert.deepEqual(machineDifferences(file([], '6.1.0').machine, file([], '6.18.0').machine), ['kernel: 6.1.0 -> 6.18.0']);
    assert.deepEqual(machineDifferences({ ...file([]).machine, load_start: 0.1 }, { ...file([]).machine, load_start: 7, load_end: 8 }), []);
  });
});

describe('the committed bench/results.json', () => {
  const p = path.join(ROOT, 'bench', 'results.json');

  it('exists, follows the schema and is self-consistent', () => {
    assert.ok(existsSync(p), `${p} is missing: run make bench and commit it`);
    const r = parseResults(readFileSync(p, 'utf8'), p);
    assert.ok(r.ok, r.ok ? '' : r.reason);
    const f = r.file;
    const ids = f.cases.map((c) => c.id);
    assert.equal(new Set(ids).size, ids.length, 'case ids are unique');
    const byId = new Map(f.cases.map((c) => [c.id, c]));
    for (const c of f.cases) {
      const floor = byId.get(c.floor);
      assert.ok(floor, `${c.id}: floor ${c.floor} is a case of the same run`);
      // a case measured in a child's namespace refers to the floor measured beside it there
      const floorNs = c.floor_ns ?? floor.ns_per_packet;
      assert.ok(Math.abs(c.ratio_to_floor - c.ns_per_packet / floorNs) < 0.01 * c.ratio_to_floor, `${c.id}: ratio matches the figures`);
      assert.equal(c.samples_ns.length, f.method.samples);
      assert.ok(c.spread.min <= c.spread.p25 && c.spread.p25 <= c.ns_per_packet && c.ns_per_packet <= c.spread.p75 && c.spread.p75 <= c.spread.max, `${c.id}: spread is ordered`);
    }
    // the figures issue 2 asks for, in both families
    for (const fam of ['v4', 'v6']) {
      for (const k of ['rule_miss', 'rule_hit', 'lpm_hit_deny']) assert.ok(byId.has(`xdp-firewall.${fam}.syn.${k}`), `${fam} ${k}`);
    }
    assert.equal(byId.get('floor.xdp_pass')?.ratio_to_floor, 1);
  });

  it('keeps a rule-scaling summary whose ratios and verdicts are the ones its figures give', () => {
    const f = committed();
    assert.ok(f.scaling, 'a full run keeps the rule-scaling sweep');
    scalingProblems(f.scaling).forEach((p) => assert.fail(p));
  });

  it('keeps a drop-throughput summary whose ratios and verdicts are the ones its figures give', () => {
    const f = committed();
    assert.ok(f.throughput, 'a full run keeps the drop throughput');
    throughputProblems(f.throughput).forEach((p) => assert.fail(p));
  });
});

function committed(): ResultsFile {
  const p = path.join(ROOT, 'bench', 'results.json');
  const r = parseResults(readFileSync(p, 'utf8'), p);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.file;
}

const near = (a: number, b: number, tol = 0.002): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

/** What is inconsistent in a scaling summary (empty when it is what its figures give). */
function scalingProblems(sc: ScalingSummary): string[] {
  const out: string[] = [];
  if (sc.bound !== SCALING_BOUND || sc.reference_bound !== REFERENCE_BOUND) out.push(`bounds ${sc.bound} / ${sc.reference_bound} are not the bench's`);
  for (const family of [4, 6]) {
    for (const mode of ['warm', 'rotating']) {
      for (const kind of ['pass', 'drop', 'miss']) {
        const row = sc.rows.find((r) => r.family === family && r.mode === mode && r.kind === kind);
        if (!row) {
          out.push(`no IPv${family} ${kind} ${mode} row`);
          continue;
        }
        const sizes = Object.keys(row.sizes).map(Number).sort((a, b) => a - b);
        if (sizes.join() !== '10,1000,10000') out.push(`IPv${family} ${kind} ${mode}: sizes ${sizes.join()}`);
        for (const n of sizes) {
          const s = row.sizes[String(n)]!;
          if (!(s.p50 <= s.p99 && s.p99 <= s.max)) out.push(`IPv${family} ${kind} ${mode} ${n}: p50 ${s.p50} p99 ${s.p99} max ${s.max} out of order`);
          if (s.frames < (kind === 'miss' ? 1000 : 1)) out.push(`IPv${family} ${kind} ${n}: only ${s.frames} frames`);
        }
        const ratio = row.sizes[String(sizes[sizes.length - 1])]!.p99 / row.sizes[String(sizes[0])]!.p99;
        if (!near(row.ratio_p99, ratio)) out.push(`IPv${family} ${kind} ${mode}: ratio ${row.ratio_p99}, the figures give ${ratio.toFixed(3)}`);
        if (row.within_bound !== row.ratio_p99 <= sc.bound) out.push(`IPv${family} ${kind} ${mode}: within_bound ${row.within_bound} for ratio ${row.ratio_p99}`);
      }
      const ref = sc.reference.find((r) => r.family === family && r.mode === mode);
      if (!ref) out.push(`no IPv${family} ${mode} reference row`);
      else {
        if (!near(ref.ratio_p99, ref.firewall.p99 / ref.reference.p99)) out.push(`IPv${family} ${mode} reference ratio ${ref.ratio_p99}`);
        if (!near(ref.ratio_p99_no_events, ref.firewall_no_events.p99 / ref.reference.p99)) out.push(`IPv${family} ${mode} reference ratio without events ${ref.ratio_p99_no_events}`);
        if (ref.within_bound !== ref.ratio_p99 <= sc.reference_bound) out.push(`IPv${family} ${mode} reference verdict ${ref.within_bound} for ${ref.ratio_p99}`);
        const hits = sc.policies.find((p) => p.rules === 10000 && p.family === family);
        if (!hits || ref.firewall.frames !== hits.frames) out.push(`IPv${family} ${mode}: the reference row covers ${ref.firewall.frames} frames, the policy has ${hits?.frames}`);
      }
    }
  }
  return out;
}

/** What is inconsistent in a throughput summary (empty when it is what its figures give). */
function throughputProblems(t: ThroughputSummary): string[] {
  const out: string[] = [];
  const fig = (c: string, f: number): ThroughputSummary['figures'][number] | undefined => t.figures.find((x) => x.contender === c && x.family === f);
  if (t.settings.source_margin !== SOURCE_MARGIN || t.goal.bound !== THROUGHPUT_GOAL) out.push('margin or goal is not the bench\'s');
  for (const family of [4, 6]) {
    for (const c of ['xdp-firewall', 'xdp-firewall-empty', 'xdp-drop', 'nft-sets', 'nft-drop']) {
      const f = fig(c, family);
      if (!f) {
        out.push(`no ${c} IPv${family} figure`);
        continue;
      }
      if (f.mpps_runs.length !== t.settings.rounds) out.push(`${c} IPv${family}: ${f.mpps_runs.length} rounds of ${t.settings.rounds}`);
      const withheld = f.source_margin < t.settings.source_margin;
      if (withheld !== (f.mpps === null) || withheld !== (f.withheld !== undefined)) out.push(`${c} IPv${family}: margin ${f.source_margin} but the figure is ${f.mpps === null ? 'withheld' : 'printed'}`);
      if (f.mpps !== null) {
        const sorted = [...f.mpps_runs].sort((a, b) => a - b);
        const mid = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
        if (!near(f.mpps, mid, 0.01)) out.push(`${c} IPv${family}: ${f.mpps} Mpps is not the median of its rounds`);
        if (!near(f.ns_per_frame!, 1000 / f.mpps, 0.01)) out.push(`${c} IPv${family}: ${f.ns_per_frame} ns/frame for ${f.mpps} Mpps`);
      }
    }
    const r = t.ratios.find((x) => x.family === family);
    const g = t.goal.rows.find((x) => x.family === family);
    const w = t.walk.find((x) => x.family === family);
    const flows = t.flows.find((x) => x.family === family);
    if (!r || !g || !w || !flows) {
      out.push(`IPv${family}: ratio, goal, walk or flows missing`);
      continue;
    }
    const m = (c: string): number | null => fig(c, family)?.mpps ?? null;
    const expect = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : a / b);
    for (const [k, v] of [
      ['firewall_to_xdp_drop', expect(m('xdp-firewall'), m('xdp-drop'))],
      ['firewall_to_firewall_empty', expect(m('xdp-firewall'), m('xdp-firewall-empty'))],
      ['firewall_to_nft_sets', expect(m('xdp-firewall'), m('nft-sets'))],
      ['firewall_to_nft_drop', expect(m('xdp-firewall'), m('nft-drop'))],
      ['xdp_drop_to_nft_drop', expect(m('xdp-drop'), m('nft-drop'))],
    ] as const) {
      const got = r[k];
      if ((got === null) !== (v === null) || (got !== null && v !== null && !near(got, v, 0.005))) out.push(`IPv${family} ${k}: ${got}, the figures give ${v}`);
    }
    if (g.ratio !== r.firewall_to_xdp_drop || g.met !== (g.ratio !== null && g.ratio >= t.goal.bound)) out.push(`IPv${family}: goal ${g.met} for ratio ${g.ratio}`);
    if (w.frames !== flows.flows) out.push(`IPv${family}: walk over ${w.frames} frames, ${flows.flows} flows sent`);
    if (flows.flows < 1000 || flows.tcp + flows.udp !== flows.flows) out.push(`IPv${family}: ${flows.flows} flows (${flows.tcp} TCP, ${flows.udp} UDP)`);
  }
  return out;
}

describe('the consistency checks of the committed summaries can fail', () => {
  it('a scaling ratio or verdict that its figures do not give is named', () => {
    const f = committed();
    const sc = structuredClone(f.scaling!);
    sc.rows[0]!.ratio_p99 += 0.5;
    sc.reference[0]!.within_bound = !sc.reference[0]!.within_bound;
    const p = scalingProblems(sc);
    assert.ok(p.some((x) => /ratio .*the figures give/.test(x)), p.join('; '));
    assert.ok(p.some((x) => /reference verdict/.test(x)), p.join('; '));
  });

  it('a throughput ratio, a printed figure the source did not outrun, or a flipped goal is named', () => {
    const t = structuredClone(committed().throughput!);
    t.ratios[0]!.firewall_to_nft_sets = 99;
    t.figures[0]!.source_margin = 1;
    t.goal.rows[1]!.met = !t.goal.rows[1]!.met;
    const p = throughputProblems(t);
    assert.ok(p.some((x) => /firewall_to_nft_sets: 99/.test(x)), p.join('; '));
    assert.ok(p.some((x) => /margin 1 but the figure is printed/.test(x)), p.join('; '));
    assert.ok(p.some((x) => /goal/.test(x)), p.join('; '));
  });
});
