// The tests' SipHash-2-4 (test/support/siphash.ts) against the vectors published with the
// algorithm (key 00 01 .. 0f, message 00 01 .. n-1): the kernel tests trust it to recompute
// xdp-ratelimit's SYN cookies, so it must be right on its own.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { siphash24 } from '../support/siphash.js';

const KEY = Buffer.from([...Array(16).keys()]);
const msg = (n: number): Buffer => Buffer.from([...Array(n).keys()]);

describe('SipHash-2-4 (test oracle)', () => {
  it('matches the published vectors for 0, 8 and 15 bytes', () => {
    assert.equal(siphash24(KEY, msg(0)), 0x726fdb47dd0e0e31n);
    assert.equal(siphash24(KEY, msg(8)), 0x93f5f5799a932462n);
    assert.equal(siphash24(KEY, msg(15)), 0xa129ca6149be45e5n);
  });

  it('depends on every key and message byte', () => {
    const base = siphash24(KEY, msg(48));
    for (let i = 0; i < 16; i++) {
      const k = Buffer.from(KEY);
      k[i]! ^= 1;
      assert.notEqual(siphash24(k, msg(48)), base, `key byte ${i}`);
    }
    for (let i = 0; i < 48; i++) {
      const m = msg(48);
      m[i]! ^= 0x80;
      assert.notEqual(siphash24(KEY, m), base, `message byte ${i}`);
    }
  });
});
