// xdp-firewall's own series: packets and bytes per rule, absolute kernel readings turned into
// monotonic counters, a rule's series gone when the rule leaves the policy.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { FirewallMetrics } from '../../src/engines/firewall/metrics.js';

async function value(r: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = (await r.getMetricsAsJSON()).find((x) => x.name === name);
  return metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
}

describe('firewall metrics', () => {
  it('replaces the rule-hit set, monotonic per rule', async () => {
    const r = new Registry();
    const m = FirewallMetrics.for(r);
    m.setRuleHits([
      { ruleId: 'allow-ssh-v4', packets: 10, bytes: 600 },
      { ruleId: 'deny-v6-scan', packets: 4n, bytes: 320n },
    ]);
    assert.equal(await value(r, 'ebpfsentinel_firewall_rule_hits_total', { rule_id: 'allow-ssh-v4' }), 10);
    assert.equal(await value(r, 'ebpfsentinel_firewall_rule_hit_bytes_total', { rule_id: 'deny-v6-scan' }), 320);
    // deny-v6-scan removed from the policy; allow-ssh-v4's map slot was rebuilt from zero
    m.setRuleHits([{ ruleId: 'allow-ssh-v4', packets: 2, bytes: 120 }]);
    assert.equal(await value(r, 'ebpfsentinel_firewall_rule_hits_total', { rule_id: 'allow-ssh-v4' }), 12);
    assert.equal(await value(r, 'ebpfsentinel_firewall_rule_hit_bytes_total', { rule_id: 'allow-ssh-v4' }), 720);
    assert.equal(await value(r, 'ebpfsentinel_firewall_rule_hits_total', { rule_id: 'deny-v6-scan' }), undefined);
  });


  it('is one set per registry: a restarted firewall keeps counting into the same series', async () => {
    const r = new Registry();
    const a = FirewallMetrics.for(r);
    a.setRuleHits([{ ruleId: 'r1', packets: 5, bytes: 50 }]);
    const b = FirewallMetrics.for(r);
    assert.equal(b, a);
    b.setRuleHits([{ ruleId: 'r1', packets: 1, bytes: 10 }]); // the new program's map starts from zero
    assert.equal(await value(r, 'ebpfsentinel_firewall_rule_hits_total', { rule_id: 'r1' }), 6);
  });
});
