import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createAlertPipeline } from '../../src/alerts/build.js';
import { AlertMetrics } from '../../src/alerts/metrics.js';
import type { Alert } from '../../src/alerts/model.js';
import { AlertPipeline } from '../../src/alerts/pipeline.js';
import type { SuppressOptions } from '../../src/alerts/suppress.js';
import { alertingSchema } from '../../src/alerts/section.js';
import { createLogger } from '../../src/log.js';

const T0 = Date.UTC(2026, 10, 26, 14, 0, 0);

function alert(over: Partial<Alert> = {}): Alert {
  return {
    kind: 'alert',
    timestampNs: BigInt(T0) * 1_000_000n,
    severity: 'high',
    engine: 'firewall',
    program: 'xdp-firewall',
    ruleId: 'deny-ssh',
    ruleName: 'deny ssh',
    signatureId: 7,
    action: 'blocked',
    reason: 'rule',
    flow: { srcIp: '198.18.1.10', dstIp: '198.18.2.20', proto: 6, srcPort: 40000, dstPort: 22 },
    ...over,
  };
}
const v6 = (over: Partial<Alert> = {}): Alert =>
  alert({ flow: { srcIp: '2001:db8:1::10', dstIp: '2001:db8:2::20', proto: 6, srcPort: 40000, dstPort: 22 }, ...over });

const OFF: SuppressOptions = { dedupWindowMs: 0, dedupKeys: ['rule_id'], throttleMax: 0, throttleWindowMs: 1000, throttleKeys: ['rule_id'] };

function setup(suppress: Partial<SuppressOptions>) {
  const registry = new Registry();
  let now = T0;
  const p = new AlertPipeline({ metrics: new AlertMetrics(registry), suppress: { ...OFF, ...suppress }, now: () => now, sweepIntervalMs: 0 });
  const got: Alert[] = [];
  p.subscribe((a) => got.push(a), { name: 'test', kinds: ['alert'] });
  return { p, got, registry, advance: (ms: number) => (now += ms) };
}

async function value(r: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const m = (await r.getMetricsAsJSON()).find((x) => x.name === name);
  return m?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value;
}

/** raised = emitted + every suppressed count reported: nothing vanishes */
function accounted(got: Alert[]): number {
  return got.reduce((n, a) => n + (a.summary ? 0 : 1) + (a.suppressed ?? 0), 0);
}

describe('dedup', () => {
  it('suppresses identical keys within the window and reports the count on the next emitted alert (v4 and v6 apart)', async () => {
    const { p, got, registry, advance } = setup({ dedupWindowMs: 10_000, dedupKeys: ['engine', 'rule_id', 'src_ip', 'dst_ip', 'dst_port'] });
    for (let i = 0; i < 5; i++) p.push(alert({ flow: { srcIp: '198.18.1.10', dstIp: '198.18.2.20', proto: 6, srcPort: 40000 + i, dstPort: 22 } }));
    for (let i = 0; i < 3; i++) p.push(v6());
    await p.flush();
    assert.equal(got.length, 2, 'one per key (the v4 and the v6 flow)');
    assert.equal(got[0]!.flow!.srcIp, '198.18.1.10');
    assert.equal(got[1]!.flow!.srcIp, '2001:db8:1::10');
    assert.equal(got[0]!.suppressed, undefined);
    advance(9_999);
    p.push(alert());
    await p.flush();
    assert.equal(got.length, 2, 'still inside the window');
    advance(1);
    p.push(alert({ signatureId: 99 }));
    p.push(v6({ signatureId: 98 }));
    await p.flush();
    assert.equal(got.length, 4);
    assert.equal(got[2]!.signatureId, 99);
    assert.equal(got[2]!.suppressed, 5, '4 in the burst + 1 later');
    assert.equal(got[3]!.suppressed, 2);
    assert.equal(accounted(got), 11);
    assert.equal(await value(registry, 'ebpfsentinel_alerts_suppressed_total', { reason: 'dedup' }), 7);
    assert.equal(await value(registry, 'ebpfsentinel_alerts_total', { engine: 'firewall', severity: 'high' }), 11);
    assert.deepEqual(p.stats().suppressed, { dedup: 7, throttle: 0 });
    await p.close();
  });

  it('sends a summary when a window closes with suppressed alerts and nothing after them', async () => {
    const { p, got, advance } = setup({ dedupWindowMs: 1000, dedupKeys: ['rule_id', 'src_ip'] });
    p.push(alert({ signatureId: 1 }));
    p.push(alert({ signatureId: 2 }));
    p.push(alert({ signatureId: 3 }));
    p.push(v6({ signatureId: 4 }));
    advance(500);
    p.sweep();
    await p.flush();
    assert.equal(got.length, 2, 'no summary while the window is open');
    advance(500);
    p.sweep();
    await p.flush();
    assert.equal(got.length, 3);
    const s = got[2]!;
    assert.equal(s.summary, true);
    assert.equal(s.suppressed, 2);
    assert.equal(s.signatureId, 3, 'the summary repeats the last suppressed alert');
    assert.equal(accounted(got), 4);
    // the key starts afresh: the next one is emitted with nothing to report
    p.push(alert({ signatureId: 5 }));
    await p.flush();
    assert.equal(got[3]!.suppressed, undefined);
    assert.equal(p.stats().summaries, 1);
    await p.close();
  });

  it('keys on the configured fields only', async () => {
    const { p, got } = setup({ dedupWindowMs: 60_000, dedupKeys: ['rule_id'] });
    p.push(alert());
    p.push(v6());
    p.push(alert({ flow: { srcIp: '198.18.9.9', dstIp: '198.18.2.20', proto: 17, srcPort: 1, dstPort: 53 } }));
    p.push(alert({ ruleId: 'other' }));
    await p.flush();
    assert.deepEqual(got.map((a) => a.ruleId), ['deny-ssh', 'other']);
    await p.close();
    // close reports what was still pending
    assert.equal(got.at(-1)!.summary, true);
    assert.equal(got.at(-1)!.suppressed, 2);
  });
});

describe('throttle', () => {
  it('emits at most throttle_max per key per window, then starts over', async () => {
    const { p, got, registry, advance } = setup({ throttleMax: 3, throttleWindowMs: 1000, throttleKeys: ['rule_id', 'src_ip'] });
    for (let i = 0; i < 10; i++) p.push(alert({ signatureId: i }));
    for (let i = 0; i < 4; i++) p.push(v6({ signatureId: 100 + i }));
    await p.flush();
    assert.deepEqual(got.map((a) => a.signatureId), [0, 1, 2, 100, 101, 102]);
    assert.equal(await value(registry, 'ebpfsentinel_alerts_suppressed_total', { reason: 'throttle' }), 8);
    advance(1000);
    p.push(alert({ signatureId: 50 }));
    await p.flush();
    assert.equal(got.at(-1)!.signatureId, 50);
    assert.equal(got.at(-1)!.suppressed, 7);
    p.sweep();
    await p.flush();
    const summary = got.at(-1)!;
    assert.equal(summary.summary, true, 'the v6 key closed with 1 suppressed');
    assert.equal(summary.flow!.srcIp, '2001:db8:1::10');
    assert.equal(summary.suppressed, 1);
    assert.equal(accounted(got), 15);
    await p.close();
  });

  it('combines with dedup: deduped counts survive a throttled alert', async () => {
    const { p, got, advance } = setup({ dedupWindowMs: 100, dedupKeys: ['src_ip'], throttleMax: 1, throttleWindowMs: 10_000, throttleKeys: ['rule_id'] });
    p.push(alert()); // emitted
    p.push(alert()); // dedup
    advance(100);
    p.push(alert()); // dedup window over, carries 1, but throttled -> both wait
    p.push(v6()); // throttled
    advance(10_000);
    p.push(alert({ signatureId: 9 }));
    await p.close();
    assert.equal(accounted(got), 5);
    assert.equal(got.filter((a) => !a.summary).length, 2);
  });
});

describe('routing and subscribers', () => {
  it('routes by minimum severity and engine; a throwing subscriber costs only itself; push never calls a consumer', async () => {
    const registry = new Registry();
    const p = new AlertPipeline({ metrics: new AlertMetrics(registry), suppress: OFF, sweepIntervalMs: 0 });
    const all: Alert[] = [];
    const high: Alert[] = [];
    const ids: Alert[] = [];
    p.subscribe((a) => all.push(a), { name: 'all', kinds: ['alert'] });
    p.subscribe((a) => high.push(a), { name: 'high', kinds: ['alert'], minSeverity: 'high' });
    p.subscribe((a) => ids.push(a), { name: 'ids', kinds: ['alert'], engines: ['ids'] });
    let thrown = 0;
    p.subscribe(() => {
      thrown++;
      throw new Error('consumer bug');
    }, { name: 'bad' });
    assert.throws(() => p.subscribe(() => undefined, { name: 'all' }), /already exists/);
    for (const s of ['low', 'medium', 'high', 'critical'] as const) p.push(alert({ severity: s }));
    p.push(v6({ engine: 'ids', severity: 'low' }));
    assert.equal(all.length, 0, 'delivery happens in the subscriber worker, not inside push()');
    await p.flush();
    assert.equal(all.length, 5);
    assert.deepEqual(high.map((a) => a.severity), ['high', 'critical']);
    assert.deepEqual(ids.map((a) => a.flow!.srcIp), ['2001:db8:1::10']);
    assert.equal(thrown, 5);
    assert.equal(await value(registry, 'ebpfsentinel_alert_sink_dropped_total', { sink: 'subscriber:bad', reason: 'rejected' }), 5);
    assert.equal(await value(registry, 'ebpfsentinel_alert_sink_deliveries_total', { sink: 'subscriber:all' }), 5);
    assert.equal(await value(registry, 'ebpfsentinel_alerts_total', { engine: 'ids', severity: 'low' }), 1);
    await p.close();
  });

  it('bounds a subscriber queue: a consumer that cannot keep up loses alerts, counted, and push stays fast', async () => {
    const registry = new Registry();
    const p = new AlertPipeline({ metrics: new AlertMetrics(registry), suppress: OFF, sweepIntervalMs: 0 });
    let seen = 0;
    p.subscribe(() => seen++, { name: 'small', queueSize: 10 });
    for (let i = 0; i < 100; i++) p.push(i % 2 ? alert() : v6());
    await p.flush();
    assert.equal(seen, 10);
    assert.equal(await value(registry, 'ebpfsentinel_alert_sink_dropped_total', { sink: 'subscriber:small', reason: 'queue_full' }), 90);
    await p.close();
  });

  it('push() never throws, even for an alert no sink can render (counted as rejected, the rest delivered)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sn-alert-'));
    try {
      const registry = new Registry();
      const cfg = alertingSchema.parse({ eve: { path: path.join(dir, 'eve.json') } });
      const p = await createAlertPipeline(cfg, { registry });
      p.push(alert());
      p.push(alert({ flow: { srcIp: 'not-an-ip', dstIp: '198.18.2.20', proto: 6, srcPort: 1, dstPort: 2 } }));
      p.push(v6());
      await p.close();
      const lines = (await readFile(path.join(dir, 'eve.json'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { src_ip: string });
      assert.deepEqual(lines.map((l) => l.src_ip), ['198.18.1.10', '2001:db8:1::10']);
      assert.equal(await value(registry, 'ebpfsentinel_alert_sink_dropped_total', { sink: 'eve-file', reason: 'rejected' }), 1);
      assert.equal(await value(registry, 'ebpfsentinel_alert_sink_deliveries_total', { sink: 'eve-file' }), 2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('internal errors', () => {
  it('an alert with an unknown severity is a counted, logged error, not a silent skip', async () => {
    const registry = new Registry();
    const log: Record<string, unknown>[] = [];
    const logger = createLogger({ destination: { write: (c: string) => c.split('\n').filter(Boolean).forEach((l) => log.push(JSON.parse(l) as Record<string, unknown>)) } });
    const p = new AlertPipeline({ metrics: new AlertMetrics(registry), suppress: OFF, sweepIntervalMs: 0, logger });
    const got: Alert[] = [];
    p.subscribe((a) => got.push(a), { name: 'all', kinds: ['alert'] });
    p.push(alert({ severity: 'urgent' as Alert['severity'] }));
    p.push(v6());
    await p.close();
    assert.equal(got.length, 1);
    assert.equal(p.stats().internal_errors, 1);
    assert.equal(await value(registry, 'ebpfsentinel_alert_pipeline_errors_total'), 1);
    assert.ok(log.some((r) => String((r.err as { message?: string })?.message).includes('unknown severity "urgent"')));
  });
});

describe('alert metrics', () => {
  it('pass promtool check metrics', async () => {
    const registry = new Registry();
    const p = new AlertPipeline({ metrics: new AlertMetrics(registry), suppress: { ...OFF, dedupWindowMs: 1000 }, sweepIntervalMs: 0 });
    p.subscribe(() => undefined, { name: 'store' });
    p.push(alert());
    p.push(alert());
    p.push(v6({ engine: 'ids', severity: 'critical' }));
    await p.close();
    const text = await registry.metrics();
    for (const n of [
      'ebpfsentinel_alerts_total',
      'ebpfsentinel_alerts_suppressed_total',
      'ebpfsentinel_alert_sink_deliveries_total',
      'ebpfsentinel_alert_sink_dropped_total',
      'ebpfsentinel_alert_sink_queue_length',
      'ebpfsentinel_alert_sink_circuit_state',
    ]) assert.match(text, new RegExp(`^# TYPE ${n} `, 'm'));
    const dir = await mkdtemp(path.join(tmpdir(), 'sn-prom-'));
    try {
      const f = path.join(dir, 'm.txt');
      await writeFile(f, text);
      // promtool reads the exposition on stdin and exits non-zero on any problem
      const out = execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(out.trim(), '');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
