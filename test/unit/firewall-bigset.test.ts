import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfigText } from '../../src/catalog.js';
import { compileFirewall, matchPacket, type PacketFacts } from '../../src/engines/firewall/compile.js';
import { encodeGeneration } from '../../src/engines/firewall/encode.js';
import { layouts } from '../../src/kernel/layouts.gen.js';
import { parseAddress } from '../../src/net/ip.js';

const V4 = 80_000;
const V6 = 20_000;

/** i-th IPv4 entry: a /24 for even i, a host for odd i, all distinct, from 10.0.0.0 up. */
function v4(i: number): string {
  const net = `${10 + (i >> 16)}.${(i >> 8) & 0xff}.${i & 0xff}`;
  return i % 2 === 0 ? `${net}.0/24` : `${net}.1`;
}
/** i-th IPv6 entry: a /48 under 2001:db8::/32. */
function v6(i: number): string {
  return `2001:db8:${i.toString(16)}::/48`;
}

describe('firewall: a 100,000-CIDR block list', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sentinel-bigset-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads, compiles and encodes every entry exactly once', (t) => {
    const lines: string[] = ['# generated block list'];
    for (let i = 0; i < V4; i++) lines.push(v4(i));
    for (let i = 0; i < V6; i++) lines.push(v6(i));
    writeFileSync(path.join(dir, 'block.txt'), lines.join('\n') + '\n');
    const cfgPath = path.join(dir, 'config.yaml');

    const t0 = performance.now();
    const cfg = parseConfigText(
      `agent:\n  interfaces: [eth1]\nfirewall:\n  aliases:\n    bl: { file: block.txt }\n  rules:\n    - { id: bl, priority: 1, action: deny, src_alias: bl }\n    - { id: web, priority: 2, action: allow, protocol: tcp, dst_port: 443 }\n`,
      cfgPath,
    );
    const t1 = performance.now();
    const compiled = compileFirewall(cfg.firewall, cfg.resolved.firewall.aliases);
    const t2 = performance.now();
    const enc = encodeGeneration(compiled, { generation: 0, ruleNums: new Map([['bl', 1], ['web', 2]]), setIdBase: 1, policyId: 1 });
    const t3 = performance.now();
    t.diagnostic(`load ${(t1 - t0).toFixed(0)} ms, compile ${(t2 - t1).toFixed(0)} ms, encode ${(t3 - t2).toFixed(0)} ms`);

    assert.equal(cfg.resolved.firewall.aliases.get('bl')!.length, V4 + V6);
    assert.deepEqual(compiled.lpmEntries, { v4: V4, v6: V6 });
    assert.deepEqual(
      compiled.rules.map((r) => [r.ruleId, r.family, r.srcSet]),
      [
        ['bl', 4, 0],
        ['bl', 6, 1],
        ['web', 0, null],
      ],
    );
    assert.equal(enc.lpmV4.length, V4);
    assert.equal(enc.lpmV6.length, V6);

    // every key distinct, and spot checks decode back to the list
    const K4 = layouts.fw_lpm_v4_key;
    const K6 = layouts.fw_lpm_v6_key;
    assert.equal(new Set(enc.lpmV4.map((e) => e.key.toString('hex'))).size, V4);
    assert.equal(new Set(enc.lpmV6.map((e) => e.key.toString('hex'))).size, V6);
    for (const i of [0, 1, 12345, V4 - 1]) {
      const k = enc.lpmV4[i]!.key;
      const want = v4(i);
      const plen = want.includes('/') ? 24 : 32;
      assert.equal(k.readUInt32LE(K4.fields.prefixlen.offset), 32 + plen, want);
      assert.equal(k.readUInt32BE(K4.fields.set_id.offset), 1);
      const [a, b, c, d] = k.subarray(K4.fields.addr.offset, K4.fields.addr.offset + 4);
      assert.equal(`${a}.${b}.${c}.${d}`, want.split('/')[0]);
    }
    const k6 = enc.lpmV6[V6 - 1]!.key;
    assert.equal(k6.readUInt32LE(K6.fields.prefixlen.offset), 32 + 48);
    assert.equal(k6.readUInt32BE(K6.fields.set_id.offset), 2);
    assert.equal(k6.toString('hex', K6.fields.addr.offset, K6.fields.addr.offset + 6), `20010db8${(V6 - 1).toString(16).padStart(4, '0')}`);

    const pkt = (src: string, dst: string): PacketFacts => {
      const s = parseAddress(src);
      return { family: s.family, src: s.addr, dst: parseAddress(dst).addr, proto: 6, srcPort: 40000, dstPort: 443 };
    };
    const v = (src: string, dst: string): string => {
      const r = matchPacket(compiled, pkt(src, dst));
      return `${r.action}:${r.ruleId}`;
    };
    assert.equal(v('10.0.0.77', '198.18.1.1'), 'drop:bl'); // inside 10.0.0.0/24 (i = 0)
    assert.equal(v('10.0.1.1', '198.18.1.1'), 'drop:bl'); // host entry i = 1
    assert.equal(v('10.0.1.2', '198.18.1.1'), 'pass:web'); // next to it, not listed
    assert.equal(v4(V4 - 1), '11.56.127.1'); // i = 79999 = 0x1387f
    assert.equal(v('11.56.127.1', '198.18.1.1'), 'drop:bl');
    assert.equal(v('11.56.128.0', '198.18.1.1'), 'pass:web'); // i = 80000: not listed
    assert.equal(v('11.56.126.254', '198.18.1.1'), 'drop:bl'); // inside the /24 of i = 79998
    assert.equal(v('2001:db8:4e1f:1::1', '2001:db8:ffff::1'), 'drop:bl'); // 0x4e1f = 19999
    assert.equal(v('2001:db8:4e20::1', '2001:db8:ffff::1'), 'pass:web'); // 20000: not listed
  });
});
