// xdp-firewall through BPF_PROG_TEST_RUN: every rule field alone and combined, IPv4 and IPv6.
// Each case installs one deny rule under default pass, so a frame the rule matches is dropped
// with an event naming it and a frame it does not match passes by the default, with exact
// counter deltas either way (assertDenyRule).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildFrame, icmpFrame, tcpFrame, udpFrame, type VlanTag } from '../support/frames.js';
import { assertDenyRule, firewallSkipReason, lf, useFirewall, XDP_DROP, XDP_PASS, type Labeled } from '../support/firewall-harness.js';

const skip = firewallSkipReason();

const tcp = (src: string, dst: string, sport = 40000, dport = 80, vlans?: VlanTag[]): Buffer =>
  tcpFrame({ src, dst, sport, dport, ...(vlans ? { vlans } : {}) });
const udp = (src: string, dst: string, sport = 40000, dport = 53, vlans?: VlanTag[]): Buffer =>
  udpFrame({ src, dst, sport, dport, ...(vlans ? { vlans } : {}) });
const rawProto = (src: string, dst: string, proto: number): Buffer =>
  buildFrame({ ip: src.includes(':') ? { version: 6, src, dst } : { src, dst }, l4: { proto: 'raw', number: proto, bytes: Buffer.alloc(16, 0xab) } });

const A4 = '198.18.0.10';
const B4 = '198.18.1.1';
const A6 = '2001:db8::10';
const B6 = '2001:db8:1::1';

/** tcp frames from each source (to B4/B6 by family) */
const fromEach = (tag: string, srcs: string[]): Labeled[] => srcs.map((s) => lf(`${tag} ${s}`, tcp(s, s.includes(':') ? B6 : B4)));
const toEach = (tag: string, dsts: string[]): Labeled[] => dsts.map((d) => lf(`${tag} ${d}`, tcp(d.includes(':') ? A6 : A4, d)));

describe('xdp-firewall rule fields (test-run)', { skip }, () => {
  const fw = useFirewall();

  describe('source CIDR', () => {
    const cases: { cidr: string; hit: string[]; miss: string[] }[] = [
      { cidr: '198.18.1.0/24', hit: ['198.18.1.0', '198.18.1.255'], miss: ['198.18.0.255', '198.18.2.0', A6] },
      { cidr: '198.18.1.7/32', hit: ['198.18.1.7'], miss: ['198.18.1.6', '198.18.1.8', '199.18.1.7'] },
      { cidr: '198.18.0.0/15', hit: ['198.18.0.0', '198.19.255.255'], miss: ['198.17.255.255', '198.20.0.0'] },
      { cidr: '198.18.2.0/23', hit: ['198.18.2.0', '198.18.3.255'], miss: ['198.18.1.255', '198.18.4.0'] },
      { cidr: '198.18.1.32/27', hit: ['198.18.1.32', '198.18.1.63'], miss: ['198.18.1.31', '198.18.1.64'] },
      { cidr: '198.18.1.6/31', hit: ['198.18.1.6', '198.18.1.7'], miss: ['198.18.1.5', '198.18.1.8'] },
      { cidr: '0.0.0.0/0', hit: ['198.18.0.1', '0.0.0.0', '255.255.255.255'], miss: [A6, '::'] },
      { cidr: '2001:db8:1::/48', hit: ['2001:db8:1::', '2001:db8:1:ffff:ffff:ffff:ffff:ffff'], miss: ['2001:db8:0:ffff:ffff:ffff:ffff:ffff', '2001:db8:2::', A4] },
      { cidr: '2001:db8:1::7/128', hit: ['2001:db8:1::7'], miss: ['2001:db8:1::6', '2001:db8:1::8', '2001:db9:1::7'] },
      { cidr: '2001:db8:1:2:8000::/65', hit: ['2001:db8:1:2:8000::', '2001:db8:1:2:ffff:ffff:ffff:ffff'], miss: ['2001:db8:1:2:7fff:ffff:ffff:ffff', '2001:db8:1:3::'] },
      { cidr: '2001:db8:0:8::/61', hit: ['2001:db8:0:8::1', '2001:db8:0:f:ffff::1'], miss: ['2001:db8:0:7::1', '2001:db8:0:10::1'] },
      { cidr: '2001:db8:1::6/127', hit: ['2001:db8:1::6', '2001:db8:1::7'], miss: ['2001:db8:1::5', '2001:db8:1::8'] },
      // the last bit of an IPv6 address decides
      { cidr: '2001:db8:1::1/128', hit: ['2001:db8:1::1'], miss: ['2001:db8:1::', '2001:db8:1::3'] },
      { cidr: '2000::/3', hit: ['2001:db8::1', '3fff:ffff::1'], miss: ['4000::1', '1fff:ffff::1'] },
      { cidr: '::/0', hit: [A6, '::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'], miss: [A4] },
    ];
    for (const c of cases) {
      it(`src_ip ${c.cidr}`, () => {
        assertDenyRule(fw(), { src_ip: c.cidr }, fromEach('from', c.hit), fromEach('from', c.miss));
      });
    }
  });

  describe('destination CIDR', () => {
    const cases: { cidr: string; hit: string[]; miss: string[] }[] = [
      { cidr: '198.18.1.0/24', hit: ['198.18.1.0', '198.18.1.255'], miss: ['198.18.0.255', '198.18.2.0', B6] },
      { cidr: '198.18.1.1/32', hit: ['198.18.1.1'], miss: ['198.18.1.0', '198.18.1.2'] },
      { cidr: '198.18.1.128/25', hit: ['198.18.1.128', '198.18.1.255'], miss: ['198.18.1.127', '198.18.2.128'] },
      { cidr: '198.16.0.0/13', hit: ['198.16.0.0', '198.23.255.255'], miss: ['198.15.255.255', '198.24.0.0'] },
      { cidr: '0.0.0.0/0', hit: ['198.18.1.1', '10.0.0.1'], miss: [B6] },
      { cidr: '2001:db8:1::/64', hit: ['2001:db8:1::1', '2001:db8:1:0:ffff:ffff:ffff:ffff'], miss: ['2001:db8:1:1::1', A4] },
      { cidr: '2001:db8:1::1/128', hit: ['2001:db8:1::1'], miss: ['2001:db8:1::2'] },
      { cidr: '2001:db8:ff00::/40', hit: ['2001:db8:ff00::1', '2001:db8:ffff:ffff::1'], miss: ['2001:db8:feff:ffff::1', '2001:db9::1'] },
      { cidr: '::/0', hit: [B6], miss: [B4] },
    ];
    for (const c of cases) {
      it(`dst_ip ${c.cidr}`, () => {
        assertDenyRule(fw(), { dst_ip: c.cidr }, toEach('to', c.hit), toEach('to', c.miss));
      });
    }
  });

  it('host bits in a CIDR are cleared (with a warning) and the network matches, IPv4 and IPv6', () => {
    const v4 = assertDenyRule(fw(), { src_ip: '198.18.1.77/24' }, fromEach('from', ['198.18.1.1', '198.18.1.254']), fromEach('from', ['198.18.2.77']));
    assert.ok(v4.config.warnings.some((w) => /host bits set: using 198\.18\.1\.0\/24/.test(w.message)), JSON.stringify(v4.config.warnings));
    const v6 = assertDenyRule(fw(), { dst_ip: '2001:db8:1::77/64' }, toEach('to', ['2001:db8:1::1', '2001:db8:1::ffff']), toEach('to', ['2001:db8:2::77']));
    assert.ok(v6.config.warnings.some((w) => /host bits set: using 2001:db8:1::\/64/.test(w.message)), JSON.stringify(v6.config.warnings));
  });

  it('address lists become LPM sets per family; one entry per family stays a plain network', () => {
    const list = ['198.18.1.0/24', '198.18.5.5', '198.18.8.0/22', '2001:db8:5::/48', '2001:db8:6::6'];
    const inst = assertDenyRule(
      fw(),
      { src_ip: list },
      fromEach('member', ['198.18.1.9', '198.18.5.5', '198.18.8.0', '198.18.11.255', '2001:db8:5:1::1', '2001:db8:6::6']),
      fromEach('non-member', ['198.18.2.1', '198.18.5.4', '198.18.12.0', '2001:db8:4:ffff::1', '2001:db8:6::7']),
    );
    assert.deepEqual(inst.compiled.lpmEntries, { v4: 3, v6: 2 });
    assert.equal(fw().kernel.countEntries('fw_lpm_v4'), 3);
    assert.equal(fw().kernel.countEntries('fw_lpm_v6'), 2);

    const single = assertDenyRule(
      fw(),
      { dst_ip: ['198.18.1.0/24', '2001:db8:1::/64'] },
      toEach('to', ['198.18.1.200', '2001:db8:1::200']),
      toEach('to', ['198.18.0.200', '2001:db8:2::200']),
    );
    assert.deepEqual(single.compiled.lpmEntries, { v4: 0, v6: 0 });
    // the previous policy's set entries are gone once the flip has settled
    assert.equal(fw().kernel.countEntries('fw_lpm_v4'), 0);
    assert.equal(fw().kernel.countEntries('fw_lpm_v6'), 0);
  });

  it('nested prefixes in one set: the shortest and the longest both match', () => {
    assertDenyRule(
      fw(),
      { dst_ip: ['198.18.0.0/16', '198.18.1.0/24', '198.18.1.7/32', '2001:db8::/32', '2001:db8:1::/64', '2001:db8:1::7/128'] },
      toEach('to', ['198.18.200.1', '198.18.1.9', '198.18.1.7', '2001:db8:ffff::1', '2001:db8:1::9', '2001:db8:1::7']),
      toEach('to', ['198.19.1.7', '2001:db9:1::7']),
    );
  });

  it('src and dst lists in one rule both have to match', () => {
    assertDenyRule(
      fw(),
      { src_ip: ['198.18.0.1', '198.18.0.2', '2001:db8::1', '2001:db8::2'], dst_ip: ['198.18.1.1', '198.18.1.2', '2001:db8:1::1', '2001:db8:1::2'] },
      [lf('v4 both in', tcp('198.18.0.2', '198.18.1.1')), lf('v6 both in', tcp('2001:db8::1', '2001:db8:1::2'))],
      [
        lf('v4 src out', tcp('198.18.0.3', '198.18.1.1')),
        lf('v4 dst out', tcp('198.18.0.1', '198.18.1.3')),
        lf('v4 swapped', tcp('198.18.1.1', '198.18.0.1')),
        lf('v6 src out', tcp('2001:db8::3', '2001:db8:1::1')),
        lf('v6 dst out', tcp('2001:db8::1', '2001:db8:1::3')),
      ],
    );
  });

  describe('alias sets of 100,000 CIDRs per family', () => {
    const N = 100_000;
    // Generated entries alternate a network and a host; plus one very short and one very long
    // prefix far from them, so both ends of the trie are exercised.
    const v4 = (i: number): string => {
      const net = `${11 + (i >> 16)}.${(i >> 8) & 0xff}.${i & 0xff}`;
      return i % 2 === 0 ? `${net}.0/24` : `${net}.1`;
    };
    const v6 = (i: number): string => {
      const g3 = (i >> 8).toString(16);
      const g4 = (i & 0xff).toString(16);
      return i % 2 === 0 ? `2001:db8:${g3}:${g4}::/64` : `2001:db8:${g3}:${g4}::1`;
    };

    it('src_alias and dst_alias: hit and miss, longest and shortest prefix, IPv4 and IPv6', (t) => {
      const h = fw();
      const lines = ['# generated block list'];
      for (let i = 0; i < N - 2; i++) lines.push(v4(i));
      lines.push('172.16.0.0/12', '198.19.0.77/32');
      for (let i = 0; i < N - 2; i++) lines.push(v6(i));
      lines.push('2001:db8:f000::/36', '2001:db8:e000::77/128');
      h.writeFile('big.txt', lines.join('\n') + '\n');
      const last = N - 3; // odd: a host entry
      const t0 = performance.now();
      const inst = assertDenyRule(
        h,
        { src_alias: 'big' },
        fromEach('listed', [
          '11.0.0.5', // i = 0, a /24
          '11.0.1.1', // i = 1, a host
          v4(last).replace(/\/\d+$/, ''),
          '172.16.0.0',
          '172.31.255.255',
          '198.19.0.77',
          '2001:db8:0:0:1:2:3:4', // i = 0, a /64
          '2001:db8:0:1::1', // i = 1, a host
          v6(last).replace(/\/\d+$/, ''),
          '2001:db8:f000::',
          '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff',
          '2001:db8:e000::77',
        ]),
        fromEach('unlisted', [
          '11.0.1.2',
          '12.200.0.0',
          '172.15.255.255',
          '172.32.0.0',
          '198.19.0.76',
          '198.19.0.78',
          '2001:db8:0:1::2',
          '2001:db8:186:a1::1', // past the generated range
          '2001:db8:efff:ffff:ffff:ffff:ffff:ffff',
          '2001:db8:e000::76',
          '2001:db8:e000::78',
        ]),
        { aliases: { big: { file: 'big.txt' } } },
      );
      t.diagnostic(`load + compile + apply + check: ${(performance.now() - t0).toFixed(0)} ms`);
      assert.deepEqual(inst.compiled.lpmEntries, { v4: N, v6: N });
      assert.equal(h.kernel.countEntries('fw_lpm_v4'), N);
      assert.equal(h.kernel.countEntries('fw_lpm_v6'), N);

      // Same set as destination, in combination with a protocol and port.
      assertDenyRule(
        h,
        { dst_alias: 'big', protocol: 'udp', dst_port: 53 },
        [lf('v4 listed dst udp/53', udp(A4, '11.0.1.1')), lf('v6 listed dst udp/53', udp(A6, '2001:db8:e000::77'))],
        [
          lf('v4 listed dst tcp/53', tcp(A4, '11.0.1.1', 40000, 53)),
          lf('v4 unlisted dst udp/53', udp(A4, '11.0.1.2')),
          lf('v6 listed dst udp/54', udp(A6, '2001:db8:e000::77', 40000, 54)),
          lf('v6 unlisted dst udp/53', udp(A6, '2001:db8:e000::78')),
        ],
        { aliases: { big: { file: 'big.txt' } } },
      );
      // A new generation with the same alias replaced the old entries rather than adding to them.
      assert.equal(h.kernel.countEntries('fw_lpm_v4'), N);
      assert.equal(h.kernel.countEntries('fw_lpm_v6'), N);
    });

    it('a mixed alias with an IPv4 protocol uses only its IPv4 entries', () => {
      assertDenyRule(
        fw(),
        { src_alias: 'mixed', protocol: 'icmp' },
        [lf('v4 member ping', icmpFrame({ src: '198.18.0.66', dst: B4, type: 8 }))],
        [lf('v6 member ping', icmpFrame({ src: '2001:db8:66::1', dst: B6, type: 128 })), lf('v4 non-member ping', icmpFrame({ src: '198.18.0.67', dst: B4, type: 8 }))],
        { aliases: { mixed: { values: ['198.18.0.66', '2001:db8:66::/48'] } } },
      );
    });
  });

  describe('protocol', () => {
    const v4icmp = icmpFrame({ src: A4, dst: B4, type: 8 });
    const v6icmp = icmpFrame({ src: A6, dst: B6, type: 128 });
    it('tcp matches TCP of both families only', () => {
      assertDenyRule(fw(), { protocol: 'tcp' }, [lf('v4 tcp', tcp(A4, B4)), lf('v6 tcp', tcp(A6, B6))], [
        lf('v4 udp', udp(A4, B4, 40000, 80)),
        lf('v6 udp', udp(A6, B6, 40000, 80)),
        lf('v4 icmp', v4icmp),
        lf('v6 icmpv6', v6icmp),
        lf('v4 gre', rawProto(A4, B4, 47)),
      ]);
    });
    it('udp matches UDP of both families only', () => {
      assertDenyRule(fw(), { protocol: 'udp' }, [lf('v4 udp', udp(A4, B4)), lf('v6 udp', udp(A6, B6))], [lf('v4 tcp', tcp(A4, B4, 40000, 53)), lf('v6 tcp', tcp(A6, B6, 40000, 53)), lf('v6 icmpv6', v6icmp)]);
    });
    it('icmp matches ICMP over IPv4 only', () => {
      assertDenyRule(fw(), { protocol: 'icmp' }, [lf('v4 icmp', v4icmp)], [lf('v6 icmpv6', v6icmp), lf('v4 tcp', tcp(A4, B4)), lf('v6 next-header 1', rawProto(A6, B6, 1))]);
    });
    it('icmpv6 matches ICMPv6 over IPv6 only', () => {
      assertDenyRule(fw(), { protocol: 'icmpv6' }, [lf('v6 icmpv6', v6icmp)], [lf('v4 icmp', v4icmp), lf('v4 protocol 58', rawProto(A4, B4, 58)), lf('v6 tcp', tcp(A6, B6))]);
    });
    it('a protocol number matches that number in both families', () => {
      assertDenyRule(fw(), { protocol: 47 }, [lf('v4 gre', rawProto(A4, B4, 47)), lf('v6 gre', rawProto(A6, B6, 47))], [lf('v4 proto 46', rawProto(A4, B4, 46)), lf('v6 proto 48', rawProto(A6, B6, 48)), lf('v4 tcp', tcp(A4, B4))]);
      assertDenyRule(fw(), { protocol: 6 }, [lf('v4 tcp', tcp(A4, B4)), lf('v6 tcp', tcp(A6, B6))], [lf('v4 udp', udp(A4, B4))]);
      assertDenyRule(fw(), { protocol: 0 }, [lf('v4 proto 0', rawProto(A4, B4, 0))], [lf('v4 tcp', tcp(A4, B4))]);
      assertDenyRule(fw(), { protocol: 255 }, [lf('v4 proto 255', rawProto(A4, B4, 255)), lf('v6 proto 255', rawProto(A6, B6, 255))], [lf('v4 proto 254', rawProto(A4, B4, 254))]);
    });
    it('"any" matches every protocol', () => {
      assertDenyRule(fw(), { protocol: 'any', dst_ip: [B4, B6] }, [lf('v4 tcp', tcp(A4, B4)), lf('v6 udp', udp(A6, B6)), lf('v4 icmp', v4icmp), lf('v6 gre', rawProto(A6, B6, 47))], [lf('v4 tcp elsewhere', tcp(A4, '198.18.1.2'))]);
    });
  });

  describe('port ranges (inclusive; edges lo-1, lo, hi, hi+1)', () => {
    for (const proto of ['tcp', 'udp'] as const) {
      const mk = proto === 'tcp' ? tcp : udp;
      const other = proto === 'tcp' ? udp : tcp;
      it(`${proto} dst_port 1000-2000`, () => {
        assertDenyRule(
          fw(),
          { protocol: proto, dst_port: '1000-2000' },
          [lf('v4 1000', mk(A4, B4, 5, 1000)), lf('v4 2000', mk(A4, B4, 5, 2000)), lf('v6 1000', mk(A6, B6, 5, 1000)), lf('v6 2000', mk(A6, B6, 5, 2000)), lf('v4 1500', mk(A4, B4, 5, 1500))],
          [
            lf('v4 999', mk(A4, B4, 5, 999)),
            lf('v4 2001', mk(A4, B4, 5, 2001)),
            lf('v6 999', mk(A6, B6, 5, 999)),
            lf('v6 2001', mk(A6, B6, 5, 2001)),
            lf('v4 src port 1500 only', mk(A4, B4, 1500, 80)),
            lf(`v4 other protocol to 1500`, other(A4, B4, 5, 1500)),
          ],
        );
      });
      it(`${proto} src_port 1024-65535`, () => {
        assertDenyRule(
          fw(),
          { protocol: proto, src_port: '1024-65535' },
          [lf('v4 1024', mk(A4, B4, 1024, 80)), lf('v4 65535', mk(A4, B4, 65535, 80)), lf('v6 1024', mk(A6, B6, 1024, 80)), lf('v6 65535', mk(A6, B6, 65535, 80))],
          [lf('v4 1023', mk(A4, B4, 1023, 2000)), lf('v6 1023', mk(A6, B6, 1023, 2000)), lf('v4 0', mk(A4, B4, 0, 2000))],
        );
      });
    }
    it('single ports, port 0 and 65535', () => {
      assertDenyRule(fw(), { protocol: 'tcp', dst_port: 443 }, [lf('v4 443', tcp(A4, B4, 5, 443)), lf('v6 443', tcp(A6, B6, 5, 443))], [lf('v4 442', tcp(A4, B4, 5, 442)), lf('v4 444', tcp(A4, B4, 5, 444)), lf('v6 444', tcp(A6, B6, 5, 444))]);
      assertDenyRule(fw(), { protocol: 'udp', dst_port: 0 }, [lf('v4 0', udp(A4, B4, 5, 0)), lf('v6 0', udp(A6, B6, 5, 0))], [lf('v4 1', udp(A4, B4, 5, 1))]);
      assertDenyRule(fw(), { protocol: 'udp', src_port: 65535 }, [lf('v4 65535', udp(A4, B4, 65535, 9)), lf('v6 65535', udp(A6, B6, 65535, 9))], [lf('v4 65534', udp(A4, B4, 65534, 9))]);
      assertDenyRule(fw(), { protocol: 'tcp', src_port: '0-65535' }, [lf('v4 0', tcp(A4, B4, 0, 1)), lf('v6 65535', tcp(A6, B6, 65535, 1))], [lf('v4 udp', udp(A4, B4, 0, 1))]);
    });
    it('src and dst ranges together', () => {
      assertDenyRule(
        fw(),
        { protocol: 'udp', src_port: '5000-5001', dst_port: '53' },
        [lf('v4', udp(A4, B4, 5000, 53)), lf('v6', udp(A6, B6, 5001, 53))],
        [lf('v4 sport 4999', udp(A4, B4, 4999, 53)), lf('v4 sport 5002', udp(A4, B4, 5002, 53)), lf('v6 dport 52', udp(A6, B6, 5000, 52)), lf('v6 swapped', udp(A6, B6, 53, 5000))],
      );
    });
  });

  describe('ICMP type and code', () => {
    const i4 = (type: number, code = 0): Buffer => icmpFrame({ src: A4, dst: B4, type, code });
    const i6 = (type: number, code = 0): Buffer => icmpFrame({ src: A6, dst: B6, type, code });
    it('IPv4 type only: any code', () => {
      assertDenyRule(fw(), { protocol: 'icmp', icmp_type: 8 }, [lf('8/0', i4(8)), lf('8/5', i4(8, 5))], [lf('0/0', i4(0)), lf('9/0', i4(9)), lf('v6 8/0', i6(8))]);
    });
    it('IPv4 type and code', () => {
      assertDenyRule(fw(), { protocol: 'icmp', icmp_type: 3, icmp_code: 1 }, [lf('3/1', i4(3, 1))], [lf('3/0', i4(3, 0)), lf('3/2', i4(3, 2)), lf('4/1', i4(4, 1)), lf('1/3', i4(1, 3))]);
      assertDenyRule(fw(), { protocol: 'icmp', icmp_type: 0, icmp_code: 0 }, [lf('0/0', i4(0, 0))], [lf('0/1', i4(0, 1)), lf('8/0', i4(8, 0))]);
      assertDenyRule(fw(), { protocol: 'icmp', icmp_type: 255, icmp_code: 255 }, [lf('255/255', i4(255, 255))], [lf('255/254', i4(255, 254))]);
    });
    it('IPv6 type only and type+code', () => {
      assertDenyRule(fw(), { protocol: 'icmpv6', icmp_type: 128 }, [lf('128/0', i6(128)), lf('128/9', i6(128, 9))], [lf('129/0', i6(129)), lf('v4 128/0', i4(128))]);
      assertDenyRule(fw(), { protocol: 'icmpv6', icmp_type: 1, icmp_code: 4 }, [lf('1/4', i6(1, 4))], [lf('1/3', i6(1, 3)), lf('1/5', i6(1, 5)), lf('4/1', i6(4, 1)), lf('v4 1/4', i4(1, 4))]);
      assertDenyRule(fw(), { protocol: 'icmpv6', icmp_type: 135 }, [lf('NS', i6(135))], [lf('NA', i6(136))]);
    });
    it('ICMP criteria never match TCP/UDP whose header bytes look alike', () => {
      // TCP source port 0x0800 puts bytes 8, 0 where an ICMP type/code would be.
      assertDenyRule(fw(), { protocol: 'icmp', icmp_type: 8, icmp_code: 0 }, [lf('icmp 8/0', i4(8))], [lf('tcp sport 2048', tcp(A4, B4, 0x0800, 80))]);
    });
  });

  describe('VLAN id', () => {
    const one = (vid: number): VlanTag[] => [{ vid }];
    const qinq = (outer: number, inner: number): VlanTag[] => [{ vid: outer, tpid: 0x88a8 }, { vid: inner }];
    it('one tag: exact VID, IPv4 and IPv6; an untagged frame does not match', () => {
      assertDenyRule(
        fw(),
        { vlan_id: 10 },
        [lf('v4 vid 10', tcp(A4, B4, 1, 80, one(10))), lf('v6 vid 10', tcp(A6, B6, 1, 80, one(10))), lf('v4 vid 10 pcp 5', tcpFrame({ src: A4, dst: B4, sport: 1, dport: 80, vlans: [{ vid: 10, pcp: 5, dei: true }] }))],
        [lf('v4 untagged', tcp(A4, B4)), lf('v6 untagged', tcp(A6, B6)), lf('v4 vid 11', tcp(A4, B4, 1, 80, one(11))), lf('v6 vid 9', tcp(A6, B6, 1, 80, one(9)))],
      );
    });
    it('QinQ: the innermost VID decides (802.1ad outer, and 802.1Q-in-802.1Q)', () => {
      assertDenyRule(
        fw(),
        { vlan_id: 10 },
        [lf('v4 outer 20 inner 10', tcp(A4, B4, 1, 80, qinq(20, 10))), lf('v6 outer 20 inner 10', tcp(A6, B6, 1, 80, qinq(20, 10))), lf('v4 8100/8100 outer 30 inner 10', tcp(A4, B4, 1, 80, [{ vid: 30, tpid: 0x8100 }, { vid: 10, tpid: 0x8100 }]))],
        [lf('v4 outer 10 inner 20', tcp(A4, B4, 1, 80, qinq(10, 20))), lf('v6 outer 10 inner 20', tcp(A6, B6, 1, 80, qinq(10, 20)))],
      );
    });
    it('vlan_id 0 matches untagged frames only', () => {
      assertDenyRule(
        fw(),
        { vlan_id: 0 },
        [lf('v4 untagged', tcp(A4, B4)), lf('v6 untagged', tcp(A6, B6))],
        // a priority tag (VID 0) is still a tag
        [lf('v4 vid 10', tcp(A4, B4, 1, 80, one(10))), lf('v6 QinQ', tcp(A6, B6, 1, 80, qinq(1, 2))), lf('v4 priority tag vid 0', tcp(A4, B4, 1, 80, one(0)))],
      );
    });
    it('the highest VID 4094 and 4095 on the wire', () => {
      assertDenyRule(fw(), { vlan_id: 4094 }, [lf('v4 vid 4094', tcp(A4, B4, 1, 80, one(4094)))], [lf('v4 vid 4095', tcp(A4, B4, 1, 80, one(4095))), lf('v4 vid 4093', tcp(A4, B4, 1, 80, one(4093)))]);
    });
  });

  describe('combinations: every criterion must hold', () => {
    for (const fam of [4, 6] as const) {
      const S = fam === 4 ? '198.18.0.0/24' : '2001:db8::/64';
      const D = fam === 4 ? '198.18.1.1' : '2001:db8:1::1';
      const s = fam === 4 ? '198.18.0.5' : '2001:db8::5';
      const sOut = fam === 4 ? '198.18.9.5' : '2001:db8:9::5';
      const dOut = fam === 4 ? '198.18.1.2' : '2001:db8:1::2';
      it(`IPv${fam}: src CIDR + dst host + tcp + src range + dst port + VLAN`, () => {
        const rule = { src_ip: S, dst_ip: D, protocol: 'tcp', src_port: '30000-40000', dst_port: 443, vlan_id: 7 };
        const v = one(7);
        assertDenyRule(
          fw(),
          rule,
          [lf('all match', tcp(s, D, 30000, 443, v)), lf('all match (sport hi)', tcp(s, D, 40000, 443, v))],
          [
            lf('src outside', tcp(sOut, D, 30000, 443, v)),
            lf('dst outside', tcp(s, dOut, 30000, 443, v)),
            lf('udp', udp(s, D, 30000, 443, v)),
            lf('sport 29999', tcp(s, D, 29999, 443, v)),
            lf('sport 40001', tcp(s, D, 40001, 443, v)),
            lf('dport 444', tcp(s, D, 30000, 444, v)),
            lf('vid 8', tcp(s, D, 30000, 443, one(8))),
            lf('untagged', tcp(s, D, 30000, 443)),
          ],
        );
      });
      it(`IPv${fam}: ICMP type+code + dst CIDR + QinQ inner VID`, () => {
        const icmpProto = fam === 4 ? 'icmp' : 'icmpv6';
        const echo = fam === 4 ? 8 : 128;
        const f = (dst: string, type: number, code: number, vlans?: VlanTag[]): Buffer => icmpFrame({ src: s, dst, type, code, ...(vlans ? { vlans } : {}) });
        assertDenyRule(
          fw(),
          { protocol: icmpProto, icmp_type: echo, icmp_code: 0, dst_ip: D, vlan_id: 300 },
          [lf('all match', f(D, echo, 0, qinq(5, 300)))],
          [lf('wrong code', f(D, echo, 1, qinq(5, 300))), lf('wrong type', f(D, echo + 1, 0, qinq(5, 300))), lf('outer VID 300', f(D, echo, 0, qinq(300, 5))), lf('dst outside', f(dOut, echo, 0, qinq(5, 300)))],
        );
      });
    }
    function one(vid: number): VlanTag[] {
      return [{ vid }];
    }
    function qinq(outer: number, inner: number): VlanTag[] {
      return [{ vid: outer, tpid: 0x88a8 }, { vid: inner }];
    }
  });

  it('a rule with no criteria matches every IP packet of both families', () => {
    const h = fw();
    h.install({ default_policy: 'pass', rules: [{ id: 'all', priority: 5, action: 'deny' }] });
    for (const f of [tcp(A4, B4), udp(A6, B6), icmpFrame({ src: A4, dst: B4, type: 8 }), rawProto(A6, B6, 47), tcp(A4, B4, 1, 2, [{ vid: 3 }])]) {
      assert.equal(h.verdict(f), XDP_DROP);
    }
    const arp = buildFrame({ eth: { type: 0x0806 }, payload: Buffer.alloc(28) });
    assert.equal(h.verdict(arp), XDP_PASS, 'non-IP is not judged by rules');
  });
});
