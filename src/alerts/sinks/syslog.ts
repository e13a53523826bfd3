// Syslog, RFC 5424, over UDP (one message per datagram) or TCP (octet-counting framing,
// RFC 6587 §3.4.1: "LEN SP MSG", so messages may contain newlines). The TCP connection is made
// lazily and re-made after any error. A retried batch resumes after the last message sent, so
// a failure half-way through does not duplicate what the collector already has.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIP, Socket } from 'node:net';
import { hostname } from 'node:os';
import type { EveRenderer } from '../eve-line.js';
import type { Severity } from '../model.js';
import type { RecordKind, SentinelRecord } from '../records.js';
import { DeliveryError, type RejectOne, type SinkTransport } from '../queued-sink.js';

export const SYSLOG_FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
} as const;
export type SyslogFacility = keyof typeof SYSLOG_FACILITIES;

/** Alert severity -> syslog severity: critical 2 (crit), high 3 (err), medium 4 (warning), low 5 (notice). */
const SYSLOG_SEVERITY: Readonly<Record<Severity, number>> = { critical: 2, high: 3, medium: 4, low: 5 };
/** The other kinds have no severity of their own: a DLP finding is a warning (4), an anomaly a
 * notice (5), DNS and flow records informational (6). */
const SYSLOG_KIND_SEVERITY: Readonly<Record<Exclude<RecordKind, 'alert'>, number>> = { dlp: 4, anomaly: 5, dns: 6, flow: 6 };

/** SD-ID in the form name@PEN; 32473 is the enterprise number RFC 5612 reserves for documentation
 * and examples, used until the project has its own. */
const SD_ID = 'ebpfsentinel@32473';

export interface SyslogFormat {
  facility: SyslogFacility;
  appName: string;
  hostname?: string;
}

function sdEscape(v: string): string {
  return v.replace(/[\\"\]]/g, (c) => `\\${c}`);
}

/** RFC 5424 header field: printable US-ASCII, no spaces, bounded, "-" when empty. */
function headerField(v: string | undefined, max: number): string {
  const s = (v ?? '').replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return s || '-';
}

function rfc3339(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const micros = (ns % 1_000_000_000n) / 1000n;
  return `${new Date(ms).toISOString().slice(0, 19)}.${micros.toString().padStart(6, '0')}Z`;
}

/** Structured-data parameters of one record: what a collector filters on without parsing MSG. */
function sdParams(r: SentinelRecord): [string, string | number | undefined][] {
  const fl = r.flow;
  const tuple: [string, string | number | undefined][] = [
    ['proto', fl?.proto],
    ['src_ip', fl?.srcIp],
    ['src_port', fl?.srcPort],
    ['dest_ip', fl?.dstIp],
    ['dest_port', fl?.dstPort],
    ['in_iface', r.interface],
  ];
  switch (r.kind) {
    case 'alert':
      return [
        ['engine', r.engine],
        ['rule_id', r.ruleId],
        ['sid', r.signatureId],
        ['action', r.action],
        ['severity', r.severity],
        ...tuple,
        ['pid', r.process?.pid],
        ['suppressed', r.suppressed],
      ];
    case 'dns':
      return [['engine', r.engine], ['dns_type', r.dns.type], ['rrname', r.dns.queries[0]?.rrname], ...tuple];
    case 'flow':
      return [['engine', r.engine], ['state', r.state], ['reason', r.reason], ...tuple];
    case 'anomaly':
      return [['engine', r.engine], ['anomaly_type', r.anomaly.type], ['event', 'event' in r.anomaly ? r.anomaly.event : r.anomaly.code], ...tuple];
    case 'dlp':
      return [['engine', r.engine], ['detector', r.dlp.detector], ['direction', r.dlp.direction], ['pid', r.process.pid], ['comm', r.process.comm], ...tuple];
  }
}

/** One RFC 5424 message (no framing, no trailing newline). MSGID is the record's kind (alert,
 * dns, flow, anomaly, dlp); MSG is its EVE JSON record. */
export function formatRfc5424(r: SentinelRecord, eveLine: string, f: SyslogFormat): string {
  const sev = r.kind === 'alert' ? SYSLOG_SEVERITY[r.severity] : SYSLOG_KIND_SEVERITY[r.kind];
  const pri = SYSLOG_FACILITIES[f.facility] * 8 + sev;
  let sd = `[${SD_ID}`;
  for (const [k, v] of sdParams(r)) if (v !== undefined) sd += ` ${k}="${sdEscape(String(v))}"`;
  sd += ']';
  const host = headerField(f.hostname ?? hostname(), 255);
  const msg = eveLine.endsWith('\n') ? eveLine.slice(0, -1) : eveLine;
  return `<${pri}>1 ${rfc3339(r.timestampNs)} ${host} ${headerField(f.appName, 48)} ${process.pid} ${r.kind} ${sd} ${msg}`;
}

export interface SyslogTarget {
  host: string;
  port: number;
  transport: 'udp' | 'tcp';
  connectTimeoutMs: number;
}

export class SyslogTransport implements SinkTransport {
  private udp: UdpSocket | null = null;
  private tcp: Socket | null = null;
  /** messages of a batch already sent, so a retry resumes instead of duplicating */
  private readonly sent = new WeakMap<readonly SentinelRecord[], number>();

  private readonly format: SyslogFormat;

  constructor(
    private readonly target: SyslogTarget,
    format: SyslogFormat,
    private readonly eve: EveRenderer,
  ) {
    // resolved once: the host name is in every message
    this.format = { ...format, hostname: format.hostname ?? hostname() };
  }

  async deliver(batch: readonly SentinelRecord[], signal: AbortSignal, reject: RejectOne): Promise<void> {
    let i = this.sent.get(batch) ?? 0;
    for (; i < batch.length; i++) {
      if (signal.aborted) throw new DeliveryError('closed', 'sink closed');
      const a = batch[i]!;
      let msg: string;
      try {
        msg = formatRfc5424(a, this.eve.line(a), this.format);
      } catch (err) {
        reject(a, err);
        continue;
      }
      try {
        if (this.target.transport === 'udp') await this.sendUdp(msg);
        else await this.sendTcp(msg);
      } catch (err) {
        this.sent.set(batch, i);
        throw err;
      }
    }
    this.sent.delete(batch);
  }

  async close(): Promise<void> {
    this.udp?.close();
    this.udp = null;
    this.tcp?.destroy();
    this.tcp = null;
  }

  private sendUdp(msg: string): Promise<void> {
    if (!this.udp) {
      const s = createSocket(isIP(this.target.host) === 6 ? 'udp6' : 'udp4');
      // errors surface through send callbacks; this keeps a stray one from crashing the process
      s.on('error', () => undefined);
      this.udp = s;
    }
    const s = this.udp;
    return new Promise((resolve, reject) => {
      s.send(msg, this.target.port, this.target.host, (err) => {
        if (!err) return resolve();
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EMSGSIZE') return reject(new DeliveryError('message_too_large', `syslog ${this.where()}: ${err.message}`, false));
        reject(new DeliveryError('connection', `syslog ${this.where()}: ${err.message}`));
      });
    });
  }

  private async sendTcp(msg: string): Promise<void> {
    const sock = this.tcp ?? (await this.connect());
    const frame = `${Buffer.byteLength(msg)} ${msg}`;
    await new Promise<void>((resolve, reject) => {
      sock.write(frame, (err) => {
        if (!err) return resolve();
        this.dropTcp(sock);
        reject(new DeliveryError('connection', `syslog ${this.where()}: ${err.message}`));
      });
    });
  }

  private connect(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = new Socket();
      const timer = setTimeout(() => {
        s.destroy();
        reject(new DeliveryError('timeout', `syslog ${this.where()}: no connection within ${this.target.connectTimeoutMs} ms`));
      }, this.target.connectTimeoutMs);
      s.once('error', (err) => {
        clearTimeout(timer);
        s.destroy();
        reject(new DeliveryError('connection', `syslog ${this.where()}: ${err.message}`));
      });
      s.connect(this.target.port, this.target.host, () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        // a later error or close only means: reconnect on the next message
        s.on('error', () => this.dropTcp(s));
        s.on('close', () => this.dropTcp(s));
        s.setKeepAlive(true, 30_000);
        this.tcp = s;
        resolve(s);
      });
    });
  }

  private dropTcp(s: Socket): void {
    if (this.tcp === s) this.tcp = null;
    s.destroy();
  }

  private where(): string {
    const h = isIP(this.target.host) === 6 ? `[${this.target.host}]` : this.target.host;
    return `${this.target.transport}://${h}:${this.target.port}`;
  }
}
