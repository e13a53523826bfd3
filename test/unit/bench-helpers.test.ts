// Pure helpers of the conntrack and SYN-cookie bench cases: the ct_table key the bench writes must
// be the one ct.h's ct_key_fill builds (or the firewall would never find the flow), and the
// namespace child's output must be refused when it is not a complete result.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ctKeyFor, establishedEntry } from '../../bench/conntrack.js';
import { parseChildResult } from '../../bench/syncookie.js';
import { layouts } from '../../src/kernel/layouts.gen.js';

const K = layouts.ct_key.fields;
const E = layouts.ct_entry.fields;

describe('bench ct_key (ct.h ct_key_fill)', () => {
  it('IPv4: the lower address is endpoint a, words in network order, ports host order, family and proto set', () => {
    const fwd = ctKeyFor(4, 6, '198.19.0.7', 41000, '198.18.0.10', 443);
    assert.equal(fwd.dir, 1, '198.19.0.7 sorts after 198.18.0.10: the packet goes b -> a');
    assert.equal(fwd.key.length, layouts.ct_key.size);
    assert.equal(fwd.key.subarray(K.addr_a.offset, K.addr_a.offset + 16).toString('hex'), 'c612000a' + '0'.repeat(24));
    assert.equal(fwd.key.subarray(K.addr_b.offset, K.addr_b.offset + 16).toString('hex'), 'c6130007' + '0'.repeat(24));
    assert.equal(fwd.key.readUInt16LE(K.port_a.offset), 443);
    assert.equal(fwd.key.readUInt16LE(K.port_b.offset), 41000);
    assert.equal(fwd.key[K.family.offset], 4);
    assert.equal(fwd.key[K.proto.offset], 6);
    const rev = ctKeyFor(4, 6, '198.18.0.10', 443, '198.19.0.7', 41000);
    assert.equal(rev.dir, 0);
    assert.deepEqual(rev.key, fwd.key, 'both directions share one key');
  });

  it('IPv6: compares all 16 bytes; equal addresses fall back to the port', () => {
    const k = ctKeyFor(6, 17, '2001:db8::10', 53, '2001:db8:1::7', 40000);
    assert.equal(k.dir, 0);
    assert.equal(k.key.subarray(K.addr_a.offset, K.addr_a.offset + 16).toString('hex'), '20010db8000000000000000000000010');
    assert.equal(k.key[K.family.offset], 6);
    assert.equal(k.key[K.proto.offset], 17);
    const same = ctKeyFor(6, 6, '2001:db8::1', 5000, '2001:db8::1', 80);
    assert.equal(same.dir, 1, 'same address: the lower port is endpoint a');
    assert.equal(same.key.readUInt16LE(K.port_a.offset), 80);
    assert.throws(() => ctKeyFor(6, 6, '198.18.0.1', 1, '2001:db8::1', 2), /not both IPv6/);
  });

  it('established entry: reply seen, assured, initiator side per direction, live, neither direction passed', () => {
    for (const dir of [0, 1] as const) {
      const v = establishedEntry(dir);
      assert.equal(v.length, layouts.ct_entry.size);
      assert.equal(v[E.state.offset], 4);
      assert.equal(v[E.flags.offset], 0x02 | 0x04 | (dir === 0 ? 0x01 : 0));
      assert.ok(v.readBigUInt64LE(E.expires_ns.offset) > BigInt(Number.MAX_SAFE_INTEGER));
      assert.equal(v.readUInt32LE(E.fw_pass_gen.offset), 0);
      assert.equal(v.readUInt32LE(E.fw_pass_gen.offset + 4), 0);
    }
  });
});

describe('syncookie bench child result', () => {
  const good = { floorNs: 8.5, cases: [{ subject: { id: 'xdp-ratelimit.v4.syn.syncookie_tx', program: 'xdp-ratelimit', description: 'd', family: 4, retval: 3 }, repeats: 100, samples: [230.1, 229.8], kernel: [230, 229], disagreed: 0 }] };

  it('takes the last line, after any other output', () => {
    const r = parseChildResult(`noise\n${JSON.stringify(good)}\n`);
    assert.equal(r.floorNs, 8.5);
    assert.deepEqual(r.cases[0]!.samples, [230.1, 229.8]);
  });

  it('refuses output that is not a complete result', () => {
    assert.throws(() => parseChildResult('child crashed\n'), /last output line is not JSON: "child crashed"/);
    assert.throws(() => parseChildResult(JSON.stringify({ ...good, floorNs: 0 })), /no floor or no cases/);
    assert.throws(() => parseChildResult(JSON.stringify({ ...good, cases: [] })), /no floor or no cases/);
    const bad = { ...good, cases: [{ ...good.cases[0]!, samples: [1, -2] }] };
    assert.throws(() => parseChildResult(JSON.stringify(bad)), /case "xdp-ratelimit\.v4\.syn\.syncookie_tx" has no valid samples/);
  });
});
