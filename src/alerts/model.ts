// The alert, and what every record kind shares (records.ts has the other kinds: dns, flow,
// anomaly, dlp). Engines fill records from their kernel events; the pipeline (pipeline.ts)
// dedups/throttles alerts and fans every record out to the sinks that take its kind, which
// render it (EVE JSON, syslog, OTLP). A record handed to the pipeline is owned by it: engines
// build a fresh object per record and never mutate it afterwards (sinks queue the reference).

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** What happened to the packet: Suricata's two words, so EVE consumers need no mapping. */
export type AlertAction = 'allowed' | 'blocked';

export interface MitreRef {
  /** e.g. "T1190" or "T1110.001" */
  techniqueId: string;
  techniqueName?: string;
  /** e.g. "initial-access" */
  tactic?: string;
  /** e.g. "TA0001" */
  tacticId?: string;
}

/** The 5-tuple of the packet or flow a record is about, as the packet had it. */
export interface FlowTuple {
  srcIp: string;
  dstIp: string;
  /** IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...) */
  proto: number;
  /** TCP/UDP/SCTP only */
  srcPort?: number;
  dstPort?: number;
  /** ICMP and ICMPv6 only */
  icmpType?: number;
  icmpCode?: number;
}

/** The process a record is tied to (a uprobe saw it call SSL_write, ...). */
export interface ProcessRef {
  pid: number;
  /** thread id (the kernel's pid of the calling thread) */
  tid: number;
  /** the task's comm: at most 15 bytes, as the kernel keeps it */
  comm: string;
  /** cgroup v2 id (the kernel's u64, exact) */
  cgroupId: bigint;
  /** path of the executable, when the engine could read it */
  exe?: string;
}

/** What every record kind carries. */
export interface RecordBase {
  /** wall-clock time of the packet (or of the call, or of the record's end), nanoseconds since
   * the Unix epoch */
  timestampNs: bigint;
  /** engine that produced it: firewall, ids, dns, dlp, ... */
  engine: string;
  /** kernel program that saw it: xdp-firewall, tc-ids, uprobe-dlp, ... */
  program: string;
  /** interface name the packet was seen on */
  interface?: string;
  /** VLAN ids, outermost first (QinQ has two) */
  vlan?: number[];
  /** computed from `flow` by the EVE writer when absent */
  communityId?: string;
}

/** The threat-intelligence indicator an alert is about (tc-threatintel). */
export interface IndicatorMatch {
  /** the feed's id of the indicator (a STIX id, or `<feed>:<line>`) */
  id: string;
  /** the indicator's value as the feed gave it (address or network) */
  value: string;
  feed: string;
  /** 0..100 */
  confidence: number;
  /** which address of the packet matched */
  side: 'src' | 'dst';
  /** exact address, or inside a network indicator */
  match: 'exact' | 'cidr';
  /** STIX `name` */
  name?: string;
  /** STIX `kill_chain_phases` */
  killChainPhases?: { killChainName: string; phaseName: string }[];
  /** the feed's category (STIX indicator_types, CSV/JSON category field) */
  category?: string;
}

export interface Alert extends RecordBase {
  kind: 'alert';
  severity: Severity;
  /** the rule's id from the policy ("default-policy" when no rule matched) */
  ruleId: string;
  /** human-readable rule name or description (EVE `signature`) */
  ruleName: string;
  /** stable numeric id of the rule (EVE `signature_id`) */
  signatureId: number;
  action: AlertAction;
  /** why the verdict was reached: rule, default, malformed, ... */
  reason: string;
  /** EVE `category`, e.g. "Firewall policy violation" */
  category?: string;
  /** the packet's 5-tuple; absent when the alert is about a process, not a packet */
  flow?: FlowTuple;
  /** the process it is about, when a probe in a process raised it */
  process?: ProcessRef;
  mitre?: MitreRef;
  /** bytes on the wire */
  packetLength?: number;
  /** the threat-intelligence indicator that matched */
  indicator?: IndicatorMatch;
  /** set by the pipeline: alerts with the same dedup/throttle key suppressed since the last one
   * of that key was emitted (absent = none) */
  suppressed?: number;
  /** set by the pipeline: this record only reports suppressed alerts whose window closed; its
   * other fields are those of the last suppressed alert */
  summary?: boolean;
}

export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

/** Suricata's 1 (highest) .. 3 scale. */
export function suricataSeverity(s: Severity): 1 | 2 | 3 {
  switch (s) {
    case 'critical':
    case 'high':
      return 1;
    case 'medium':
      return 2;
    case 'low':
      return 3;
  }
}
