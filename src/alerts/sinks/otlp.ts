// OTLP logs over HTTP with the JSON encoding (POST {endpoint}/v1/logs). One log record per
// alert: the body is the EVE JSON record (collectors that parse eve.json keep working), the
// searchable fields are attributes named after OpenTelemetry's network semantic conventions.
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { toEveRecord, type EveOptions } from '../eve.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../community-id.js';
import type { Alert, Severity } from '../model.js';
import { renderEach, type RejectOne, type SinkTransport } from '../queued-sink.js';
import { postJson, type HttpPostOptions } from './http.js';

/** OpenTelemetry SeverityNumber: INFO 9, WARN 13, ERROR 17, FATAL 21. */
export const OTLP_SEVERITY: Readonly<Record<Severity, { number: number; text: string }>> = {
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

export function otlpLogRecord(a: Alert, eve: EveOptions, observedNs: bigint): OtlpLogRecord {
  const f = a.flow;
  const sev = OTLP_SEVERITY[a.severity];
  const rec = toEveRecord(a, eve);
  const attrs: KeyValue[] = [
    str('event.name', 'ebpfsentinel.alert'),
    str('ebpfsentinel.engine', a.engine),
    str('ebpfsentinel.program', a.program),
    str('ebpfsentinel.rule_id', a.ruleId),
    str('ebpfsentinel.rule_name', a.ruleName),
    int('ebpfsentinel.signature_id', a.signatureId),
    str('ebpfsentinel.action', a.action),
    str('ebpfsentinel.reason', a.reason),
    str('ebpfsentinel.severity', a.severity),
    str('source.address', f.srcIp),
    str('destination.address', f.dstIp),
    str('network.type', isIP(f.srcIp) === 6 ? 'ipv6' : 'ipv4'),
    str('network.transport', TRANSPORT[f.proto] ?? String(f.proto)),
    int('network.protocol.number', f.proto),
  ];
  if (f.srcPort !== undefined) attrs.push(int('source.port', f.srcPort));
  if (f.dstPort !== undefined) attrs.push(int('destination.port', f.dstPort));
  if (f.icmpType !== undefined) attrs.push(int('ebpfsentinel.icmp_type', f.icmpType));
  if (f.icmpCode !== undefined) attrs.push(int('ebpfsentinel.icmp_code', f.icmpCode));
  // the community id the EVE record carries, so both outputs correlate
  attrs.push(str('ebpfsentinel.community_id', rec.community_id));
  if (a.interface !== undefined) attrs.push(str('network.interface.name', a.interface));
  if (a.vlan && a.vlan.length) attrs.push({ key: 'ebpfsentinel.vlan', value: { arrayValue: { values: a.vlan.map((v) => ({ intValue: String(v) })) } } });
  if (a.mitre) {
    attrs.push(str('ebpfsentinel.mitre.technique_id', a.mitre.techniqueId));
    if (a.mitre.tactic) attrs.push(str('ebpfsentinel.mitre.tactic', a.mitre.tactic));
  }
  if (a.suppressed) attrs.push(int('ebpfsentinel.suppressed', a.suppressed));
  if (a.summary) attrs.push({ key: 'ebpfsentinel.summary', value: { boolValue: true } });
  return {
    timeUnixNano: a.timestampNs.toString(),
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

  deliver(batch: readonly Alert[], signal: AbortSignal, reject: RejectOne): Promise<void> {
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
