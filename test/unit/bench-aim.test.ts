// Packets aimed at rules (bench/aim.ts) and the throughput policy's traffic: a packet passed off
// as reaching a rule must be decided by that rule under first-match (the reference matcher, a
// linear scan, is the judge), frames must carry exactly the packet, and the throughput flows
// must be distinct, of both protocols, and spread over the whole policy.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aimAt, aimOnce, decides, decidingRule, earlierOverlapping, FRAME_LEN, frameOf } from '../../bench/aim.js';
import { mixedRules, mixedRulesYaml } from '../../bench/firewall-scale.js';
import { BLOCKS, firewallYaml, mixedPolicy, nftRuleCounters, nftSingleDrop, throughputFlows } from '../../bench/mixed-policy.js';
import { parseConfigText } from '../../src/catalog.js';
import { compileFirewall, matchPacket, ruleMatches, type CompiledFirewall } from '../../src/engines/firewall/compile.js';
import { parseAddress } from '../../src/net/ip.js';
import { prng } from '../support/firewall-random.js';
import { parseFrame } from '../support/frames.js';

function compile(yaml: string): CompiledFirewall {
  const c = parseConfigText(yaml, 'bench.yaml');
  return compileFirewall(c.firewall, c.resolved.firewall.aliases);
}

const scalePolicy = compile(`agent:\n  interfaces: [bench0]\nfirewall:\n  default_policy: pass\n  rules:${mixedRulesYaml(mixedRules(400, 77))}\n`);

describe('bench aim', () => {
  it('only the earlier rules that overlap a rule can take its packets (checked against the full scan)', () => {
    const rnd = prng(5);
    let tried = 0;
    for (let i = 0; i < scalePolicy.rules.length; i += 3) {
      const overlap = new Set(earlierOverlapping(scalePolicy, i));
      for (let t = 0; t < 4; t++) {
        const p = aimOnce(scalePolicy, i, 4, rnd) ?? null;
        if (!p) continue;
        tried++;
        // every earlier rule that matches a packet inside rule i is in the overlap list
        for (let j = 0; j < i; j++) if (ruleMatches(scalePolicy, scalePolicy.rules[j]!, p)) assert.ok(overlap.has(j), `rule ${j} matches a packet of rule ${i} but is not listed`);
        assert.equal(decidingRule(scalePolicy, p), i);
        assert.equal(decides(scalePolicy, i, p), true);
      }
    }
    assert.ok(tried > 100, `only ${tried} packets were aimed`);
  });

  it('an aimed packet is decided by its rule; a shadowed rule gets none', () => {
    const c = compile(
      'agent:\n  interfaces: [bench0]\nfirewall:\n  rules:\n' +
        '    - { id: wide, priority: 1, action: deny, protocol: tcp, dst_ip: 198.18.0.0/16 }\n' +
        '    - { id: shadowed, priority: 2, action: allow, protocol: tcp, dst_ip: 198.18.4.0/24, dst_port: 443 }\n' +
        '    - { id: v6, priority: 3, action: allow, protocol: udp, src_ip: "2001:db8:1::/48", dst_port: "1000-1010" }\n' +
        '    - { id: ping, priority: 4, action: allow, protocol: icmp, icmp_type: 8 }\n',
    );
    const rnd = prng(9);
    assert.equal(aimAt(c, 1, 4, rnd), null);
    for (let k = 0; k < 20; k++) {
      const p = aimAt(c, 2, 6, rnd)!;
      assert.equal(matchPacket(c, p).ruleId, 'v6');
      assert.ok(p.dstPort! >= 1000 && p.dstPort! <= 1010);
      const ping = aimAt(c, 3, 4, rnd)!;
      assert.equal(ping.icmpType, 8);
      assert.equal(matchPacket(c, ping).ruleId, 'ping');
    }
  });

  it('frames carry the packet, one length per family', () => {
    const rnd = prng(3);
    for (let i = 0; i < 200; i++) {
      const p = aimOnce(scalePolicy, i, 4, rnd);
      if (!p) continue;
      const f = frameOf(p);
      assert.equal(f.length, FRAME_LEN[p.family]);
      const parsed = parseFrame(f);
      assert.deepEqual(parseAddress(parsed.ip!.src).addr, Buffer.from(p.src));
      assert.deepEqual(parseAddress(parsed.ip!.dst).addr, Buffer.from(p.dst));
      assert.equal(parsed.ip!.protocol, p.proto);
      if (parsed.l4 && 'sport' in parsed.l4) {
        assert.equal(parsed.l4.sport, p.srcPort);
        assert.equal(parsed.l4.dport, p.dstPort);
      }
    }
  });
});

describe('bench throughput policy and flows', () => {
  const rules = mixedPolicy(2000, 11);
  const c = compile(firewallYaml(rules, 'bench0'));

  it('has deny rules in every block, both families', () => {
    assert.equal(rules.length, 2000);
    assert.deepEqual(mixedPolicy(2000, 11), rules, 'deterministic');
    for (let b = 0; b < BLOCKS; b++) {
      for (const family of [4, 6]) assert.ok(rules.some((r) => r.id.startsWith(`m${b}-`) && r.action === 'deny' && r.family === family), `block ${b} IPv${family}`);
    }
  });

  for (const family of [4, 6] as const) {
    it(`IPv${family}: every flow is dropped by the deny rule it was aimed at; distinct, TCP and UDP, spread over the policy`, () => {
      const r = throughputFlows(c, family, 600, 5);
      assert.equal(r.flows.length, 600);
      assert.equal(new Set(r.flows.map((f) => f.frame.toString('hex'))).size, 600);
      for (const f of r.flows) {
        assert.equal(f.frame.length, FRAME_LEN[family]);
        const p = parseFrame(f.frame);
        const l4 = p.l4 as { sport: number; dport: number };
        const facts = { family, src: parseAddress(p.ip!.src).addr, dst: parseAddress(p.ip!.dst).addr, proto: p.ip!.protocol, srcPort: l4.sport, dstPort: l4.dport };
        const m = matchPacket(c, facts);
        assert.equal(m.ruleId, f.ruleId);
        assert.equal(m.action, 'drop');
        assert.equal(c.rules[f.rule]!.ruleId, f.ruleId);
      }
      const protos = new Set(r.flows.map((f) => f.proto));
      assert.deepEqual([...protos].sort((a, b) => a - b), [6, 17]);
      const pos = r.flows.map((f) => f.rule / c.rules.length);
      assert.ok(Math.min(...pos) < 0.1 && Math.max(...pos) > 0.8, `deciding rules span ${Math.min(...pos)}..${Math.max(...pos)}`);
    });
  }

  it('reads nft rule counters in chain order with their verdicts', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        { rule: { family: 'netdev', expr: [{ match: {} }, { counter: { packets: 7, bytes: 420 } }, { drop: null }] } },
        { rule: { family: 'netdev', expr: [{ match: {} }, { counter: { packets: 2, bytes: 120 } }, { accept: null }] } },
        { rule: { family: 'netdev', expr: [{ counter: { packets: 0, bytes: 0 } }, { drop: null }] } },
      ],
    });
    assert.deepEqual(nftRuleCounters(json), [
      { packets: 7, verdict: 'drop' },
      { packets: 2, verdict: 'accept' },
      { packets: 0, verdict: 'drop' },
    ]);
    assert.throws(() => nftRuleCounters(JSON.stringify({ nftables: [{ rule: { expr: [{ drop: null }] } }] })), /has no counter/);
    assert.match(nftSingleDrop('t', 'rx0'), /hook ingress device "rx0" priority -500; policy accept;\n {4}counter drop/);
  });
});
