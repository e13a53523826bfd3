// Community ID flow hash, version 1 (corelight/community-id-spec), so our alerts join up with
// Zeek, Suricata and anything else that tags flows the same way. Written from the spec:
//   sha1( seed:u16be | addr_lo | addr_hi | proto:u8 | 0:u8 | port_lo:u16be | port_hi:u16be )
// where the endpoint order makes both directions of a flow hash the same, ports are omitted
// for protocols without them, and ICMP/ICMPv6 type/code stand in for ports.
import { isIP } from 'node:net';
import { addressInto } from '../net/ip.js';
import { digestText, sha1Short } from './sha1-short.js';

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_SCTP = 132;

const PORT_PROTOS = new Set([IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP, IPPROTO_ICMPV6]);

// Request/reply pairs: both directions of such an exchange are one flow. Any other type is a
// one-way message (errors, redirects...), hashed as sent, with its code as the "port".
const ICMP4_PEER: ReadonlyMap<number, number> = pairs([
  [8, 0], // echo request / reply
  [13, 14], // timestamp
  [15, 16], // information
  [10, 9], // router solicitation / advertisement
  [17, 18], // address mask
]);
const ICMP6_PEER: ReadonlyMap<number, number> = pairs([
  [128, 129], // echo request / reply
  [130, 131], // multicast listener query / report
  [133, 134], // router solicitation / advertisement
  [135, 136], // neighbor solicitation / advertisement
  [139, 140], // node information query / response
  [144, 145], // home agent address discovery request / reply
]);

function pairs(list: [number, number][]): Map<number, number> {
  const m = new Map<number, number>();
  for (const [a, b] of list) {
    m.set(a, b);
    m.set(b, a);
  }
  return m;
}

export interface FlowTuple {
  srcIp: string;
  dstIp: string;
  /** IP protocol number */
  proto: number;
  /** TCP/UDP/SCTP port, or the ICMP type for ICMP/ICMPv6 */
  srcPort?: number;
  /** TCP/UDP/SCTP port, or the ICMP code for ICMP/ICMPv6 */
  dstPort?: number;
}

export interface CommunityIdOptions {
  /** 0..65535, default 0 */
  seed?: number;
  /** base64 (default, what Suricata and Zeek write) or lowercase hex */
  encoding?: 'base64' | 'hex';
}

/** Address bytes in network order; throws naming the bad value. */
export function addressBytes(ip: string): Buffer {
  const v = isIP(ip);
  if (v === 4) return Buffer.from(ip.split('.').map((o) => Number(o)));
  if (v === 6) return ipv6Bytes(ip);
  throw new TypeError(`community id: "${ip}" is not an IPv4 or IPv6 address`);
}

function ipv6Bytes(ip: string): Buffer {
  let s = ip.split('%')[0] ?? ip; // a zone id (fe80::1%eth0) is not part of the address
  const out = Buffer.alloc(16);
  // a trailing dotted quad (::ffff:192.0.2.1) is the last 32 bits
  const m = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  let tail: Buffer | null = null;
  if (m && m[1]) {
    tail = addressBytes(m[1]);
    s = s.slice(0, s.length - m[1].length) + '0:0';
  }
  const [head, rest] = s.includes('::') ? (s.split('::') as [string, string]) : [s, null];
  const h = head ? head.split(':') : [];
  const r = rest ? rest.split(':') : [];
  const groups = rest === null ? h : [...h, ...Array<string>(8 - h.length - r.length).fill('0'), ...r];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  if (tail) tail.copy(out, 12);
  return out;
}

/** ICMP type/code -> the (src, dst) "ports" of the spec, and whether the message is one-way. */
export function icmpPorts(proto: number, type: number, code: number): { sport: number; dport: number; oneWay: boolean } {
  const peer = (proto === IPPROTO_ICMPV6 ? ICMP6_PEER : ICMP4_PEER).get(type);
  if (peer === undefined) return { sport: type, dport: code, oneWay: true };
  return { sport: type, dport: peer, oneWay: false };
}

function checkU16(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`community id: ${what} must be 0..65535, got ${v}`);
}

// Every alert's EVE line hashes its flow, so the hash input is built in one buffer kept for the
// purpose (no allocation per alert) from addresses read without a detour through Buffers.
const srcBuf = Buffer.alloc(16);
const dstBuf = Buffer.alloc(16);
const input = Buffer.alloc(2 + 16 + 16 + 2 + 4);

const digest = new Int32Array(5);

/** Writes an address into `out`; its length (4 or 16). */
function readAddress(ip: string, out: Buffer): number {
  const f = addressInto(ip, out, 0);
  if (f !== 0) return f === 4 ? 4 : 16;
  const b = addressBytes(ip); // other spellings (zone ids, embedded IPv4), or the error
  b.copy(out);
  return b.length;
}

export function communityId(flow: FlowTuple, opts: CommunityIdOptions = {}): string {
  const seed = opts.seed ?? 0;
  checkU16('seed', seed);
  if (!Number.isInteger(flow.proto) || flow.proto < 0 || flow.proto > 255) {
    throw new RangeError(`community id: proto must be 0..255, got ${flow.proto}`);
  }
  const alen = readAddress(flow.srcIp, srcBuf);
  if (readAddress(flow.dstIp, dstBuf) !== alen) {
    throw new TypeError(`community id: address families differ (${flow.srcIp} -> ${flow.dstIp})`);
  }
  const hasPorts = PORT_PROTOS.has(flow.proto) && flow.srcPort !== undefined && flow.dstPort !== undefined;
  let sport = flow.srcPort ?? 0;
  let dport = flow.dstPort ?? 0;
  let oneWay = false;
  if (hasPorts) {
    checkU16('source port', sport);
    checkU16('destination port', dport);
    if (flow.proto === IPPROTO_ICMP || flow.proto === IPPROTO_ICMPV6) {
      ({ sport, dport, oneWay } = icmpPorts(flow.proto, sport, dport));
    }
  }
  let cmp = 0;
  for (let i = 0; i < alen && cmp === 0; i++) cmp = srcBuf[i]! - dstBuf[i]!;
  let lo = srcBuf;
  let hi = dstBuf;
  if (!oneWay && (cmp > 0 || (cmp === 0 && hasPorts && sport > dport))) {
    lo = dstBuf;
    hi = srcBuf;
    [sport, dport] = [dport, sport];
  }
  input[0] = seed >> 8;
  input[1] = seed & 0xff;
  // byte by byte: Buffer#copy of 4 or 16 bytes costs more in argument checks than the copy
  for (let i = 0; i < alen; i++) {
    input[2 + i] = lo[i]!;
    input[2 + alen + i] = hi[i]!;
  }
  let n = 2 + 2 * alen;
  input[n++] = flow.proto;
  input[n++] = 0;
  if (hasPorts) {
    input[n++] = sport >> 8;
    input[n++] = sport & 0xff;
    input[n++] = dport >> 8;
    input[n++] = dport & 0xff;
  }
  sha1Short(input, n, digest);
  return `1:${digestText(digest, opts.encoding ?? 'base64')}`;
}
