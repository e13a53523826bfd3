import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { communityId } from '../../src/alerts/community-id.js';
import { EveRenderer, toEveLine } from '../../src/alerts/eve-line.js';
import { eveFlowId, eveProtoName, formatEveTimestamp, toEveRecord } from '../../src/alerts/eve.js';
import { mitreForPort, mitreTechnique } from '../../src/alerts/mitre.js';
import { emptyFirewallEvent, firewallAlert } from '../../src/engines/firewall/events.js';
import { emptyRatelimitEvent, ratelimitAlert } from '../../src/engines/ratelimit/events.js';
import { fw_action, fw_reason, rl_action, rl_reason } from '../../src/kernel/contract.gen.js';
import { parseAddress } from '../../src/net/ip.js';
import type { Alert } from '../../src/alerts/model.js';

// 2026-11-26T14:00:00Z, computed independently of the formatter under test
const T0_MS = Date.UTC(2026, 10, 26, 14, 0, 0);
const T0_NS = BigInt(T0_MS) * 1_000_000n + 123_456_789n;

function tcpV4(over: Partial<Alert> = {}): Alert {
  return {
    kind: 'alert',
    timestampNs: T0_NS,
    severity: 'high',
    engine: 'firewall',
    program: 'xdp-firewall',
    ruleId: 'deny-ssh',
    ruleName: 'deny ssh from the lab',
    signatureId: 7,
    action: 'blocked',
    reason: 'rule',
    category: 'Firewall policy violation',
    flow: { srcIp: '198.18.1.10', dstIp: '198.18.2.20', proto: 6, srcPort: 40512, dstPort: 22 },
    interface: 'sn-veth0',
    packetLength: 74,
    ...over,
  };
}

describe('EVE record', () => {
  it('formats timestamps as Suricata does: microseconds and +0000', () => {
    assert.equal(formatEveTimestamp(T0_NS), '2026-11-26T14:00:00.123456+0000');
    assert.equal(formatEveTimestamp(BigInt(T0_MS) * 1_000_000n + 999n), '2026-11-26T14:00:00.000000+0000');
    assert.equal(formatEveTimestamp(0n), '1970-01-01T00:00:00.000000+0000');
    assert.throws(() => formatEveTimestamp(-1n), />= 0 ns/);
    // consecutive alerts of one second, the next second, and back (the date is kept per second)
    assert.equal(formatEveTimestamp(T0_NS + 1_000n), '2026-11-26T14:00:00.123457+0000');
    assert.equal(formatEveTimestamp(T0_NS + 1_000_000_000n), '2026-11-26T14:00:01.123456+0000');
    assert.equal(formatEveTimestamp(T0_NS + 86_400_000_000_000n - 123_456_000n), '2026-11-27T14:00:00.000000+0000');
    assert.equal(formatEveTimestamp(T0_NS), '2026-11-26T14:00:00.123456+0000');
  });

  it('spells protocols as Suricata does', () => {
    assert.deepEqual([1, 6, 17, 58, 132, 253].map(eveProtoName), ['ICMP', 'TCP', 'UDP', 'IPv6-ICMP', 'SCTP', '253']);
  });

  it('renders a TCP/IPv4 block with Suricata fields in Suricata order, plus ours', () => {
    const rec = toEveRecord(tcpV4({ vlan: [100, 20], mitre: { techniqueId: 'T1110.001', tactic: 'credential-access' } }));
    assert.deepEqual(Object.keys(rec), [
      'timestamp', 'flow_id', 'in_iface', 'event_type', 'vlan', 'src_ip', 'src_port', 'dest_ip', 'dest_port', 'proto', 'community_id', 'alert', 'ebpfsentinel',
    ]);
    assert.equal(rec.event_type, 'alert');
    assert.equal(rec.proto, 'TCP');
    assert.deepEqual(rec.vlan, [100, 20]);
    assert.equal(rec.community_id, communityId({ srcIp: '198.18.1.10', dstIp: '198.18.2.20', proto: 6, srcPort: 40512, dstPort: 22 }));
    assert.deepEqual(rec.alert, {
      action: 'blocked',
      gid: 1,
      signature_id: 7,
      rev: 1,
      signature: 'deny ssh from the lab',
      category: 'Firewall policy violation',
      severity: 1,
      metadata: { mitre_technique_id: ['T1110.001'], mitre_tactic_name: ['credential-access'] },
    });
    assert.deepEqual(rec.ebpfsentinel, {
      engine: 'firewall',
      program: 'xdp-firewall',
      rule_id: 'deny-ssh',
      reason: 'rule',
      severity: 'high',
      packet_length: 74,
      mitre: { technique_id: 'T1110.001', tactic: 'credential-access' },
    });
  });

  it('renders UDP/IPv6 with ports and maps severities 1..3', () => {
    const rec = toEveRecord(
      tcpV4({
        severity: 'low',
        action: 'allowed',
        flow: { srcIp: '2001:db8:1::10', dstIp: '2001:db8:2::20', proto: 17, srcPort: 53000, dstPort: 53 },
      }),
    );
    assert.equal(rec.proto, 'UDP');
    assert.equal(rec.src_ip, '2001:db8:1::10');
    assert.equal(rec.dest_port, 53);
    assert.equal(rec.alert.severity, 3);
    assert.equal(rec.alert.action, 'allowed');
    assert.equal(toEveRecord(tcpV4({ severity: 'medium' })).alert.severity, 2);
    assert.equal(toEveRecord(tcpV4({ severity: 'critical' })).alert.severity, 1);
    assert.equal(rec.vlan, undefined);
    assert.equal(rec.alert.metadata, undefined);
  });

  it('renders ICMP and ICMPv6 with type and code instead of ports', () => {
    const v4 = toEveRecord(tcpV4({ flow: { srcIp: '198.18.1.10', dstIp: '198.18.2.20', proto: 1, icmpType: 8, icmpCode: 0 } }));
    assert.equal(v4.proto, 'ICMP');
    assert.equal(v4.icmp_type, 8);
    assert.equal(v4.icmp_code, 0);
    assert.equal('src_port' in v4, false);
    assert.equal(v4.community_id, communityId({ srcIp: '198.18.1.10', dstIp: '198.18.2.20', proto: 1, srcPort: 8, dstPort: 0 }));
    const v6 = toEveRecord(tcpV4({ flow: { srcIp: '2001:db8::1', dstIp: '2001:db8::2', proto: 58, icmpType: 128, icmpCode: 0 } }));
    assert.equal(v6.proto, 'IPv6-ICMP');
    assert.equal(v6.icmp_type, 128);
    // a request and its reply carry the same community id
    const reply = toEveRecord(tcpV4({ flow: { srcIp: '2001:db8::2', dstIp: '2001:db8::1', proto: 58, icmpType: 129, icmpCode: 0 } }));
    assert.equal(v6.community_id, reply.community_id);
  });

  it('keeps a community id the engine already computed, and honours the seed', () => {
    assert.equal(toEveRecord(tcpV4({ communityId: '1:given' })).community_id, '1:given');
    assert.notEqual(toEveRecord(tcpV4(), { communityIdSeed: 1 }).community_id, toEveRecord(tcpV4()).community_id);
  });

  it('renders an alert once for several sinks, and afresh when there is one sink', () => {
    const a = tcpV4();
    const shared = new EveRenderer({}, { shared: true });
    const single = new EveRenderer({}, { shared: false });
    const first = toEveLine(a);
    assert.equal(shared.line(a), first);
    assert.equal(single.line(a), first);
    // the pipeline never changes a pushed alert; doing so here shows which renderer keeps lines
    a.ruleName = 'changed';
    assert.equal(shared.line(a), first, 'the second sink gets the line rendered for the first');
    assert.equal(single.line(a), toEveLine(a), 'nothing kept: rendered again');
    assert.notEqual(single.line(a), first);
  });

  it('is one JSON line', () => {
    const line = toEveLine(tcpV4({ ruleName: 'a "quoted"\nname' }));
    assert.equal(line.indexOf('\n'), line.length - 1);
    assert.equal((JSON.parse(line) as { alert: { signature: string } }).alert.signature, 'a "quoted"\nname');
  });
});

// Field names and value types Suricata's EVE alert records use (docs.suricata.io, "Eve JSON
// Format"); anything of ours must live under `ebpfsentinel`.
const SURICATA_TOP = new Set(['timestamp', 'flow_id', 'in_iface', 'event_type', 'vlan', 'src_ip', 'src_port', 'dest_ip', 'dest_port', 'proto', 'icmp_type', 'icmp_code', 'community_id', 'alert', 'ebpfsentinel']);
const SURICATA_ALERT = new Set(['action', 'gid', 'signature_id', 'rev', 'signature', 'category', 'severity', 'metadata']);

function assertSuricataShape(line: string): void {
  const r = JSON.parse(line) as Record<string, unknown>;
  for (const k of Object.keys(r)) assert.ok(SURICATA_TOP.has(k), `top-level key "${k}" is not a Suricata EVE alert field`);
  assert.match(String(r.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+0000$/);
  assert.equal(r.event_type, 'alert');
  assert.equal(typeof r.src_ip, 'string');
  assert.equal(typeof r.dest_ip, 'string');
  assert.equal(typeof r.proto, 'string');
  if ('src_port' in r) assert.ok(Number.isInteger(r.src_port) && Number.isInteger(r.dest_port));
  if ('flow_id' in r) assert.ok(Number.isSafeInteger(r.flow_id));
  if ('vlan' in r) assert.ok(Array.isArray(r.vlan) && (r.vlan as unknown[]).every((v) => Number.isInteger(v)));
  assert.match(String(r.community_id), /^1:[A-Za-z0-9+/]{27}=$/);
  const a = r.alert as Record<string, unknown>;
  for (const k of Object.keys(a)) assert.ok(SURICATA_ALERT.has(k), `alert.${k} is not a Suricata alert field`);
  assert.ok(a.action === 'allowed' || a.action === 'blocked');
  assert.ok(Number.isInteger(a.signature_id) && a.gid === 1 && a.rev === 1);
  assert.ok([1, 2, 3].includes(a.severity as number), 'Suricata severity: 1 high .. 3 low');
  if (a.metadata) for (const v of Object.values(a.metadata as Record<string, unknown>)) assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), 'metadata values are lists of strings');
}

describe('Suricata compatibility', () => {
  it('every record uses only Suricata field names and types (TCP/UDP/ICMP, v4 and v6, MITRE, VLAN, suppressed)', () => {
    const flows = [
      { srcIp: '198.18.1.10', dstIp: '198.18.2.20', proto: 6, srcPort: 40512, dstPort: 22 },
      { srcIp: '2001:db8:1::10', dstIp: '2001:db8:2::20', proto: 17, srcPort: 5353, dstPort: 53 },
      { srcIp: '198.18.1.10', dstIp: '198.18.2.20', proto: 1, icmpType: 8, icmpCode: 0 },
      { srcIp: '2001:db8::1', dstIp: '2001:db8::2', proto: 58, icmpType: 128, icmpCode: 0 },
    ];
    for (const flow of flows) {
      assertSuricataShape(toEveLine(tcpV4({ flow })));
      assertSuricataShape(toEveLine(tcpV4({ flow, vlan: [100, 20], mitre: mitreTechnique('T1021.004'), suppressed: 3, severity: 'low', action: 'allowed' })));
    }
  });

  it('carries suppressed counts and summaries under ebpfsentinel, MITRE ids as Suricata rule metadata', () => {
    const rec = toEveRecord(tcpV4({ suppressed: 41, summary: true, mitre: mitreTechnique('t1021.004') }));
    assert.equal(rec.ebpfsentinel.suppressed, 41);
    assert.equal(rec.ebpfsentinel.summary, true);
    assert.deepEqual(rec.alert.metadata, {
      mitre_technique_id: ['T1021.004'],
      mitre_technique_name: ['Remote Services: SSH'],
      mitre_tactic_id: ['TA0008'],
      mitre_tactic_name: ['lateral-movement'],
    });
    const plain = toEveRecord(tcpV4());
    assert.equal('suppressed' in plain.ebpfsentinel, false);
    assert.equal('summary' in plain.ebpfsentinel, false);
  });

  it('derives flow_id from the community id: same for both directions, different per flow, 52 bits', () => {
    const fwd = toEveRecord(tcpV4());
    const rev = toEveRecord(tcpV4({ flow: { srcIp: '198.18.2.20', dstIp: '198.18.1.10', proto: 6, srcPort: 22, dstPort: 40512 } }));
    const other = toEveRecord(tcpV4({ flow: { srcIp: '2001:db8::1', dstIp: '2001:db8::2', proto: 6, srcPort: 40512, dstPort: 22 } }));
    assert.equal(fwd.flow_id, rev.flow_id);
    assert.notEqual(fwd.flow_id, other.flow_id);
    assert.ok(fwd.flow_id! < 2 ** 52 && fwd.flow_id! >= 0);
    // top 52 bits of the digest, computed independently with BigInt
    const digest = Buffer.from(fwd.community_id!.slice(2), 'base64');
    assert.equal(BigInt(fwd.flow_id!), BigInt(`0x${digest.subarray(0, 7).toString('hex')}`) >> 4n);
    assert.equal(eveFlowId('1:given'), undefined);
    assert.equal('flow_id' in toEveRecord(tcpV4({ communityId: '1:given' })), false);
  });

  it('reads flow_id from any 20-byte digest as the top 52 bits (BigInt reference), and none from other lengths', () => {
    for (let i = 0; i < 2000; i++) {
      const digest = randomBytes(20);
      if (i === 0) digest.fill(0xff);
      if (i === 1) digest.fill(0);
      assert.equal(BigInt(eveFlowId(`1:${digest.toString('base64')}`)!), BigInt(`0x${digest.subarray(0, 7).toString('hex')}`) >> 4n);
    }
    assert.equal(eveFlowId(`1:${randomBytes(19).toString('base64')}`), undefined);
    assert.equal(eveFlowId(`1:${randomBytes(21).toString('base64')}`), undefined);
    assert.equal(eveFlowId(`2:${randomBytes(20).toString('base64')}`), undefined);
  });
});

describe('MITRE ATT&CK helper', () => {
  it('names known techniques with their tactic, keeps unknown ones as given, refuses what is not an id', () => {
    assert.deepEqual(mitreTechnique('T1498'), { techniqueId: 'T1498', techniqueName: 'Network Denial of Service', tactic: 'impact', tacticId: 'TA0040' });
    // a sub-technique we do not list inherits its parent's tactic
    assert.deepEqual(mitreTechnique('T1110.003'), { techniqueId: 'T1110.003', tactic: 'credential-access', tacticId: 'TA0006' });
    assert.deepEqual(mitreTechnique('T9999'), { techniqueId: 'T9999' });
    assert.throws(() => mitreTechnique('TA0001'), /"TA0001" is not a technique id/);
    assert.throws(() => mitreTechnique('T12'), /not a technique id/);
  });

  it('maps remote-service ports (TCP/UDP/SCTP only)', () => {
    assert.equal(mitreForPort(6, 22)?.techniqueId, 'T1021.004');
    assert.equal(mitreForPort(6, 3389)?.techniqueId, 'T1021.001');
    assert.equal(mitreForPort(17, 445)?.techniqueId, 'T1021.002');
    assert.equal(mitreForPort(132, 5900)?.techniqueId, 'T1021.005');
    assert.equal(mitreForPort(6, 80), undefined);
    assert.equal(mitreForPort(1, 22), undefined, 'ICMP type/code are not ports');
  });

  it('the engines attach it: a firewall deny or log of a remote-service port, a rate-limit flood guard (IPv4 and IPv6)', () => {
    const fwCtx = { rule: () => ({ id: 'deny-admin', name: 'deny admin ports' }), blockEntry: () => undefined, interfaceName: () => undefined, toWallNs: (ns: bigint) => ns };
    const fw = (family: 4 | 6, dstPort: number, action: number, reason: number) => {
      const ev = emptyFirewallEvent();
      Object.assign(ev, { family, proto: 6, dstPort, srcPort: 40000, action, reason, ruleNum: 1 });
      ev.src = parseAddress(family === 4 ? '198.18.0.10' : '2001:db8::10').addr;
      ev.dst = parseAddress(family === 4 ? '198.18.1.1' : '2001:db8:0:1::1').addr;
      return firewallAlert(ev, fwCtx);
    };
    for (const fam of [4, 6] as const) {
      const ssh = fw(fam, 22, fw_action.FW_ACT_DROP, fw_reason.FW_REASON_RULE);
      assert.deepEqual(ssh.mitre, { techniqueId: 'T1021.004', techniqueName: 'Remote Services: SSH', tactic: 'lateral-movement', tacticId: 'TA0008' }, `IPv${fam}`);
      assert.equal(fw(fam, 3389, fw_action.FW_ACT_PASS, fw_reason.FW_REASON_DEFAULT).mitre?.techniqueId, 'T1021.001', `IPv${fam}: a logged one too`);
      assert.equal(fw(fam, 8080, fw_action.FW_ACT_DROP, fw_reason.FW_REASON_RULE).mitre, undefined, `IPv${fam}: no remote service on 8080`);
      assert.equal(fw(fam, 22, fw_action.FW_ACT_DROP, fw_reason.FW_REASON_MALFORMED).mitre, undefined, `IPv${fam}: a malformed packet is no attempt at a service`);
    }
    const rlCtx = { ruleId: () => 'limit-udp', interfaceName: () => undefined, toWallNs: (ns: bigint) => ns };
    const rl = (family: 4 | 6, reason: number) => {
      const ev = emptyRatelimitEvent();
      Object.assign(ev, { family, proto: 6, dstPort: 443, srcPort: 40000, action: rl_action.RL_ACT_DROP, reason, ruleNum: 1 });
      ev.src = parseAddress(family === 4 ? '198.18.0.10' : '2001:db8::10').addr;
      ev.dst = parseAddress(family === 4 ? '198.18.1.1' : '2001:db8:0:1::1').addr;
      return ratelimitAlert(ev, rlCtx);
    };
    for (const fam of [4, 6] as const) {
      assert.deepEqual(rl(fam, rl_reason.RL_R_SYN_FLOOD).mitre, { techniqueId: 'T1498.001', techniqueName: 'Network Denial of Service: Direct Network Flood', tactic: 'impact', tacticId: 'TA0040' }, `IPv${fam}`);
      assert.equal(rl(fam, rl_reason.RL_R_RULE).mitre, undefined, `IPv${fam}: a rule's limit says nothing of intent`);
    }
  });
});
