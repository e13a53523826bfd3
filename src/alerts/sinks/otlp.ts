// OTLP logs over HTTP with the JSON encoding (POST {endpoint}/v1/logs). One log record per
// record (alert, dns, flow, anomaly, dlp): the body is the EVE JSON record (collectors that parse eve.json keep working), the
// searchable fields are attributes named after OpenTelemetry's network semantic conventions.
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { toEveRecord, type EveOptions } from '../eve.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../community-id.js';
import type { FlowTuple, ProcessRef, Severity } from '../model.js';
import type { RecordKind, SentinelRecord } from '../records.js';
import { renderEach, type RejectOne, type SinkTransport } from '../queued-sink.js';
import { postJson, type HttpPostOptions } from './http.js';

/** OpenTelemetry SeverityNumber: INFO 9, WARN 13, ERROR 17, FATAL 21. */
const OTLP_SEVERITY: Readonly<Record<Severity, { number: number; text: string }>> = {
  low: { number: 9, text: 'INFO' },
  medium: { number: 13, text: 'WARN' },
  high: { number: 17, text: 'ERROR' },
  critical: { number: 21, text: 'FATAL' },
};

export type AnyValue = { stringValue: string } | { intValue: string } | { boolValue: boolean } | { arrayValue: { values: AnyValue[] } };
export interface KeyValue {
  key: string;
  value: AnyValue;
}
export interface OtlpLogRecord {
  timeUnixNano: string;
  observedTimeUnixNano: string;
  severityNumber: number;
  severityText: string;
  body: { stringValue: string };
  attributes: KeyValue[];
}
export interface OtlpLogsRequest {
  resourceLogs: {
    resource: { attributes: KeyValue[] };
    scopeLogs: { scope: { name: string; version?: string }; logRecords: OtlpLogRecord[] }[];
  }[];
}

const TRANSPORT: Readonly<Record<number, string>> = {
  [IPPROTO_TCP]: 'tcp',
  [IPPROTO_UDP]: 'udp',
  [IPPROTO_SCTP]: 'sctp',
  [IPPROTO_ICMP]: 'icmp',
  [IPPROTO_ICMPV6]: 'icmpv6',
};

const str = (key: string, v: string): KeyValue => ({ key, value: { stringValue: v } });
const int = (key: string, v: number): KeyValue => ({ key, value: { intValue: String(v) } });

/** "http://host:4318" -> "http://host:4318/v1/logs"; an explicit path is kept as given. */
export function otlpLogsUrl(endpoint: string): string {
  const u = new URL(endpoint);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/v1/logs';
  return u.toString();
}

/** The other kinds have no severity of their own: a DLP finding and an anomaly are WARN, DNS and
 * flow records INFO. */
const OTLP_KIND_SEVERITY: Readonly<Record<Exclude<RecordKind, 'alert'>, { number: number; text: string }>> = {
  dlp: { number: 13, text: 'WARN' },
  anomaly: { number: 13, text: 'WARN' },
  dns: { number: 9, text: 'INFO' },
  flow: { number: 9, text: 'INFO' },
};

function flowAttributes(f: FlowTuple, attrs: KeyValue[]): void {
  attrs.push(
    str('source.address', f.srcIp),
    str('destination.address', f.dstIp),
    str('network.type', isIP(f.srcIp) === 6 ? 'ipv6' : 'ipv4'),
    str('network.transport', TRANSPORT[f.proto] ?? String(f.proto)),
    int('network.protocol.number', f.proto),
  );
  if (f.srcPort !== undefined) attrs.push(int('source.port', f.srcPort));
  if (f.dstPort !== undefined) attrs.push(int('destination.port', f.dstPort));
  if (f.icmpType !== undefined) attrs.push(int('ebpfsentinel.icmp_type', f.icmpType));
  if (f.icmpCode !== undefined) attrs.push(int('ebpfsentinel.icmp_code', f.icmpCode));
}

function processAttributes(p: ProcessRef, attrs: KeyValue[]): void {
  attrs.push(int('process.pid', p.pid), int('thread.id', p.tid), str('process.executable.name', p.comm), str('ebpfsentinel.cgroup_id', p.cgroupId.toString()));
  if (p.exe !== undefined) attrs.push(str('process.executable.path', p.exe));
}

function kindAttributes(r: SentinelRecord, attrs: KeyValue[]): void {
  switch (r.kind) {
    case 'alert':
      attrs.push(
        str('ebpfsentinel.rule_id', r.ruleId),
        str('ebpfsentinel.rule_name', r.ruleName),
        int('ebpfsentinel.signature_id', r.signatureId),
        str('ebpfsentinel.action', r.action),
        str('ebpfsentinel.reason', r.reason),
        str('ebpfsentinel.severity', r.severity),
      );
      return;
    case 'dns':
      attrs.push(str('ebpfsentinel.dns.type', r.dns.type), int('ebpfsentinel.dns.id', r.dns.id));
      if (r.dns.queries[0]) attrs.push(str('dns.question.name', r.dns.queries[0].rrname));
      return;
    case 'flow':
      attrs.push(str('ebpfsentinel.flow.state', r.state), str('ebpfsentinel.flow.reason', r.reason));
      return;
    case 'anomaly':
      attrs.push(str('ebpfsentinel.anomaly.type', r.anomaly.type));
      if ('event' in r.anomaly) attrs.push(str('ebpfsentinel.anomaly.event', r.anomaly.event));
      return;
    case 'dlp':
      attrs.push(str('ebpfsentinel.dlp.detector', r.dlp.detector), str('ebpfsentinel.dlp.direction', r.dlp.direction));
      return;
  }
}

/** One log record per record: the EVE record as the body, the searchable fields as attributes
 * (event.name says the kind: ebpfsentinel.alert, ebpfsentinel.dns, ...). */
export function otlpLogRecord(r: SentinelRecord, eve: EveOptions, observedNs: bigint): OtlpLogRecord {
  const sev = r.kind === 'alert' ? OTLP_SEVERITY[r.severity] : OTLP_KIND_SEVERITY[r.kind];
  const rec = toEveRecord(r, eve);
  const attrs: KeyValue[] = [str('event.name', `ebpfsentinel.${r.kind}`), str('ebpfsentinel.engine', r.engine), str('ebpfsentinel.program', r.program)];
  kindAttributes(r, attrs);
  if (r.flow) flowAttributes(r.flow, attrs);
  // the community id the EVE record carries, so both outputs correlate
  if (rec.community_id !== undefined) attrs.push(str('ebpfsentinel.community_id', rec.community_id));
  if (r.interface !== undefined) attrs.push(str('network.interface.name', r.interface));
  if (r.vlan && r.vlan.length) attrs.push({ key: 'ebpfsentinel.vlan', value: { arrayValue: { values: r.vlan.map((v) => ({ intValue: String(v) })) } } });
  const proc = r.kind === 'alert' || r.kind === 'dlp' ? r.process : undefined;
  if (proc) processAttributes(proc, attrs);
  if (r.kind === 'alert') {
    if (r.mitre) {
      attrs.push(str('ebpfsentinel.mitre.technique_id', r.mitre.techniqueId));
      if (r.mitre.tactic) attrs.push(str('ebpfsentinel.mitre.tactic', r.mitre.tactic));
    }
    if (r.suppressed) attrs.push(int('ebpfsentinel.suppressed', r.suppressed));
    if (r.summary) attrs.push({ key: 'ebpfsentinel.summary', value: { boolValue: true } });
  }
  return {
    timeUnixNano: r.timestampNs.toString(),
    observedTimeUnixNano: observedNs.toString(),
    severityNumber: sev.number,
    severityText: sev.text,
    body: { stringValue: JSON.stringify(rec) },
    attributes: attrs,
  };
}

export class OtlpLogsTransport implements SinkTransport {
  private readonly resource: KeyValue[];

  constructor(
    private readonly http: HttpPostOptions,
    private readonly eve: EveOptions = {},
    opts: { serviceVersion?: string; hostName?: string } = {},
  ) {
    this.resource = [str('service.name', 'ebpfsentinel'), str('host.name', opts.hostName ?? hostname())];
    if (opts.serviceVersion) this.resource.push(str('service.version', opts.serviceVersion));
  }

  deliver(batch: readonly SentinelRecord[], signal: AbortSignal, reject: RejectOne): Promise<void> {
    const observed = BigInt(Date.now()) * 1_000_000n;
    const logRecords = renderEach(batch, (a) => otlpLogRecord(a, this.eve, observed), reject);
    if (logRecords.length === 0) return Promise.resolve();
    const req: OtlpLogsRequest = {
      resourceLogs: [
        {
          resource: { attributes: this.resource },
          scopeLogs: [{ scope: { name: 'ebpfsentinel.alerts' }, logRecords }],
        },
      ],
    };
    return postJson(this.http, JSON.stringify(req), signal);
  }
}
