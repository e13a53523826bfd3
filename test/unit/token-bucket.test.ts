// The rate-limit e2e's oracle: a token bucket over a sender's timeline ([ns, packets] bursts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tokenBucketPasses } from '../support/token-bucket.js';

const evenly = (pps: number, secs: number, tickMs = 2): [number, number][] => {
  const out: [number, number][] = [];
  let sent = 0;
  for (let t = 0; t <= secs * 1000; t += tickMs) {
    const due = Math.floor((t / 1000) * pps);
    if (due > sent) out.push([t * 1e6, due - sent]);
    sent = Math.max(sent, due);
  }
  return out;
};

describe('token bucket oracle', () => {
  it('below the rate every packet passes', () => {
    const b = evenly(1000, 2);
    assert.equal(tokenBucketPasses(b, 2000, 50), b.reduce((n, [, k]) => n + k, 0));
  });
  it('above the rate: the burst plus rate x time (from the first packet, 2 ms in)', () => {
    const passed = tokenBucketPasses(evenly(3200, 4), 2000, 50);
    assert.ok(Math.abs(passed - (50 + 2000 * 3.998)) <= 2, String(passed));
  });
  it('a stall of the sender: tokens beyond the burst are not saved up', () => {
    // 1 s at 3200 pps, nothing for 1 s, then 3,200 packets at once: after the gap the bucket
    // holds only its 50 tokens.
    const b: [number, number][] = [...evenly(3200, 1), [2e9, 3200]];
    const passed = tokenBucketPasses(b, 2000, 50);
    assert.ok(Math.abs(passed - (50 + 2000 * 0.998 + 50)) <= 2, String(passed));
  });
  it('one burst larger than the bucket passes the bucket', () => {
    assert.equal(tokenBucketPasses([[0, 500]], 2000, 50), 50);
    assert.equal(tokenBucketPasses([], 2000, 50), 0);
  });
});
