// Every record kind rendered as an EVE line, each line validated against Suricata's published
// JSON Schema (test/support/eve-schema.ts: only the `ebpfsentinel` key added), and the values
// checked against what Suricata writes for the same message, flow or anomaly. The records are
// built here: the engines that produce DNS, flow, anomaly and DLP records come later.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { communityId } from '../../src/alerts/community-id.js';
import { toEveLine } from '../../src/alerts/eve-line.js';
import { toEveRecord, type EveRecord } from '../../src/alerts/eve.js';
import type { Alert, ProcessRef } from '../../src/alerts/model.js';
import { redactMatch, RECORD_KINDS, type AnomalyRecord, type DlpRecord, type DnsRecord, type FlowRecord, type SentinelRecord } from '../../src/alerts/records.js';
import { suricataEveValidator } from '../support/eve-schema.js';
import { recordHead } from '../support/records.js';

const check = suricataEveValidator();
const T0_NS = BigInt(Date.UTC(2026, 10, 26, 14, 0, 0)) * 1_000_000n + 123_456_789n;

const PROC: ProcessRef = { pid: 4242, tid: 4243, comm: 'curl', cgroupId: 2n ** 60n + 7n, exe: '/usr/bin/curl' };

function valid(r: SentinelRecord): EveRecord {
  const line = toEveLine(r);
  assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'one line');
  const parsed = JSON.parse(line) as EveRecord;
  assert.deepEqual(check(parsed), [], `${r.kind} record validates against Suricata's schema: ${line}`);
  assert.equal(parsed.event_type, r.kind);
  // our fields live under one key only
  assert.equal(typeof (parsed as { ebpfsentinel?: unknown }).ebpfsentinel, 'object');
  return parsed;
}

const dnsQueryV4: DnsRecord = {
  ...recordHead('dns', 'dns', T0_NS),
  interface: 'sn-veth0',
  flow: { srcIp: '198.18.1.10', dstIp: '198.18.2.53', proto: 17, srcPort: 53001, dstPort: 53 },
  dns: { type: 'request', id: 0x1a2b, flags: 0x0100, txId: 0, queries: [{ rrname: 'www.example.com', rrtype: 1 }] },
};

const dnsResponseV6: DnsRecord = {
  ...recordHead('dns', 'dns', T0_NS + 1_000_000n),
  vlan: [100],
  flow: { srcIp: '2001:db8:2::53', dstIp: '2001:db8:1::10', proto: 17, srcPort: 53, dstPort: 53001 },
  dns: {
    type: 'response',
    id: 0x1a2b,
    // QR, AA, RD, RA, rcode 0
    flags: 0x8580,
    txId: 0,
    queries: [{ rrname: 'www.example.com', rrtype: 28 }],
    answers: [
      { rrname: 'www.example.com', rrtype: 5, ttl: 300, rdata: 'web.example.com' },
      { rrname: 'web.example.com', rrtype: 28, ttl: 60, rdata: '2001:db8::1' },
      { rrname: 'web.example.com', rrtype: 1, ttl: 60, rdata: '198.18.7.1' },
      { rrname: 'example.com', rrtype: 16, ttl: 60, txt: ['v=spf1 -all', 'second string'] },
      { rrname: '_sip._udp.example.com', rrtype: 33, ttl: 60, srv: { priority: 20, weight: 1, port: 5060, name: 'sip.example.com' } },
      { rrname: 'host.example.com', rrtype: 44, ttl: 60, sshfp: { algo: 4, type: 2, fingerprint: 'ab:cd:ef' } },
      { rrname: 'example.com', rrtype: 15, ttl: 60, rdata: 'mail.example.com' },
      // a type Suricata does not group: in the detailed answers only
      { rrname: 'example.com', rrtype: 65, ttl: 60, rdata: '1 . alpn=h2', rrnameTruncated: true },
    ],
    authorities: [{ rrname: 'example.com', rrtype: 6, ttl: 900, soa: { mname: 'ns1.example.com', rname: 'hostmaster.example.com', serial: 2026112601, refresh: 7200, retry: 900, expire: 1209600, minimum: 300 } }],
    additionals: [
      { rrname: '', rrtype: 41, ttl: 0, opt: [{ code: 10, data: '0011223344556677' }] },
      { rrname: 'ns1.example.com', rrtype: 1, ttl: 60, rdata: '198.18.7.53' },
    ],
  },
};

const dnsNxdomainTcp: DnsRecord = {
  ...recordHead('dns', 'dns', T0_NS),
  flow: { srcIp: '198.18.2.53', dstIp: '198.18.1.10', proto: 6, srcPort: 53, dstPort: 41000 },
  // QR, RD, RA, rcode 3; an empty OPT record (no options) left out as Suricata does
  dns: {
    type: 'response',
    id: 7,
    flags: 0x8183,
    queries: [{ rrname: 'nope.example.com', rrtype: 1 }],
    authorities: [{ rrname: 'example.com', rrtype: 6, ttl: 900, soa: { mname: 'ns1.example.com', rname: 'hostmaster.example.com', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5 } }],
    additionals: [{ rrname: '', rrtype: 41, ttl: 0, opt: [] }],
  },
};

const flowTcpV4: FlowRecord = {
  ...recordHead('flow', 'conntrack', T0_NS),
  interface: 'sn-veth0',
  flow: { srcIp: '198.18.1.10', dstIp: '198.18.2.20', proto: 6, srcPort: 40512, dstPort: 443 },
  stats: { pktsToServer: 12, pktsToClient: 10, bytesToServer: 1400, bytesToClient: 90_000 },
  startNs: T0_NS - 65_500_000_000n,
  endNs: T0_NS,
  state: 'closed',
  reason: 'timeout',
  alerted: false,
  // SYN, FIN, ACK, PSH either way
  tcp: { flags: 0x1b, flagsToServer: 0x1b, flagsToClient: 0x1b, state: 'closed' },
};

const flowUdpV6: FlowRecord = {
  ...recordHead('flow', 'conntrack', T0_NS),
  flow: { srcIp: '2001:db8:1::10', dstIp: '2001:db8:2::53', proto: 17, srcPort: 53001, dstPort: 53 },
  appProto: 'dns',
  stats: { pktsToServer: 1, pktsToClient: 1, bytesToServer: 80, bytesToClient: 120 },
  startNs: T0_NS - 1_000_000n,
  endNs: T0_NS,
  state: 'established',
  reason: 'forced',
  alerted: true,
};

const flowIcmpV6: FlowRecord = {
  ...recordHead('flow', 'conntrack', T0_NS),
  flow: { srcIp: '2001:db8:1::10', dstIp: '2001:db8:2::1', proto: 58, icmpType: 128, icmpCode: 0 },
  stats: { pktsToServer: 3, pktsToClient: 3, bytesToServer: 312, bytesToClient: 312 },
  startNs: T0_NS - 2_000_000_000n,
  endNs: T0_NS,
  state: 'established',
  reason: 'shutdown',
  alerted: false,
};

const anomalyNoFlow: AnomalyRecord = {
  ...recordHead('anomaly', 'scrub', T0_NS),
  interface: 'sn-veth0',
  anomaly: { type: 'decode', event: 'ipv4.trunc_pkt' },
  packetLength: 18,
};

const anomalyApplayerV6: AnomalyRecord = {
  ...recordHead('anomaly', 'dns', T0_NS),
  flow: { srcIp: '2001:db8:1::10', dstIp: '2001:db8:2::53', proto: 17, srcPort: 53001, dstPort: 53 },
  anomaly: { type: 'applayer', event: 'MALFORMED_DATA', layer: 'proto_parser', appProto: 'dns' },
};

const anomalyUnknown: AnomalyRecord = {
  ...recordHead('anomaly', 'ids', T0_NS),
  flow: { srcIp: '198.18.1.10', dstIp: '198.18.2.20', proto: 6, srcPort: 1, dstPort: 2 },
  anomaly: { type: 'unknown', code: 77 },
};

const dlpNoFlow: DlpRecord = {
  ...recordHead('dlp', 'dlp', T0_NS),
  process: PROC,
  dlp: {
    detector: 'credit_card',
    direction: 'outbound',
    symbol: 'SSL_write',
    binary: '/usr/lib/x86_64-linux-gnu/libssl.so.3',
    truncation: { length: 9000, captured: 4096, truncated: true },
    match: { offset: 120, length: 19, redacted: redactMatch('4111 1111 1111 1111') },
  },
};

const dlpFlowV6: DlpRecord = {
  ...dlpNoFlow,
  flow: { srcIp: '2001:db8:1::10', dstIp: '2001:db8:2::443', proto: 6, srcPort: 40000, dstPort: 443 },
  dlp: { ...dlpNoFlow.dlp, detector: 'aws_access_key', direction: 'inbound', truncation: { length: 100, captured: 100, truncated: false }, match: { offset: 0, length: 20, redacted: redactMatch('AKIAIOSFODNN7EXAMPLE') } },
};

const alertV4: Alert = {
  ...recordHead('alert', 'firewall', T0_NS),
  severity: 'high',
  ruleId: 'deny-ssh',
  ruleName: 'deny ssh',
  signatureId: 7,
  action: 'blocked',
  reason: 'rule',
  category: 'Firewall policy',
  flow: { srcIp: '198.18.1.10', dstIp: '198.18.2.20', proto: 6, srcPort: 40512, dstPort: 22 },
  mitre: { techniqueId: 'T1021.004', techniqueName: 'SSH', tactic: 'lateral-movement', tacticId: 'TA0008' },
};

const alertIcmpV6: Alert = { ...alertV4, flow: { srcIp: '2001:db8:1::10', dstIp: '2001:db8:2::1', proto: 58, icmpType: 128, icmpCode: 0 }, vlan: [10, 20] };

// A process raised it, not a packet: no 5-tuple, no flow id, no community id.
const alertProcess: Alert = {
  ...recordHead('alert', 'dlp', T0_NS),
  severity: 'critical',
  ruleId: 'dlp-private-key',
  ruleName: 'private key sent over TLS',
  signatureId: 9001,
  action: 'allowed',
  reason: 'dlp',
  process: PROC,
};

const ALL: SentinelRecord[] = [alertV4, alertIcmpV6, alertProcess, dnsQueryV4, dnsResponseV6, dnsNxdomainTcp, flowTcpV4, flowUdpV6, flowIcmpV6, anomalyNoFlow, anomalyApplayerV6, anomalyUnknown, dlpNoFlow, dlpFlowV6];

describe('EVE records of every kind against Suricata\'s schema', () => {
  it('the schema check is real: it refuses an unknown top-level key, a wrong type and a misplaced field', () => {
    const good = toEveRecord(dnsQueryV4);
    if (good.event_type !== 'dns') throw new Error('kind');
    assert.deepEqual(check(good), []);
    assert.notDeepEqual(check({ ...good, engine_name: 'x' }), [], 'unknown top-level key');
    assert.notDeepEqual(check({ ...good, src_port: '53001' }), [], 'port as a string');
    assert.notDeepEqual(check({ ...good, dns: { ...good.dns, answers: [{ rrname: 'a', rrtype: 'A', opt: [] }] } }), [], 'opt in answers');
    assert.notDeepEqual(check({ ...good, timestamp: '2026-11-26 14:00:00' }), [], 'timestamp spelling');
  });

  it('covers every kind, IPv4 and IPv6, with and without a flow', () => {
    assert.deepEqual(new Set(ALL.map((r) => r.kind)), new Set(RECORD_KINDS));
    for (const r of ALL) valid(r);
  });
});

describe('alert', () => {
  it('without a flow (about a process): no 5-tuple, no flow_id or community_id, the process under ebpfsentinel', () => {
    const e = valid(alertProcess);
    assert.deepEqual(Object.keys(e), ['timestamp', 'event_type', 'alert', 'ebpfsentinel']);
    if (e.event_type !== 'alert') throw new Error('kind');
    assert.deepEqual(e.ebpfsentinel.process, { pid: 4242, tid: 4243, comm: 'curl', cgroup_id: '1152921504606846983', exe: '/usr/bin/curl' });
  });

  it('ICMPv6 with QinQ: type and code instead of ports, both VLAN ids', () => {
    const e = valid(alertIcmpV6);
    assert.equal(e.proto, 'IPv6-ICMP');
    assert.equal(e.icmp_type, 128);
    assert.equal(e.src_port, undefined);
    assert.deepEqual(e.vlan, [10, 20]);
  });
});

describe('dns', () => {
  it('a request over IPv4: EVE dns v3, flags in hex, rd, opcode, rcode spelled, the query with its type named', () => {
    const e = valid(dnsQueryV4);
    assert.deepEqual(Object.keys(e), ['timestamp', 'flow_id', 'in_iface', 'event_type', 'src_ip', 'src_port', 'dest_ip', 'dest_port', 'proto', 'community_id', 'dns', 'ebpfsentinel']);
    assert.equal(e.community_id, communityId({ srcIp: '198.18.1.10', dstIp: '198.18.2.53', proto: 17, srcPort: 53001, dstPort: 53 }));
    if (e.event_type !== 'dns') throw new Error('kind');
    assert.deepEqual(e.dns, { version: 3, type: 'request', tx_id: 0, id: 0x1a2b, flags: '100', rd: true, opcode: 0, rcode: 'NOERROR', queries: [{ rrname: 'www.example.com', rrtype: 'A' }] });
    assert.deepEqual(e.ebpfsentinel, { engine: 'dns', program: 'tc-dns' });
  });

  it('a response over IPv6: answers in detail and grouped, AAAA written out whole, TXT one entry per string, SOA authority, OPT additional', () => {
    const e = valid(dnsResponseV6);
    if (e.event_type !== 'dns') throw new Error('kind');
    const d = e.dns;
    assert.equal(d.flags, '8580');
    assert.deepEqual([d.qr, d.aa, d.rd, d.ra, d.tc, d.z], [true, true, true, true, undefined, undefined]);
    assert.equal(d.rcode, 'NOERROR');
    assert.deepEqual(d.queries, [{ rrname: 'www.example.com', rrtype: 'AAAA' }]);
    assert.deepEqual(
      d.answers!.map((a) => [a.rrtype, a.rdata ?? a.srv ?? a.sshfp]),
      [
        ['CNAME', 'web.example.com'],
        ['AAAA', '2001:0db8:0000:0000:0000:0000:0000:0001'],
        ['A', '198.18.7.1'],
        ['TXT', 'v=spf1 -all'],
        ['TXT', 'second string'],
        ['SRV', { priority: 20, weight: 1, port: 5060, name: 'sip.example.com' }],
        ['SSHFP', { fingerprint: 'ab:cd:ef', algo: 4, type: 2 }],
        ['MX', 'mail.example.com'],
        ['HTTPS', '1 . alpn=h2'],
      ],
    );
    assert.deepEqual(d.grouped, {
      CNAME: ['web.example.com'],
      AAAA: ['2001:0db8:0000:0000:0000:0000:0000:0001'],
      A: ['198.18.7.1'],
      TXT: ['v=spf1 -all', 'second string'],
      SRV: [{ priority: 20, weight: 1, port: 5060, name: 'sip.example.com' }],
      SSHFP: [{ fingerprint: 'ab:cd:ef', algo: 4, type: 2 }],
      MX: ['mail.example.com'],
    });
    assert.deepEqual(d.authorities, [{ rrname: 'example.com', rrtype: 'SOA', ttl: 900, soa: { mname: 'ns1.example.com', rname: 'hostmaster.example.com', serial: 2026112601, refresh: 7200, retry: 900, expire: 1209600, minimum: 300 } }]);
    assert.deepEqual(d.additionals, [
      { rrname: '', rrtype: 'OPT', ttl: 0, opt: [{ code: 10, data: '0011223344556677' }] },
      { rrname: 'ns1.example.com', rrtype: 'A', ttl: 60, rdata: '198.18.7.53' },
    ]);
    // an answer has no place for a truncation flag in Suricata's shape: said under our key
    assert.deepEqual(e.ebpfsentinel, { engine: 'dns', program: 'tc-dns', dns_truncated: true });
    assert.deepEqual(e.vlan, [100]);
  });

  it('NXDOMAIN over TCP: rcode by name, an empty OPT left out, a structured record in a section that cannot hold it given as text', () => {
    const e = valid(dnsNxdomainTcp);
    if (e.event_type !== 'dns') throw new Error('kind');
    assert.equal(e.proto, 'TCP');
    assert.equal(e.dns.rcode, 'NXDOMAIN');
    assert.equal(e.dns.additionals, undefined);
    const srvAsAuthority: DnsRecord = { ...dnsNxdomainTcp, dns: { ...dnsNxdomainTcp.dns, authorities: [{ rrname: 's.example.com', rrtype: 33, ttl: 5, srv: { priority: 1, weight: 2, port: 3, name: 't.example.com' } }] } };
    const e2 = valid(srvAsAuthority);
    if (e2.event_type !== 'dns') throw new Error('kind');
    assert.deepEqual(e2.dns.authorities, [{ rrname: 's.example.com', rrtype: 'SRV', ttl: 5, rdata: '1 2 3 t.example.com' }]);
  });

  it('a truncated query name and authority keep Suricata\'s own flags', () => {
    const r: DnsRecord = {
      ...dnsQueryV4,
      dns: { ...dnsQueryV4.dns, queries: [{ rrname: 'a'.repeat(255), rrtype: 1, rrnameTruncated: true }], authorities: [{ rrname: 'x', rrtype: 2, ttl: 1, rdata: 'ns', rdataTruncated: true }] },
    };
    const e = valid(r);
    if (e.event_type !== 'dns') throw new Error('kind');
    assert.equal(e.dns.queries![0]!.rrname_truncated, true);
    assert.equal(e.dns.authorities![0]!.rdata_truncated, true);
  });
});

describe('flow', () => {
  it('TCP over IPv4: counters, start/end, age in whole seconds, state and reason, TCP flags as Suricata spells them', () => {
    const e = valid(flowTcpV4);
    assert.deepEqual(Object.keys(e), ['timestamp', 'flow_id', 'in_iface', 'event_type', 'src_ip', 'src_port', 'dest_ip', 'dest_port', 'ip_v', 'proto', 'community_id', 'flow', 'tcp', 'ebpfsentinel']);
    if (e.event_type !== 'flow') throw new Error('kind');
    assert.equal(e.ip_v, 4);
    assert.deepEqual(e.flow, {
      pkts_toserver: 12,
      pkts_toclient: 10,
      bytes_toserver: 1400,
      bytes_toclient: 90_000,
      start: '2026-11-26T13:58:54.623456+0000',
      end: '2026-11-26T14:00:00.123456+0000',
      age: 66,
      state: 'closed',
      reason: 'timeout',
      alerted: false,
    });
    assert.deepEqual(e.tcp, { tcp_flags: '1b', tcp_flags_ts: '1b', tcp_flags_tc: '1b', syn: true, fin: true, psh: true, ack: true, state: 'closed' });
  });

  it('UDP over IPv6 with its application protocol; ICMPv6 with type and code; the flow_id is the same both ways', () => {
    const e = valid(flowUdpV6);
    if (e.event_type !== 'flow') throw new Error('kind');
    assert.equal(e.ip_v, 6);
    assert.equal(e.app_proto, 'dns');
    assert.equal(e.tcp, undefined);
    assert.equal(e.flow.alerted, true);
    const i = valid(flowIcmpV6);
    assert.deepEqual([i.icmp_type, i.icmp_code, i.src_port], [128, 0, undefined]);
    const back = valid({ ...flowUdpV6, flow: { srcIp: '2001:db8:2::53', dstIp: '2001:db8:1::10', proto: 17, srcPort: 53, dstPort: 53001 } });
    assert.equal(back.flow_id, e.flow_id);
  });
});

describe('anomaly', () => {
  it('a decode anomaly without a flow: no 5-tuple, the event named', () => {
    const e = valid(anomalyNoFlow);
    assert.deepEqual(Object.keys(e), ['timestamp', 'in_iface', 'event_type', 'anomaly', 'ebpfsentinel']);
    if (e.event_type !== 'anomaly') throw new Error('kind');
    assert.deepEqual(e.anomaly, { type: 'decode', event: 'ipv4.trunc_pkt' });
    assert.equal(e.ebpfsentinel.packet_length, 18);
  });

  it('an application-layer anomaly over IPv6 and an unnamed code', () => {
    const e = valid(anomalyApplayerV6);
    if (e.event_type !== 'anomaly') throw new Error('kind');
    assert.deepEqual(e.anomaly, { app_proto: 'dns', type: 'applayer', event: 'MALFORMED_DATA', layer: 'proto_parser' });
    const u = valid(anomalyUnknown);
    if (u.event_type !== 'anomaly') throw new Error('kind');
    assert.deepEqual(u.anomaly, { type: 'unknown', code: 77 });
  });
});

describe('dlp', () => {
  it('a finding without a flow: event_type dlp, the process and the finding under ebpfsentinel, the match redacted', () => {
    const e = valid(dlpNoFlow);
    assert.deepEqual(Object.keys(e), ['timestamp', 'event_type', 'ebpfsentinel']);
    if (e.event_type !== 'dlp') throw new Error('kind');
    assert.equal(e.ebpfsentinel.process.pid, 4242);
    assert.equal(e.ebpfsentinel.process.cgroup_id, '1152921504606846983', 'a cgroup id past 2^53 as a decimal string');
    assert.deepEqual(e.ebpfsentinel.dlp, {
      detector: 'credit_card',
      direction: 'outbound',
      symbol: 'SSL_write',
      binary: '/usr/lib/x86_64-linux-gnu/libssl.so.3',
      truncation: { length: 9000, captured: 4096, truncated: true },
      match: { offset: 120, length: 19, redacted: '**** **** **** 1111' },
    });
    assert.ok(!toEveLine(dlpNoFlow).includes('4111'), 'the line never holds the secret');
  });

  it('a finding tied to an IPv6 connection carries its 5-tuple', () => {
    const e = valid(dlpFlowV6);
    assert.deepEqual([e.src_ip, e.dest_port, e.proto], ['2001:db8:1::10', 443, 'TCP']);
    if (e.event_type !== 'dlp') throw new Error('kind');
    assert.equal(e.ebpfsentinel.dlp.match.redacted, '****************MPLE');
  });

  it('redaction: short matches are fully masked, separators keep their place, at most the last 4 of 16+ shown', () => {
    assert.equal(redactMatch('secret'), '******');
    assert.equal(redactMatch('123456789012345'), '***************');
    assert.equal(redactMatch('4111-1111-1111-1111'), '****-****-****-1111');
    assert.equal(redactMatch('-----BEGIN PRIVATE KEY-----'), '-----***** ******* ***-----');
  });
});

describe('a record of no known kind', () => {
  it('is refused by name, not rendered half', () => {
    assert.throws(() => toEveRecord({ ...dnsQueryV4, kind: 'netflow' } as unknown as SentinelRecord), /no EVE rendering for record kind "netflow"/);
  });
});
