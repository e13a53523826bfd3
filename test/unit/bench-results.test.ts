import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compareResults, machineDifferences, parseResults, RESULTS_VERSION, SCALING_BOUND, scalingSummary, type CaseResult, type ResultsFile } from '../../bench/results.js';

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
    assert.match(bad(JSON.stringify({ ...file([]), version: 2 })), /schema version 2, this bench writes version 1/);
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

  it('names the machine fields that differ', () => {
    assert.deepEqual(machineDifferences(file([]).machine, file([]).machine), []);
    assert.deepEqual(machineDifferences(file([], '6.1.0').machine, file([], '6.18.0').machine), ['kernel: 6.1.0 -> 6.18.0']);
  });
});

describe('bench scaling summary', () => {
  it('relates each family and kind at the largest rule count to the smallest, against the bound', () => {
    const cases = [
      kase('floor.xdp_pass', 8, 7.9, 8.1),
      kase('xdp-firewall.v4.syn.mixed_10_hit', 60, 59, 61),
      kase('xdp-firewall.v4.syn.mixed_1000_hit', 66, 65, 67),
      kase('xdp-firewall.v4.syn.mixed_10000_hit', 80, 79, 81),
      kase('xdp-firewall.v6.syn.mixed_10_miss', 50, 49, 51),
      kase('xdp-firewall.v6.syn.mixed_10000_miss', 64, 63, 65),
      // one rule count alone relates to nothing
      kase('xdp-firewall.v6.syn.mixed_10_hit', 50, 49, 51),
    ];
    const sc = scalingSummary(cases);
    assert.ok(sc);
    assert.equal(sc.bound, SCALING_BOUND);
    assert.deepEqual(sc.rows, [
      { family: 4, kind: 'hit', ns: { '10': 60, '1000': 66, '10000': 80 }, ratio: 1.333, within_bound: false },
      { family: 6, kind: 'miss', ns: { '10': 50, '10000': 64 }, ratio: 1.28, within_bound: true },
    ]);
    assert.equal(scalingSummary([kase('floor.xdp_pass', 8, 7.9, 8.1)]), null);
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
      assert.ok(Math.abs(c.ratio_to_floor - c.ns_per_packet / floor.ns_per_packet) < 0.01 * c.ratio_to_floor, `${c.id}: ratio matches the figures`);
      assert.equal(c.samples_ns.length, f.method.samples);
      assert.ok(c.spread.min <= c.spread.p25 && c.spread.p25 <= c.ns_per_packet && c.ns_per_packet <= c.spread.p75 && c.spread.p75 <= c.spread.max, `${c.id}: spread is ordered`);
    }
    // the figures issue 2 asks for, in both families
    for (const fam of ['v4', 'v6']) {
      for (const k of ['rule_miss', 'rule_hit', 'lpm_hit_deny']) assert.ok(byId.has(`xdp-firewall.${fam}.syn.${k}`), `${fam} ${k}`);
    }
    assert.equal(byId.get('floor.xdp_pass')?.ratio_to_floor, 1);
    // issue 3: the scaling summary is the one the cases give, and it is flat
    assert.deepEqual(f.scaling, scalingSummary(f.cases), 'scaling summary matches the cases');
    assert.equal(f.scaling?.rows.length, 4, 'hit and miss, IPv4 and IPv6');
    for (const row of f.scaling?.rows ?? []) assert.ok(row.within_bound, `IPv${row.family} ${row.kind}: ${row.ratio}x over ${f.scaling?.bound}x`);
  });
});
