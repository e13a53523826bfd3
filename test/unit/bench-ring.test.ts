// The ring-buffer bench's judgements from raw runs: which runs account for every record, the
// figures (per consumer CPU-second, saturation), the ratios to the C consumer and both goals.
// Pure: no kernel, no timing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RingRun, RingStage } from '../../bench/ring-child.js';
import { DECODE_GOAL, decodeGoal, EVE_GOAL_RATE, eveGoal, ringFigures, ringRatios, ringRunProblems } from '../../bench/ring-figures.js';

/** A run that read `perCpuS` records per CPU-second in a 1 s window at `share` of its CPU. */
function run(stage: RingStage, round: number, perCpuS: number, o: { rate?: number; share?: number; lost?: number; extra?: Partial<RingRun> } = {}): RingRun {
  const share = o.share ?? 0.5;
  const cpuNs = share * 1e9;
  const records = Math.round(perCpuS * share);
  const lost = o.lost ?? 1000;
  const written = records + 5000;
  const js = stage !== 'c';
  return {
    stage,
    rate: o.rate ?? 0,
    round,
    producer: { runs: written + lost, calls: 10, wallNs: 1.5e9, cpuNs: 1.4e9 },
    produced: written + lost,
    written,
    lostFull: 0,
    lostBackpressure: lost,
    consumed: written,
    batches: 100,
    delivered: written,
    missing: js ? lost : null,
    duplicates: js ? 0 : null,
    decodeFailures: 0,
    sinkDropped: 0,
    unknownRules: 0,
    whole: js ? { cpuNs: (written / perCpuS) * 1e9 * 1.25, wallNs: 2e9 } : null,
    window: { records, wallNs: 1e9, cpuNs, produced: records * 2, written: records, lostFull: 0, lostBackpressure: lost ? records : 0 },
    ...o.extra,
  };
}

describe('bench ring-buffer judgement', () => {
  it('a run that accounts for every record has no problems', () => {
    for (const s of ['c', 'raw', 'decode', 'eve'] as const) assert.deepEqual(ringRunProblems(run(s, 0, 1e6)), []);
  });

  it('names every way a run can lose a record without counting it, or measure nothing', () => {
    const bad = (extra: Partial<RingRun>): string[] => ringRunProblems(run('decode', 1, 1e6, { extra }));
    assert.match(bad({ written: 100 }).join(), /produced but 100 written \+ 1000 lost/);
    assert.match(bad({ consumed: 12 }).join(), /written to the ring but 12 read/);
    assert.match(bad({ missing: 999 }).join(), /999 sequence numbers never arrived, but the counters say 1000 were not written/);
    assert.match(bad({ duplicates: 2 }).join(), /2 sequence numbers arrived twice/);
    assert.match(bad({ decodeFailures: 3 }).join(), /3 records could not be decoded/);
    assert.match(bad({ unknownRules: 4 }).join(), /4 alerts name a rule the engine does not know/);
    assert.match(bad({ delivered: 7 }).join(), /read but 7 delivered \+ 0 dropped by the sink/);
    assert.match(bad({ producer: { runs: 5, calls: 1, wallNs: 1, cpuNs: 1 } }).join(), /ran 5 times but took \d+ sequence numbers/);
    assert.match(bad({ window: null }).join(), /no window of steady state/);
    assert.match(bad({ produced: 0, written: 0, lostBackpressure: 0, consumed: 0, delivered: 0, missing: 0, producer: { runs: 0, calls: 0, wallNs: 1, cpuNs: 1 } }).join(), /made no records/);
    assert.match(ringRunProblems(run('decode', 0, 1e6, { extra: { window: { records: 0, wallNs: 1e9, cpuNs: 1e8, produced: 1, written: 0, lostFull: 0, lostBackpressure: 0 } } })).join(), /saw no records/);
    // lines the sink dropped (counted) are accounted for: read = delivered + dropped, missing = lost + dropped
    const sink = run('eve', 0, 2e5, { extra: { delivered: 0, sinkDropped: 0 } });
    sink.sinkDropped = 300;
    sink.delivered = sink.consumed - 300;
    sink.missing = sink.lostBackpressure + 300;
    assert.deepEqual(ringRunProblems(sink), []);
  });

  it('a figure is the median rate per consumer CPU-second, saturated only when every window lost records', () => {
    const runs = [run('raw', 0, 10e6), run('raw', 1, 12e6), run('raw', 2, 11e6, { lost: 0 })];
    const figs = ringFigures(runs);
    assert.equal(figs.length, 1);
    const f = figs[0]!;
    assert.equal(f.per_cpu_s, 11e6);
    assert.deepEqual(f.per_cpu_s_runs, [10e6, 12e6, 11e6]);
    assert.equal(f.ns_per_record, 90.9);
    assert.equal(f.cpu_share, 0.5);
    assert.equal(f.per_s, 5.5e6);
    assert.equal(f.saturated, false, 'one window without loss: the producer did not outrun the consumer there');
    assert.equal(ringFigures([run('raw', 0, 10e6), run('raw', 1, 12e6)])[0]!.saturated, true);
    assert.equal(f.whole_per_cpu_s, 8.8e6, 'the whole path: delivered per CPU-second until all was delivered');
    assert.equal(ringFigures([run('c', 0, 30e6)])[0]!.whole_per_cpu_s, undefined);
    assert.equal(f.totals.produced, runs.reduce((n, r) => n + r.produced, 0));
    assert.equal(f.totals.lost_backpressure, 2000);
  });

  it('ratios to the C consumer, and the decode goal with how far off it is', () => {
    const figs = ringFigures([run('c', 0, 20e6), run('raw', 0, 10e6), run('decode', 0, 8e5), run('eve', 0, 1e5)]);
    assert.deepEqual(ringRatios(figs), { raw_to_c: 0.5, decode_to_c: 0.04, eve_to_c: 0.005, decode_to_raw: 0.08 });
    const g = decodeGoal(figs);
    assert.equal(g.met, false);
    assert.match(g.note, /800\.0 k records\/CPU-s \(1250 ns each\): 20\.0 % short of 1\.00 M/);
    const ok = decodeGoal(ringFigures([run('decode', 0, DECODE_GOAL)]));
    assert.equal(ok.met, true, 'exactly the goal meets it');
    assert.equal(decodeGoal(ringFigures([run('decode', 0, 2e6, { lost: 0 })])).note.includes('a floor'), true);
    assert.deepEqual(decodeGoal([]), { met: false, note: 'not measured' });
    assert.deepEqual(ringRatios([]), { raw_to_c: null, decode_to_c: null, eve_to_c: null, decode_to_raw: null });
  });

  it('the EVE goal: every paced round lossless, every record a line, the queue not growing', () => {
    const paced = (round: number, extra: Partial<RingRun> = {}): RingRun => {
      const r = run('eve', round, 4e5, { rate: EVE_GOAL_RATE, lost: 0, share: 0.5 });
      r.window!.eveQueueGrowth = 100;
      r.window!.eveLines = r.window!.records;
      return { ...r, missing: 0, ...extra };
    };
    const good = [paced(0), paced(1)];
    const g = eveGoal(ringFigures(good), good);
    assert.equal(g.met, true, g.note);
    assert.match(g.note, /consumer on its CPU 50 % of the wall time/);

    const lossy = [paced(0), paced(1, { lostBackpressure: 10, produced: paced(1).produced + 10 })];
    const l = eveGoal(ringFigures(lossy), lossy);
    assert.equal(l.met, false);
    assert.match(l.note, /round 2: 10 records found no room in the ring/);
    assert.match(l.note, /it had its CPU 50 % of the time/, 'a starved consumer is named as such');

    const growing = [paced(0)];
    growing[0]!.window!.eveQueueGrowth = 50_000;
    assert.match(eveGoal(ringFigures(growing), growing).note, /the sink's queue grew by 50000 over the window/);

    const dropped = [paced(0, { sinkDropped: 5, delivered: paced(0).delivered - 5 })];
    assert.match(eveGoal(ringFigures(dropped), dropped).note, /the sink dropped 5/);
    assert.deepEqual(eveGoal([], []), { met: false, note: 'not measured at 200.0 k/s' });
  });
});
