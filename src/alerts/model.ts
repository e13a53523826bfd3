// The one alert model every engine produces and every sink consumes. Engines fill it from their
// kernel events; the pipeline (pipeline.ts) dedups/throttles it and fans it out to sinks, which
// render it (EVE JSON, syslog, OTLP). An alert handed to the pipeline is owned by it: engines
// build a fresh object per alert and never mutate it afterwards (sinks queue the reference).

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

export interface AlertFlow {
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

export interface Alert {
  /** wall-clock time of the packet, nanoseconds since the Unix epoch */
  timestampNs: bigint;
  severity: Severity;
  /** engine that raised it: firewall, ids, threatintel, ... */
  engine: string;
  /** kernel program that saw the packet: xdp-firewall, tc-ids, ... */
  program: string;
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
  flow: AlertFlow;
  /** interface name the packet arrived on */
  interface?: string;
  /** VLAN ids, outermost first (QinQ has two) */
  vlan?: number[];
  /** computed from `flow` by the EVE writer when absent */
  communityId?: string;
  mitre?: MitreRef;
  /** bytes on the wire */
  packetLength?: number;
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
