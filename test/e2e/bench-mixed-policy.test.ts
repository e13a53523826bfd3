// The throughput bench's policy and traffic must be what they claim on both sides: a firewall
// config that compiles with every rule, flows the reference matcher says its deny rules drop,
// and an nftables ruleset that nftables itself (an oracle we did not write) loads and uses to
// drop those very frames with its deny rules, none reaching an accept or the default. Checked
// here so the bench cannot rot unnoticed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { firewallYaml, mixedPolicy, nftRuleCounters, nftRuleset, throughputFlows } from '../../bench/mixed-policy.js';
import { parseConfigText } from '../../src/catalog.js';
import { compileFirewall, matchPacket } from '../../src/engines/firewall/compile.js';
import { Lab } from '../../src/lab/index.js';
import { parseAddress } from '../../src/net/ip.js';
import { labPrerequisites } from '../support/env.js';
import { parseFrame } from '../support/frames.js';

const RULES = 2000;
const FLOWS = 100;
const rules = mixedPolicy(RULES, 11);
const config = parseConfigText(firewallYaml(rules, 'bench0'), 'mixed.yaml');
const compiled = compileFirewall(config.firewall, config.resolved.firewall.aliases);
const flows = ([4, 6] as const).map((family) => ({ family, flows: throughputFlows(compiled, family, FLOWS, 3).flows }));

describe('bench mixed policy', () => {
  it('has the requested rules, both families, every shape, and is deterministic', () => {
    assert.equal(rules.length, RULES);
    assert.deepEqual(mixedPolicy(RULES, 11), rules);
    assert.ok(rules.some((r) => r.family === 4) && rules.some((r) => r.family === 6));
    assert.deepEqual(new Set(rules.map((r) => r.shape)), new Set(['src', 'src_service', 'dst_service', 'src_sport']));
    assert.ok(rules.some((r) => r.ports && r.ports[0] !== r.ports[1]), 'some port ranges');
    assert.ok(rules.some((r) => r.ports && r.ports[0] === r.ports[1]), 'some single ports');
    assert.equal(compiled.rules.length, RULES);
  });

  it('every flow is dropped by a deny rule according to the reference matcher', () => {
    for (const { family, flows: list } of flows) {
      for (const f of list) {
        const p = parseFrame(f.frame);
        const l4 = p.l4 as { sport: number; dport: number };
        const m = matchPacket(compiled, { family, src: parseAddress(p.ip!.src).addr, dst: parseAddress(p.ip!.dst).addr, proto: p.ip!.protocol, srcPort: l4.sport, dstPort: l4.dport });
        assert.equal(m.action, 'drop', `IPv${family} flow aimed at ${f.ruleId}`);
        assert.equal(m.ruleId, f.ruleId);
      }
    }
  });

  describe('nftables drops the same frames with its deny rules', () => {
    let lab: Lab | undefined;
    before(async () => {
      const missing = labPrerequisites(['ip', 'nft', 'python3', 'sysctl']);
      assert.equal(missing, undefined, `this test needs root, ip, nft and python3: ${missing}`);
      lab = await Lab.create({ name: 'bench-nft', hosts: [{ name: 'h' }], links: [{ a: { host: 'h', ifname: 'tx' }, b: { host: 'h', ifname: 'rx' } }] });
      // no IPv6 stack: its own frames (router solicitations, MLD) would reach the default rule
      for (const dev of ['all', 'default', lab.ifname('tx'), lab.ifname('rx')]) await lab.sysctl('h', `net.ipv6.conf.${dev}.disable_ipv6`, '1');
    });
    after(async () => {
      await lab?.destroy();
    });

    it('loads on a netdev device, and every injected frame is counted by a drop rule', async () => {
      const l = lab!;
      await l.exec('h', 'nft', ['-f', '-'], { input: nftRuleset(rules, 'sentinel_bench', l.ifname('rx')) });
      const listed = (await l.exec('h', 'nft', ['list', 'table', 'netdev', 'sentinel_bench'])).stdout;
      assert.ok((listed.match(/\bset g\d+ \{/g) ?? []).length >= 8, 'one set per group and family');
      const frames = flows.flatMap((f) => f.flows.map((x) => x.frame));
      assert.equal(await l.inject('h', l.ifname('tx'), frames), frames.length);
      let counts: ReturnType<typeof nftRuleCounters> = [];
      for (let t = 0; t < 50; t++) {
        counts = nftRuleCounters((await l.exec('h', 'nft', ['-j', 'list', 'chain', 'netdev', 'sentinel_bench', 'ingress'])).stdout);
        if (counts.reduce((a, r) => a + r.packets, 0) >= frames.length) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const last = counts.length - 1;
      const byDeny = counts.reduce((a, r, i) => a + (r.verdict === 'drop' && i !== last ? r.packets : 0), 0);
      const elsewhere = counts.reduce((a, r, i) => a + (r.verdict !== 'drop' || i === last ? r.packets : 0), 0);
      assert.equal(byDeny, frames.length, 'every frame dropped by a deny rule');
      assert.equal(elsewhere, 0, 'no frame accepted or left to the default');
    });
  });
});
