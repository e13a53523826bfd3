// Records of every kind, built the way their engines build them (or will: those engines come
// later): the i-th of each alternates IPv4 (even) and IPv6 (odd).
import type { Alert } from '../../src/alerts/model.js';
import type { AnomalyRecord, DlpRecord, DnsRecord, FlowRecord, NonAlertRecord, RecordKind } from '../../src/alerts/records.js';
import { redactMatch } from '../../src/alerts/records.js';

/** The program each engine's records come from. */
const PROGRAM = { firewall: 'xdp-firewall', conntrack: 'tc-conntrack', scrub: 'tc-scrub', ids: 'tc-ids', dns: 'tc-dns', dlp: 'uprobe-dlp' } as const;

/** What every record starts with: its kind, its time, and the engine and program that made it. */
export function recordHead<K extends RecordKind>(kind: K, engine: keyof typeof PROGRAM, tsNs: bigint): { kind: K; timestampNs: bigint; engine: string; program: string } {
  return { kind, timestampNs: tsNs, engine, program: PROGRAM[engine] };
}

const flowOf = (i: number, proto: number, dstPort: number) =>
  i % 2 === 1
    ? { srcIp: `2001:db8:1::${(i % 250) + 1}`, dstIp: '2001:db8:2::53', proto, srcPort: 40000 + i, dstPort }
    : { srcIp: `198.18.1.${(i % 250) + 1}`, dstIp: '198.18.2.53', proto, srcPort: 40000 + i, dstPort };

/** A firewall deny of SSH (signature id i), as xdp-firewall reports it. */
export function alertRecord(i: number, tsNs: bigint, over: Partial<Alert> = {}): Alert {
  return {
    ...recordHead('alert', 'firewall', tsNs),
    severity: 'high',
    ruleId: 'deny-ssh',
    ruleName: 'deny ssh',
    signatureId: i,
    action: 'blocked',
    reason: 'rule',
    flow: i % 2 === 1 ? { srcIp: '2001:db8:1::10', dstIp: '2001:db8:2::20', proto: 6, srcPort: 40000, dstPort: 22 } : { srcIp: '198.18.1.10', dstIp: '198.18.2.20', proto: 6, srcPort: 40000, dstPort: 22 },
    ...over,
  };
}

export function dnsRecord(i: number, tsNs: bigint, over: Partial<DnsRecord> = {}): DnsRecord {
  return {
    ...recordHead('dns', 'dns', tsNs),
    flow: flowOf(i, 17, 53),
    dns: { type: 'request', id: i & 0xffff, flags: 0x0100, queries: [{ rrname: `host${i}.example.com`, rrtype: i % 2 === 1 ? 28 : 1 }] },
    ...over,
  };
}

export function flowRecord(i: number, tsNs: bigint, over: Partial<FlowRecord> = {}): FlowRecord {
  return {
    ...recordHead('flow', 'conntrack', tsNs),
    flow: flowOf(i, 6, 443),
    stats: { pktsToServer: i + 1, pktsToClient: i, bytesToServer: 100 * (i + 1), bytesToClient: 1000 * i },
    startNs: tsNs - 5_000_000_000n,
    endNs: tsNs,
    state: 'closed',
    reason: 'timeout',
    alerted: false,
    tcp: { flags: 0x1b, flagsToServer: 0x1b, flagsToClient: 0x1b },
    ...over,
  };
}

export function anomalyRecord(i: number, tsNs: bigint, over: Partial<AnomalyRecord> = {}): AnomalyRecord {
  return {
    ...recordHead('anomaly', 'scrub', tsNs),
    flow: flowOf(i, 17, 53),
    anomaly: { type: 'decode', event: i % 2 === 1 ? 'ipv6.trunc_pkt' : 'ipv4.trunc_pkt' },
    ...over,
  };
}

export function dlpRecord(i: number, tsNs: bigint, over: Partial<DlpRecord> = {}): DlpRecord {
  return {
    ...recordHead('dlp', 'dlp', tsNs),
    process: { pid: 1000 + (i % 3), tid: 1000 + (i % 3), comm: 'curl', cgroupId: 2n ** 60n + BigInt(i) },
    // findings tied to a socket every other time
    ...(i % 2 === 0 ? { flow: flowOf(i, 6, 443) } : {}),
    dlp: {
      detector: i % 3 === 0 ? 'credit_card' : 'aws_access_key',
      direction: 'outbound',
      symbol: 'SSL_write',
      truncation: { length: 64, captured: 64, truncated: false },
      match: { offset: 3, length: 19, redacted: redactMatch('4111 1111 1111 1111') },
    },
    ...over,
  };
}

/** One of each kind for index i. */
export function oneOfEach(i: number, tsNs: bigint): NonAlertRecord[] {
  return [dnsRecord(i, tsNs), flowRecord(i, tsNs), anomalyRecord(i, tsNs), dlpRecord(i, tsNs)];
}
