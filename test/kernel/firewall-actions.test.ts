// xdp-firewall through BPF_PROG_TEST_RUN: actions, default policy, priority order, disabled
// rules, alert mode, counters (per rule, per interface), events (exact fields) and the
// generation flip (policy A then B, counters of kept rules survive, empty policies).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildFrame, icmpFrame, tcpFrame, udpFrame } from '../support/frames.js';
import {
  expectedDelta,
  firewallSkipReason,
  FW_ACT,
  FW_REASON,
  TEST_RUN_IFINDEX,
  useFirewall,
  XDP_DROP,
  XDP_PASS,
  type FwEvent,
} from '../support/firewall-harness.js';

const skip = firewallSkipReason();

const A4 = '198.18.0.10';
const B4 = '198.18.1.1';
const A6 = '2001:db8::10';
const B6 = '2001:db8:1::1';

const web4 = (dport = 80, payload?: string): Buffer => tcpFrame({ src: A4, dst: B4, sport: 40000, dport, ...(payload ? { payload } : {}) });
const web6 = (dport = 80, payload?: string): Buffer => tcpFrame({ src: A6, dst: B6, sport: 40000, dport, ...(payload ? { payload } : {}) });

describe('xdp-firewall actions and policy (test-run)', { skip }, () => {
  const fw = useFirewall();

  describe('actions', () => {
    for (const [fam, web] of [
      [4, web4],
      [6, web6],
    ] as const) {
      it(`IPv${fam}: allow passes silently, deny drops with an event, log passes with an event`, () => {
        const h = fw();
        h.install({
          default_policy: 'drop',
          rules: [
            { id: 'allow-80', priority: 10, action: 'allow', protocol: 'tcp', dst_port: 80 },
            { id: 'deny-81', priority: 20, action: 'deny', protocol: 'tcp', dst_port: 81 },
            { id: 'log-82', priority: 30, action: 'log', protocol: 'tcp', dst_port: 82 },
          ],
        });
        const ids = ['allow-80', 'deny-81', 'log-82'];
        const before = ids.map((id) => h.hits(id).packets);
        const allow = h.judge(web(80));
        assert.deepEqual(allow, { verdict: XDP_PASS, events: [], delta: expectedDelta({ bytes: web(80).length, verdict: 'pass', by: 'rule' }) });

        const deny = h.judge(web(81));
        assert.equal(deny.verdict, XDP_DROP);
        assert.deepEqual(deny.delta, expectedDelta({ bytes: web(81).length, verdict: 'drop', by: 'rule', events: 1 }));
        assert.deepEqual(
          deny.events.map((e) => [e.ruleNum, e.action, e.reason]),
          [[h.ruleNum('deny-81'), FW_ACT.drop, FW_REASON.rule]],
        );

        const log = h.judge(web(82));
        assert.equal(log.verdict, XDP_PASS);
        assert.deepEqual(log.delta, expectedDelta({ bytes: web(82).length, verdict: 'pass', by: 'rule', events: 1 }));
        assert.deepEqual(
          log.events.map((e) => [e.ruleNum, e.action, e.reason]),
          [[h.ruleNum('log-82'), FW_ACT.log, FW_REASON.rule]],
        );

        const dflt = h.judge(web(83));
        assert.equal(dflt.verdict, XDP_DROP);
        assert.deepEqual(dflt.delta, expectedDelta({ bytes: web(83).length, verdict: 'drop', by: 'default', events: 1 }));
        assert.deepEqual(
          dflt.events.map((e) => [e.ruleNum, e.action, e.reason]),
          [[0, FW_ACT.drop, FW_REASON.default]],
        );
        assert.deepEqual(ids.map((id, i) => h.hits(id).packets - before[i]!), [1, 1, 1], 'each rule counted its packet');
      });
    }

    it('default pass: an unmatched packet passes with no event, IPv4 and IPv6', () => {
      const h = fw();
      h.install({ default_policy: 'pass', rules: [{ id: 'deny-ssh', priority: 1, action: 'deny', protocol: 'tcp', dst_port: 22 }] });
      for (const f of [web4(), web6(), udpFrame({ src: A6, dst: B6, sport: 1, dport: 22 })]) {
        assert.deepEqual(h.judge(f), { verdict: XDP_PASS, events: [], delta: expectedDelta({ bytes: f.length, verdict: 'pass', by: 'default' }) });
      }
    });

    it('an empty policy follows its default: drop drops everything IP (with an event), pass passes', () => {
      const h = fw();
      h.install({ default_policy: 'drop' });
      for (const f of [web4(), web6(), icmpFrame({ src: A4, dst: B4, type: 8 }), icmpFrame({ src: A6, dst: B6, type: 128 })]) {
        const j = h.judge(f);
        assert.equal(j.verdict, XDP_DROP);
        assert.deepEqual(j.delta, expectedDelta({ bytes: f.length, verdict: 'drop', by: 'default', events: 1 }));
        assert.deepEqual(j.events.map((e) => [e.ruleNum, e.reason, e.action]), [[0, FW_REASON.default, FW_ACT.drop]]);
      }
      h.install({ default_policy: 'pass', rules: [] });
      assert.deepEqual(h.judge(web6()), { verdict: XDP_PASS, events: [], delta: expectedDelta({ bytes: web6().length, verdict: 'pass', by: 'default' }) });
    });
  });

  describe('first match by priority', () => {
    it('the lowest priority number wins whatever the file order', () => {
      const h = fw();
      const rules = [
        { id: 'allow-all-tcp', priority: 300, action: 'allow', protocol: 'tcp' },
        { id: 'log-web', priority: 200, action: 'log', protocol: 'tcp', dst_port: '80-90' },
        { id: 'deny-80', priority: 100, action: 'deny', protocol: 'tcp', dst_port: 80 },
      ];
      for (const order of [rules, [...rules].reverse(), [rules[1], rules[2], rules[0]]]) {
        h.install({ default_policy: 'drop', rules: order });
        for (const web of [web4, web6]) {
          const d80 = h.judge(web(80));
          assert.equal(d80.verdict, XDP_DROP);
          assert.deepEqual(d80.events.map((e) => e.ruleNum), [h.ruleNum('deny-80')]);
          const l85 = h.judge(web(85));
          assert.equal(l85.verdict, XDP_PASS);
          assert.deepEqual(l85.events.map((e) => [e.ruleNum, e.action]), [[h.ruleNum('log-web'), FW_ACT.log]]);
          const a91 = h.judge(web(91));
          assert.deepEqual([a91.verdict, a91.events], [XDP_PASS, []]);
        }
      }
      assert.equal(h.hits('deny-80').packets, 6);
      assert.equal(h.hits('log-web').packets, 6);
      assert.equal(h.hits('allow-all-tcp').packets, 6);
    });

    it('priorities far apart and a rule later in the file with the lowest number', () => {
      const h = fw();
      const rules = Array.from({ length: 50 }, (_, i) => ({ id: `allow-${i}`, priority: 1000 + i * 1000, action: 'allow', dst_ip: i % 2 ? B4 : B6 }));
      rules.push({ id: 'deny-first', priority: 1, action: 'deny', dst_ip: B4 });
      rules.push({ id: 'deny-first6', priority: 2, action: 'deny', dst_ip: B6 });
      h.install({ default_policy: 'pass', rules });
      assert.equal(h.verdict(web4()), XDP_DROP);
      assert.equal(h.verdict(web6()), XDP_DROP);
      assert.deepEqual([h.hits('deny-first').packets, h.hits('deny-first6').packets, h.hits('allow-1').packets, h.hits('allow-0').packets], [1, 1, 0, 0]);
    });
  });

  it('disabled rules are ignored (no rule number, no hits, no match)', () => {
    const h = fw();
    h.install({
      default_policy: 'pass',
      rules: [
        { id: 'off', priority: 1, action: 'deny', enabled: false },
        { id: 'log-tcp', priority: 2, action: 'log', protocol: 'tcp' },
      ],
    });
    assert.equal(h.kernel.writer.numbers.numOf('off'), undefined);
    for (const f of [web4(), web6()]) {
      const j = h.judge(f);
      assert.equal(j.verdict, XDP_PASS);
      assert.deepEqual(j.events.map((e) => [e.ruleNum, e.action]), [[h.ruleNum('log-tcp'), FW_ACT.log]]);
    }
    const u = h.judge(udpFrame({ src: A4, dst: B4, sport: 1, dport: 2 }));
    assert.deepEqual([u.verdict, u.events], [XDP_PASS, []]);
  });

  it('alert mode turns deny into log and a drop default into a logged pass', () => {
    const h = fw();
    h.install({ mode: 'alert', default_policy: 'drop', rules: [{ id: 'deny-80', priority: 1, action: 'deny', protocol: 'tcp', dst_port: 80 }] });
    for (const web of [web4, web6]) {
      const hit = h.judge(web(80));
      assert.equal(hit.verdict, XDP_PASS);
      assert.deepEqual(hit.delta, expectedDelta({ bytes: web(80).length, verdict: 'pass', by: 'rule', events: 1 }));
      assert.deepEqual(hit.events.map((e) => [e.ruleNum, e.action, e.reason]), [[h.ruleNum('deny-80'), FW_ACT.log, FW_REASON.rule]]);
      const miss = h.judge(web(81));
      assert.equal(miss.verdict, XDP_PASS);
      assert.deepEqual(miss.delta, expectedDelta({ bytes: web(81).length, verdict: 'pass', by: 'default', events: 1 }));
      assert.deepEqual(miss.events.map((e) => [e.ruleNum, e.action, e.reason]), [[0, FW_ACT.log, FW_REASON.default]]);
    }
    // back to block mode: the same rule drops again
    h.install({ mode: 'block', default_policy: 'drop', rules: [{ id: 'deny-80', priority: 1, action: 'deny', protocol: 'tcp', dst_port: 80 }] });
    assert.equal(h.verdict(web4(80)), XDP_DROP);
  });

  describe('counters', () => {
    it('per rule: packets and bytes, both families of one config rule share a counter', () => {
      const h = fw();
      h.install({ default_policy: 'pass', rules: [{ id: 'web', priority: 1, action: 'allow', protocol: 'tcp', dst_port: 80 }, { id: 'other', priority: 2, action: 'allow' }] });
      const frames = [web4(80), web4(80, 'x'.repeat(100)), web6(80), web6(80, 'y'.repeat(1000)), web4(80, 'z'.repeat(1400))];
      const before = h.hits('web');
      const beforeOther = h.hits('other');
      for (const f of frames) assert.equal(h.verdict(f), XDP_PASS);
      const after = h.hits('web');
      assert.deepEqual(
        { packets: after.packets - before.packets, bytes: after.bytes - before.bytes },
        { packets: 5, bytes: frames.reduce((n, f) => n + f.length, 0) },
      );
      assert.deepEqual(h.hits('other'), beforeOther, 'a rule that did not match did not move');
    });

    it('per interface: seen, passed, dropped, bytes and default_policy on the ingress ifindex', () => {
      const h = fw();
      h.install({ default_policy: 'drop', rules: [{ id: 'allow-web', priority: 1, action: 'allow', protocol: 'tcp', dst_port: 80 }, { id: 'log-dns', priority: 2, action: 'log', protocol: 'udp', dst_port: 53 }] });
      const frames = [web4(80), web6(80), web4(22), udpFrame({ src: A6, dst: B6, sport: 5353, dport: 53 }), icmpFrame({ src: A4, dst: B4, type: 8 }), web6(443)];
      const all = h.kernel.readCounters();
      const before = h.counters(TEST_RUN_IFINDEX);
      // an explicit ctx naming ifindex 1 counts there as well
      for (const f of frames) h.verdict(f, { ifindex: TEST_RUN_IFINDEX });
      const after = h.counters(TEST_RUN_IFINDEX);
      const d = (k: keyof typeof after): number => Number(after[k] - before[k]);
      assert.deepEqual(
        { seen: d('seen'), passed: d('passed'), dropped: d('dropped'), bytes: d('bytes_seen'), rule_hit: d('rule_hit'), default_policy: d('default_policy'), events: d('events'), malformed: d('malformed'), non_ip: d('non_ip') },
        { seen: 6, passed: 3, dropped: 3, bytes: frames.reduce((n, f) => n + f.length, 0), rule_hit: 3, default_policy: 3, events: 4, malformed: 0, non_ip: 0 },
      );
      const keys = (m: Map<number, unknown>): number[] => [...m.keys()].sort((a, b) => a - b);
      assert.deepEqual(keys(h.kernel.readCounters()), [...new Set([...keys(all), TEST_RUN_IFINDEX])].sort((a, b) => a - b), 'no other interface was counted');
      h.drainEvents();
    });
  });

  describe('events', () => {
    it('a deny (IPv4 TCP, one VLAN tag) gives exactly one event with every field right', () => {
      const h = fw();
      h.install({ default_policy: 'pass', rules: [{ id: 'deny-ssh', priority: 7, action: 'deny', protocol: 'tcp', dst_port: 22, vlan_id: 10 }] });
      const f = tcpFrame({ src: '198.18.0.66', dst: '198.18.1.1', sport: 51234, dport: 22, flags: ['syn', 'ece', 'cwr'], vlans: [{ vid: 10, pcp: 3 }] });
      const j = h.judge(f);
      assert.equal(j.verdict, XDP_DROP);
      assert.deepEqual(j.events, [
        {
          ruleNum: h.ruleNum('deny-ssh'), ifindex: TEST_RUN_IFINDEX, family: 4, proto: 6, src: '198.18.0.66', dst: '198.18.1.1',
          srcPort: 51234, dstPort: 22, vlanId: 10, vlanDepth: 1, pktLen: f.length, action: FW_ACT.drop, reason: FW_REASON.rule,
          icmpType: 0, icmpCode: 0, tcpFlags: 0xc2,
        } satisfies FwEvent,
      ]);
    });

    it('a log (IPv6 UDP, QinQ) gives one event with the inner VID, then the packet passes', () => {
      const h = fw();
      h.install({ default_policy: 'drop', rules: [{ id: 'log-dns6', priority: 3, action: 'log', protocol: 'udp', dst_port: 53, src_ip: '2001:db8:aa::/48' }] });
      const f = udpFrame({ src: '2001:db8:aa::5', dst: '2001:db8:1::53', sport: 33333, dport: 53, vlans: [{ vid: 100, tpid: 0x88a8 }, { vid: 200 }] });
      const j = h.judge(f);
      assert.equal(j.verdict, XDP_PASS);
      assert.deepEqual(j.events, [
        {
          ruleNum: h.ruleNum('log-dns6'), ifindex: TEST_RUN_IFINDEX, family: 6, proto: 17, src: '2001:db8:aa::5', dst: '2001:db8:1::53',
          srcPort: 33333, dstPort: 53, vlanId: 200, vlanDepth: 2, pktLen: f.length, action: FW_ACT.log, reason: FW_REASON.rule,
          icmpType: 0, icmpCode: 0, tcpFlags: 0,
        } satisfies FwEvent,
      ]);
    });

    it('ICMP and ICMPv6 events carry type and code, no ports', () => {
      const h = fw();
      h.install({
        default_policy: 'pass',
        rules: [
          { id: 'deny-unreach', priority: 1, action: 'deny', protocol: 'icmp', icmp_type: 3 },
          { id: 'log-pkt-too-big', priority: 2, action: 'log', protocol: 'icmpv6', icmp_type: 2, icmp_code: 0 },
        ],
      });
      const f4 = icmpFrame({ src: A4, dst: B4, type: 3, code: 13 });
      const f6 = icmpFrame({ src: A6, dst: B6, type: 2, code: 0, rest: Buffer.from([0, 0, 5, 0xdc]) });
      const base = { ifindex: TEST_RUN_IFINDEX, srcPort: 0, dstPort: 0, vlanId: 0, vlanDepth: 0, reason: FW_REASON.rule, tcpFlags: 0 };
      assert.deepEqual(h.judge(f4).events, [{ ...base, ruleNum: h.ruleNum('deny-unreach'), family: 4, proto: 1, src: A4, dst: B4, pktLen: f4.length, action: FW_ACT.drop, icmpType: 3, icmpCode: 13 }]);
      assert.deepEqual(h.judge(f6).events, [{ ...base, ruleNum: h.ruleNum('log-pkt-too-big'), family: 6, proto: 58, src: A6, dst: B6, pktLen: f6.length, action: FW_ACT.log, icmpType: 2, icmpCode: 0 }]);
    });

    it('an allow gives no event; a default drop gives one with reason default and rule 0', () => {
      const h = fw();
      h.install({ default_policy: 'drop', rules: [{ id: 'allow-web', priority: 1, action: 'allow', protocol: 'tcp', dst_port: 443 }] });
      assert.deepEqual(h.judge(web6(443)).events, []);
      const f = web6(8443);
      assert.deepEqual(h.judge(f).events, [
        {
          ruleNum: 0, ifindex: TEST_RUN_IFINDEX, family: 6, proto: 6, src: A6, dst: B6, srcPort: 40000, dstPort: 8443, vlanId: 0, vlanDepth: 0,
          pktLen: f.length, action: FW_ACT.drop, reason: FW_REASON.default, icmpType: 0, icmpCode: 0, tcpFlags: 0x02,
        } satisfies FwEvent,
      ]);
    });

    it('many events in a row are all delivered in order, none lost', () => {
      const h = fw();
      h.install({ default_policy: 'pass', rules: [{ id: 'log-all', priority: 1, action: 'log' }] });
      const before = h.counters();
      for (let i = 0; i < 500; i++) h.verdict(tcpFrame({ src: A4, dst: B4, sport: 10000 + i, dport: 80 }));
      const evs = h.drainEvents();
      assert.deepEqual(evs.map((e) => e.srcPort), Array.from({ length: 500 }, (_, i) => 10000 + i));
      const after = h.counters();
      assert.equal(after.events - before.events, 500n);
      assert.equal(after.events_lost_ring_full - before.events_lost_ring_full, 0n);
      assert.equal(after.events_lost_backpressure - before.events_lost_backpressure, 0n);
    });
  });

  describe('generation flip', () => {
    it('verdicts follow policy B; a rule kept in both keeps its counters; a removed rule stops matching', () => {
      const h = fw();
      h.install({
        default_policy: 'pass',
        rules: [
          { id: 'keep', priority: 10, action: 'deny', protocol: 'tcp', dst_port: 80 },
          { id: 'a-only', priority: 20, action: 'deny', protocol: 'udp', dst_port: 53 },
        ],
      });
      const keepNum = h.ruleNum('keep');
      const dns4 = udpFrame({ src: A4, dst: B4, sport: 5000, dport: 53 });
      assert.equal(h.verdict(web4(80)), XDP_DROP);
      assert.equal(h.verdict(web6(80)), XDP_DROP);
      assert.equal(h.verdict(dns4), XDP_DROP);
      assert.equal(h.verdict(web4(22)), XDP_PASS);
      const keepHits = h.hits('keep');
      assert.deepEqual(keepHits, { packets: 2, bytes: web4(80).length + web6(80).length });
      const genA = h.kernel.writer.activeGeneration;

      h.install({
        default_policy: 'drop',
        rules: [
          { id: 'b-ssh', priority: 1, action: 'allow', protocol: 'tcp', dst_port: 22 },
          { id: 'keep', priority: 50, action: 'log', protocol: 'tcp', dst_port: 80 },
        ],
      });
      assert.notEqual(h.kernel.writer.activeGeneration, genA, 'the active generation flipped');
      assert.equal(h.ruleNum('keep'), keepNum, 'a kept rule keeps its number');
      assert.deepEqual(h.hits('keep'), keepHits, 'and its counters');
      assert.equal(h.kernel.writer.numbers.numOf('a-only'), undefined);

      const j80 = h.judge(web4(80));
      assert.equal(j80.verdict, XDP_PASS, 'keep is a log rule in B');
      assert.deepEqual(j80.events.map((e) => [e.ruleNum, e.action]), [[keepNum, FW_ACT.log]]);
      const jdns = h.judge(dns4);
      assert.equal(jdns.verdict, XDP_DROP, 'a-only is gone: the default drop of B decides');
      assert.deepEqual(jdns.events.map((e) => [e.ruleNum, e.reason]), [[0, FW_REASON.default]]);
      assert.equal(h.verdict(web4(22)), XDP_PASS);
      assert.equal(h.verdict(web6(22)), XDP_PASS);
      assert.deepEqual(h.hits('keep'), { packets: 3, bytes: keepHits.bytes + web4(80).length });
      assert.equal(h.hits('b-ssh').packets, 2);

      // B -> empty drop: nothing passes any more.
      h.install({ default_policy: 'drop', rules: [] });
      assert.equal(h.verdict(web4(22)), XDP_DROP);
      assert.equal(h.verdict(web6(80)), XDP_DROP);
      h.drainEvents();
    });

    it('set entries of the old generation are removed once the flip settled, and never match again', () => {
      const h = fw();
      h.install({ default_policy: 'pass', rules: [{ id: 'bl', priority: 1, action: 'deny', src_ip: ['198.18.0.66', '198.18.0.67', '2001:db8:66::/48', '2001:db8:67::/48'] }] });
      const from = (s: string): Buffer => tcpFrame({ src: s, dst: s.includes(':') ? B6 : B4, sport: 1, dport: 2 });
      assert.deepEqual(['198.18.0.66', '198.18.0.68', '2001:db8:66::1', '2001:db8:68::1'].map((s) => h.verdict(from(s))), [XDP_DROP, XDP_PASS, XDP_DROP, XDP_PASS]);
      h.install({ default_policy: 'pass', rules: [{ id: 'bl', priority: 1, action: 'deny', src_ip: ['198.18.0.68', '198.18.0.69', '2001:db8:68::/48', '2001:db8:69::/48'] }] });
      assert.deepEqual(['198.18.0.66', '198.18.0.68', '2001:db8:66::1', '2001:db8:68::1'].map((s) => h.verdict(from(s))), [XDP_PASS, XDP_DROP, XDP_PASS, XDP_DROP]);
      assert.equal(h.kernel.countEntries('fw_lpm_v4'), 2);
      assert.equal(h.kernel.countEntries('fw_lpm_v6'), 2);
      h.drainEvents();
    });

    it('many flips in a row: each policy is judged whole', () => {
      const h = fw();
      for (let i = 0; i < 40; i++) {
        const port = 1000 + i;
        h.install({ default_policy: i % 2 ? 'drop' : 'pass', rules: [{ id: `r${i % 3}`, priority: 1, action: i % 2 ? 'allow' : 'deny', protocol: 'tcp', dst_port: port }] });
        assert.equal(h.verdict(web4(port)), i % 2 ? XDP_PASS : XDP_DROP, `flip ${i}: rule`);
        assert.equal(h.verdict(web6(port + 1)), i % 2 ? XDP_DROP : XDP_PASS, `flip ${i}: default`);
      }
      h.drainEvents();
    });
  });

  it('a frame that is not IP passes and counts as non_ip even under default drop', () => {
    const h = fw();
    h.install({ default_policy: 'drop', rules: [{ id: 'deny-all', priority: 1, action: 'deny' }] });
    const arp = buildFrame({ eth: { type: 0x0806, dst: 'ff:ff:ff:ff:ff:ff' }, payload: Buffer.alloc(28, 1) });
    const arpVlan = buildFrame({ eth: { type: 0x0806 }, vlans: [{ vid: 5 }], payload: Buffer.alloc(28, 1) });
    const lldp = buildFrame({ eth: { type: 0x88cc }, payload: Buffer.alloc(40) });
    for (const f of [arp, arpVlan, lldp]) {
      assert.deepEqual(h.judge(f), { verdict: XDP_PASS, events: [], delta: expectedDelta({ bytes: f.length, verdict: 'pass', by: 'non_ip' }) });
    }
  });
});
