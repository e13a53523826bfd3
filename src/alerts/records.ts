// Every kind of record an engine hands to the agent, as one discriminated union on `kind`. Each
// kind has Suricata's EVE shape where Suricata has one (alert, dns, flow, anomaly: eve.ts renders
// each with its own event_type) and ours where it has none (dlp). They live beside the alert
// because they travel the same way: the pipeline, its sinks and the store carry every kind.
import type { Alert, FlowTuple, ProcessRef, RecordBase } from './model.js';

export const RECORD_KINDS = ['alert', 'dns', 'flow', 'anomaly', 'dlp'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];
/** The kinds the store keeps in its `records` table (alerts have their own). */
export const STORED_RECORD_KINDS = ['dns', 'flow', 'anomaly', 'dlp'] as const satisfies readonly RecordKind[];
export type StoredRecordKind = (typeof STORED_RECORD_KINDS)[number];

export function isRecordKind(v: unknown): v is RecordKind {
  return typeof v === 'string' && (RECORD_KINDS as readonly string[]).includes(v);
}

// ---- dns: one DNS message seen on the wire (Suricata's EVE dns v3: one record per request and
// one per response). Names and rdata are the text Suricata prints for them; numbers stay numbers
// and the renderer spells them (rrtype, rcode, flags).

export interface DnsQuestion {
  rrname: string;
  /** the name was longer than the decoder keeps and was cut */
  rrnameTruncated?: boolean;
  /** QTYPE (1 A, 28 AAAA, ...) */
  rrtype: number;
}

export interface DnsSoa {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export interface DnsSrv {
  priority: number;
  weight: number;
  port: number;
  name: string;
}

export interface DnsSshfp {
  algo: number;
  type: number;
  /** hex bytes joined by ":" */
  fingerprint: string;
}

export interface DnsOpt {
  code: number;
  /** option data, hex */
  data: string;
}

/** One resource record of the answer, authority or additional section. */
export interface DnsResourceRecord {
  rrname: string;
  rrnameTruncated?: boolean;
  rrtype: number;
  ttl: number;
  /** A/AAAA: the address (any valid spelling; EVE writes Suricata's); CNAME, NS, PTR, MX: the
   * target name; NULL: the bytes as text */
  rdata?: string;
  rdataTruncated?: boolean;
  /** TXT: each character-string (EVE writes one entry per string, as Suricata does) */
  txt?: string[];
  soa?: DnsSoa;
  srv?: DnsSrv;
  sshfp?: DnsSshfp;
  opt?: DnsOpt[];
}

export interface DnsMessage {
  type: 'request' | 'response';
  /** the message id on the wire */
  id: number;
  /** the 16-bit header flags word as on the wire (QR, opcode, AA, TC, RD, RA, Z, rcode) */
  flags: number;
  /** the engine's transaction number on its flow, when it pairs requests and responses */
  txId?: number;
  queries: DnsQuestion[];
  answers?: DnsResourceRecord[];
  authorities?: DnsResourceRecord[];
  additionals?: DnsResourceRecord[];
}

export interface DnsRecord extends RecordBase {
  kind: 'dns';
  /** DNS is seen in packets: there is always a 5-tuple */
  flow: FlowTuple;
  dns: DnsMessage;
}

// ---- flow: a flow that ended or was reported (Suricata's `flow` event type).

export type FlowState = 'new' | 'established' | 'closed' | 'bypassed';
/** why it was reported: Suricata's words */
export type FlowEndReason = 'timeout' | 'forced' | 'shutdown' | 'tcp_reuse' | 'unknown';

export interface FlowStats {
  pktsToServer: number;
  pktsToClient: number;
  bytesToServer: number;
  bytesToClient: number;
}

export interface FlowRecord extends RecordBase {
  kind: 'flow';
  /** as the flow's first packet had it: the source is the client */
  flow: FlowTuple;
  /** the application protocol, when known (e.g. "dns") */
  appProto?: string;
  stats: FlowStats;
  /** first and last packet, nanoseconds since the Unix epoch */
  startNs: bigint;
  endNs: bigint;
  state: FlowState;
  reason: FlowEndReason;
  /** whether any alert was raised on it */
  alerted: boolean;
  /** TCP only: flags seen (either way, to the server, to the client) and the tracker's state */
  tcp?: { flags: number; flagsToServer: number; flagsToClient: number; state?: string };
}

// ---- anomaly: a packet or protocol the decoder could not take as valid (Suricata's `anomaly`).

export type AnomalyEvent =
  /** packet decoding (e.g. "ipv4.trunc_pkt") or the stream tracker */
  | { type: 'decode' | 'stream'; event: string }
  /** an application-layer parser; layer: proto_detect, parser or proto_parser */
  | { type: 'applayer'; event: string; layer: string; appProto: string }
  /** an event code the agent has no name for */
  | { type: 'unknown'; code: number; layer?: string; appProto?: string };

export interface AnomalyRecord extends RecordBase {
  kind: 'anomaly';
  /** absent when the packet was too broken to have one */
  flow?: FlowTuple;
  anomaly: AnomalyEvent;
  packetLength?: number;
}

// ---- dlp: sensitive data seen in a process's plaintext (no Suricata type: event_type "dlp",
// body under `ebpfsentinel`). Never the secret itself: the match is redacted when it is built.

declare const redactedBrand: unique symbol;
/** Text that went through redactMatch(); a plain string does not type-check here. */
export type RedactedText = string & { readonly [redactedBrand]: true };

/** Characters shown at the end of a redacted match, and the length a match needs before any is
 * shown (so at most a quarter of a secret is ever visible). */
const SHOWN_TAIL = 4;
const MIN_LENGTH_TO_SHOW_TAIL = 16;

/**
 * The only way to a RedactedText: every character is masked but, for a match of 16 characters
 * or more, the last 4 (what a card receipt or a cloud console shows). Whitespace and separators
 * inside the match keep their place so the shape stays readable.
 */
export function redactMatch(secret: string): RedactedText {
  const chars = [...secret];
  const showFrom = chars.length >= MIN_LENGTH_TO_SHOW_TAIL ? chars.length - SHOWN_TAIL : chars.length;
  return chars.map((c, i) => (i >= showFrom || /[\s\-_.:/]/.test(c) ? c : '*')).join('') as RedactedText;
}

export interface DlpFinding {
  /** the detector that matched: credit_card, aws_access_key, private_key, ... */
  detector: string;
  /** outbound: the process was sending it (SSL_write); inbound: it received it (SSL_read) */
  direction: 'outbound' | 'inbound';
  /** where the probe sat: the function and the binary or library */
  symbol?: string;
  binary?: string;
  /** the call's buffer was longer than the probe copies: what was searched is a prefix */
  truncation: { length: number; captured: number; truncated: boolean };
  match: { offset: number; length: number; redacted: RedactedText };
}

export interface DlpRecord extends RecordBase {
  kind: 'dlp';
  process: ProcessRef;
  /** the connection, when the engine could tie the call to a socket */
  flow?: FlowTuple;
  dlp: DlpFinding;
}

export type SentinelRecord = Alert | DnsRecord | FlowRecord | AnomalyRecord | DlpRecord;
export type NonAlertRecord = Exclude<SentinelRecord, Alert>;
/** The record type of a kind (or of a union of kinds). */
export type RecordOf<K extends RecordKind> = Extract<SentinelRecord, { kind: K }>;
