// Syslog (RFC 5424 over UDP and TCP with octet counting) and OTLP/HTTP JSON logs, each against
// a real listener on the loopback, with IPv4 and IPv6 alerts.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createAlertPipeline } from '../../src/alerts/build.js';
import { communityId } from '../../src/alerts/community-id.js';
import type { Alert } from '../../src/alerts/model.js';
import { mitreTechnique } from '../../src/alerts/mitre.js';
import type { OtlpLogsRequest } from '../../src/alerts/sinks/otlp.js';
import { alertingSchema } from '../../src/alerts/section.js';
import { HttpReceiver } from '../support/http-receiver.js';

const T0_MS = Date.UTC(2026, 10, 26, 14, 0, 0);
const T0_NS = BigInt(T0_MS) * 1_000_000n + 123_456_789n;

const v4: Alert = {
  kind: 'alert',
  timestampNs: T0_NS,
  severity: 'high',
  engine: 'firewall',
  program: 'xdp-firewall',
  ruleId: 'deny-ssh',
  ruleName: 'deny "ssh" [lab]',
  signatureId: 7,
  action: 'blocked',
  reason: 'rule',
  flow: { srcIp: '198.18.1.10', dstIp: '198.18.2.20', proto: 6, srcPort: 40512, dstPort: 22 },
  interface: 'sn-veth0',
  vlan: [42],
  mitre: mitreTechnique('T1021.004'),
};
const v6: Alert = {
  ...v4,
  severity: 'low',
  action: 'allowed',
  ruleId: 'log-dns',
  ruleName: 'log dns',
  signatureId: 8,
  flow: { srcIp: '2001:db8:1::10', dstIp: '2001:db8:2::20', proto: 17, srcPort: 53000, dstPort: 53 },
  vlan: [],
  mitre: undefined,
};
delete (v6 as Partial<Alert>).mitre;

// RFC 5424: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
const RFC5424 = /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (\[(?:[^\]"\\]|\\.|"(?:[^"\\]|\\.)*")*\]|-)(?: (.*))?$/s;

interface Parsed {
  pri: number;
  timestamp: string;
  host: string;
  app: string;
  procid: string;
  msgid: string;
  sdId: string;
  params: Record<string, string>;
  msg: Record<string, unknown>;
}

function parse5424(line: string): Parsed {
  const m = RFC5424.exec(line);
  assert.ok(m, `not an RFC 5424 message: ${line.slice(0, 120)}`);
  const sd = m[7]!;
  const sdId = /^\[(\S+)/.exec(sd)![1]!;
  const params: Record<string, string> = {};
  for (const p of sd.matchAll(/ ([^= \]"]+)="((?:[^"\\]|\\.)*)"/g)) params[p[1]!] = p[2]!.replace(/\\(["\\\]])/g, '$1');
  return { pri: Number(m[1]), timestamp: m[2]!, host: m[3]!, app: m[4]!, procid: m[5]!, msgid: m[6]!, sdId, params, msg: JSON.parse(m[8]!) as Record<string, unknown> };
}

function checkPair(got: Parsed[]): void {
  assert.equal(got.length, 2);
  const [a, b] = got as [Parsed, Parsed];
  // local4 (20) * 8 + err (3); local4 * 8 + notice (5)
  assert.equal(a.pri, 20 * 8 + 3);
  assert.equal(b.pri, 20 * 8 + 5);
  assert.equal(a.timestamp, '2026-11-26T14:00:00.123456Z');
  assert.equal(a.app, 'sentinel-test');
  assert.equal(a.procid, String(process.pid));
  assert.equal(a.msgid, 'alert');
  assert.equal(a.sdId, 'ebpfsentinel@32473');
  assert.deepEqual(a.params, {
    engine: 'firewall', rule_id: 'deny-ssh', sid: '7', action: 'blocked', severity: 'high', proto: '6',
    src_ip: '198.18.1.10', src_port: '40512', dest_ip: '198.18.2.20', dest_port: '22', in_iface: 'sn-veth0',
  });
  assert.equal(b.params.src_ip, '2001:db8:1::10');
  assert.equal(b.params.dest_port, '53');
  assert.equal(a.msg.event_type, 'alert');
  assert.equal((a.msg.alert as { signature: string }).signature, 'deny "ssh" [lab]');
  assert.deepEqual(a.msg.vlan, [42]);
  assert.equal(b.msg.proto, 'UDP');
  assert.equal(b.msg.community_id, communityId({ srcIp: '2001:db8:1::10', dstIp: '2001:db8:2::20', proto: 17, srcPort: 53000, dstPort: 53 }));
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

function syslogRoute(address: string, transport: 'udp' | 'tcp', extra: Record<string, unknown> = {}) {
  return alertingSchema.parse({
    eve: { enabled: false },
    routes: [{ name: 'siem', destination: 'syslog', syslog_address: address, syslog_transport: transport, syslog_facility: 'local4', syslog_app_name: 'sentinel-test', ...extra }],
  });
}

describe('syslog sink', () => {
  for (const host of ['127.0.0.1', '::1']) {
    it(`UDP to ${host}: one RFC 5424 message per datagram`, async () => {
      const rx = createSocket(host === '::1' ? 'udp6' : 'udp4');
      const got: Parsed[] = [];
      rx.on('message', (b) => got.push(parse5424(b.toString('utf8'))));
      await new Promise<void>((r) => rx.bind(0, host, r));
      const port = (rx.address() as AddressInfo).port;
      try {
        const registry = new Registry();
        const p = await createAlertPipeline(syslogRoute(host === '::1' ? `[::1]:${port}` : `${host}:${port}`, 'udp'), { registry });
        p.push(v4);
        p.push(v6);
        await p.flush();
        await until('two datagrams', () => got.length === 2);
        checkPair(got);
        assert.equal(await value(registry, 'ebpfsentinel_alert_sink_deliveries_total', { sink: 'siem' }), 2);
        await p.close();
      } finally {
        rx.close();
      }
    });
  }

  it('TCP: octet-counting framing, reconnects after the collector drops the connection, nothing duplicated', async () => {
    let buf = '';
    const frames: string[] = [];
    const conns: Socket[] = [];
    let accepted = 0;
    const srv = createServer((s) => {
      accepted++;
      conns.push(s);
      s.setEncoding('utf8');
      s.on('data', (c: string) => {
        buf += c;
        // RFC 6587 3.4.1: MSG-LEN SP SYSLOG-MSG, length in octets
        for (;;) {
          const sp = buf.indexOf(' ');
          if (sp < 0) break;
          const len = Number(buf.slice(0, sp));
          assert.ok(Number.isInteger(len) && len > 0, `bad frame length "${buf.slice(0, sp)}"`);
          const bytes = Buffer.from(buf.slice(sp + 1), 'utf8');
          if (bytes.length < len) break;
          frames.push(bytes.subarray(0, len).toString('utf8'));
          buf = bytes.subarray(len).toString('utf8');
        }
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    try {
      const registry = new Registry();
      const p = await createAlertPipeline(syslogRoute(`127.0.0.1:${port}`, 'tcp', { retry_initial_ms: 10, retry_max_ms: 20 }), { registry });
      p.push(v4);
      p.push(v6);
      await p.flush();
      await until('two frames', () => frames.length === 2);
      checkPair(frames.map(parse5424));
      // the collector restarts: the connection is gone
      for (const c of conns) c.destroy();
      await until('connection closed', () => conns.every((c) => c.destroyed));
      await new Promise((r) => setTimeout(r, 50));
      p.push({ ...v4, signatureId: 70 });
      p.push({ ...v6, signatureId: 80 });
      await p.flush();
      await until('frames after reconnect', () => frames.length >= 4);
      const sids = frames.map((f) => parse5424(f).params.sid);
      assert.deepEqual(sids.slice(2).sort(), ['70', '80']);
      assert.ok(accepted >= 2, 'a new connection was made');
      await p.close();
      assert.equal(frames.length, 4, 'nothing sent twice');
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  it('TCP to a closed port: connection failures counted, alerts dropped after the retries', async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '::1', r));
    const port = (srv.address() as AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const registry = new Registry();
    const p = await createAlertPipeline(syslogRoute(`[::1]:${port}`, 'tcp', { max_retries: 1, retry_initial_ms: 5, retry_max_ms: 5 }), { registry });
    p.push(v6);
    await p.flush();
    assert.equal(await value(registry, 'ebpfsentinel_alert_sink_failures_total', { sink: 'siem', reason: 'connection' }), 2);
    assert.equal(await value(registry, 'ebpfsentinel_alert_sink_dropped_total', { sink: 'siem', reason: 'retries_exhausted' }), 1);
    await p.close();
  });
});

describe('OTLP logs sink', () => {
  it('POSTs OTLP/HTTP JSON to /v1/logs: resource, scope, severity mapped, 5-tuple attributes, EVE body', async () => {
    const srv = await HttpReceiver.start<OtlpLogsRequest>();
    try {
      const registry = new Registry();
      const cfg = alertingSchema.parse({ eve: { enabled: false }, routes: [{ name: 'otel', destination: 'otlp', otlp_endpoint: srv.url }] });
      const p = await createAlertPipeline(cfg, { registry, version: '9.9.9' });
      p.push(v4);
      p.push(v6);
      await p.close();
      assert.equal(srv.requests.length, 1);
      const { path: url, headers, body } = srv.requests[0]!;
      assert.equal(url, '/v1/logs');
      assert.equal(headers['content-type'], 'application/json');
      const rl = body.resourceLogs[0]!;
      const res = Object.fromEntries(rl.resource.attributes.map((a) => [a.key, a.value]));
      assert.deepEqual(res['service.name'], { stringValue: 'ebpfsentinel' });
      assert.deepEqual(res['service.version'], { stringValue: '9.9.9' });
      assert.equal(rl.scopeLogs[0]!.scope.name, 'ebpfsentinel.alerts');
      const [r4, r6] = rl.scopeLogs[0]!.logRecords as [OtlpLogsRequest['resourceLogs'][0]['scopeLogs'][0]['logRecords'][0], OtlpLogsRequest['resourceLogs'][0]['scopeLogs'][0]['logRecords'][0]];
      assert.equal(r4.timeUnixNano, T0_NS.toString());
      assert.match(r4.observedTimeUnixNano, /^\d{19}$/);
      assert.deepEqual([r4.severityNumber, r4.severityText], [17, 'ERROR']);
      assert.deepEqual([r6.severityNumber, r6.severityText], [9, 'INFO']);
      const attrs = (r: typeof r4) => Object.fromEntries(r.attributes.map((a) => [a.key, a.value]));
      const a4 = attrs(r4);
      assert.deepEqual(a4['source.address'], { stringValue: '198.18.1.10' });
      assert.deepEqual(a4['source.port'], { intValue: '40512' });
      assert.deepEqual(a4['destination.address'], { stringValue: '198.18.2.20' });
      assert.deepEqual(a4['destination.port'], { intValue: '22' });
      assert.deepEqual(a4['network.transport'], { stringValue: 'tcp' });
      assert.deepEqual(a4['network.type'], { stringValue: 'ipv4' });
      assert.deepEqual(a4['network.interface.name'], { stringValue: 'sn-veth0' });
      assert.deepEqual(a4['ebpfsentinel.vlan'], { arrayValue: { values: [{ intValue: '42' }] } });
      assert.deepEqual(a4['ebpfsentinel.mitre.technique_id'], { stringValue: 'T1021.004' });
      assert.deepEqual(a4['ebpfsentinel.mitre.tactic'], { stringValue: 'lateral-movement' });
      const a6 = attrs(r6);
      assert.deepEqual(a6['network.type'], { stringValue: 'ipv6' });
      assert.deepEqual(a6['network.transport'], { stringValue: 'udp' });
      assert.deepEqual(a6['source.address'], { stringValue: '2001:db8:1::10' });
      assert.deepEqual(a6['ebpfsentinel.community_id'], { stringValue: communityId({ srcIp: '2001:db8:1::10', dstIp: '2001:db8:2::20', proto: 17, srcPort: 53000, dstPort: 53 }) });
      const eve = JSON.parse(r6.body.stringValue) as { event_type: string; dest_port: number };
      assert.equal(eve.event_type, 'alert');
      assert.equal(eve.dest_port, 53);
      assert.equal(await value(registry, 'ebpfsentinel_alert_sink_deliveries_total', { sink: 'otel' }), 2);
    } finally {
      await srv.stop();
    }
  });
});
