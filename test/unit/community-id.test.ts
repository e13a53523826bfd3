import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { addressBytes, communityId, icmpPorts, type CommunityIdOptions } from '../../src/alerts/community-id.js';
import { digestText, SHA1_SHORT_MAX, sha1Short } from '../../src/alerts/sha1-short.js';

// Corelight's community-id-spec baselines, read in place (never copied into the repo).
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const vectorsDir = path.resolve(repoRoot, '..', 'shared', 'testdata', 'community-id');

interface Vector {
  proto: number;
  saddr: string;
  daddr: string;
  sport: number | null;
  dport: number | null;
  communityid: string;
}

const baselines: [string, CommunityIdOptions][] = [
  ['baseline_deflt.json', {}],
  ['baseline_nob64.json', { encoding: 'hex' }],
  ['baseline_seed1.json', { seed: 1 }],
];

describe('community id v1: external baselines', () => {
  const present = existsSync(vectorsDir);
  if (!present && process.env.CI === 'true') {
    it('has the external test vectors', () => {
      assert.fail(`community-id test vectors missing: ${vectorsDir}`);
    });
    return;
  }
  for (const [file, opts] of baselines) {
    it(`matches every vector in ${file}`, { skip: present ? false : `vectors not found at ${vectorsDir}` }, () => {
      const vectors = JSON.parse(readFileSync(path.join(vectorsDir, file), 'utf8')) as Vector[];
      assert.ok(vectors.length >= 20, `${file} has vectors`);
      // the baselines must exercise v4 and v6, ICMP both ways and a portless protocol
      assert.ok(vectors.some((v) => v.saddr.includes(':')) && vectors.some((v) => !v.saddr.includes(':')));
      assert.ok(vectors.some((v) => v.proto === 58) && vectors.some((v) => v.proto === 1) && vectors.some((v) => v.sport === null));
      for (const v of vectors) {
        const got = communityId(
          { srcIp: v.saddr, dstIp: v.daddr, proto: v.proto, srcPort: v.sport ?? undefined, dstPort: v.dport ?? undefined },
          opts,
        );
        assert.equal(got, v.communityid, `${file}: ${JSON.stringify(v)}`);
      }
    });
  }
});

describe('community id v1: properties', () => {
  it('is the same in both directions of a TCP or UDP flow, IPv4 and IPv6', () => {
    for (const [a, b] of [
      ['198.18.0.1', '198.18.0.2'],
      ['2001:db8::1', '2001:db8::2'],
    ] as const) {
      for (const proto of [6, 17, 132]) {
        const fwd = communityId({ srcIp: a, dstIp: b, proto, srcPort: 40000, dstPort: 443 });
        const rev = communityId({ srcIp: b, dstIp: a, proto, srcPort: 443, dstPort: 40000 });
        assert.equal(fwd, rev);
        assert.match(fwd, /^1:[A-Za-z0-9+/]{27}=$/);
        assert.notEqual(fwd, communityId({ srcIp: a, dstIp: b, proto, srcPort: 40001, dstPort: 443 }));
      }
    }
  });

  it('orders by port when both ends share an address', () => {
    const x = communityId({ srcIp: '198.18.0.1', dstIp: '198.18.0.1', proto: 6, srcPort: 5000, dstPort: 80 });
    const y = communityId({ srcIp: '198.18.0.1', dstIp: '198.18.0.1', proto: 6, srcPort: 80, dstPort: 5000 });
    assert.equal(x, y);
  });

  it('pairs ICMP requests with replies and keeps one-way messages directional', () => {
    // echo request 8/0 from a, echo reply 0/0 from b: one flow
    assert.equal(
      communityId({ srcIp: '198.18.0.1', dstIp: '198.18.0.2', proto: 1, srcPort: 8, dstPort: 0 }),
      communityId({ srcIp: '198.18.0.2', dstIp: '198.18.0.1', proto: 1, srcPort: 0, dstPort: 0 }),
    );
    assert.equal(
      communityId({ srcIp: '2001:db8::1', dstIp: '2001:db8::2', proto: 58, srcPort: 128, dstPort: 0 }),
      communityId({ srcIp: '2001:db8::2', dstIp: '2001:db8::1', proto: 58, srcPort: 129, dstPort: 0 }),
    );
    // destination unreachable is one-way: the two directions differ
    assert.notEqual(
      communityId({ srcIp: '198.18.0.1', dstIp: '198.18.0.2', proto: 1, srcPort: 3, dstPort: 1 }),
      communityId({ srcIp: '198.18.0.2', dstIp: '198.18.0.1', proto: 1, srcPort: 3, dstPort: 1 }),
    );
    assert.deepEqual(icmpPorts(58, 135, 0), { sport: 135, dport: 136, oneWay: false });
    assert.deepEqual(icmpPorts(1, 11, 0), { sport: 11, dport: 0, oneWay: true });
    // 128 is echo request only in ICMPv6
    assert.deepEqual(icmpPorts(1, 128, 0), { sport: 128, dport: 0, oneWay: true });
  });

  it('parses every IPv6 spelling to the same bytes', () => {
    const full = addressBytes('2001:0db8:0000:0000:0000:0000:0000:0001');
    assert.deepEqual(addressBytes('2001:db8::1'), full);
    assert.deepEqual(addressBytes('2001:DB8:0:0::1'), full);
    assert.equal(addressBytes('::ffff:198.18.0.1').toString('hex'), '00000000000000000000ffffc6120001');
    assert.equal(addressBytes('fe80::1%sn-veth0').toString('hex'), 'fe800000000000000000000000000001');
    assert.equal(addressBytes('::').toString('hex'), '0'.repeat(32));
  });

  it('names what is wrong with bad input', () => {
    assert.throws(() => communityId({ srcIp: '198.18.0.300', dstIp: '198.18.0.1', proto: 6, srcPort: 1, dstPort: 2 }), /"198\.18\.0\.300" is not an IPv4 or IPv6 address/);
    assert.throws(() => communityId({ srcIp: '198.18.0.1', dstIp: '2001:db8::1', proto: 6, srcPort: 1, dstPort: 2 }), /address families differ/);
    assert.throws(() => communityId({ srcIp: '198.18.0.1', dstIp: '198.18.0.2', proto: 6, srcPort: 70000, dstPort: 2 }), /source port must be 0\.\.65535, got 70000/);
    assert.throws(() => communityId({ srcIp: '198.18.0.1', dstIp: '198.18.0.2', proto: 6 }, { seed: -1 }), /seed must be 0\.\.65535/);
    assert.throws(() => communityId({ srcIp: '198.18.0.1', dstIp: '198.18.0.2', proto: 256 }), /proto must be 0\.\.255/);
  });
});

describe('the one-block SHA-1 the community id uses', () => {
  it('agrees with node:crypto on every length it takes, in base64 and hex, and refuses a longer message', () => {
    const out = new Int32Array(5);
    for (let len = 0; len <= SHA1_SHORT_MAX; len++) {
      for (let k = 0; k < 40; k++) {
        const m = k === 0 ? Buffer.alloc(len, 0xff) : randomBytes(len);
        sha1Short(m, len, out);
        for (const enc of ['base64', 'hex'] as const) assert.equal(digestText(out, enc), createHash('sha1').update(m).digest(enc), `${len} bytes ${m.toString('hex')} ${enc}`);
      }
    }
    assert.throws(() => sha1Short(Buffer.alloc(56), 56, out), /message of 56 bytes is not 0\.\.55/);
  });
});
