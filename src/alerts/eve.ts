// Alert -> Suricata EVE JSON record. Field names, order and value spellings follow what
// Suricata writes, so Filebeat's suricata module, Vector, Splunk and Elastic parse our lines
// unchanged; everything of our own lives under the `ebpfsentinel` key where no one collides.
import { communityId, IPPROTO_ICMP, IPPROTO_ICMPV6 } from './community-id.js';
import { suricataSeverity, type Alert } from './model.js';

// Suricata prints protocol names from the system's protocol table; these are the spellings
// it uses for the protocols we can see (the name for 58 is not "ICMPv6").
const PROTO_NAMES: Readonly<Record<number, string>> = {
  1: 'ICMP',
  2: 'IGMP',
  6: 'TCP',
  17: 'UDP',
  41: 'IPv6',
  47: 'GRE',
  50: 'ESP',
  51: 'AH',
  58: 'IPv6-ICMP',
  103: 'PIM',
  132: 'SCTP',
};

export function eveProtoName(proto: number): string {
  return PROTO_NAMES[proto] ?? String(proto);
}

/** "2026-11-26T14:00:00.123456+0000": microseconds and a numeric UTC offset, as Suricata writes. */
export function formatEveTimestamp(ns: bigint): string {
  if (ns < 0n) throw new RangeError(`EVE timestamp must be >= 0 ns since the epoch, got ${ns}`);
  const secs = ns / 1_000_000_000n;
  const micros = (ns % 1_000_000_000n) / 1000n;
  const iso = new Date(Number(secs) * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  return `${iso.slice(0, 19)}.${micros.toString().padStart(6, '0')}+0000`;
}

export interface EveAlertRecord {
  timestamp: string;
  flow_id?: number;
  in_iface?: string;
  event_type: 'alert';
  vlan?: number[];
  src_ip: string;
  src_port?: number;
  dest_ip: string;
  dest_port?: number;
  proto: string;
  icmp_type?: number;
  icmp_code?: number;
  community_id: string;
  alert: {
    action: 'allowed' | 'blocked';
    gid: 1;
    signature_id: number;
    rev: 1;
    signature: string;
    category: string;
    severity: 1 | 2 | 3;
    metadata?: Record<string, string[]>;
  };
  ebpfsentinel: {
    engine: string;
    program: string;
    rule_id: string;
    reason: string;
    severity: string;
    packet_length?: number;
    mitre?: { technique_id: string; technique_name?: string; tactic?: string; tactic_id?: string };
    suppressed?: number;
    summary?: boolean;
  };
}

/**
 * Suricata's flow_id ties every record of one flow together. Ours is derived from the
 * Community ID digest (both directions of a flow share it), cut to 52 bits so it stays exact in
 * JSON readers that parse numbers as doubles. Absent when the community id is not a v1 digest.
 */
export function eveFlowId(cid: string): number | undefined {
  if (!cid.startsWith('1:')) return undefined;
  const digest = Buffer.from(cid.slice(2), 'base64');
  if (digest.length !== 20) return undefined;
  // 6.5 bytes: the top 52 bits of the digest
  return digest.readUIntBE(0, 6) * 16 + (digest[6]! >> 4);
}

export interface EveOptions {
  /** Community ID seed, default 0 (must match the other tools' seed to correlate) */
  communityIdSeed?: number;
}

export function toEveRecord(a: Alert, opts: EveOptions = {}): EveAlertRecord {
  const f = a.flow;
  const isIcmp = f.proto === IPPROTO_ICMP || f.proto === IPPROTO_ICMPV6;
  const cid =
    a.communityId ??
    communityId(
      {
        srcIp: f.srcIp,
        dstIp: f.dstIp,
        proto: f.proto,
        srcPort: isIcmp ? f.icmpType : f.srcPort,
        dstPort: isIcmp ? f.icmpCode : f.dstPort,
      },
      { seed: opts.communityIdSeed ?? 0 },
    );
  const flowId = eveFlowId(cid);
  // Built in Suricata's key order: people read these lines too.
  const rec: EveAlertRecord = {
    timestamp: formatEveTimestamp(a.timestampNs),
    ...(flowId !== undefined ? { flow_id: flowId } : {}),
    ...(a.interface !== undefined ? { in_iface: a.interface } : {}),
    event_type: 'alert',
    ...(a.vlan && a.vlan.length > 0 ? { vlan: [...a.vlan] } : {}),
    src_ip: f.srcIp,
    ...(!isIcmp && f.srcPort !== undefined ? { src_port: f.srcPort } : {}),
    dest_ip: f.dstIp,
    ...(!isIcmp && f.dstPort !== undefined ? { dest_port: f.dstPort } : {}),
    proto: eveProtoName(f.proto),
    ...(isIcmp && f.icmpType !== undefined ? { icmp_type: f.icmpType } : {}),
    ...(isIcmp && f.icmpCode !== undefined ? { icmp_code: f.icmpCode } : {}),
    community_id: cid,
    alert: {
      action: a.action,
      gid: 1,
      signature_id: a.signatureId,
      rev: 1,
      signature: a.ruleName,
      category: a.category ?? '',
      severity: suricataSeverity(a.severity),
      // where ET rules carry ATT&CK, so existing dashboards pick it up
      ...(a.mitre
        ? {
            metadata: {
              mitre_technique_id: [a.mitre.techniqueId],
              ...(a.mitre.techniqueName ? { mitre_technique_name: [a.mitre.techniqueName] } : {}),
              ...(a.mitre.tacticId ? { mitre_tactic_id: [a.mitre.tacticId] } : {}),
              ...(a.mitre.tactic ? { mitre_tactic_name: [a.mitre.tactic] } : {}),
            },
          }
        : {}),
    },
    ebpfsentinel: {
      engine: a.engine,
      program: a.program,
      rule_id: a.ruleId,
      reason: a.reason,
      severity: a.severity,
      ...(a.packetLength !== undefined ? { packet_length: a.packetLength } : {}),
      ...(a.mitre
        ? {
            mitre: {
              technique_id: a.mitre.techniqueId,
              ...(a.mitre.techniqueName ? { technique_name: a.mitre.techniqueName } : {}),
              ...(a.mitre.tactic ? { tactic: a.mitre.tactic } : {}),
              ...(a.mitre.tacticId ? { tactic_id: a.mitre.tacticId } : {}),
            },
          }
        : {}),
      ...(a.suppressed ? { suppressed: a.suppressed } : {}),
      ...(a.summary ? { summary: true } : {}),
    },
  };
  return rec;
}

/** One EVE line, newline-terminated. */
export function toEveLine(a: Alert, opts: EveOptions = {}): string {
  return `${JSON.stringify(toEveRecord(a, opts))}\n`;
}

/** Renders each alert once however many sinks want its EVE line (file, stdout, syslog): the
 * cache is keyed by the alert object, which the pipeline never mutates after push. */
export class EveRenderer {
  private readonly lines = new WeakMap<Alert, string>();
  constructor(private readonly opts: EveOptions = {}) {}

  line(a: Alert): string {
    let l = this.lines.get(a);
    if (l === undefined) {
      l = toEveLine(a, this.opts);
      this.lines.set(a, l);
    }
    return l;
  }
}
