// Conntrack's own Prometheus series: every one documented in docs/metrics.md (and nothing
// documented that is not registered), fill level and per-state gauges, and counters fed from
// absolute kernel totals that never go backwards.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ConntrackMetrics } from '../../src/engines/conntrack/metrics.js';
import { REPO_ROOT } from '../../src/version.js';

async function values(r: Registry): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of await r.getMetricsAsJSON()) {
    for (const v of m.values) {
      const labels = Object.entries(v.labels ?? {}).map(([k, x]) => `${k}=${String(x)}`).join(',');
      out.set(labels ? `${m.name}{${labels}}` : m.name, v.value);
    }
  }
  return out;
}

const totals = { newFlows: 0, invalid: 0, tableFull: 0, expiredKernel: 0, related: 0, untracked: 0 };

describe('conntrack metrics', () => {
  it('documents every series it registers in docs/metrics.md, and nothing else', async () => {
    const r = new Registry();
    ConntrackMetrics.for(r);
    const registered = (await r.getMetricsAsJSON()).map((m) => m.name).sort();
    const doc = readFileSync(path.join(REPO_ROOT, 'docs', 'metrics.md'), 'utf8');
    const documented = [...new Set([...doc.matchAll(/^\| `(ebpfsentinel_conntrack_[a-z0-9_]+)`/gm)].map((m) => m[1]!))].sort();
    assert.deepEqual(documented, registered);
  });

  it('reports the fill level and every state, 0 included', async () => {
    const r = new Registry();
    const m = ConntrackMetrics.for(r);
    m.setTable(256, 1024, new Map([['established', 200], ['time_wait', 56]]));
    const v = await values(r);
    assert.equal(v.get('ebpfsentinel_conntrack_entries'), 256);
    assert.equal(v.get('ebpfsentinel_conntrack_max_entries'), 1024);
    assert.equal(v.get('ebpfsentinel_conntrack_fill_ratio'), 0.25);
    assert.equal(v.get('ebpfsentinel_conntrack_flows{state=established}'), 200);
    assert.equal(v.get('ebpfsentinel_conntrack_flows{state=udp_unreplied}'), 0);
    assert.equal([...v.keys()].filter((k) => k.startsWith('ebpfsentinel_conntrack_flows{')).length, 14);
  });

  it('counters follow absolute totals and survive a reset of their source', async () => {
    const r = new Registry();
    const m = ConntrackMetrics.for(r);
    m.setTotals({ ...totals, newFlows: 10, expiredKernel: 2 }, 3, 1);
    m.setTotals({ ...totals, newFlows: 15, expiredKernel: 2 }, 5, 4);
    let v = await values(r);
    assert.equal(v.get('ebpfsentinel_conntrack_new_flows_total'), 15);
    assert.equal(v.get('ebpfsentinel_conntrack_expired_total{by=kernel}'), 2);
    assert.equal(v.get('ebpfsentinel_conntrack_expired_total{by=gc}'), 5);
    assert.equal(v.get('ebpfsentinel_conntrack_evictions_total'), 4);
    // the kernel counters restarted from zero (program reloaded): counting resumes from there
    m.setTotals({ ...totals, newFlows: 3 }, 5, 4);
    v = await values(r);
    assert.equal(v.get('ebpfsentinel_conntrack_new_flows_total'), 18);
    m.gcDone(true, 0.002);
    m.gcDone(false, 0.001);
    v = await values(r);
    assert.equal(v.get('ebpfsentinel_conntrack_gc_runs_total{result=ok}'), 1);
    assert.equal(v.get('ebpfsentinel_conntrack_gc_runs_total{result=error}'), 1);
  });

  it('one set of series per registry: an engine started again (a reload) keeps counting into it', async () => {
    const r = new Registry();
    const m = ConntrackMetrics.for(r);
    assert.equal(ConntrackMetrics.for(r), m, 'a second engine gets the same series, not a duplicate registration');
    assert.notEqual(ConntrackMetrics.for(new Registry()), m);
    m.setTotals({ ...totals, newFlows: 10 }, 4, 0);
    // the new engine's totals start from zero; one above the old reading still counts whole
    m.sourcesRestarted();
    m.setTotals({ ...totals, newFlows: 12 }, 6, 0);
    const v = await values(r);
    assert.equal(v.get('ebpfsentinel_conntrack_new_flows_total'), 22);
    assert.equal(v.get('ebpfsentinel_conntrack_expired_total{by=gc}'), 10);
  });
});
