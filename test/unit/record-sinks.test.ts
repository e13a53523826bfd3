// Every record kind through the pipeline and every sink: the EVE file (every kind by default,
// each line valid against Suricata's schema), stdout, a webhook, syslog and OTLP, each taking the
// kinds its config names and counting what its route left out (by kind and reason). Records
// other than alerts skip dedup and throttle. Real listeners on the loopback, IPv4 and IPv6 records.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createAlertPipeline } from '../../src/alerts/build.js';
import { AlertMetrics } from '../../src/alerts/metrics.js';
import type { Alert } from '../../src/alerts/model.js';
import { AlertPipeline } from '../../src/alerts/pipeline.js';
import { RECORD_KINDS, type RecordKind, type SentinelRecord } from '../../src/alerts/records.js';
import { EveRenderer } from '../../src/alerts/eve-line.js';
import { otlpLogRecord, type OtlpLogsRequest } from '../../src/alerts/sinks/otlp.js';
import { formatRfc5424 } from '../../src/alerts/sinks/syslog.js';
import type { WebhookBody } from '../../src/alerts/sinks/webhook.js';
import { alertingSchema } from '../../src/alerts/section.js';
import { ConfigError, formatIssue } from '../../src/config/index.js';
import { parseConfigText } from '../../src/catalog.js';
import { suricataEveValidator } from '../support/eve-schema.js';
import { HttpReceiver } from '../support/http-receiver.js';
import { alertRecord, anomalyRecord, dlpRecord, dnsRecord, flowRecord } from '../support/records.js';

const check = suricataEveValidator();
const T0_NS = BigInt(Date.UTC(2026, 10, 26, 14, 0, 0)) * 1_000_000n + 123_456_789n;

const alert = (i: number, over: Partial<Alert> = {}): Alert => alertRecord(i, T0_NS + BigInt(i), over);

/** Two of each kind (IPv4 and IPv6), alerts of two severities. */
function mix(): SentinelRecord[] {
  return [
    alert(0),
    alert(1, { severity: 'low' }),
    dnsRecord(0, T0_NS),
    dnsRecord(1, T0_NS),
    flowRecord(0, T0_NS),
    flowRecord(1, T0_NS),
    anomalyRecord(0, T0_NS),
    anomalyRecord(1, T0_NS),
    dlpRecord(0, T0_NS),
    dlpRecord(1, T0_NS),
  ];
}

async function value(r: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await r.getMetricsAsJSON()).find((x) => x.name === name);
  return m?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value ?? 0;
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('the pipeline carries every kind', () => {
  it('records other than alerts are never deduplicated or throttled, and are counted per kind and engine', async () => {
    const registry = new Registry();
    const p = new AlertPipeline({
      metrics: new AlertMetrics(registry),
      // everything with the same engine would be one key: alerts collapse, other kinds must not
      suppress: { dedupWindowMs: 60_000, dedupKeys: ['engine'], throttleMax: 1, throttleWindowMs: 60_000, throttleKeys: ['engine'] },
      sweepIntervalMs: 0,
    });
    const got: SentinelRecord[] = [];
    p.subscribe((r) => got.push(r), { name: 'all' });
    for (let i = 0; i < 3; i++) p.push(dnsRecord(i, T0_NS));
    for (let i = 0; i < 3; i++) p.push(alert(i));
    await p.flush();
    assert.deepEqual(got.map((r) => r.kind), ['dns', 'dns', 'dns', 'alert']);
    assert.deepEqual(p.stats().records, { dns: 3, alert: 3 });
    assert.equal(await value(registry, 'ebpfsentinel_records_total', { kind: 'dns', engine: 'dns' }), 3);
    assert.equal(await value(registry, 'ebpfsentinel_records_total', { kind: 'alert', engine: 'firewall' }), 3);
    await p.close();
  });

  it('a record of no known kind is a counted internal error, not a silent skip', async () => {
    const registry = new Registry();
    const p = new AlertPipeline({ metrics: new AlertMetrics(registry), suppress: { dedupWindowMs: 0, dedupKeys: ['engine'], throttleMax: 0, throttleWindowMs: 1, throttleKeys: ['engine'] }, sweepIntervalMs: 0 });
    p.push({ ...dnsRecord(0, T0_NS), kind: 'netflow' } as unknown as SentinelRecord);
    await p.close();
    assert.equal(p.stats().internal_errors, 1);
  });

  it('routes by kind, severity (alerts only) and engine; what a route leaves out is counted per sink, kind and reason', async () => {
    const registry = new Registry();
    const p = new AlertPipeline({ metrics: new AlertMetrics(registry), suppress: { dedupWindowMs: 0, dedupKeys: ['engine'], throttleMax: 0, throttleWindowMs: 1, throttleKeys: ['engine'] }, sweepIntervalMs: 0 });
    const dnsOnly: SentinelRecord[] = [];
    const highDlp: SentinelRecord[] = [];
    const conntrack: SentinelRecord[] = [];
    p.subscribe((r) => dnsOnly.push(r), { name: 'dns', kinds: ['dns'] });
    p.subscribe((r) => highDlp.push(r), { name: 'high', kinds: ['alert', 'dlp'], minSeverity: 'high' });
    p.subscribe((r) => conntrack.push(r), { name: 'ct', engines: ['conntrack'] });
    for (const r of mix()) p.push(r);
    await p.flush();
    assert.deepEqual(dnsOnly.map((r) => r.kind), ['dns', 'dns']);
    // min_severity filters alerts only: DLP findings have no severity and pass
    assert.deepEqual(highDlp.map((r) => r.kind), ['alert', 'dlp', 'dlp']);
    assert.deepEqual(conntrack.map((r) => r.kind), ['flow', 'flow']);
    const skipped = (sink: string, kind: RecordKind, reason: string) => value(registry, 'ebpfsentinel_record_sink_skipped_total', { sink: `subscriber:${sink}`, kind, reason });
    assert.equal(await skipped('dns', 'flow', 'kind'), 2);
    assert.equal(await skipped('dns', 'alert', 'kind'), 2);
    assert.equal(await skipped('high', 'alert', 'severity'), 1);
    assert.equal(await skipped('high', 'dns', 'kind'), 2);
    assert.equal(await skipped('ct', 'dns', 'engine'), 2);
    assert.equal(await skipped('ct', 'alert', 'engine'), 2);
    const st = p.stats().sinks.find((s) => s.name === 'subscriber:high')!;
    assert.deepEqual(st.kinds, ['alert', 'dlp']);
    assert.deepEqual(st.records.dlp, { delivered: 2, dropped: {}, skipped: {} });
    assert.deepEqual(st.records.anomaly, { delivered: 0, dropped: {}, skipped: { kind: 2 } });
    assert.equal(await value(registry, 'ebpfsentinel_record_sink_written_total', { sink: 'subscriber:high', kind: 'dlp' }), 2);
    await p.close();
  });

  it('a full queue drops and counts by kind', async () => {
    const registry = new Registry();
    const p = new AlertPipeline({ metrics: new AlertMetrics(registry), suppress: { dedupWindowMs: 0, dedupKeys: ['engine'], throttleMax: 0, throttleWindowMs: 1, throttleKeys: ['engine'] }, sweepIntervalMs: 0 });
    let seen = 0;
    p.subscribe(() => seen++, { name: 'small', queueSize: 4 });
    for (const r of mix()) p.push(r);
    await p.flush();
    assert.equal(seen, 4);
    const dropped = (kind: RecordKind) => value(registry, 'ebpfsentinel_record_sink_dropped_total', { sink: 'subscriber:small', kind, reason: 'queue_full' });
    assert.deepEqual(await Promise.all(RECORD_KINDS.map(dropped)), [0, 0, 2, 2, 2]);
    // alerts keep their own series as before
    assert.equal(await value(registry, 'ebpfsentinel_alert_sink_dropped_total', { sink: 'subscriber:small', reason: 'queue_full' }), 0);
    await p.close();
  });
});

describe('every sink from the config', () => {
  it('EVE file: every kind by default, one valid Suricata EVE line each; stdout, webhook, syslog and OTLP take what record_kinds names and count the rest', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sn-records-'));
    const hook = await HttpReceiver.start<WebhookBody>();
    const otel = await HttpReceiver.start<OtlpLogsRequest>();
    const udp = createSocket('udp4');
    const syslog: string[] = [];
    udp.on('message', (m) => syslog.push(m.toString('utf8')));
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    let out = '';
    const stdout = new Writable({
      write(c: Buffer, _e, cb) {
        out += c.toString('utf8');
        cb();
      },
    });
    try {
      const registry = new Registry();
      const cfg = alertingSchema.parse({
        eve: { path: path.join(dir, 'eve.json') },
        stdout: { enabled: true, record_kinds: ['dns', 'dlp'] },
        routes: [
          { name: 'hook', destination: 'webhook', webhook_url: `${hook.url}/hook`, record_kinds: ['alert', 'flow'], max_retries: 0 },
          { name: 'siem', destination: 'syslog', syslog_address: `127.0.0.1:${(udp.address() as AddressInfo).port}` },
          { name: 'otel', destination: 'otlp', otlp_endpoint: otel.url, record_kinds: [...RECORD_KINDS], min_severity: 'high' },
        ],
      });
      const p = await createAlertPipeline(cfg, { registry, stdout });
      for (const r of mix()) p.push(r);
      await p.flush();
      await until('syslog datagrams', () => syslog.length === 2);
      await p.close();

      const eve = (await readFile(path.join(dir, 'eve.json'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { event_type: string });
      assert.deepEqual(eve.map((e) => e.event_type), mix().map((r) => r.kind));
      for (const e of eve) assert.deepEqual(check(e), [], JSON.stringify(e));

      assert.deepEqual(out.trim().split('\n').map((l) => (JSON.parse(l) as { event_type: string }).event_type), ['dns', 'dns', 'dlp', 'dlp']);

      // the webhook keeps alerts where receivers always found them, other kinds under `records`
      const bodies = hook.bodies();
      assert.deepEqual(bodies.flatMap((b) => b.alerts.map((a) => a.event_type)), ['alert', 'alert']);
      assert.deepEqual(bodies.flatMap((b) => (b.records ?? []).map((a) => [a.event_type, a.src_ip])), [['flow', '198.18.1.1'], ['flow', '2001:db8:1::2']]);
      assert.equal(bodies.reduce((n, b) => n + b.count, 0), 4);

      // a route that names no record_kinds takes alerts only (and says so in its counts)
      assert.deepEqual(syslog.map((m) => /^<\d+>1 \S+ \S+ \S+ \S+ (\S+) /.exec(m)![1]), ['alert', 'alert']);
      for (const kind of ['dns', 'flow', 'anomaly', 'dlp']) assert.equal(await value(registry, 'ebpfsentinel_record_sink_skipped_total', { sink: 'siem', kind, reason: 'kind' }), 2);

      // OTLP: every kind, min_severity leaves out the low alert only
      const logs = otel.bodies().flatMap((b) => b.resourceLogs[0]!.scopeLogs[0]!.logRecords);
      const names = logs.map((l) => l.attributes.find((a) => a.key === 'event.name')!.value);
      assert.deepEqual(names, ['alert', 'dns', 'dns', 'flow', 'flow', 'anomaly', 'anomaly', 'dlp', 'dlp'].map((k) => ({ stringValue: `ebpfsentinel.${k}` })));
      assert.equal(await value(registry, 'ebpfsentinel_record_sink_skipped_total', { sink: 'otel', kind: 'alert', reason: 'severity' }), 1);

      for (const [sink, n] of [['eve-file', 10], ['stdout', 4], ['hook', 4], ['siem', 2], ['otel', 9]] as const) {
        let sum = 0;
        for (const kind of RECORD_KINDS) sum += await value(registry, 'ebpfsentinel_record_sink_written_total', { sink, kind });
        assert.equal(sum, n, `${sink} delivered`);
      }
      assert.equal(await value(registry, 'ebpfsentinel_alert_sink_deliveries_total', { sink: 'eve-file' }), 2, 'the alert series count alerts only');
    } finally {
      udp.close();
      await hook.stop();
      await otel.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('record_kinds: a list of known kinds, each once; the error names the file, line and key', () => {
    const problems = (yaml: string): string[] => {
      try {
        parseConfigText(`agent:\n  interfaces: [eth1]\nalerting:\n${yaml}`, '/etc/ebpfsentinel/config.yaml');
      } catch (e) {
        if (e instanceof ConfigError) return e.issues.map(formatIssue);
        throw e;
      }
      return [];
    };
    assert.match(problems('  eve: { record_kinds: [dns, netflow] }\n').join('\n'), /config\.yaml:4.*alerting\.eve\.record_kinds\[1\]: expected one of alert \| dns \| flow \| anomaly \| dlp; got "netflow"/);
    assert.match(problems('  stdout: { record_kinds: [dns, dns] }\n').join('\n'), /alerting\.stdout\.record_kinds\[1\]: "dns" is listed twice/);
    assert.match(problems('  routes: [{ name: r, destination: stdout, record_kinds: [] }]\n').join('\n'), /alerting\.routes\[0\]\.record_kinds: expected a non-empty list of record kinds/);
    assert.deepEqual(alertingSchema.parse({ routes: [{ name: 'r', destination: 'stdout' }] }).routes[0]!.recordKinds, ['alert']);
    assert.deepEqual(alertingSchema.parse({}).eve.record_kinds, [...RECORD_KINDS]);
    assert.deepEqual(alertingSchema.parse({}).stdout.record_kinds, [...RECORD_KINDS]);
  });
});

describe('syslog and OTLP say what each kind is', () => {
  const eve = new EveRenderer();
  const fmt = { facility: 'local4' as const, appName: 'sentinel-test', hostname: 'h' };
  const sd = (line: string): Record<string, string> => Object.fromEntries([...line.matchAll(/ ([a-z_]+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));

  it('syslog: MSGID is the kind, severity by kind, the kind\'s own structured data, MSG its EVE line', () => {
    const cases: [SentinelRecord, number, Record<string, string>][] = [
      [dnsRecord(1, T0_NS), 6, { engine: 'dns', dns_type: 'request', rrname: 'host1.example.com', proto: '17', src_ip: '2001:db8:1::2', dest_ip: '2001:db8:2::53' }],
      [flowRecord(0, T0_NS), 6, { engine: 'conntrack', state: 'closed', reason: 'timeout', src_ip: '198.18.1.1' }],
      [anomalyRecord(0, T0_NS), 5, { engine: 'scrub', anomaly_type: 'decode', event: 'ipv4.trunc_pkt' }],
      [dlpRecord(1, T0_NS), 4, { engine: 'dlp', detector: 'aws_access_key', direction: 'outbound', pid: '1001', comm: 'curl' }],
    ];
    for (const [r, sev, params] of cases) {
      const line = formatRfc5424(r, eve.line(r), fmt);
      const m = /^<(\d+)>1 \S+ h sentinel-test \d+ (\S+) (\[.*?\]) (.*)$/.exec(line)!;
      assert.equal(Number(m[1]), 20 * 8 + sev, r.kind);
      assert.equal(m[2], r.kind);
      const got = sd(m[3]!);
      for (const [k, v] of Object.entries(params)) assert.equal(got[k], v, `${r.kind} ${k}`);
      assert.deepEqual(JSON.parse(m[4]!), JSON.parse(eve.line(r)));
    }
    // a DLP finding without a flow has no 5-tuple parameters
    assert.equal(sd(formatRfc5424(dlpRecord(1, T0_NS), '{}', fmt)).src_ip, undefined);
  });

  it('OTLP: event.name and severity by kind, flow and process attributes when the record has them, the EVE record as body', () => {
    const dlp = otlpLogRecord(dlpRecord(1, T0_NS), {}, 0n);
    const a = Object.fromEntries(dlp.attributes.map((x) => [x.key, x.value]));
    assert.deepEqual([dlp.severityNumber, dlp.severityText], [13, 'WARN']);
    assert.deepEqual(a['event.name'], { stringValue: 'ebpfsentinel.dlp' });
    assert.deepEqual(a['process.pid'], { intValue: '1001' });
    assert.deepEqual(a['ebpfsentinel.cgroup_id'], { stringValue: (2n ** 60n + 1n).toString() });
    assert.deepEqual(a['ebpfsentinel.dlp.detector'], { stringValue: 'aws_access_key' });
    assert.equal(a['source.address'], undefined);
    assert.equal(a['ebpfsentinel.community_id'], undefined);
    assert.equal((JSON.parse(dlp.body.stringValue) as { event_type: string }).event_type, 'dlp');
    const dns = otlpLogRecord(dnsRecord(1, T0_NS), {}, 0n);
    const d = Object.fromEntries(dns.attributes.map((x) => [x.key, x.value]));
    assert.deepEqual([dns.severityNumber, dns.severityText], [9, 'INFO']);
    assert.deepEqual(d['dns.question.name'], { stringValue: 'host1.example.com' });
    assert.deepEqual(d['network.type'], { stringValue: 'ipv6' });
    assert.deepEqual(d['network.transport'], { stringValue: 'udp' });
  });
});
