// The throughput bench's policy must be what it claims on both sides: a firewall config that
// compiles with every rule and leaves the probe frames to the default deny, and an nftables
// ruleset that nft itself accepts. Checked here so the bench cannot rot unnoticed.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { firewallYaml, mixedPolicy, nftRuleset, UNMATCHED } from '../../bench/mixed-policy.js';
import { parseConfigText } from '../../src/config/index.js';
import { compileFirewall, matchPacket } from '../../src/engines/firewall/compile.js';
import { newRunPrefix } from '../../src/lab/names.js';
import { parseAddress } from '../../src/net/ip.js';
import { labPrerequisites } from '../support/env.js';

const RULES = 2000;
const rules = mixedPolicy(RULES, 11);

describe('bench mixed policy', () => {
  it('has the requested rules, both families, every shape, and is deterministic', () => {
    assert.equal(rules.length, RULES);
    assert.deepEqual(mixedPolicy(RULES, 11), rules);
    assert.ok(rules.some((r) => r.family === 4) && rules.some((r) => r.family === 6));
    assert.deepEqual(new Set(rules.map((r) => r.shape)), new Set(['src', 'src_service', 'dst_service', 'src_sport']));
    assert.ok(rules.some((r) => r.ports && r.ports[0] !== r.ports[1]), 'some port ranges');
    assert.ok(rules.some((r) => r.ports && r.ports[0] === r.ports[1]), 'some single ports');
  });

  it('compiles as a firewall config; the probe frames match no rule and meet the default deny', () => {
    const config = parseConfigText(firewallYaml(rules, 'bench0'), 'mixed.yaml');
    const compiled = compileFirewall(config.firewall, config.resolved.firewallAliases);
    assert.equal(compiled.rules.length, RULES);
    for (const family of [4, 6] as const) {
      const u = UNMATCHED[family];
      const m = matchPacket(compiled, {
        family,
        src: parseAddress(u.src).addr,
        dst: parseAddress(u.dst).addr,
        proto: 6,
        srcPort: u.sport,
        dstPort: u.dport,
      });
      assert.equal(m.ruleId, null, `IPv${family} probe matched ${m.ruleId}`);
      assert.equal(m.action, 'drop');
    }
  });

  it('nft accepts the ruleset on a real netdev device', () => {
    const missing = labPrerequisites(['ip', 'nft']);
    assert.equal(missing, undefined, `this test needs root, ip and nft: ${missing}`);
    const ns = `${newRunPrefix()}-nft`;
    execFileSync('ip', ['netns', 'add', ns]);
    try {
      execFileSync('ip', ['-n', ns, 'link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'b1']);
      execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: nftRuleset(rules, 'sentinel_bench', 'b1') });
      const listed = execFileSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'table', 'netdev', 'sentinel_bench'], { encoding: 'utf8' });
      assert.match(listed, /counter packets 0 bytes 0 drop/);
      assert.ok((listed.match(/\bset g\d+ \{/g) ?? []).length >= 8, 'one set per group and family');
    } finally {
      execFileSync('ip', ['netns', 'del', ns]);
    }
  });
});
