import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { quantileSorted, refineSample, repeatsFor, splitRepeats, summarize } from '../../bench/stats.js';

describe('bench stats: summary', () => {
  it('median, quartiles and extremes of an odd sample, whatever the order', () => {
    const s = summarize([9, 1, 5, 3, 7]);
    assert.deepEqual(s, { n: 5, median: 5, min: 1, max: 9, p25: 3, p75: 7 });
  });

  it('interpolates between ranks for an even sample', () => {
    const s = summarize([4, 1, 3, 2]);
    assert.equal(s.median, 2.5);
    assert.equal(s.p25, 1.75);
    assert.equal(s.p75, 3.25);
    assert.equal(quantileSorted([10, 20], 0.1), 11);
  });

  it('one sample is its own median and spread', () => {
    assert.deepEqual(summarize([42]), { n: 1, median: 42, min: 42, max: 42, p25: 42, p75: 42 });
  });

  it('refuses empty samples, non-finite values and quantiles outside 0..1', () => {
    assert.throws(() => summarize([]), /no samples/);
    assert.throws(() => summarize([1, Number.NaN]), /not a finite number/);
    assert.throws(() => quantileSorted([1], 1.5), /outside 0\.\.1/);
  });
});

describe('bench stats: one sample from test-run calls', () => {
  it('uses CPU time minus the fixed cost when it lies inside the kernel interval', () => {
    // kernel says 8 ns (true value in [8, 9)); CPU: 1e6 runs in 8.4 ms plus 0.5 ms fixed cost
    const r = refineSample([{ repeat: 1_000_000, kernelNs: 8, cpuNs: 8_400_000 + 500_000 }], 500_000);
    assert.equal(r.kernelLo, 8);
    assert.equal(r.kernelHi, 9);
    assert.ok(Math.abs(r.ns - 8.4) < 1e-9, String(r.ns));
    assert.equal(r.ns, r.cpuEstimate);
  });

  it('clamps into the kernel interval: the kernel stays authoritative', () => {
    const high = refineSample([{ repeat: 1000, kernelNs: 8, cpuNs: 20_000 }], 0);
    assert.equal(high.cpuEstimate, 20);
    assert.equal(high.ns, 9);
    const low = refineSample([{ repeat: 1000, kernelNs: 8, cpuNs: 9000 }], 5000);
    assert.equal(low.cpuEstimate, 4);
    assert.equal(low.ns, 8);
  });

  it('weighs several calls by their repeats and subtracts the fixed cost once per call', () => {
    const r = refineSample(
      [
        { repeat: 3000, kernelNs: 100, cpuNs: 3000 * 100.5 + 1000 },
        { repeat: 1000, kernelNs: 104, cpuNs: 1000 * 104.5 + 1000 },
      ],
      1000,
    );
    assert.equal(r.repeats, 4000);
    assert.equal(r.kernelLo, 101); // (3000*100 + 1000*104) / 4000
    assert.equal(r.kernelHi, 102);
    assert.ok(Math.abs(r.ns - 101.5) < 1e-9, String(r.ns));
  });

  it('refuses a sample without calls or with a bad repeat', () => {
    assert.throws(() => refineSample([], 0), /at least one call/);
    assert.throws(() => refineSample([{ repeat: 0, kernelNs: 1, cpuNs: 1 }], 0), /repeat 0/);
  });
});

describe('bench stats: repeats', () => {
  it('sizes a sample from a calibration, within bounds', () => {
    assert.equal(repeatsFor(300e6, 10, { min: 1, max: 1e9 }), 30_000_000);
    assert.equal(repeatsFor(300e6, 0, { min: 1, max: 1e9 }), 300_000_000); // never divides by zero
    assert.equal(repeatsFor(300e6, 1e9, { min: 10_000, max: 1e9 }), 10_000);
    assert.equal(repeatsFor(300e6, 0.001, { min: 1, max: 5e6 }), 5e6);
  });

  it('splits repeats into even calls that never exceed the limit', () => {
    assert.deepEqual(splitRepeats(10, 4), [4, 3, 3]);
    assert.deepEqual(splitRepeats(8, 4), [4, 4]);
    assert.deepEqual(splitRepeats(3, 100), [3]);
    for (const [total, max] of [
      [1_333_333, 629_000],
      [7, 1],
      [1e6 + 1, 1e6],
    ] as const) {
      const parts = splitRepeats(total, max);
      assert.equal(parts.reduce((a, b) => a + b, 0), total);
      assert.ok(parts.every((p) => p > 0 && p <= max));
      assert.ok(Math.max(...parts) - Math.min(...parts) <= 1);
    }
    assert.throws(() => splitRepeats(0, 5), /total 0/);
    assert.throws(() => splitRepeats(5, 0), /maxPerCall 0/);
  });
});
