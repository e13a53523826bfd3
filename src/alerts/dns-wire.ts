// A DNS message (RFC 1035 wire format, as tc-dns hands it over) decoded into the dns record's
// message (records.ts), the way Suricata's DNS logger reads one, so our EVE dns records say what
// Suricata's say: names as labels joined by dots, compression pointers followed with loop
// protection (at most 255 labels or pointers per name; a name longer than 1,025 characters is cut
// and flagged), A/AAAA/CNAME/MX/NS/PTR/TXT/SOA/SRV/SSHFP/NULL/OPT rdata in its detail, other types
// (HTTPS, SVCB, ...) by name, type and TTL only. A message that cannot be read to its last
// record yields no message but the anomaly Suricata would raise for it. Bounded: every loop
// consumes input or counts towards a fixed limit.
import type { DnsMessage, DnsQuestion, DnsResourceRecord } from './records.js';

/** Longest name kept, in characters of its text form (Suricata's limit) */
export const DNS_MAX_NAME = 1025;
/** Labels and pointers followed in one name before it is given up on */
const MAX_SEGMENTS = 255;

export type DnsAnomaly = 'malformed_data' | 'infinite_loop' | 'too_many_labels' | 'name_too_long';

export interface DnsDecoded {
  /** null when the message could not be read whole */
  message: DnsMessage | null;
  /** what was wrong with it (a message may also decode with a flag: a name cut short) */
  anomaly?: DnsAnomaly;
}

class Malformed extends Error {
  constructor(readonly anomaly: DnsAnomaly) {
    super(anomaly);
  }
}

interface Name {
  text: string;
  truncated: boolean;
  /** offset just after the name where it appears (after its first pointer, if any) */
  end: number;
}

/** Bytes as Suricata writes them: UTF-8 text as it is, anything else byte by byte with the
 * non-printable ones escaped. */
function bytesText(b: Buffer, from: number, to: number): string {
  const s = b.toString('utf8', from, to);
  if (!s.includes('\ufffd')) return s;
  let out = '';
  for (let i = from; i < to; i++) {
    const c = b[i]!;
    out += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return out;
}

function readName(m: Buffer, start: number, end: number): Name {
  let pos = start;
  let after = -1;
  const parts: string[] = [];
  let length = 0;
  let truncated = false;
  let segments = 0;
  for (;;) {
    if (pos >= end) {
      if (after < 0) throw new Malformed('malformed_data');
      break;
    }
    const len = m[pos]!;
    if (len === 0) {
      pos += 1;
      break;
    }
    if ((len & 0xc0) === 0) {
      if (pos + 1 + len > end) throw new Malformed('malformed_data');
      if (!truncated) {
        parts.push(bytesText(m, pos + 1, pos + 1 + len));
        length += len + (parts.length > 1 ? 1 : 0);
      }
      pos += 1 + len;
    } else if ((len & 0xc0) === 0xc0) {
      if (pos + 2 > end) throw new Malformed('malformed_data');
      const target = ((len & 0x3f) << 8) | m[pos + 1]!;
      if (target >= end) throw new Malformed('malformed_data');
      if (target === pos) {
        // pointing at itself: the name cannot end
        if (after >= 0) break;
        throw new Malformed('infinite_loop');
      }
      if (after < 0) after = pos + 2;
      pos = target;
    } else {
      // 0x40 and 0x80: extended label types nobody uses
      throw new Malformed('malformed_data');
    }
    if (++segments > MAX_SEGMENTS) {
      if (after >= 0) {
        truncated = true;
        break;
      }
      throw new Malformed('too_many_labels');
    }
    if (length > DNS_MAX_NAME && !truncated) {
      truncated = true;
      if (after >= 0) break;
    }
  }
  let text = parts.join('.');
  if (text.length > DNS_MAX_NAME) {
    text = text.slice(0, DNS_MAX_NAME);
    truncated = true;
  }
  return { text, truncated, end: after >= 0 ? after : pos };
}

function ipv6Text(m: Buffer, at: number): string {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(m.toString('hex', at + i, at + i + 2));
  return g.join(':');
}

/** rdata of one record, between `at` and `at + len`, into `rr`. */
function readRdata(m: Buffer, rr: DnsResourceRecord, at: number, len: number, end: number): void {
  const stop = at + len;
  const name = (from: number): Name => {
    const n = readName(m, from, end);
    if (n.end > stop) throw new Malformed('malformed_data');
    return n;
  };
  const u16 = (o: number): number => m.readUInt16BE(o);
  const u32 = (o: number): number => m.readUInt32BE(o);
  switch (rr.rrtype) {
    case 1: // A
      if (len === 4) rr.rdata = `${m[at]}.${m[at + 1]}.${m[at + 2]}.${m[at + 3]}`;
      return;
    case 28: // AAAA
      if (len === 16) rr.rdata = ipv6Text(m, at);
      return;
    case 2: // NS
    case 5: // CNAME
    case 12: {
      // PTR
      const n = name(at);
      rr.rdata = n.text;
      if (n.truncated) rr.rdataTruncated = true;
      return;
    }
    case 15: {
      // MX: the preference, then the exchange (logged alone)
      if (len < 3) throw new Malformed('malformed_data');
      const n = name(at + 2);
      rr.rdata = n.text;
      if (n.truncated) rr.rdataTruncated = true;
      return;
    }
    case 16: {
      // TXT: character-strings
      const txt: string[] = [];
      let o = at;
      while (o < stop) {
        const l = m[o]!;
        if (o + 1 + l > stop) throw new Malformed('malformed_data');
        txt.push(bytesText(m, o + 1, o + 1 + l));
        o += 1 + l;
      }
      rr.txt = txt;
      return;
    }
    case 6: {
      // SOA
      const mname = name(at);
      const rname = name(mname.end);
      const o = rname.end;
      if (o + 20 > stop) throw new Malformed('malformed_data');
      rr.soa = { mname: mname.text, rname: rname.text, serial: u32(o), refresh: u32(o + 4), retry: u32(o + 8), expire: u32(o + 12), minimum: u32(o + 16) };
      return;
    }
    case 33: {
      // SRV
      if (len < 7) throw new Malformed('malformed_data');
      rr.srv = { priority: u16(at), weight: u16(at + 2), port: u16(at + 4), name: name(at + 6).text };
      return;
    }
    case 44: {
      // SSHFP
      if (len < 2) throw new Malformed('malformed_data');
      const fp: string[] = [];
      for (let o = at + 2; o < stop; o++) fp.push(m.toString('hex', o, o + 1));
      rr.sshfp = { algo: m[at]!, type: m[at + 1]!, fingerprint: fp.join(':') };
      return;
    }
    case 10: // NULL
      rr.rdata = bytesText(m, at, stop);
      return;
    case 41: {
      // OPT (EDNS): options
      const opts: { code: number; data: string }[] = [];
      let o = at;
      while (o + 4 <= stop) {
        const l = u16(o + 2);
        if (o + 4 + l > stop) throw new Malformed('malformed_data');
        opts.push({ code: u16(o), data: m.toString('hex', o + 4, o + 4 + l) });
        o += 4 + l;
      }
      rr.opt = opts;
      return;
    }
    default:
      // HTTPS, SVCB and the rest: name, type and TTL only, as Suricata logs them
      return;
  }
}

function readRecords(m: Buffer, count: number, pos: number, end: number, out: DnsResourceRecord[]): number {
  for (let i = 0; i < count; i++) {
    const n = readName(m, pos, end);
    const o = n.end;
    if (o + 10 > end) throw new Malformed('malformed_data');
    const rr: DnsResourceRecord = { rrname: n.text, rrtype: m.readUInt16BE(o), ttl: m.readUInt32BE(o + 4) };
    if (n.truncated) rr.rrnameTruncated = true;
    const rdlen = m.readUInt16BE(o + 8);
    if (o + 10 + rdlen > end) throw new Malformed('malformed_data');
    readRdata(m, rr, o + 10, rdlen, end);
    out.push(rr);
    pos = o + 10 + rdlen;
  }
  return pos;
}

/** Decodes the message in `m` (exactly the message: no TCP length prefix). */
export function decodeDnsMessage(m: Buffer): DnsDecoded {
  const end = m.length;
  if (end < 12) return { message: null, anomaly: 'malformed_data' };
  const flags = m.readUInt16BE(2);
  const counts = [m.readUInt16BE(4), m.readUInt16BE(6), m.readUInt16BE(8), m.readUInt16BE(10)] as const;
  try {
    let pos = 12;
    const queries: DnsQuestion[] = [];
    let truncated = false;
    for (let i = 0; i < counts[0]; i++) {
      const n = readName(m, pos, end);
      if (n.end + 4 > end) throw new Malformed('malformed_data');
      const q: DnsQuestion = { rrname: n.text, rrtype: m.readUInt16BE(n.end) };
      if (n.truncated) {
        q.rrnameTruncated = true;
        truncated = true;
      }
      queries.push(q);
      pos = n.end + 4;
    }
    const answers: DnsResourceRecord[] = [];
    const authorities: DnsResourceRecord[] = [];
    const additionals: DnsResourceRecord[] = [];
    pos = readRecords(m, counts[1], pos, end, answers);
    pos = readRecords(m, counts[2], pos, end, authorities);
    readRecords(m, counts[3], pos, end, additionals);
    const message: DnsMessage = {
      type: flags & 0x8000 ? 'response' : 'request',
      id: m.readUInt16BE(0),
      flags,
      queries,
      ...(answers.length ? { answers } : {}),
      ...(authorities.length ? { authorities } : {}),
      ...(additionals.length ? { additionals } : {}),
    };
    return truncated ? { message, anomaly: 'name_too_long' } : { message };
  } catch (err) {
    if (err instanceof Malformed) return { message: null, anomaly: err.anomaly };
    throw err;
  }
}
