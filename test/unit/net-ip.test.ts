import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressInto, Cidr, cidrKey, formatAddress, isLoopback, NetParseError, parseAddress, parseCidr, prefixMask, tryParseCidr } from '../../src/net/ip.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('net/ip: IPv4', () => {
  it('parses a dotted quad into bytes 0..3 of a 16-byte buffer', () => {
    const a = parseAddress('198.18.0.66');
    assert.equal(a.family, 4);
    assert.equal(a.addr.length, 16);
    assert.equal(hex(a.addr), 'c6120042' + '00'.repeat(12));
  });

  it('accepts the edges 0.0.0.0 and 255.255.255.255', () => {
    assert.equal(hex(parseAddress('0.0.0.0').addr.subarray(0, 4)), '00000000');
    assert.equal(hex(parseAddress('255.255.255.255').addr.subarray(0, 4)), 'ffffffff');
  });

  for (const [text, why] of [
    ['010.0.0.1', /leading zero/],
    ['1.2.3.00', /leading zero/],
    ['256.1.1.1', /greater than 255/],
    ['1.2.3', /four dot-separated/],
    ['1.2.3.4.5', /four dot-separated/],
    ['1.2.3.', /not a decimal/],
    ['1.2.3.-4', /not a decimal/],
    ['1.2.3.0x1', /not a decimal/],
    [' 1.2.3.4', /not a decimal/],
    ['', /four dot-separated/],
    ['1.2.3.1234', /not a decimal/],
  ] as const) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseAddress(text), (e: unknown) => e instanceof NetParseError && why.test(e.message) && e.message.includes(JSON.stringify(text)));
    });
  }
});

describe('net/ip: IPv6', () => {
  const cases: [string, string][] = [
    ['::', '00'.repeat(16)],
    ['::1', '00'.repeat(15) + '01'],
    ['1::', '0001' + '00'.repeat(14)],
    ['2001:db8::1', '20010db8' + '00'.repeat(11) + '01'],
    ['2001:DB8:0:0:0:0:0:1', '20010db8' + '00'.repeat(11) + '01'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['1:2:3:4:5:6:7::', '0001000200030004000500060007' + '0000'],
    ['::2:3:4:5:6:7:8', '0000000200030004000500060007' + '0008'],
    ['::ffff:198.18.0.1', '00'.repeat(10) + 'ffff' + 'c6120001'],
    ['64:ff9b::192.0.2.33', '0064ff9b' + '00'.repeat(8) + 'c0000221'],
    ['1:2:3:4:5:6:1.2.3.4', '000100020003000400050006' + '01020304'],
    ['fe80::1:2', 'fe80' + '00'.repeat(10) + '00010002'],
  ];
  for (const [text, want] of cases) {
    it(`parses ${text}`, () => {
      const a = parseAddress(text);
      assert.equal(a.family, 6);
      assert.equal(hex(a.addr), want);
    });
  }

  for (const [text, why] of [
    ['1::2::3', /only once/],
    [':::', /only once/],
    ['1:2:3:4:5:6:7:8:9', /8 groups/],
    ['1:2:3:4:5:6:7', /8 groups/],
    ['1:2:3:4:5:6:7:8::', /too many groups/],
    ['12345::', /hex group/],
    ['g::1', /hex group/],
    [':1:2:3:4:5:6:7', /empty group/],
    ['1:2:3:4:5:6:7:', /empty group/],
    ['fe80::1%eth0', /zone/],
    ['::1.2.3', /embedded IPv4/],
    ['::01.2.3.4', /leading zero/],
    ['1.2.3.4::', /hex group/],
    ['::1.2.3.4:5', /hex group/],
    ['1:2:3:4:5:6:7:1.2.3.4', /8 groups/],
  ] as const) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseAddress(text), (e: unknown) => e instanceof NetParseError && why.test(e.message));
    });
  }
});

describe('net/ip: RFC 5952 formatting', () => {
  const cases: [string, string][] = [
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'], // longest run wins
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['::ffff:c612:1', '::ffff:198.18.0.1'],
    ['fe80:0:0:0:0:0:0:abcd', 'fe80::abcd'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
  ];
  for (const [input, want] of cases) {
    it(`${input} -> ${want}`, () => {
      const a = parseAddress(input);
      assert.equal(formatAddress(6, a.addr), want);
      // and the output parses back to the same bytes
      assert.equal(hex(parseAddress(want).addr), hex(a.addr));
    });
  }
  it('formats IPv4 as a dotted quad', () => {
    assert.equal(formatAddress(4, parseAddress('10.0.255.1').addr), '10.0.255.1');
    for (const text of ['0.0.0.0', '255.255.255.255', '198.18.7.200']) assert.equal(formatAddress(4, parseAddress(text).addr), text);
  });
  it('agrees with the WHATWG URL serializer (which compresses by the same rule) on 5,000 addresses with zero runs', () => {
    let seed = 0x9e3779b9;
    const rnd = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    for (let n = 0; n < 5000; n++) {
      const bytes = Buffer.alloc(16);
      // half the groups zero, so runs of every length and position occur
      for (let g = 0; g < 8; g++) if (rnd() % 2) bytes.writeUInt16BE(rnd() % 65536, 2 * g);
      // the URL serializer writes IPv4-mapped addresses in hex; RFC 5952 wants a dotted quad
      if (bytes.subarray(0, 10).every((x) => x === 0) && bytes.readUInt16BE(10) === 0xffff) continue;
      const full = Array.from({ length: 8 }, (_, g) => bytes.readUInt16BE(2 * g).toString(16)).join(':');
      assert.equal(formatAddress(6, bytes), new URL(`http://[${full}]/`).hostname.slice(1, -1), full);
    }
  });
});

describe('net/ip: CIDR', () => {
  it('a bare address is a host route', () => {
    assert.equal(parseCidr('198.18.1.1').prefix, 32);
    assert.equal(parseCidr('2001:db8::1').prefix, 128);
  });

  it('masks host bits and says so', () => {
    const c = parseCidr('10.1.2.3/8');
    assert.equal(c.toString(), '10.0.0.0/8');
    assert.equal(c.hadHostBits, true);
    assert.equal(parseCidr('10.0.0.0/8').hadHostBits, false);
    const c6 = parseCidr('2001:db8:66:1234::1/48');
    assert.equal(c6.toString(), '2001:db8:66::/48');
    assert.equal(c6.hadHostBits, true);
  });

  it('masks at non-byte boundaries', () => {
    assert.equal(parseCidr('198.18.0.255/25').toString(), '198.18.0.128/25');
    assert.equal(parseCidr('198.18.0.255/31').toString(), '198.18.0.254/31');
    assert.equal(parseCidr('2001:db8:ffff::/35').toString(), '2001:db8:e000::/35');
  });

  it('accepts /0 for both families', () => {
    assert.equal(parseCidr('1.2.3.4/0').toString(), '0.0.0.0/0');
    assert.equal(parseCidr('::1/0').toString(), '::/0');
  });

  for (const [text, why] of [
    ['10.0.0.0/33', /longer than 32/],
    ['2001:db8::/129', /longer than 128/],
    ['10.0.0.0/08', /leading zeros/],
    ['10.0.0.0/', /not a decimal/],
    ['10.0.0.0/-1', /not a decimal/],
    ['10.0.0.0/8/8', /not a decimal/],
    ['10.0.0.0/a', /not a decimal/],
  ] as const) {
    it(`rejects ${text}`, () => {
      const r = tryParseCidr(text);
      assert.equal(typeof r, 'string');
      assert.match(r as string, why);
    });
  }

  it('mask() gives the prefix as bytes', () => {
    assert.equal(hex(parseCidr('10.0.0.0/12').mask()), 'fff00000' + '00'.repeat(12));
    assert.equal(hex(prefixMask(0)), '00'.repeat(16));
    assert.equal(hex(prefixMask(128)), 'ff'.repeat(16));
    assert.equal(hex(parseCidr('2001:db8::/33').mask()), 'ffffffff80' + '00'.repeat(11));
  });

  it('contains() follows the prefix bits exactly', () => {
    const n = parseCidr('198.18.0.0/23');
    assert.equal(n.contains(4, parseAddress('198.18.1.255').addr), true);
    assert.equal(n.contains(4, parseAddress('198.18.2.0').addr), false);
    assert.equal(n.contains(6, parseAddress('::').addr), false);
    const n6 = parseCidr('2001:db8:66::/48');
    assert.equal(n6.contains(6, parseAddress('2001:db8:66:ffff::1').addr), true);
    assert.equal(n6.contains(6, parseAddress('2001:db8:67::1').addr), false);
  });

  it('serialises to its normalised text in JSON', () => {
    assert.equal(JSON.stringify({ a: parseCidr('2001:DB8::0/32') }), '{"a":"2001:db8::/32"}');
  });

  it('cidrKey separates family and prefix', () => {
    assert.notEqual(cidrKey(parseCidr('10.0.0.0/8')), cidrKey(parseCidr('10.0.0.0/9')));
    assert.notEqual(cidrKey(parseCidr('0.0.0.0/0')), cidrKey(parseCidr('::/0')));
    assert.equal(cidrKey(parseCidr('10.9.0.0/8')), cidrKey(parseCidr('10.0.0.0/8')));
  });

  it('constructs directly for generated data', () => {
    const c = new Cidr(4, parseAddress('1.2.3.0').addr, 24);
    assert.equal(`${c}`, '1.2.3.0/24');
  });
});

describe('net/ip: loopback', () => {
  for (const [a, want] of [
    ['127.0.0.1', true],
    ['127.255.0.9', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false],
    ['::', false],
    ['198.18.0.1', false],
    ['::2', false],
    ['1::1', false],
  ] as const) {
    it(`${a} -> ${want}`, () => assert.equal(isLoopback(parseAddress(a)), want));
  }
});

describe('net/ip: addressInto (the allocation-free reader)', () => {
  let seed = 0x1234567;
  const rnd = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const agree = (text: string): void => {
    const out = Buffer.alloc(20, 0xee);
    const f = addressInto(text, out, 2);
    let want: ReturnType<typeof parseAddress> | null = null;
    try {
      want = parseAddress(text);
    } catch (e) {
      if (!(e instanceof NetParseError)) throw e;
    }
    if (f === 0) return; // parseAddress reads it (or refuses it) instead
    assert.ok(want, `addressInto read ${JSON.stringify(text)}, which parseAddress refuses`);
    assert.equal(f, want.family, text);
    const n = f === 4 ? 4 : 16;
    assert.equal(out.subarray(2, 2 + n).toString('hex'), want.addr.subarray(0, n).toString('hex'), text);
    assert.equal(out[1], 0xee, `${text}: nothing written before the offset`);
    assert.equal(out[2 + n], 0xee, `${text}: nothing written past the address`);
  };

  it('reads what formatAddress writes, and every plain spelling, to the bytes parseAddress reads', () => {
    for (let k = 0; k < 4000; k++) {
      const fam = rnd(2) ? 6 : 4;
      const bytes = Buffer.alloc(16);
      for (let i = 0; i < (fam === 4 ? 4 : 16); i += 2) if (rnd(2)) bytes.writeUInt16BE(rnd(65536), i);
      const text = formatAddress(fam, bytes);
      if (text.includes('.') && fam === 6) continue; // IPv4-mapped: the dotted tail is parseAddress's
      const out = Buffer.alloc(16);
      assert.equal(addressInto(text, out, 0), fam, text);
      assert.equal(out.subarray(0, fam === 4 ? 4 : 16).toString('hex'), bytes.subarray(0, fam === 4 ? 4 : 16).toString('hex'), text);
      agree(text);
      if (fam === 6) {
        agree(Array.from({ length: 8 }, (_, g) => bytes.readUInt16BE(2 * g).toString(16).padStart(4, '0').toUpperCase()).join(':'));
      }
    }
  });

  it('never reads text parseAddress refuses (mutated and odd spellings)', () => {
    const fixed = ['', ':', '::', ':::', '1::2::3', '1:2', '1:2:3:4:5:6:7:8:9', '12345::', '::ffff:1.2.3.4', 'fe80::1%eth0', '1.2.3', '1.2.3.4.5', '01.2.3.4', '256.1.1.1', '1..2.3', '1.2.3.4 ', 'g::1', '1:2:3:4:5:6:7::', '::1:2:3:4:5:6:7', '1::', '::1'];
    for (const t of fixed) agree(t);
    const alphabet = '0123456789abcdefABCDEF:.%g ';
    for (let k = 0; k < 20000; k++) {
      let t = '';
      const len = rnd(20);
      for (let i = 0; i < len; i++) t += alphabet[rnd(alphabet.length)];
      agree(t);
    }
  });
});

