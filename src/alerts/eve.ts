// Record -> Suricata EVE JSON record, each kind with its own event_type (alert, dns, flow,
// anomaly as Suricata writes them; dlp, which Suricata has not, with its body under our key).
// Field names, order and value spellings follow what Suricata writes, so Filebeat's suricata
// module, Vector, Splunk and Elastic parse our lines unchanged; everything of our own lives under
// the `ebpfsentinel` key where no one collides (Suricata's schema admits no other unknown key).
import { isIP } from 'node:net';
import { communityId, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP } from './community-id.js';
import { suricataSeverity, type Alert, type FlowTuple, type IndicatorMatch, type ProcessRef, type RecordBase } from './model.js';
import type { AnomalyRecord, DlpRecord, DnsMessage, DnsRecord, DnsResourceRecord, FlowRecord, RecordKind, SentinelRecord } from './records.js';
import { dnsAddressText, dnsRcodeName, dnsRrtypeName } from './dns-names.js';

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
  // Records come in bursts within the same second: its date and time are spelled once, and a
  // record of that second costs one BigInt subtraction and two table look-ups (this runs for
  // every record, and for a flow record three times).
  if (!(ns >= secStart && ns < secEnd)) {
    if (ns < 0n) throw new RangeError(`EVE timestamp must be >= 0 ns since the epoch, got ${ns}`);
    const secs = ns / 1_000_000_000n;
    secPrefix = `${new Date(Number(secs) * 1000).toISOString().slice(0, 19)}.`; // YYYY-MM-DDTHH:MM:SS.
    secStart = secs * 1_000_000_000n;
    secEnd = secStart + 1_000_000_000n;
  }
  const micros = Math.floor(Number(ns - secStart) / 1000);
  const millis = Math.floor(micros / 1000);
  return secPrefix + DIGITS3[millis]! + MICROS_SUFFIX[micros - millis * 1000]!;
}

// the second the prefix spells: [secStart, secEnd) in ns (empty at first)
let secStart = 0n;
let secEnd = 0n;
let secPrefix = '';
/** "000".."999", and the same followed by the UTC offset */
const DIGITS3: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
const MICROS_SUFFIX: readonly string[] = DIGITS3.map((d) => `${d}+0000`);

/**
 * Suricata's flow_id ties every record of one flow together. Ours is derived from the
 * Community ID digest (both directions of a flow share it), cut to 52 bits so it stays exact in
 * JSON readers that parse numbers as doubles. Absent when the community id is not a v1 digest.
 */
export function eveFlowId(cid: string): number | undefined {
  if (!cid.startsWith('1:')) return undefined;
  // The usual spelling (27 base64 digits and one "=") is read in place: this runs per record.
  if (cid.length === 30 && cid.charCodeAt(29) === 61) {
    let top = 0;
    let ok = true;
    for (let i = 2; i < 29 && ok; i++) {
      const v = BASE64_DIGIT[cid.charCodeAt(i)] ?? -1;
      if (v < 0) ok = false;
      else if (i < 10) top = top * 64 + v; // 8 digits: the top 48 bits, exact in a double
      else if (i === 10) top = top * 16 + (v >> 2); // and 4 more
    }
    if (ok) return top;
  }
  const digest = Buffer.from(cid.slice(2), 'base64');
  if (digest.length !== 20) return undefined;
  // 6.5 bytes: the top 52 bits of the digest
  return digest.readUIntBE(0, 6) * 16 + (digest[6]! >> 4);
}

/** char code -> base64 digit value, -1 for anything else */
const BASE64_DIGIT: readonly number[] = (() => {
  const t = new Array<number>(128).fill(-1);
  const digits = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < 64; i++) t[digits.charCodeAt(i)] = i;
  return t;
})();

export interface EveOptions {
  /** Community ID seed, default 0 (must match the other tools' seed to correlate) */
  communityIdSeed?: number;
}

/** The fields every EVE record starts with, in Suricata's order; the 5-tuple ones only when the
 * record has a flow. */
export interface EveHeader {
  timestamp: string;
  flow_id?: number;
  in_iface?: string;
  event_type: RecordKind;
  vlan?: number[];
  src_ip?: string;
  src_port?: number;
  dest_ip?: string;
  dest_port?: number;
  ip_v?: 4 | 6;
  proto?: string;
  icmp_type?: number;
  icmp_code?: number;
  community_id?: string;
}

export interface EveProcess {
  pid: number;
  tid: number;
  comm: string;
  /** a number; a decimal string only for an id past 2^53, so no digit is lost */
  cgroup_id: number | string;
  exe?: string;
}

export interface EveIndicator {
  id: string;
  value: string;
  feed: string;
  confidence: number;
  side: 'src' | 'dst';
  match: 'exact' | 'cidr';
  name?: string;
  kill_chain_phases?: { kill_chain_name: string; phase_name: string }[];
  category?: string;
}

/** An alert's threat-intel indicator as EVE carries it (the object and the line writer alike). */
export function eveIndicator(i: IndicatorMatch): EveIndicator {
  const ind: EveIndicator = { id: i.id, value: i.value, feed: i.feed, confidence: i.confidence, side: i.side, match: i.match };
  if (i.name !== undefined) ind.name = i.name;
  if (i.killChainPhases) ind.kill_chain_phases = i.killChainPhases.map((k) => ({ kill_chain_name: k.killChainName, phase_name: k.phaseName }));
  if (i.category !== undefined) ind.category = i.category;
  return ind;
}

export interface EveAlertRecord extends EveHeader {
  event_type: 'alert';
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
    process?: EveProcess;
    mitre?: { technique_id: string; technique_name?: string; tactic?: string; tactic_id?: string };
    indicator?: EveIndicator;
    suppressed?: number;
    summary?: boolean;
  };
}

export interface EveDnsAnswer {
  rrname: string;
  rrname_truncated?: boolean;
  rrtype: string;
  ttl: number;
  rdata?: string;
  rdata_truncated?: boolean;
  soa?: { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number };
  sshfp?: { fingerprint: string; algo: number; type: number };
  srv?: { priority: number; weight: number; port: number; name: string };
  opt?: { code: number; data: string }[];
}

export interface EveDns {
  version: 3;
  type: 'request' | 'response';
  tx_id?: number;
  id: number;
  flags: string;
  qr?: true;
  aa?: true;
  tc?: true;
  rd?: true;
  ra?: true;
  z?: true;
  opcode: number;
  rcode: string;
  queries?: { rrname: string; rrtype: string; rrname_truncated?: true }[];
  answers?: EveDnsAnswer[];
  grouped?: Record<string, unknown[]>;
  authorities?: EveDnsAnswer[];
  additionals?: EveDnsAnswer[];
}

interface EveOurs {
  engine: string;
  program: string;
}

export interface EveDnsRecord extends EveHeader {
  event_type: 'dns';
  dns: EveDns;
  /** dns_truncated: some name or rdata of the message was cut by the decoder */
  ebpfsentinel: EveOurs & { dns_truncated?: true };
}

export interface EveFlowRecord extends EveHeader {
  event_type: 'flow';
  app_proto?: string;
  flow: {
    pkts_toserver: number;
    pkts_toclient: number;
    bytes_toserver: number;
    bytes_toclient: number;
    start: string;
    end: string;
    age: number;
    state: string;
    reason: string;
    alerted: boolean;
  };
  tcp?: Record<string, string | boolean>;
  ebpfsentinel: EveOurs;
}

export interface EveAnomalyRecord extends EveHeader {
  event_type: 'anomaly';
  anomaly: { app_proto?: string; type: string; event?: string; code?: number; layer?: string };
  ebpfsentinel: EveOurs & { packet_length?: number };
}

export interface EveDlpRecord extends EveHeader {
  event_type: 'dlp';
  ebpfsentinel: EveOurs & {
    process: EveProcess;
    dlp: {
      detector: string;
      direction: 'outbound' | 'inbound';
      symbol?: string;
      binary?: string;
      truncation: { length: number; captured: number; truncated: boolean };
      match: { offset: number; length: number; redacted: string };
    };
  };
}

export type EveRecord = EveAlertRecord | EveDnsRecord | EveFlowRecord | EveAnomalyRecord | EveDlpRecord;

export function isIcmpFlow(f: FlowTuple): boolean {
  return f.proto === IPPROTO_ICMP || f.proto === IPPROTO_ICMPV6;
}

/** The record's community id: the engine's, or computed from its flow (ICMP type and code in
 * place of the ports, as the spec has it). */
export function recordCommunityId(r: RecordBase, f: FlowTuple, opts: EveOptions): string {
  if (r.communityId !== undefined) return r.communityId;
  const isIcmp = isIcmpFlow(f);
  return communityId(
    { srcIp: f.srcIp, dstIp: f.dstIp, proto: f.proto, srcPort: isIcmp ? f.icmpType : f.srcPort, dstPort: isIcmp ? f.icmpCode : f.dstPort },
    { seed: opts.communityIdSeed ?? 0 },
  );
}

// Built one property after the other in Suricata's key order (people read these lines too):
// objects spread together from optional parts cost several times as much, and this runs for
// every record.
function header(r: RecordBase & { flow?: FlowTuple }, eventType: RecordKind, opts: EveOptions, withIpVersion = false): EveHeader {
  const f = r.flow;
  const h = { timestamp: formatEveTimestamp(r.timestampNs) } as EveHeader;
  if (!f) {
    // no 5-tuple: no flow_id or community id either
    if (r.interface !== undefined) h.in_iface = r.interface;
    h.event_type = eventType;
    if (r.vlan && r.vlan.length > 0) h.vlan = [...r.vlan];
    return h;
  }
  const isIcmp = isIcmpFlow(f);
  const cid = recordCommunityId(r, f, opts);
  const flowId = eveFlowId(cid);
  if (flowId !== undefined) h.flow_id = flowId;
  if (r.interface !== undefined) h.in_iface = r.interface;
  h.event_type = eventType;
  if (r.vlan && r.vlan.length > 0) h.vlan = [...r.vlan];
  h.src_ip = f.srcIp;
  if (!isIcmp && f.srcPort !== undefined) h.src_port = f.srcPort;
  h.dest_ip = f.dstIp;
  if (!isIcmp && f.dstPort !== undefined) h.dest_port = f.dstPort;
  if (withIpVersion) h.ip_v = isIP(f.srcIp) === 6 ? 6 : 4;
  h.proto = eveProtoName(f.proto);
  if (isIcmp && f.icmpType !== undefined) h.icmp_type = f.icmpType;
  if (isIcmp && f.icmpCode !== undefined) h.icmp_code = f.icmpCode;
  h.community_id = cid;
  return h;
}

function eveProcess(p: ProcessRef): EveProcess {
  return {
    pid: p.pid,
    tid: p.tid,
    comm: p.comm,
    cgroup_id: p.cgroupId <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(p.cgroupId) : p.cgroupId.toString(),
    ...(p.exe !== undefined ? { exe: p.exe } : {}),
  };
}

function alertRecord(a: Alert, opts: EveOptions): EveAlertRecord {
  const rec = header(a, 'alert', opts) as EveAlertRecord;
  const alert: EveAlertRecord['alert'] = {
    action: a.action,
    gid: 1,
    signature_id: a.signatureId,
    rev: 1,
    signature: a.ruleName,
    category: a.category ?? '',
    severity: suricataSeverity(a.severity),
  };
  const m = a.mitre;
  // where ET rules carry ATT&CK, so existing dashboards pick it up
  if (m) {
    const meta: Record<string, string[]> = { mitre_technique_id: [m.techniqueId] };
    if (m.techniqueName) meta.mitre_technique_name = [m.techniqueName];
    if (m.tacticId) meta.mitre_tactic_id = [m.tacticId];
    if (m.tactic) meta.mitre_tactic_name = [m.tactic];
    alert.metadata = meta;
  }
  rec.alert = alert;
  const ours = { engine: a.engine, program: a.program, rule_id: a.ruleId, reason: a.reason, severity: a.severity } as EveAlertRecord['ebpfsentinel'];
  if (a.packetLength !== undefined) ours.packet_length = a.packetLength;
  if (a.process) ours.process = eveProcess(a.process);
  if (m) {
    const mitre: NonNullable<EveAlertRecord['ebpfsentinel']['mitre']> = { technique_id: m.techniqueId };
    if (m.techniqueName) mitre.technique_name = m.techniqueName;
    if (m.tactic) mitre.tactic = m.tactic;
    if (m.tacticId) mitre.tactic_id = m.tacticId;
    ours.mitre = mitre;
  }
  if (a.indicator) ours.indicator = eveIndicator(a.indicator);
  if (a.suppressed) ours.suppressed = a.suppressed;
  if (a.summary) ours.summary = true;
  rec.ebpfsentinel = ours;
  return rec;
}

const DNS_A = 1;
const DNS_AAAA = 28;
const DNS_OPT = 41;

/** The three sections as Suricata's schema shapes them: what detail each entry may carry. An
 * answer may be SOA/SRV/SSHFP in detail, an authority SOA only, an additional OPT only; and only
 * queries and authorities have the *_truncated flags. Anything else is given as rdata text, and a
 * cut the section cannot flag is reported under ebpfsentinel (dns_truncated). */
type DnsSection = 'answers' | 'authorities' | 'additionals';
const SECTION_DETAIL: Readonly<Record<DnsSection, { soa: boolean; srv: boolean; sshfp: boolean; opt: boolean; flags: boolean }>> = {
  answers: { soa: true, srv: true, sshfp: true, opt: false, flags: false },
  authorities: { soa: true, srv: false, sshfp: false, opt: false, flags: true },
  additionals: { soa: false, srv: false, sshfp: false, opt: true, flags: false },
};

/** The presentation form (RFC 1035 zone-file order) of the structured types, for a section
 * that cannot hold them in detail. */
function rdataText(rr: DnsResourceRecord): string | undefined {
  if (rr.soa) return `${rr.soa.mname} ${rr.soa.rname} ${rr.soa.serial} ${rr.soa.refresh} ${rr.soa.retry} ${rr.soa.expire} ${rr.soa.minimum}`;
  if (rr.srv) return `${rr.srv.priority} ${rr.srv.weight} ${rr.srv.port} ${rr.srv.name}`;
  if (rr.sshfp) return `${rr.sshfp.algo} ${rr.sshfp.type} ${rr.sshfp.fingerprint}`;
  if (rr.rdata !== undefined) return rr.rrtype === DNS_A || rr.rrtype === DNS_AAAA ? dnsAddressText(rr.rdata) : rr.rdata;
  return undefined;
}

/** One section entry as Suricata details it (a TXT record gives one entry per string). */
function dnsEntries(rr: DnsResourceRecord, section: DnsSection): EveDnsAnswer[] {
  const d = SECTION_DETAIL[section];
  const base: EveDnsAnswer = {
    rrname: rr.rrname,
    ...(d.flags && rr.rrnameTruncated ? { rrname_truncated: true } : {}),
    rrtype: dnsRrtypeName(rr.rrtype),
    ttl: rr.ttl,
  };
  if (rr.txt) return rr.txt.map((t) => ({ ...base, rdata: t }));
  if (rr.soa && d.soa) return [{ ...base, soa: { ...rr.soa } }];
  if (rr.sshfp && d.sshfp) return [{ ...base, sshfp: { fingerprint: rr.sshfp.fingerprint, algo: rr.sshfp.algo, type: rr.sshfp.type } }];
  if (rr.srv && d.srv) return [{ ...base, srv: { priority: rr.srv.priority, weight: rr.srv.weight, port: rr.srv.port, name: rr.srv.name } }];
  if (rr.opt) return d.opt && rr.opt.length > 0 ? [{ ...base, opt: rr.opt.map((o) => ({ code: o.code, data: o.data })) }] : [base];
  const rdata = rdataText(rr);
  if (rdata !== undefined) return [{ ...base, rdata, ...(d.flags && rr.rdataTruncated ? { rdata_truncated: true } : {}) }];
  return [base];
}

/** Whether any name or rdata of the message was cut (reported under ebpfsentinel too, since
 * answers and additionals have no flag for it in Suricata's shape). */
export function dnsTruncated(m: DnsMessage): boolean {
  const rrs = [...(m.answers ?? []), ...(m.authorities ?? []), ...(m.additionals ?? [])];
  return m.queries.some((q) => q.rrnameTruncated) || rrs.some((rr) => rr.rrnameTruncated || rr.rdataTruncated);
}

/** The record types Suricata groups (its "grouped" answer format), and how each is given. */
const GROUPED_TYPES: ReadonlySet<string> = new Set(['A', 'AAAA', 'CNAME', 'MX', 'NS', 'NULL', 'PTR', 'SOA', 'SRV', 'SSHFP', 'TXT']);

/** Answers by type, values only (Suricata's "grouped" format, logged beside the detailed one).
 * Types Suricata does not group stay in the detailed answers only. */
function dnsGrouped(answers: readonly DnsResourceRecord[]): Record<string, unknown[]> | undefined {
  const out: Record<string, unknown[]> = {};
  const add = (type: string, v: unknown): void => {
    (out[type] ??= []).push(v);
  };
  for (const rr of answers) {
    const type = dnsRrtypeName(rr.rrtype);
    if (!GROUPED_TYPES.has(type)) continue;
    if (rr.txt) for (const t of rr.txt) add(type, t);
    else if (rr.soa) add(type, { ...rr.soa });
    else if (rr.sshfp) add(type, { fingerprint: rr.sshfp.fingerprint, algo: rr.sshfp.algo, type: rr.sshfp.type });
    else if (rr.srv) add(type, { priority: rr.srv.priority, weight: rr.srv.weight, port: rr.srv.port, name: rr.srv.name });
    else if (rr.rdata !== undefined) add(type, rr.rrtype === DNS_A || rr.rrtype === DNS_AAAA ? dnsAddressText(rr.rdata) : rr.rdata);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

export function eveDns(m: DnsMessage): EveDns {
  const fl = m.flags;
  const answers = m.answers ?? [];
  const authorities = m.authorities ?? [];
  // an OPT pseudo-record without options says nothing: Suricata leaves it out
  const additionals = (m.additionals ?? []).filter((rr) => !(rr.rrtype === DNS_OPT && (rr.opt?.length ?? 0) === 0));
  const grouped = dnsGrouped(answers);
  return {
    version: 3,
    type: m.type,
    ...(m.txId !== undefined ? { tx_id: m.txId } : {}),
    id: m.id,
    flags: fl.toString(16),
    ...(fl & 0x8000 ? { qr: true as const } : {}),
    ...(fl & 0x0400 ? { aa: true as const } : {}),
    ...(fl & 0x0200 ? { tc: true as const } : {}),
    ...(fl & 0x0100 ? { rd: true as const } : {}),
    ...(fl & 0x0080 ? { ra: true as const } : {}),
    ...(fl & 0x0040 ? { z: true as const } : {}),
    opcode: (fl >> 11) & 0xf,
    rcode: dnsRcodeName(fl & 0xf),
    ...(m.queries.length > 0
      ? { queries: m.queries.map((q) => ({ rrname: q.rrname, rrtype: dnsRrtypeName(q.rrtype), ...(q.rrnameTruncated ? { rrname_truncated: true as const } : {}) })) }
      : {}),
    ...(answers.length > 0 ? { answers: answers.flatMap((rr) => dnsEntries(rr, 'answers')) } : {}),
    ...(grouped ? { grouped } : {}),
    ...(authorities.length > 0 ? { authorities: authorities.flatMap((rr) => dnsEntries(rr, 'authorities')) } : {}),
    ...(additionals.length > 0 ? { additionals: additionals.flatMap((rr) => dnsEntries(rr, 'additionals')) } : {}),
  };
}

function dnsRecord(r: DnsRecord, opts: EveOptions): EveDnsRecord {
  return {
    ...header(r, 'dns', opts),
    event_type: 'dns',
    dns: eveDns(r.dns),
    ebpfsentinel: { engine: r.engine, program: r.program, ...(dnsTruncated(r.dns) ? { dns_truncated: true as const } : {}) },
  };
}

/** Suricata's eight TCP flag words, in its order. */
export const TCP_FLAG_NAMES: readonly [number, string][] = [
  [0x02, 'syn'],
  [0x01, 'fin'],
  [0x04, 'rst'],
  [0x08, 'psh'],
  [0x10, 'ack'],
  [0x20, 'urg'],
  [0x40, 'ecn'],
  [0x80, 'cwr'],
];
export const hex2 = (n: number): string => (n & 0xff).toString(16).padStart(2, '0');

function flowRecord(r: FlowRecord, opts: EveOptions): EveFlowRecord {
  const s = r.stats;
  let tcp: Record<string, string | boolean> | undefined;
  if (r.flow.proto === IPPROTO_TCP && r.tcp) {
    tcp = { tcp_flags: hex2(r.tcp.flags), tcp_flags_ts: hex2(r.tcp.flagsToServer), tcp_flags_tc: hex2(r.tcp.flagsToClient) };
    for (const [bit, name] of TCP_FLAG_NAMES) if (r.tcp.flags & bit) tcp[name] = true;
    if (r.tcp.state !== undefined) tcp.state = r.tcp.state;
  }
  return {
    ...header(r, 'flow', opts, true),
    event_type: 'flow',
    ...(r.appProto !== undefined ? { app_proto: r.appProto } : {}),
    flow: {
      pkts_toserver: s.pktsToServer,
      pkts_toclient: s.pktsToClient,
      bytes_toserver: s.bytesToServer,
      bytes_toclient: s.bytesToClient,
      start: formatEveTimestamp(r.startNs),
      end: formatEveTimestamp(r.endNs),
      // whole seconds between the two, as Suricata counts it
      age: Number(r.endNs / 1_000_000_000n - r.startNs / 1_000_000_000n),
      state: r.state,
      reason: r.reason,
      alerted: r.alerted,
    },
    ...(tcp ? { tcp } : {}),
    ebpfsentinel: { engine: r.engine, program: r.program },
  };
}

function anomalyRecord(r: AnomalyRecord, opts: EveOptions): EveAnomalyRecord {
  const a = r.anomaly;
  let body: EveAnomalyRecord['anomaly'];
  switch (a.type) {
    case 'decode':
    case 'stream':
      body = { type: a.type, event: a.event };
      break;
    case 'applayer':
      body = { app_proto: a.appProto, type: 'applayer', event: a.event, layer: a.layer };
      break;
    case 'unknown':
      body = { ...(a.appProto !== undefined ? { app_proto: a.appProto } : {}), type: 'unknown', code: a.code, ...(a.layer !== undefined ? { layer: a.layer } : {}) };
      break;
  }
  return {
    ...header(r, 'anomaly', opts),
    event_type: 'anomaly',
    anomaly: body,
    ebpfsentinel: { engine: r.engine, program: r.program, ...(r.packetLength !== undefined ? { packet_length: r.packetLength } : {}) },
  };
}

function dlpRecord(r: DlpRecord, opts: EveOptions): EveDlpRecord {
  const d = r.dlp;
  return {
    ...header(r, 'dlp', opts),
    event_type: 'dlp',
    ebpfsentinel: {
      engine: r.engine,
      program: r.program,
      process: eveProcess(r.process),
      dlp: {
        detector: d.detector,
        direction: d.direction,
        ...(d.symbol !== undefined ? { symbol: d.symbol } : {}),
        ...(d.binary !== undefined ? { binary: d.binary } : {}),
        truncation: { length: d.truncation.length, captured: d.truncation.captured, truncated: d.truncation.truncated },
        match: { offset: d.match.offset, length: d.match.length, redacted: d.match.redacted },
      },
    },
  };
}

export function toEveRecord(r: Alert, opts?: EveOptions): EveAlertRecord;
export function toEveRecord(r: SentinelRecord, opts?: EveOptions): EveRecord;
export function toEveRecord(r: SentinelRecord, opts: EveOptions = {}): EveRecord {
  switch (r.kind) {
    case 'alert':
      return alertRecord(r, opts);
    case 'dns':
      return dnsRecord(r, opts);
    case 'flow':
      return flowRecord(r, opts);
    case 'anomaly':
      return anomalyRecord(r, opts);
    case 'dlp':
      return dlpRecord(r, opts);
    default:
      // a record from outside the type system (a bad cast, a decoded row): say which
      throw new TypeError(`no EVE rendering for record kind ${JSON.stringify((r as { kind?: unknown }).kind)}`);
  }
}
