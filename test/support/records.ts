// Records of every kind other than alerts, built the way their engines will build them (those
// engines come later): the i-th of each alternates IPv4 (even) and IPv6 (odd).
import type { AnomalyRecord, DlpRecord, DnsRecord, FlowRecord, NonAlertRecord } from '../../src/alerts/records.js';
import { redactMatch } from '../../src/alerts/records.js';

const flowOf = (i: number, proto: number, dstPort: number) =>
  i % 2 === 1
    ? { srcIp: `2001:db8:1::${(i % 250) + 1}`, dstIp: '2001:db8:2::53', proto, srcPort: 40000 + i, dstPort }
    : { srcIp: `198.18.1.${(i % 250) + 1}`, dstIp: '198.18.2.53', proto, srcPort: 40000 + i, dstPort };

export function dnsRecord(i: number, tsNs: bigint, over: Partial<DnsRecord> = {}): DnsRecord {
  return {
    kind: 'dns',
    timestampNs: tsNs,
    engine: 'dns',
    program: 'tc-dns',
    flow: flowOf(i, 17, 53),
    dns: { type: 'request', id: i & 0xffff, flags: 0x0100, queries: [{ rrname: `host${i}.example.com`, rrtype: i % 2 === 1 ? 28 : 1 }] },
    ...over,
  };
}

export function flowRecord(i: number, tsNs: bigint, over: Partial<FlowRecord> = {}): FlowRecord {
  return {
    kind: 'flow',
    timestampNs: tsNs,
    engine: 'conntrack',
    program: 'tc-conntrack',
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
    kind: 'anomaly',
    timestampNs: tsNs,
    engine: 'scrub',
    program: 'tc-scrub',
    flow: flowOf(i, 17, 53),
    anomaly: { type: 'decode', event: i % 2 === 1 ? 'ipv6.trunc_pkt' : 'ipv4.trunc_pkt' },
    ...over,
  };
}

export function dlpRecord(i: number, tsNs: bigint, over: Partial<DlpRecord> = {}): DlpRecord {
  return {
    kind: 'dlp',
    timestampNs: tsNs,
    engine: 'dlp',
    program: 'uprobe-dlp',
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
