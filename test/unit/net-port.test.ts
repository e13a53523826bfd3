import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatPortRange, parsePortRange } from '../../src/net/port.js';

describe('net/port', () => {
  for (const [input, lo, hi] of [
    [443, 443, 443],
    ['443', 443, 443],
    ['1024-65535', 1024, 65535],
    [' 80 - 90 ', 80, 90],
    [{ start: 5000, end: 5100 }, 5000, 5100],
    [0, 0, 0],
    ['0-65535', 0, 65535],
    ['22-22', 22, 22],
  ] as const) {
    it(`accepts ${JSON.stringify(input)}`, () => {
      assert.deepEqual(parsePortRange(input), { lo, hi });
    });
  }

  for (const [input, why] of [
    ['80-70', '(start > end)'],
    [{ start: 90, end: 80 }, '(start > end)'],
    [65536, '(65536 is outside 0-65535)'],
    ['70000', '(70000 is outside 0-65535)'],
    [-1, '(-1 is outside 0-65535)'],
    [80.5, '(80.5 is not an integer)'],
    ['http', '(not a number or "lo-hi")'],
    ['80-', '(not a number or "lo-hi")'],
    ['80,443', '(not a number or "lo-hi")'],
    [{ start: 80 }, '(start and end must both be numbers)'],
    [{ start: 80, end: 90, step: 2 }, '(unknown key "step")'],
    [[80, 90], '(a list is not a port)'],
    [true, '(a boolean is not a port)'],
    [null, '(a null is not a port)'],
  ] as const) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      const r = parsePortRange(input);
      assert.equal(typeof r, 'string');
      assert.ok((r as string).startsWith('expected a port 0-65535, a range "lo-hi" or {start, end}; got '), r as string);
      assert.ok((r as string).endsWith(why), r as string);
    });
  }

  it('names the offending value as written', () => {
    assert.equal(parsePortRange('80-70'), 'expected a port 0-65535, a range "lo-hi" or {start, end}; got "80-70" (start > end)');
  });

  it('formats back', () => {
    assert.equal(formatPortRange({ lo: 443, hi: 443 }), '443');
    assert.equal(formatPortRange({ lo: 1024, hi: 65535 }), '1024-65535');
  });
});
