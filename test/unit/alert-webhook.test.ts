// The webhook sink against a real HTTP receiver on 127.0.0.1 that fails (500), recovers,
// stalls and refuses connections: retries, breaker transitions, the queue bound, loss counted,
// and push() never waiting for any of it.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createAlertPipeline } from '../../src/alerts/build.js';
import { AlertMetrics } from '../../src/alerts/metrics.js';
import type { Alert } from '../../src/alerts/model.js';
import { AlertPipeline } from '../../src/alerts/pipeline.js';
import { QueuedSink } from '../../src/alerts/queued-sink.js';
import { WebhookTransport, type WebhookBody } from '../../src/alerts/sinks/webhook.js';
import { alertingSchema } from '../../src/alerts/section.js';
import { createLogger, type LineSink } from '../../src/log.js';
import { HttpReceiver } from '../support/http-receiver.js';
import { alertRecord } from '../support/records.js';

const T0_NS = BigInt(Date.UTC(2026, 10, 26, 14, 0, 0)) * 1_000_000n;

const alert = (i: number): Alert => alertRecord(i, T0_NS + BigInt(i));

class Lines implements LineSink {
  records: Record<string, unknown>[] = [];
  write(chunk: string): void {
    for (const l of chunk.split('\n')) if (l) this.records.push(JSON.parse(l) as Record<string, unknown>);
  }
}

/** signature ids of every alert a receiver got, in arrival order (duplicates kept) */
const signatureIds = (rx: HttpReceiver<WebhookBody>): number[] => rx.requests.flatMap((r) => r.body.alerts.map((a) => a.alert.signature_id));

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function value(r: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await r.getMetricsAsJSON()).find((x) => x.name === name);
  return m?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value ?? 0;
}

function webhookSink(o: { url: string; registry: Registry; capacity?: number; batchMax?: number; timeoutMs?: number; maxRetries?: number; threshold?: number; cooldownMs?: number; log?: Lines }) {
  const metrics = new AlertMetrics(o.registry);
  const capacity = o.capacity ?? 1000;
  const sink = new QueuedSink('hook', 'webhook', new WebhookTransport({ url: o.url, headers: { authorization: 'Bearer t0ken' }, timeoutMs: o.timeoutMs ?? 2000 }), {
    capacity,
    batchMax: o.batchMax ?? 10,
    retry: { maxRetries: o.maxRetries ?? 10, initialMs: 10, maxMs: 40 },
    breaker: { failureThreshold: o.threshold ?? 3, cooldownMs: o.cooldownMs ?? 300 },
    metrics: metrics.sink('hook', capacity),
    lossLogIntervalMs: 0,
    ...(o.log ? { logger: createLogger({ destination: o.log, level: 'debug' }) } : {}),
  });
  const pipeline = new AlertPipeline({ metrics, suppress: { dedupWindowMs: 0, dedupKeys: ['rule_id'], throttleMax: 0, throttleWindowMs: 1, throttleKeys: ['rule_id'] }, sweepIntervalMs: 0 });
  pipeline.addSink(sink);
  return { sink, pipeline };
}

describe('webhook sink', () => {
  const receivers: HttpReceiver<WebhookBody>[] = [];
  after(async () => {
    for (const r of receivers) await r.stop();
  });
  const receiver = async (host?: string): Promise<HttpReceiver<WebhookBody>> => {
    const r = await HttpReceiver.start<WebhookBody>(host);
    receivers.push(r);
    return r;
  };

  it('posts EVE records in JSON batches with the configured headers, v4 and v6 (IPv4 and IPv6 receivers)', async () => {
    for (const host of ['127.0.0.1', '::1']) {
      const rx = await receiver(host);
      const registry = new Registry();
      const cfg = alertingSchema.parse({
        eve: { enabled: false },
        routes: [{ name: 'soc', destination: 'webhook', webhook_url: rx.url, webhook_headers: { Authorization: 'Bearer s3cret' }, min_severity: 'medium' }],
      });
      const p = await createAlertPipeline(cfg, { registry });
      p.push(alert(0));
      p.push(alert(1));
      p.push({ ...alert(2), severity: 'low' }); // below the route's minimum
      await p.close();
      assert.equal(rx.requests.length, 1, 'both alerts in one batch');
      const { body, headers } = rx.requests[0]!;
      assert.equal(headers.authorization, 'Bearer s3cret');
      assert.equal(headers['content-type'], 'application/json');
      assert.equal(body.source, 'ebpfsentinel');
      assert.equal(body.count, 2);
      assert.deepEqual(body.alerts.map((a) => [a.event_type, a.src_ip, a.dest_ip, a.dest_port, a.proto, a.alert.severity]), [
        ['alert', '198.18.1.10', '198.18.2.20', 22, 'TCP', 1],
        ['alert', '2001:db8:1::10', '2001:db8:2::20', 22, 'TCP', 1],
      ]);
      assert.match(body.alerts[0]!.community_id!, /^1:[A-Za-z0-9+/]{27}=$/);
      assert.equal(await value(registry, 'ebpfsentinel_alert_sink_deliveries_total', { sink: 'soc' }), 2);
    }
  });

  it('fails (500), opens the breaker, probes after the cool-down, recovers: every alert delivered exactly once', async () => {
    const rx = await receiver();
    const FAIL = 5;
    rx.respond = (n) => (n <= FAIL ? 500 : 200);
    const registry = new Registry();
    const log = new Lines();
    const { sink, pipeline } = webhookSink({ url: rx.url, registry, threshold: 3, cooldownMs: 300, log });
    const N = 40;
    for (let i = 0; i < N; i++) pipeline.push(alert(i));
    await until('circuit opened', () => sink.stats().circuit === 'open');
    assert.equal(rx.requests.length, 3, 'three failed attempts open the circuit; no fourth while it is open');
    await pipeline.flush();
    const ids = signatureIds(rx);
    const ok = rx.requests.slice(FAIL).flatMap((r) => r.body.alerts.map((a) => a.alert.signature_id));
    assert.deepEqual([...ok].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i), 'each alert delivered once, none lost');
    assert.ok(ids.length > N, 'failed batches were retried');
    // while open, nothing was sent for the whole cool-down; the probes came after it
    assert.ok(rx.requests[3]!.at - rx.requests[2]!.at >= 290, `first probe ${rx.requests[3]!.at - rx.requests[2]!.at} ms after opening`);
    assert.ok(rx.requests[4]!.at - rx.requests[3]!.at >= 290, 'a failed probe re-opens for another cool-down');
    const transitions = log.records.filter((r) => String(r.msg).startsWith('alert sink circuit')).map((r) => r.state);
    // 3 failures open it; the probes at requests 4 and 5 fail (re-open); the probe at 6 succeeds
    assert.deepEqual(transitions, ['open', 'half_open', 'open', 'half_open', 'open', 'half_open', 'closed']);
    const st = sink.stats();
    assert.equal(st.circuit, 'closed');
    assert.equal(st.delivered, N);
    assert.deepEqual(st.failures, { http_5xx: FAIL });
    assert.deepEqual(st.dropped, {});
    assert.equal(await value(registry, 'ebpfsentinel_alert_sink_failures_total', { sink: 'hook', reason: 'http_5xx' }), FAIL);
    assert.equal(await value(registry, 'ebpfsentinel_alert_sink_deliveries_total', { sink: 'hook' }), N);
    assert.equal(await value(registry, 'ebpfsentinel_alert_sink_circuit_state', { sink: 'hook', state: 'closed' }), 1);
    assert.equal(await value(registry, 'ebpfsentinel_alert_sink_circuit_state', { sink: 'hook', state: 'open' }), 0);
    await pipeline.close();
  });

  it('stalls: push() returns at once, the queue stays bounded, the overflow and the timeouts are counted, another sink is unaffected', async () => {
    const rx = await receiver();
    let stalling = true;
    rx.respond = () => (stalling ? 'stall' : 200);
    const registry = new Registry();
    const CAP = 50;
    const BATCH = 10;
    const { sink, pipeline } = webhookSink({ url: rx.url, registry, capacity: CAP, batchMax: BATCH, timeoutMs: 400, maxRetries: 100, threshold: 1000 });
    const other: Alert[] = [];
    pipeline.subscribe((a) => other.push(a), { name: 'store', kinds: ['alert'], queueSize: 100_000 });
    pipeline.push(alert(0));
    await until('the receiver holds the first request', () => rx.requests.length === 1);
    const N = 20_000;
    const t0 = process.hrtime.bigint();
    let worst = 0n;
    for (let i = 1; i <= N; i++) {
      const s = process.hrtime.bigint();
      pipeline.push(alert(i));
      const d = process.hrtime.bigint() - s;
      if (d > worst) worst = d;
    }
    const total = process.hrtime.bigint() - t0;
    // measured, not asserted as a number: what matters is that all of it happened while the
    // receiver still held the request open
    assert.equal(rx.stalled.length, 1);
    assert.equal(rx.requests.length, 1);
    console.log(`# ${N} pushes while the webhook stalls: ${Number(total / 1000n)} us total, ${Number(total) / N} ns mean, worst ${Number(worst / 1000n)} us`);
    const st = sink.stats();
    assert.equal(st.queued, CAP, 'the queue holds its bound');
    assert.equal(st.dropped.queue_full, N - CAP);
    await until('the stalled attempt timed out and was retried', () => (sink.stats().failures.timeout ?? 0) >= 1 && rx.requests.length >= 2);
    // the subscriber got everything although the webhook is stuck
    await until('subscriber has every alert', () => other.length === N + 1);
    stalling = false;
    await pipeline.flush();
    const fin = sink.stats();
    const delivered = new Set(signatureIds(rx));
    assert.equal(fin.delivered + (fin.dropped.queue_full ?? 0), N + 1, 'delivered + dropped = pushed: nothing unaccounted');
    assert.ok(delivered.size >= fin.delivered);
    assert.ok((fin.failures.timeout ?? 0) >= 1);
    assert.equal(await value(registry, 'ebpfsentinel_alert_sink_dropped_total', { sink: 'hook', reason: 'queue_full' }), N - CAP);
    assert.ok((await value(registry, 'ebpfsentinel_alert_sink_failures_total', { sink: 'hook', reason: 'timeout' })) >= 1);
    await pipeline.close();
  });

  it('a dead endpoint (connection refused): retries exhausted and dropped, counted; the breaker limits the attempts', async () => {
    const rx = await receiver();
    const url = rx.url;
    await rx.stop();
    receivers.splice(receivers.indexOf(rx), 1);
    const registry = new Registry();
    const { sink, pipeline } = webhookSink({ url, registry, batchMax: 5, maxRetries: 2, threshold: 2, cooldownMs: 50 });
    for (let i = 0; i < 10; i++) pipeline.push(alert(i));
    await pipeline.flush();
    const st = sink.stats();
    assert.equal(st.delivered, 0);
    assert.deepEqual(st.dropped, { retries_exhausted: 10 });
    assert.equal(st.failures.connection, 6, '2 batches x (1 + 2 retries)');
    assert.equal(await value(registry, 'ebpfsentinel_alert_sink_dropped_total', { sink: 'hook', reason: 'retries_exhausted' }), 10);
    await pipeline.close();
  });

  it('a 400 is not retried: the batch is dropped as rejected', async () => {
    const rx = await receiver();
    rx.respond = () => 400;
    const registry = new Registry();
    const { sink, pipeline } = webhookSink({ url: rx.url, registry });
    pipeline.push(alert(0));
    pipeline.push(alert(1));
    await pipeline.flush();
    assert.equal(rx.requests.length, 1);
    assert.deepEqual(sink.stats().dropped, { rejected: 2 });
    assert.deepEqual(sink.stats().failures, { http_4xx: 1 });
    await pipeline.close();
  });

  it('close() gives up on a stalled receiver after the drain time and counts what was left', async () => {
    const rx = await receiver();
    rx.respond = () => 'stall';
    const registry = new Registry();
    const { sink, pipeline } = webhookSink({ url: rx.url, registry, batchMax: 3, timeoutMs: 60_000 });
    for (let i = 0; i < 7; i++) pipeline.push(alert(i));
    await until('request in flight', () => rx.requests.length === 1);
    await pipeline.close(100);
    assert.deepEqual(sink.stats().dropped, { closed: 7 });
    pipeline.push(alert(8));
    assert.deepEqual(sink.stats().dropped, { closed: 8 }, 'alerts after close are counted too');
  });
});
