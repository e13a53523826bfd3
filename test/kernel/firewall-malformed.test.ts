// xdp-firewall through BPF_PROG_TEST_RUN: frames it cannot judge and headers that move the L4
// header. Malformed/truncated IP gets the default policy (fail-closed under default drop, with
// one malformed event; fail-open under default pass) and exactly one `malformed` count, whatever
// the rules say; IPv6 extension headers and IPv4 options never hide the ports; a non-first
// fragment has no ports and so matches no port rule.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ipv4BadVersion,
  ipv4IhlBeyondEnd,
  ipv4IhlTooSmall,
  ipv4TotalLengthTooShort,
  ipv6BadVersion,
  ipv6ExtPastEnd,
  ipv6ExtTooLong,
  tripleVlan,
  truncatedL4,
} from '../support/malformed.js';
import { buildFrame, icmpFrame, ipv4Options, parseFrame, tcpFrame, truncate, udpFrame, type Ipv6Ext } from '../support/frames.js';
import { expectedDelta, firewallSkipReason, FW_ACT, FW_REASON, useFirewall, XDP_DROP, XDP_PASS, type FirewallHarness, type Labeled, lf } from '../support/firewall-harness.js';

const skip = firewallSkipReason();

const A4 = '198.18.0.66';
const B4 = '198.18.1.1';
const A6 = '2001:db8::66';
const B6 = '2001:db8:0:1::1';

const syn4 = tcpFrame({ src: A4, dst: B4, sport: 40000, dport: 80 });
const syn6 = tcpFrame({ src: A6, dst: B6, sport: 40000, dport: 80 });

const malformedFrames: Labeled[] = [
  lf('IPv4 IHL 4', ipv4IhlTooSmall()),
  lf('IPv4 IHL 15 past the end', ipv4IhlBeyondEnd()),
  lf('IPv4 total length below the header', ipv4TotalLengthTooShort()),
  lf('IPv4 EtherType, version 5', ipv4BadVersion()),
  lf('IPv4 EtherType, version 6', ipv4BadVersion(undefined, 6)),
  lf('IPv6 EtherType, version 4', ipv6BadVersion()),
  lf('IPv6 EtherType, version 0', ipv6BadVersion(undefined, 0)),
  lf('IPv4 TCP cut after the ports', truncatedL4(syn4)),
  lf('IPv6 TCP cut after the ports', truncatedL4(syn6)),
  lf('IPv4 TCP cut at 19 of 20 bytes', truncatedL4(syn4, 19)),
  lf('IPv4 UDP cut at 7 of 8 bytes', truncatedL4(udpFrame({ src: A4, dst: B4, sport: 1, dport: 53 }), 7)),
  lf('IPv6 UDP cut at 4 bytes', truncatedL4(udpFrame({ src: A6, dst: B6, sport: 1, dport: 53 }))),
  lf('IPv4 ICMP cut at 3 bytes', truncatedL4(icmpFrame({ src: A4, dst: B4, type: 8 }), 3)),
  lf('IPv6 ICMPv6 cut at 1 byte', truncatedL4(icmpFrame({ src: A6, dst: B6, type: 128 }), 1)),
  lf('three VLAN tags', tripleVlan()),
  lf('three VLAN tags, IPv6', tripleVlan({ src: A6, dst: B6 })),
  lf('IPv6 hop-by-hop running past the end', ipv6ExtPastEnd()),
  lf('IPv6 chain of 9 extension headers', ipv6ExtTooLong()),
  lf('IPv6 chain of 20 extension headers', ipv6ExtTooLong(undefined, 20)),
  lf('TCP data offset 4', buildFrame({ ip: { src: A4, dst: B4 }, l4: { proto: 'tcp', sport: 40000, dport: 80, dataOffset: 4 } })),
  lf('IPv6 TCP data offset 0', buildFrame({ ip: { version: 6, src: A6, dst: B6 }, l4: { proto: 'tcp', sport: 40000, dport: 80, dataOffset: 0 } })),
  lf('VLAN tag cut in half', truncate(tcpFrame({ src: A4, dst: B4, sport: 1, dport: 80, vlans: [{ vid: 10 }] }), 16)),
  lf('Ethernet header only, IPv6 type', truncate(syn6, 14)),
];

/** Policy whose rules would match (and pass, or drop) every frame above if it were parsed. */
function installWithDefault(h: FirewallHarness, def: 'pass' | 'drop'): void {
  h.install({
    default_policy: def,
    rules: [
      // the opposite of the default, matching everything: malformed frames must not reach it
      { id: 'match-all', priority: 1, action: def === 'pass' ? 'deny' : 'allow' },
    ],
  });
}

/**
 * One malformed frame: the default decides, `malformed` counts it once, no rule is consulted.
 * Under default drop the kernel writes one record with reason malformed; it is checked from
 * the raw bytes here so a decoder problem shows up in its own test below, not in every one.
 */
function assertMalformed(h: FirewallHarness, def: 'pass' | 'drop', { label, frame }: Labeled): void {
  const j = h.judgeRaw(frame);
  const what = `${label} (${frame.length} bytes), default ${def}`;
  const records = [...j.events.map((e) => [e.ruleNum, e.action, e.reason, e.pktLen]), ...j.refused.map((r) => [r.ruleNum, r.action, r.reason, r.pktLen])];
  if (def === 'pass') {
    assert.equal(j.verdict, XDP_PASS, `${what}: verdict`);
    assert.deepEqual(j.delta, expectedDelta({ bytes: frame.length, verdict: 'pass', by: 'malformed' }), `${what}: counters`);
    assert.deepEqual(records, [], `${what}: no event`);
    return;
  }
  assert.equal(j.verdict, XDP_DROP, `${what}: verdict`);
  assert.deepEqual(j.delta, expectedDelta({ bytes: frame.length, verdict: 'drop', by: 'malformed', events: 1 }), `${what}: counters`);
  assert.deepEqual(records, [[0, FW_ACT.drop, FW_REASON.malformed, frame.length]], `${what}: one malformed record`);
}

describe('xdp-firewall malformed and unusual frames (test-run)', { skip }, () => {
  const fw = useFirewall();

  it('the malformed frames really are malformed (the test parser refuses them)', () => {
    for (const { label, frame } of malformedFrames) assert.throws(() => parseFrame(frame), `${label} is refused by the strict parser too`);
  });

  for (const def of ['pass', 'drop'] as const) {
    it(`every malformed-frame helper gets the default policy (${def}), one malformed count each`, () => {
      const h = fw();
      installWithDefault(h, def);
      for (const m of malformedFrames) assertMalformed(h, def, m);
      assert.equal(h.hits('match-all').packets, 0, 'no malformed frame reached a rule');
    });
  }

  it('every malformed drop record decodes with decodeFirewallEvent (also when no IP header was read)', () => {
    const h = fw();
    installWithDefault(h, 'drop');
    // the IP header was read: addresses are known
    const cut = truncatedL4(syn6);
    const known = h.judgeRaw(cut);
    assert.deepEqual(known.refused, []);
    assert.deepEqual(known.events.map((e) => [e.family, e.src, e.dst, e.reason, e.action, e.pktLen]), [[6, A6, B6, FW_REASON.malformed, FW_ACT.drop, cut.length]]);
    // no IP header could be read (family 0 in the record): the event must still reach the agent
    const refused: string[] = [];
    for (const { label, frame } of malformedFrames) {
      const j = h.judgeRaw(frame);
      for (const r of j.refused) refused.push(`${label}: ${JSON.stringify(r)}`);
      assert.equal(j.events.length + j.refused.length, 1, `${label}: one record`);
    }
    assert.deepEqual(refused, [], 'records decodeFirewallEvent refused (src/engines/firewall/events.ts rejects family 0)');
  });

  for (const def of ['pass', 'drop'] as const) {
    for (const [name, full] of [
      ['IPv4 TCP SYN', syn4],
      ['IPv6 TCP SYN', syn6],
      ['IPv4 TCP SYN in QinQ', tcpFrame({ src: A4, dst: B4, sport: 40000, dport: 80, vlans: [{ vid: 10 }, { vid: 20 }] })],
      ['IPv6 TCP SYN behind hop-by-hop and dest-opts', tcpFrame({ src: A6, dst: B6, sport: 40000, dport: 80, ext: [{ kind: 'hop-by-hop' }, { kind: 'dest-opts' }] })],
      ['IPv4 TCP SYN with 8 bytes of IP options', tcpFrame({ src: A4, dst: B4, sport: 40000, dport: 80, ipOptions: ipv4Options.nops(8) })],
      ['IPv4 UDP', udpFrame({ src: A4, dst: B4, sport: 40000, dport: 80 })],
    ] as const) {
      it(`${name}: every truncation from 0 to full length (default ${def})`, () => {
        const h = fw();
        installWithDefault(h, def);
        const before = h.counters();
        for (let n = 0; n < 14; n++) {
          // The kernel refuses an XDP test-run shorter than an Ethernet header; nothing runs.
          assert.throws(() => h.verdict(truncate(full, n)), (e: NodeJS.ErrnoException & { errno?: number }) => e.errno === 22, `${n} bytes: EINVAL`);
        }
        assert.deepEqual(h.counters(), before, 'a refused test-run counts nothing');
        for (let n = 14; n < full.length; n++) assertMalformed(h, def, lf(`${name} cut to ${n}`, truncate(full, n)));
        // the whole frame is judged by the rule
        const j = h.judge(full);
        assert.equal(j.verdict, def === 'pass' ? XDP_DROP : XDP_PASS, `${name} whole: judged by match-all`);
        assert.equal(j.delta.malformed, undefined);
        h.drainEvents();
      });
    }
  }

  it('a frame shorter than its IP length says (cut inside the payload) is malformed, IPv4 and IPv6', () => {
    // An IP header whose length field promises bytes the frame does not have is an
    // inconsistent header; the stack would drop it, the firewall must count it.
    const h = fw();
    installWithDefault(h, 'drop');
    for (const full of [
      tcpFrame({ src: A4, dst: B4, sport: 40000, dport: 80, payload: 'x'.repeat(40) }),
      tcpFrame({ src: A6, dst: B6, sport: 40000, dport: 80, payload: 'x'.repeat(40) }),
    ]) {
      for (const n of [full.length - 1, full.length - 20, full.length - 39]) assertMalformed(h, 'drop', lf(`cut to ${n} of ${full.length}`, truncate(full, n)));
    }
    // ICMP needs only type and code to be judged, but the echo header is 8 bytes long
    for (const full of [icmpFrame({ src: A4, dst: B4, type: 8 }), icmpFrame({ src: A6, dst: B6, type: 128 })]) {
      for (let n = full.length - 4; n < full.length; n++) assertMalformed(h, 'drop', lf(`echo cut to ${n} of ${full.length}`, truncate(full, n)));
    }
  });

  it('Ethernet padding after the IP packet is not malformed', () => {
    const h = fw();
    installWithDefault(h, 'pass');
    const padded = Buffer.concat([syn4, Buffer.alloc(60 - syn4.length + 4)]); // 54-byte SYN padded past the 60-byte minimum
    const j = h.judge(padded);
    assert.equal(j.verdict, XDP_DROP);
    assert.deepEqual(j.delta, expectedDelta({ bytes: padded.length, verdict: 'drop', by: 'rule', events: 1 }));
  });

  describe('IPv6 extension headers', () => {
    const chains: [string, Ipv6Ext[]][] = [
      ['hop-by-hop', [{ kind: 'hop-by-hop' }]],
      ['hop-by-hop with 14 bytes of options', [{ kind: 'hop-by-hop', options: Buffer.from([0x05, 0x02, 0, 0, 1, 10, ...Buffer.alloc(10)]) }]],
      ['routing (2 segments)', [{ kind: 'routing', addresses: ['2001:db8:0:2::1', B6], segmentsLeft: 2 }]],
      ['dest-opts', [{ kind: 'dest-opts' }]],
      ['AH', [{ kind: 'ah' }]],
      ['first fragment (offset 0, more)', [{ kind: 'fragment', offset: 0, more: true, id: 7 }]],
      ['atomic fragment (offset 0, no more)', [{ kind: 'fragment', offset: 0, more: false, id: 8 }]],
      ['hop-by-hop, dest-opts, routing, fragment, AH, dest-opts', [{ kind: 'hop-by-hop' }, { kind: 'dest-opts' }, { kind: 'routing', addresses: [B6], segmentsLeft: 0 }, { kind: 'fragment', offset: 0, more: true }, { kind: 'ah' }, { kind: 'dest-opts' }]],
      ['7 dest-opts', Array.from({ length: 7 }, () => ({ kind: 'dest-opts' as const }))],
      ['8 dest-opts (the documented maximum)', Array.from({ length: 8 }, () => ({ kind: 'dest-opts' as const }))],
    ];
    for (const [name, ext] of chains) {
      it(`port rules match behind ${name}`, () => {
        const h = fw();
        h.install({
          default_policy: 'pass',
          rules: [
            { id: 'deny-80', priority: 1, action: 'deny', protocol: 'tcp', dst_port: 80, src_port: 40000 },
            { id: 'deny-dns', priority: 2, action: 'deny', protocol: 'udp', dst_port: 53 },
            { id: 'deny-echo', priority: 3, action: 'deny', protocol: 'icmpv6', icmp_type: 128, icmp_code: 0 },
          ],
        });
        const frag = ext.some((e) => e.kind === 'fragment');
        const t = tcpFrame({ src: A6, dst: B6, sport: 40000, dport: 80, ext });
        const j = h.judge(t);
        assert.equal(j.verdict, XDP_DROP, `tcp/80 behind ${name}`);
        assert.deepEqual(j.delta, expectedDelta({ bytes: t.length, verdict: 'drop', by: 'rule', events: 1, fragment: frag }));
        assert.deepEqual(j.events.map((e) => [e.ruleNum, e.proto, e.srcPort, e.dstPort]), [[h.ruleNum('deny-80'), 6, 40000, 80]]);
        const u = udpFrame({ src: A6, dst: B6, sport: 5353, dport: 53, ext });
        assert.deepEqual(h.judge(u).events.map((e) => [e.ruleNum, e.proto, e.dstPort]), [[h.ruleNum('deny-dns'), 17, 53]], `udp/53 behind ${name}`);
        const i = icmpFrame({ src: A6, dst: B6, type: 128, ext });
        assert.deepEqual(h.judge(i).events.map((e) => [e.ruleNum, e.proto, e.icmpType]), [[h.ruleNum('deny-echo'), 58, 128]], `echo behind ${name}`);
        const miss = tcpFrame({ src: A6, dst: B6, sport: 40000, dport: 81, ext });
        assert.equal(h.verdict(miss), XDP_PASS, `tcp/81 behind ${name} passes`);
      });
    }

    it('a non-first fragment matches no port or ICMP rule and falls to the next rule, then the default', () => {
      const h = fw();
      h.install({
        default_policy: 'drop',
        rules: [
          // Port 0 and type 0 are what an unparsed header reads as: the rules must still not match.
          { id: 'allow-80', priority: 1, action: 'allow', protocol: 'tcp', dst_port: 80 },
          { id: 'allow-any-port', priority: 2, action: 'allow', protocol: 'tcp', src_port: '0-65535' },
          { id: 'allow-echo', priority: 3, action: 'allow', protocol: 'icmpv6', icmp_type: 128 },
          { id: 'allow-type-0', priority: 4, action: 'allow', protocol: 'icmpv6', icmp_type: 0, icmp_code: 0 },
          { id: 'log-tcp', priority: 5, action: 'log', protocol: 'tcp' },
        ],
      });
      // The payload starts with bytes that would read as ports 40000 -> 80 if parsed as TCP.
      const looksLikeTcp = Buffer.from([0x9c, 0x40, 0x00, 0x50, ...Buffer.alloc(20)]);
      const later = buildFrame({ ip: { version: 6, src: A6, dst: B6, ext: [{ kind: 'fragment', offset: 1448, more: true, id: 9 }] }, l4: { proto: 'raw', number: 6, bytes: looksLikeTcp } });
      const j = h.judge(later);
      assert.equal(j.verdict, XDP_PASS, 'passed by log-tcp, not allow-80');
      assert.deepEqual(j.delta, expectedDelta({ bytes: later.length, verdict: 'pass', by: 'rule', events: 1, fragment: true }));
      assert.deepEqual(j.events.map((e) => [e.ruleNum, e.action, e.proto, e.srcPort, e.dstPort]), [[h.ruleNum('log-tcp'), FW_ACT.log, 6, 0, 0]]);
      assert.deepEqual([h.hits('allow-80').packets, h.hits('allow-any-port').packets], [0, 0]);

      const laterIcmp = buildFrame({ ip: { version: 6, src: A6, dst: B6, ext: [{ kind: 'fragment', offset: 8, more: false, id: 10 }] }, l4: { proto: 'raw', number: 58, bytes: Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]) } });
      const k = h.judge(laterIcmp);
      assert.equal(k.verdict, XDP_DROP, 'no ICMPv6 type rule (not even type 0) matches a later fragment: default drop');
      assert.deepEqual(k.delta, expectedDelta({ bytes: laterIcmp.length, verdict: 'drop', by: 'default', events: 1, fragment: true }));
      assert.deepEqual(k.events.map((e) => [e.ruleNum, e.reason, e.proto, e.icmpType]), [[0, FW_REASON.default, 58, 0]]);
    });
  });

  describe('IPv4 fragments and options', () => {
    it('a first fragment matches port rules; a later one does not', () => {
      const h = fw();
      h.install({
        default_policy: 'pass',
        rules: [
          { id: 'deny-80', priority: 1, action: 'deny', protocol: 'tcp', dst_port: 80 },
          { id: 'deny-echo', priority: 2, action: 'deny', protocol: 'icmp', icmp_type: 8 },
          { id: 'deny-any-port', priority: 3, action: 'deny', protocol: 'tcp', dst_port: '0-65535' },
          { id: 'deny-type-0', priority: 4, action: 'deny', protocol: 'icmp', icmp_type: 0 },
        ],
      });
      const first = buildFrame({ ip: { src: A4, dst: B4, mf: true, id: 77 }, l4: { proto: 'tcp', sport: 40000, dport: 80 }, payload: Buffer.alloc(16) });
      const j = h.judge(first);
      assert.equal(j.verdict, XDP_DROP);
      assert.deepEqual(j.delta, expectedDelta({ bytes: first.length, verdict: 'drop', by: 'rule', events: 1, fragment: true }));
      const later = buildFrame({ ip: { src: A4, dst: B4, fragOffset: 24, id: 77, protocol: 6 }, l4: { proto: 'raw', number: 6, bytes: Buffer.from([0x9c, 0x40, 0x00, 0x50, ...Buffer.alloc(16)]) } });
      const k = h.judge(later);
      assert.equal(k.verdict, XDP_PASS);
      assert.deepEqual(k.delta, expectedDelta({ bytes: later.length, verdict: 'pass', by: 'default', fragment: true }));
      const laterIcmp = buildFrame({ ip: { src: A4, dst: B4, fragOffset: 8, id: 78 }, l4: { proto: 'raw', number: 1, bytes: Buffer.from([8, 0, 0, 0, 0, 0, 0, 0]) } });
      assert.equal(h.verdict(laterIcmp), XDP_PASS, 'an ICMP type rule does not match a later fragment');
      assert.deepEqual([h.hits('deny-any-port').packets, h.hits('deny-type-0').packets], [0, 0], 'nor do rules matching port 0 / type 0');
      const dfOnly = tcpFrame({ src: A4, dst: B4, sport: 40000, dport: 80, df: true });
      const d = h.judge(dfOnly);
      assert.equal(d.verdict, XDP_DROP);
      assert.equal(d.delta.fragment, undefined, 'DF alone is not a fragment');
    });

    for (const [name, opts] of [
      ['router alert (IHL 6)', ipv4Options.routerAlert()],
      ['record route (IHL 9)', ipv4Options.recordRoute(3)],
      ['40 bytes of NOPs (IHL 15)', ipv4Options.nops(40)],
    ] as const) {
      it(`IPv4 options: ${name}: ports and ICMP type are read after the options`, () => {
        const h = fw();
        h.install({
          default_policy: 'pass',
          rules: [
            { id: 'deny-80', priority: 1, action: 'deny', protocol: 'tcp', src_port: 40000, dst_port: 80 },
            { id: 'deny-echo', priority: 2, action: 'deny', protocol: 'icmp', icmp_type: 8, icmp_code: 0 },
          ],
        });
        const t = tcpFrame({ src: A4, dst: B4, sport: 40000, dport: 80, ipOptions: opts });
        const j = h.judge(t);
        assert.equal(j.verdict, XDP_DROP);
        assert.deepEqual(j.events.map((e) => [e.ruleNum, e.srcPort, e.dstPort, e.tcpFlags]), [[h.ruleNum('deny-80'), 40000, 80, 0x02]]);
        assert.equal(h.verdict(tcpFrame({ src: A4, dst: B4, sport: 40000, dport: 81, ipOptions: opts })), XDP_PASS);
        const echo = icmpFrame({ src: A4, dst: B4, type: 8, ipOptions: opts });
        assert.deepEqual(h.judge(echo).events.map((e) => [e.ruleNum, e.icmpType]), [[h.ruleNum('deny-echo'), 8]]);
      });
    }
  });
});
