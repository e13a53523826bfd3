import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApiMetrics } from '../../src/metrics/api-metrics.js';
import { AgentMetrics, type KernelCounters } from '../../src/metrics/agent-metrics.js';
import { MonotonicSeries } from '../../src/metrics/monotonic.js';
import { ConntrackMetrics } from '../../src/engines/conntrack/metrics.js';
import { FirewallMetrics } from '../../src/engines/firewall/metrics.js';
import { RatelimitMetrics } from '../../src/engines/ratelimit/metrics.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function counters(base: number, over: Partial<KernelCounters> = {}): KernelCounters {
  return {
    seen: base * 10,
    passed: base * 6,
    dropped: base * 3,
    malformed: base,
    nonIp: base * 2,
    bytesSeen: base * 1000,
    events: base * 4,
    eventsLostFull: base,
    eventsLostBackpressure: base * 2,
    ...over,
  };
}

type Sample = { labels: Record<string, string | number>; value: number };

/** All samples of one metric, read back through the registry as a scraper would. */
async function samples(m: AgentMetrics, name: string): Promise<Sample[]> {
  const all = await m.registry.getMetricsAsJSON();
  const metric = all.find((x) => x.name === name);
  assert.ok(metric, `metric ${name} is registered`);
  return metric.values as Sample[];
}

async function value(m: AgentMetrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const s = (await samples(m, name)).find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v) && Object.keys(x.labels).length === Object.keys(labels).length);
  return s?.value;
}

describe('MonotonicSeries', () => {
  it('follows absolute readings and keeps what was counted before a reset', () => {
    const s = new MonotonicSeries<{ program: string; interface: string }>(['program', 'interface']);
    const l = { program: 'xdp-firewall', interface: 'veth0' };
    s.observe(l, 100);
    assert.equal(s.value(l), 100);
    s.observe(l, 150);
    assert.equal(s.value(l), 150);
    s.observe(l, 20); // map recreated: 150 counted before, 20 since
    assert.equal(s.value(l), 170);
    s.observe(l, 25);
    assert.equal(s.value(l), 175);
    s.observe(l, 0); // second reset
    assert.equal(s.value(l), 175);
    s.observe(l, 5n);
    assert.equal(s.value(l), 180);
  });

  it('treats label order as irrelevant and keeps series apart', () => {
    const s = new MonotonicSeries<{ a: string; b: string }>(['a', 'b']);
    s.observe({ a: '1', b: '2' }, 5);
    s.observe({ b: '2', a: '1' }, 7);
    s.observe({ a: '2', b: '1' }, 3);
    assert.equal(s.size, 2);
    assert.equal(s.value({ a: '1', b: '2' }), 7);
    assert.equal(s.remove((l) => l.a === '1'), 1);
    assert.equal(s.value({ a: '1', b: '2' }), undefined);
    assert.deepEqual([...s.entries()], [[{ a: '2', b: '1' }, 3]]);
  });

  it('rejects readings that are not counts', () => {
    const s = new MonotonicSeries<{ a: string }>(['a']);
    assert.throws(() => s.observe({ a: 'x' }, -1), /must be a finite number >= 0, got -1/);
    assert.throws(() => s.observe({ a: 'x' }, Number.NaN), /NaN/);
  });
});

describe('AgentMetrics', () => {
  it('exports kernel snapshots as counters per program and interface, v4 and v6 interfaces alike', async () => {
    const m = new AgentMetrics({ defaultMetrics: false });
    m.setKernelSnapshot('xdp-firewall', 'veth-a', counters(1));
    m.setKernelSnapshot('xdp-firewall', 'veth-b', counters(2, { extra: { rule_hit: 7, default_policy: 9n } }));
    assert.equal(await value(m, 'ebpfsentinel_packets_seen_total', { program: 'xdp-firewall', interface: 'veth-a' }), 10);
    assert.equal(await value(m, 'ebpfsentinel_packets_seen_total', { program: 'xdp-firewall', interface: 'veth-b' }), 20);
    assert.equal(await value(m, 'ebpfsentinel_packets_passed_total', { program: 'xdp-firewall', interface: 'veth-b' }), 12);
    assert.equal(await value(m, 'ebpfsentinel_packets_dropped_total', { program: 'xdp-firewall', interface: 'veth-b' }), 6);
    assert.equal(await value(m, 'ebpfsentinel_packets_malformed_total', { program: 'xdp-firewall', interface: 'veth-b' }), 2);
    assert.equal(await value(m, 'ebpfsentinel_packets_non_ip_total', { program: 'xdp-firewall', interface: 'veth-b' }), 4);
    assert.equal(await value(m, 'ebpfsentinel_bytes_seen_total', { program: 'xdp-firewall', interface: 'veth-b' }), 2000);
    assert.equal(await value(m, 'ebpfsentinel_program_reasons_total', { program: 'xdp-firewall', interface: 'veth-b', counter: 'rule_hit' }), 7);
    assert.equal(await value(m, 'ebpfsentinel_program_reasons_total', { program: 'xdp-firewall', interface: 'veth-b', counter: 'default_policy' }), 9);
    // events and kernel losses are per program: summed over interfaces
    assert.equal(await value(m, 'ebpfsentinel_events_total', { program: 'xdp-firewall' }), 4 + 8);
    assert.equal(await value(m, 'ebpfsentinel_events_lost_total', { program: 'xdp-firewall', reason: 'ring_full' }), 1 + 2);
    assert.equal(await value(m, 'ebpfsentinel_events_lost_total', { program: 'xdp-firewall', reason: 'backpressure' }), 2 + 4);
  });

  it('never lets a counter go backwards when a map is recreated', async () => {
    const m = new AgentMetrics({ defaultMetrics: false });
    m.setKernelSnapshot('xdp-firewall', 'veth-a', counters(10));
    m.setKernelSnapshot('xdp-firewall', 'veth-a', counters(3)); // recreated map, counting again
    assert.equal(await value(m, 'ebpfsentinel_packets_seen_total', { program: 'xdp-firewall', interface: 'veth-a' }), 100 + 30);
    assert.equal(await value(m, 'ebpfsentinel_events_total', { program: 'xdp-firewall' }), 40 + 12);
    // and values stay put across scrapes (collect() rebuilds, it does not add again)
    assert.equal(await value(m, 'ebpfsentinel_packets_seen_total', { program: 'xdp-firewall', interface: 'veth-a' }), 130);
  });

  it('keeps per-program totals when an interface is forgotten', async () => {
    const m = new AgentMetrics({ defaultMetrics: false });
    m.setKernelSnapshot('xdp-firewall', 'veth-a', counters(1));
    m.setKernelSnapshot('xdp-firewall', 'veth-b', counters(2));
    m.setAttached('xdp-firewall', 'veth-a', 'xdp', true);
    m.forgetInterface('xdp-firewall', 'veth-a');
    assert.equal(await value(m, 'ebpfsentinel_packets_seen_total', { program: 'xdp-firewall', interface: 'veth-a' }), undefined);
    assert.equal(await value(m, 'ebpfsentinel_program_attached', { program: 'xdp-firewall', interface: 'veth-a', hook: 'xdp' }), undefined);
    assert.equal(await value(m, 'ebpfsentinel_events_total', { program: 'xdp-firewall' }), 12);
    assert.equal(await value(m, 'ebpfsentinel_events_lost_total', { program: 'xdp-firewall', reason: 'ring_full' }), 3);
  });

  it('counts userspace losses beside kernel ones and refuses unknown reasons', async () => {
    const m = new AgentMetrics({ defaultMetrics: false });
    m.setKernelSnapshot('xdp-firewall', 'veth-a', counters(1));
    m.userspaceLoss('xdp-firewall', 'decode_error', 2);
    m.userspaceLoss('xdp-firewall', 'queue_full', 3);
    m.userspaceLoss('xdp-firewall', 'queue_full', 4);
    m.userspaceLoss('xdp-firewall', 'sink_error', 1);
    m.eventsReceived('xdp-firewall', 5);
    m.alertsWritten('eve-file', 6);
    const lost = await samples(m, 'ebpfsentinel_events_lost_total');
    const byReason = Object.fromEntries(lost.map((s) => [s.labels.reason, s.value]));
    assert.deepEqual(byReason, { ring_full: 1, backpressure: 2, decode_error: 2, queue_full: 7, sink_error: 1 });
    assert.equal(await value(m, 'ebpfsentinel_events_received_total', { program: 'xdp-firewall' }), 5);
    assert.equal(await value(m, 'ebpfsentinel_alerts_written_total', { sink: 'eve-file' }), 6);
    assert.throws(() => m.userspaceLoss('xdp-firewall', 'bogus' as 'queue_full', 1), /unknown reason "bogus"/);
    assert.throws(() => m.alertsWritten('eve-file', -1), /count must be an integer >= 0, got -1/);
  });

  it('reports map fill and attachment state as gauges', async () => {
    const m = new AgentMetrics({ defaultMetrics: false });
    m.setMapUsage('xdp-firewall', 'fw_lpm_v4', 100000, 262144);
    m.setMapUsage('xdp-firewall', 'fw_lpm_v4', 90000, 262144);
    m.setAttached('xdp-firewall', 'veth-a', 'xdp', true);
    m.setAttached('xdp-firewall', 'veth-b', 'xdp', false);
    assert.equal(await value(m, 'ebpfsentinel_map_entries', { program: 'xdp-firewall', map: 'fw_lpm_v4' }), 90000);
    assert.equal(await value(m, 'ebpfsentinel_map_capacity', { program: 'xdp-firewall', map: 'fw_lpm_v4' }), 262144);
    assert.equal(await value(m, 'ebpfsentinel_program_attached', { program: 'xdp-firewall', interface: 'veth-a', hook: 'xdp' }), 1);
    assert.equal(await value(m, 'ebpfsentinel_program_attached', { program: 'xdp-firewall', interface: 'veth-b', hook: 'xdp' }), 0);
  });

  it('runs refresh hooks before rendering and counts the ones that fail', async () => {
    const errors: unknown[] = [];
    const m = new AgentMetrics({ defaultMetrics: false, onRefreshError: (e) => errors.push(e) });
    let reads = 0;
    m.onRefresh(async () => {
      reads++;
      m.setKernelSnapshot('xdp-firewall', 'veth-a', counters(reads));
    });
    m.onRefresh(() => {
      throw new Error('map read failed: EBADF');
    });
    const first = await m.render();
    assert.match(first, /^ebpfsentinel_packets_seen_total\{program="xdp-firewall",interface="veth-a"\} 10$/m);
    const second = await m.render();
    assert.match(second, /^ebpfsentinel_packets_seen_total\{program="xdp-firewall",interface="veth-a"\} 20$/m);
    assert.match(second, /^ebpfsentinel_metrics_refresh_errors_total 2$/m);
    assert.equal(errors.length, 2);
    assert.match(String(errors[0]), /EBADF/);
  });

  it('exposes types Prometheus expects: *_total are counters, the rest gauges, plus default process metrics', async () => {
    const m = new AgentMetrics({ version: '9.9.9' });
    const all = await m.registry.getMetricsAsJSON();
    const ours = all.filter((x) => x.name.startsWith('ebpfsentinel_'));
    for (const x of ours) {
      assert.equal(x.type, x.name.endsWith('_total') ? 'counter' : 'gauge', `${x.name} type`);
    }
    assert.ok(all.some((x) => x.name === 'process_cpu_user_seconds_total'));
    assert.equal(await value(m, 'ebpfsentinel_build_info', { version: '9.9.9' }), 1);
  });

  it('documents every metric the agent, the engines and the API register in docs/metrics.md', async () => {
    // every other module's metrics are checked against a real scrape in test/e2e/api-agent.test.ts
    const m = new AgentMetrics({ defaultMetrics: false });
    ApiMetrics.for(m.registry);
    FirewallMetrics.for(m.registry);
    ConntrackMetrics.for(m.registry);
    RatelimitMetrics.for(m.registry);
    const registered = (await m.registry.getMetricsAsJSON()).map((x) => x.name).sort();
    const doc = readFileSync(path.join(repoRoot, 'docs', 'metrics.md'), 'utf8');
    const documented = new Set([...doc.matchAll(/^\| `(ebpfsentinel_[a-z0-9_]+)`/gm)].map((x) => x[1] as string));
    assert.deepEqual(registered.filter((n) => !documented.has(n)), []);
  });
});
