// The EVE line of a record, written as JSON text in one pass: the same text as
// JSON.stringify(toEveRecord(r)) + "\n" (test/unit/eve-line.test.ts holds the two equal over
// random records of every kind), without the object tree that cost most of a line when every
// record of a flood goes to the EVE file. eve.ts keeps the record as objects for the API,
// webhook and OTLP; the lines go to the file (line-buffer.ts encodes them into the big chunks
// it writes), stdout and syslog. A DNS message's body is still built as objects and
// stringified: it is the one shape too rich to keep twice.
import { isIP } from 'node:net';
import {
  dnsTruncated,
  eveDns,
  eveFlowId,
  eveIndicator,
  eveProtoName,
  formatEveTimestamp,
  hex2,
  isIcmpFlow,
  recordCommunityId,
  TCP_FLAG_NAMES,
  type EveOptions,
} from './eve.js';
import { IPPROTO_TCP } from './community-id.js';
import { suricataSeverity, type Alert, type FlowTuple, type ProcessRef, type RecordBase } from './model.js';
import type { AnomalyRecord, DlpRecord, DnsRecord, FlowRecord, RecordKind, SentinelRecord } from './records.js';

/** What JSON.stringify would escape or encode past ASCII in a string. */
const NEEDS_CARE = /[\u0000-\u001f"\\\u0080-\uffff]/;

/**
 * A string as JSON.stringify writes it. Most strings need no escape (names from the policy,
 * addresses, our own words): they are quoted as they are; anything with a quote, a backslash, a
 * control character or past ASCII is written by JSON.stringify itself.
 */
export function jsonString(s: string): string {
  return NEEDS_CARE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/** A number as JSON.stringify writes it (no NaN or Infinity in JSON: null). */
function num(n: number): string {
  return Number.isFinite(n) ? `${n}` : 'null';
}

// The strings repeated record after record (engine, program, reason, category...): the last one
// seen in a slot and its JSON, so a flood of one engine's records checks each word once.
class LastString {
  private s = '';
  private json = '""';
  of(s: string): string {
    if (s !== this.s) {
      this.json = jsonString(s);
      this.s = s;
    }
    return this.json;
  }
}

const EVENT_TYPE: Readonly<Record<RecordKind, string>> = {
  alert: ',"event_type":"alert"',
  dns: ',"event_type":"dns"',
  flow: ',"event_type":"flow"',
  anomaly: ',"event_type":"anomaly"',
  dlp: ',"event_type":"dlp"',
};

/**
 * Writes EVE lines, one string per record ending in a newline, built in one pass without the
 * record's object tree. One writer per place lines are made: it keeps the last words it quoted.
 */
export class EveLineWriter {
  private readonly engine = new LastString();
  private readonly program = new LastString();
  private readonly iface = new LastString();
  private readonly reason = new LastString();
  private readonly category = new LastString();
  private readonly action = new LastString();
  private readonly severity = new LastString();
  private readonly dstIp = new LastString();

  constructor(private readonly opts: EveOptions = {}) {}

  /** One EVE line; throws (as toEveRecord does) on a record it cannot render. */
  line(r: SentinelRecord): string {
    switch (r.kind) {
      case 'alert':
        return this.alert(r);
      case 'dns':
        return this.dns(r);
      case 'flow':
        return this.flow(r);
      case 'anomaly':
        return this.anomaly(r);
      case 'dlp':
        return this.dlp(r);
      default:
        throw new TypeError(`no EVE rendering for record kind ${JSON.stringify((r as { kind?: unknown }).kind)}`);
    }
  }

  /** From `{"timestamp"` to the community id: Suricata's order, the 5-tuple only with a flow. */
  private header(r: RecordBase & { flow?: FlowTuple | undefined }, kind: RecordKind, withIpVersion: boolean): string {
    let s = `{"timestamp":"${formatEveTimestamp(r.timestampNs)}"`;
    const f = r.flow;
    if (!f) {
      if (r.interface !== undefined) s += `,"in_iface":${this.iface.of(r.interface)}`;
      s += EVENT_TYPE[kind];
      if (r.vlan && r.vlan.length > 0) s += vlanJson(r.vlan);
      return s;
    }
    const icmp = isIcmpFlow(f);
    const cid = recordCommunityId(r, f, this.opts);
    const flowId = eveFlowId(cid);
    if (flowId !== undefined) s += `,"flow_id":${num(flowId)}`;
    if (r.interface !== undefined) s += `,"in_iface":${this.iface.of(r.interface)}`;
    s += EVENT_TYPE[kind];
    if (r.vlan && r.vlan.length > 0) s += vlanJson(r.vlan);
    s += `,"src_ip":${jsonString(f.srcIp)}`;
    if (!icmp && f.srcPort !== undefined) s += `,"src_port":${num(f.srcPort)}`;
    s += `,"dest_ip":${this.dstIp.of(f.dstIp)}`;
    if (!icmp && f.dstPort !== undefined) s += `,"dest_port":${num(f.dstPort)}`;
    if (withIpVersion) s += isIP(f.srcIp) === 6 ? ',"ip_v":6' : ',"ip_v":4';
    s += `,"proto":${protoJson(f.proto)}`;
    if (icmp && f.icmpType !== undefined) s += `,"icmp_type":${num(f.icmpType)}`;
    if (icmp && f.icmpCode !== undefined) s += `,"icmp_code":${num(f.icmpCode)}`;
    // one we computed is base64 and needs no escape
    return `${s},"community_id":${r.communityId === undefined ? `"${cid}"` : jsonString(cid)}`;
  }

  /** `,"ebpfsentinel":{"engine":...,"program":...` (left open for the kind's own fields) */
  private ours(r: RecordBase): string {
    return `,"ebpfsentinel":{"engine":${this.engine.of(r.engine)},"program":${this.program.of(r.program)}`;
  }

  private alert(a: Alert): string {
    let s = this.header(a, 'alert', false);
    s +=
      `,"alert":{"action":${this.action.of(a.action)},"gid":1,"signature_id":${num(a.signatureId)},"rev":1,` +
      `"signature":${jsonString(a.ruleName)},"category":${this.category.of(a.category ?? '')}`;
    const sev = suricataSeverity(a.severity);
    if (sev !== undefined) s += `,"severity":${sev}`;
    const m = a.mitre;
    if (m) {
      s += `,"metadata":{"mitre_technique_id":[${jsonString(m.techniqueId)}]`;
      if (m.techniqueName) s += `,"mitre_technique_name":[${jsonString(m.techniqueName)}]`;
      if (m.tacticId) s += `,"mitre_tactic_id":[${jsonString(m.tacticId)}]`;
      if (m.tactic) s += `,"mitre_tactic_name":[${jsonString(m.tactic)}]`;
      s += '}';
    }
    s += `}${this.ours(a)},"rule_id":${jsonString(a.ruleId)},"reason":${this.reason.of(a.reason)},"severity":${this.severity.of(a.severity)}`;
    if (a.packetLength !== undefined) s += `,"packet_length":${num(a.packetLength)}`;
    if (a.process) s += `,"process":${processJson(a.process)}`;
    if (m) {
      s += `,"mitre":{"technique_id":${jsonString(m.techniqueId)}`;
      if (m.techniqueName) s += `,"technique_name":${jsonString(m.techniqueName)}`;
      if (m.tactic) s += `,"tactic":${jsonString(m.tactic)}`;
      if (m.tacticId) s += `,"tactic_id":${jsonString(m.tacticId)}`;
      s += '}';
    }
    // rare (threat-intel matches only) and small: the object's own JSON, in its key order
    if (a.indicator) s += `,"indicator":${JSON.stringify(eveIndicator(a.indicator))}`;
    if (a.suppressed) s += `,"suppressed":${num(a.suppressed)}`;
    if (a.summary) s += ',"summary":true';
    return `${s}}}\n`;
  }

  private dns(r: DnsRecord): string {
    return `${this.header(r, 'dns', false)},"dns":${JSON.stringify(eveDns(r.dns))}${this.ours(r)}${dnsTruncated(r.dns) ? ',"dns_truncated":true' : ''}}}\n`;
  }

  private flow(r: FlowRecord): string {
    let s = this.header(r, 'flow', true);
    if (r.appProto !== undefined) s += `,"app_proto":${jsonString(r.appProto)}`;
    const st = r.stats;
    s +=
      `,"flow":{"pkts_toserver":${num(st.pktsToServer)},"pkts_toclient":${num(st.pktsToClient)},` +
      `"bytes_toserver":${num(st.bytesToServer)},"bytes_toclient":${num(st.bytesToClient)},` +
      `"start":"${formatEveTimestamp(r.startNs)}","end":"${formatEveTimestamp(r.endNs)}",` +
      // whole seconds between the two, as Suricata counts it
      `"age":${num(Number(r.endNs / 1_000_000_000n - r.startNs / 1_000_000_000n))},` +
      `"state":${jsonString(r.state)},"reason":${jsonString(r.reason)},"alerted":${r.alerted ? 'true' : 'false'}}`;
    if (r.flow.proto === IPPROTO_TCP && r.tcp) {
      const t = r.tcp;
      s += `,"tcp":{"tcp_flags":"${hex2(t.flags)}","tcp_flags_ts":"${hex2(t.flagsToServer)}","tcp_flags_tc":"${hex2(t.flagsToClient)}"`;
      for (const [bit, name] of TCP_FLAG_NAMES) if (t.flags & bit) s += `,"${name}":true`;
      if (t.state !== undefined) s += `,"state":${jsonString(t.state)}`;
      s += '}';
    }
    return `${s}${this.ours(r)}}}\n`;
  }

  private anomaly(r: AnomalyRecord): string {
    let s = this.header(r, 'anomaly', false);
    const a = r.anomaly;
    switch (a.type) {
      case 'decode':
      case 'stream':
        s += `,"anomaly":{"type":"${a.type}","event":${jsonString(a.event)}}`;
        break;
      case 'applayer':
        s += `,"anomaly":{"app_proto":${jsonString(a.appProto)},"type":"applayer","event":${jsonString(a.event)},"layer":${jsonString(a.layer)}}`;
        break;
      case 'unknown':
        s += `,"anomaly":{${a.appProto !== undefined ? `"app_proto":${jsonString(a.appProto)},` : ''}"type":"unknown","code":${num(a.code)}`;
        s += `${a.layer !== undefined ? `,"layer":${jsonString(a.layer)}` : ''}}`;
        break;
    }
    s += this.ours(r);
    if (r.packetLength !== undefined) s += `,"packet_length":${num(r.packetLength)}`;
    return `${s}}}\n`;
  }

  private dlp(r: DlpRecord): string {
    const d = r.dlp;
    let s = `${this.header(r, 'dlp', false)}${this.ours(r)},"process":${processJson(r.process)}`;
    s += `,"dlp":{"detector":${jsonString(d.detector)},"direction":${jsonString(d.direction)}`;
    if (d.symbol !== undefined) s += `,"symbol":${jsonString(d.symbol)}`;
    if (d.binary !== undefined) s += `,"binary":${jsonString(d.binary)}`;
    const t = d.truncation;
    const m = d.match;
    s += `,"truncation":{"length":${num(t.length)},"captured":${num(t.captured)},"truncated":${t.truncated ? 'true' : 'false'}}`;
    s += `,"match":{"offset":${num(m.offset)},"length":${num(m.length)},"redacted":${jsonString(m.redacted)}}}`;
    return `${s}}}\n`;
  }
}

const PROTO_JSON = new Map<number, string>();
function protoJson(p: number): string {
  let j = PROTO_JSON.get(p);
  if (j === undefined) {
    j = jsonString(eveProtoName(p));
    // protocol numbers are 0..255; anything else is spelled each time, not kept
    if (Number.isInteger(p) && p >= 0 && p <= 255) PROTO_JSON.set(p, j);
  }
  return j;
}

function vlanJson(v: readonly number[]): string {
  let s = ',"vlan":[';
  for (let i = 0; i < v.length; i++) s += (i ? ',' : '') + num(v[i]!);
  return `${s}]`;
}

function processJson(p: ProcessRef): string {
  const cg = p.cgroupId <= BigInt(Number.MAX_SAFE_INTEGER) ? num(Number(p.cgroupId)) : `"${p.cgroupId.toString()}"`;
  return `{"pid":${num(p.pid)},"tid":${num(p.tid)},"comm":${jsonString(p.comm)},"cgroup_id":${cg}${p.exe !== undefined ? `,"exe":${jsonString(p.exe)}` : ''}}`;
}

const plain = new EveLineWriter();

/** One EVE line, newline-terminated. */
export function toEveLine(r: SentinelRecord, opts?: EveOptions): string {
  return ((opts?.communityIdSeed ?? 0) === 0 ? plain : new EveLineWriter(opts)).line(r);
}

/** Renders each record once however many sinks want its EVE line (file, stdout, syslog): the
 * cache is keyed by the record object, which the pipeline never mutates after push. */
export class EveRenderer {
  /** null with one sink: nothing to share, and a WeakMap entry per record would cost about half
   * as much again as rendering it */
  private readonly lines: WeakMap<SentinelRecord, string> | null;
  private readonly writer: EveLineWriter;
  constructor(opts: EveOptions = {}, o: { shared?: boolean } = {}) {
    this.writer = new EveLineWriter(opts);
    this.lines = o.shared === false ? null : new WeakMap();
  }

  line(r: SentinelRecord): string {
    if (!this.lines) return this.writer.line(r);
    let l = this.lines.get(r);
    if (l === undefined) {
      l = this.writer.line(r);
      this.lines.set(r, l);
    }
    return l;
  }
}
