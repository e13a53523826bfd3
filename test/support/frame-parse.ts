// A strict frame decoder for assertions: it walks the same layers as the kernel's parse.h
// (Ethernet, <= 2 VLAN tags, IPv4 honouring IHL, IPv6 extension chain of <= 8 headers) and throws
// FrameParseError naming the first thing that is wrong, so a test can assert on malformation too.
import { bytesToIpv4, bytesToIpv6, bytesToMac, ipv6ToBytes } from '../../src/lab/inet.js';
import { internetChecksum, pseudoHeader } from './checksum.js';

class FrameParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameParseError';
  }
}

export interface ParsedVlan {
  tpid: number;
  vid: number;
  pcp: number;
  dei: boolean;
}

export interface ParsedIpv4 {
  version: 4;
  ihl: number;
  headerLength: number;
  tos: number;
  totalLength: number;
  id: number;
  df: boolean;
  mf: boolean;
  /** in bytes */
  fragOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  src: string;
  dst: string;
  options: Buffer;
}

export interface ParsedExt {
  type: number;
  name: string;
  /** bytes this header occupies */
  length: number;
  nextHeader: number;
  fragment?: { offset: number; more: boolean; id: number };
  routing?: { routingType: number; segmentsLeft: number; addresses: string[] };
  ah?: { spi: number; seq: number };
}

export interface ParsedIpv6 {
  version: 6;
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  src: string;
  dst: string;
  ext: ParsedExt[];
  /** upper-layer protocol after the extension chain */
  protocol: number;
}

export type ParsedL4 =
  | { proto: 'tcp'; sport: number; dport: number; seq: number; ack: number; dataOffset: number; flags: string[]; window: number; checksum: number; urgent: number; options: Buffer }
  | { proto: 'udp'; sport: number; dport: number; length: number; checksum: number }
  | { proto: 'icmp'; type: number; code: number; checksum: number; id: number; seq: number; rest: Buffer }
  | { proto: 'icmpv6'; type: number; code: number; checksum: number; id: number; seq: number; target?: string; body: Buffer };

export interface ParsedFrame {
  eth: { dst: string; src: string; type: number };
  vlans: ParsedVlan[];
  l3Offset: number;
  ip?: ParsedIpv4 | ParsedIpv6;
  l4Offset?: number;
  /** absent for non-IP frames, non-first fragments and protocols this parser does not decode */
  l4?: ParsedL4;
  /** bytes after the last decoded header, bounded by the IP length */
  payload: Buffer;
  /** Ethernet padding/trailer beyond the IP length */
  trailer: Buffer;
}

const EXT_NAMES: Record<number, string> = { 0: 'hop-by-hop', 43: 'routing', 44: 'fragment', 51: 'ah', 60: 'dest-opts', 135: 'mobility' };
const FLAG_NAMES = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr'];

function need(buf: Buffer, end: number, what: string): void {
  if (end > buf.length) throw new FrameParseError(`${what} needs bytes up to ${end}, frame has ${buf.length}`);
}

export interface ParseOptions {
  /** extension headers walked before the chain counts as malformed (kernel: 8) */
  maxExt?: number;
}

export function parseFrame(buf: Buffer, opts: ParseOptions = {}): ParsedFrame {
  need(buf, 14, 'Ethernet header');
  const eth = { dst: bytesToMac(buf.subarray(0, 6)), src: bytesToMac(buf.subarray(6, 12)), type: buf.readUInt16BE(12) };
  const vlans: ParsedVlan[] = [];
  let off = 14;
  while (eth.type === 0x8100 || eth.type === 0x88a8) {
    if (vlans.length === 2) throw new FrameParseError('more than two VLAN tags');
    need(buf, off + 4, `VLAN tag ${vlans.length + 1}`);
    const tci = buf.readUInt16BE(off);
    vlans.push({ tpid: eth.type, vid: tci & 0xfff, pcp: tci >> 13, dei: (tci & 0x1000) !== 0 });
    eth.type = buf.readUInt16BE(off + 2);
    off += 4;
  }
  const base = { eth, vlans, l3Offset: off };
  if (eth.type === 0x0800) return parseIpv4(buf, off, base);
  if (eth.type === 0x86dd) return parseIpv6(buf, off, base, opts.maxExt ?? 8);
  return { ...base, payload: Buffer.from(buf.subarray(off)), trailer: Buffer.alloc(0) };
}

type Base = Pick<ParsedFrame, 'eth' | 'vlans' | 'l3Offset'>;

function parseIpv4(buf: Buffer, off: number, base: Base): ParsedFrame {
  need(buf, off + 20, 'IPv4 header');
  const version = buf[off]! >> 4;
  if (version !== 4) throw new FrameParseError(`IPv4 EtherType but version field is ${version}`);
  const ihl = buf[off]! & 0x0f;
  if (ihl < 5) throw new FrameParseError(`IPv4 IHL ${ihl} is below the minimum 5`);
  const hlen = ihl * 4;
  need(buf, off + hlen, `IPv4 header of IHL ${ihl}`);
  const totalLength = buf.readUInt16BE(off + 2);
  if (totalLength < hlen) throw new FrameParseError(`IPv4 total length ${totalLength} is shorter than its header (${hlen})`);
  need(buf, off + totalLength, `IPv4 total length ${totalLength}`);
  const frag = buf.readUInt16BE(off + 6);
  const ip: ParsedIpv4 = {
    version: 4,
    ihl,
    headerLength: hlen,
    tos: buf[off + 1]!,
    totalLength,
    id: buf.readUInt16BE(off + 4),
    df: (frag & 0x4000) !== 0,
    mf: (frag & 0x2000) !== 0,
    fragOffset: (frag & 0x1fff) * 8,
    ttl: buf[off + 8]!,
    protocol: buf[off + 9]!,
    checksum: buf.readUInt16BE(off + 10),
    src: bytesToIpv4(buf.subarray(off + 12, off + 16)),
    dst: bytesToIpv4(buf.subarray(off + 16, off + 20)),
    options: Buffer.from(buf.subarray(off + 20, off + hlen)),
  };
  const end = off + totalLength;
  const l4Off = off + hlen;
  const trailer = Buffer.from(buf.subarray(end));
  if (ip.fragOffset !== 0) return { ...base, ip, payload: Buffer.from(buf.subarray(l4Off, end)), trailer };
  return { ...base, ip, ...parseL4(buf, l4Off, end, ip.protocol), trailer };
}

function parseIpv6(buf: Buffer, off: number, base: Base, maxExt: number): ParsedFrame {
  need(buf, off + 40, 'IPv6 header');
  const w = buf.readUInt32BE(off);
  const version = w >>> 28;
  if (version !== 6) throw new FrameParseError(`IPv6 EtherType but version field is ${version}`);
  const payloadLength = buf.readUInt16BE(off + 4);
  const end = off + 40 + payloadLength;
  need(buf, end, `IPv6 payload length ${payloadLength}`);
  const ip: ParsedIpv6 = {
    version: 6,
    trafficClass: (w >>> 20) & 0xff,
    flowLabel: w & 0xfffff,
    payloadLength,
    nextHeader: buf[off + 6]!,
    hopLimit: buf[off + 7]!,
    src: bytesToIpv6(buf.subarray(off + 8, off + 24)),
    dst: bytesToIpv6(buf.subarray(off + 24, off + 40)),
    ext: [],
    protocol: 0,
  };
  let nh = ip.nextHeader;
  let p = off + 40;
  let laterFragment = false;
  while (EXT_NAMES[nh] !== undefined) {
    if (ip.ext.length === maxExt) throw new FrameParseError(`IPv6 extension chain longer than ${maxExt} headers`);
    const name = EXT_NAMES[nh]!;
    if (p + 2 > end) throw new FrameParseError(`IPv6 ${name} header at ${p} runs past the end of the packet (${end})`);
    let len: number;
    const e: ParsedExt = { type: nh, name, length: 0, nextHeader: buf[p]! };
    if (nh === 44) {
      len = 8;
      if (p + 8 > end) throw new FrameParseError(`IPv6 fragment header at ${p} runs past the end of the packet (${end})`);
      const fo = buf.readUInt16BE(p + 2);
      e.fragment = { offset: fo & 0xfff8, more: (fo & 1) === 1, id: buf.readUInt32BE(p + 4) };
      if (e.fragment.offset !== 0) laterFragment = true;
    } else if (nh === 51) {
      len = (buf[p + 1]! + 2) * 4;
    } else {
      len = (buf[p + 1]! + 1) * 8;
    }
    if (p + len > end) throw new FrameParseError(`IPv6 ${name} header of ${len} bytes at ${p} runs past the end of the packet (${end})`);
    if (nh === 51) e.ah = { spi: buf.readUInt32BE(p + 4), seq: buf.readUInt32BE(p + 8) };
    if (nh === 43) {
      const addresses: string[] = [];
      for (let a = p + 8; a + 16 <= p + len; a += 16) addresses.push(bytesToIpv6(buf.subarray(a, a + 16)));
      e.routing = { routingType: buf[p + 2]!, segmentsLeft: buf[p + 3]!, addresses };
    }
    e.length = len;
    ip.ext.push(e);
    nh = e.nextHeader;
    p += len;
  }
  ip.protocol = nh;
  const trailer = Buffer.from(buf.subarray(end));
  if (laterFragment) return { ...base, ip, payload: Buffer.from(buf.subarray(p, end)), trailer };
  return { ...base, ip, ...parseL4(buf, p, end, nh), trailer };
}

function parseL4(buf: Buffer, off: number, end: number, proto: number): Pick<ParsedFrame, 'l4' | 'l4Offset' | 'payload'> {
  const inner = buf.subarray(0, end);
  switch (proto) {
    case 6: {
      need(inner, off + 20, 'TCP header');
      const doff = buf[off + 12]! >> 4;
      if (doff < 5) throw new FrameParseError(`TCP data offset ${doff} is below the minimum 5`);
      need(inner, off + doff * 4, `TCP header of data offset ${doff}`);
      const fl = buf[off + 13]!;
      const l4: ParsedL4 = {
        proto: 'tcp',
        sport: buf.readUInt16BE(off),
        dport: buf.readUInt16BE(off + 2),
        seq: buf.readUInt32BE(off + 4),
        ack: buf.readUInt32BE(off + 8),
        dataOffset: doff,
        flags: FLAG_NAMES.filter((_, i) => (fl & (1 << i)) !== 0),
        window: buf.readUInt16BE(off + 14),
        checksum: buf.readUInt16BE(off + 16),
        urgent: buf.readUInt16BE(off + 18),
        options: Buffer.from(buf.subarray(off + 20, off + doff * 4)),
      };
      return { l4, l4Offset: off, payload: Buffer.from(buf.subarray(off + doff * 4, end)) };
    }
    case 17: {
      need(inner, off + 8, 'UDP header');
      const l4: ParsedL4 = { proto: 'udp', sport: buf.readUInt16BE(off), dport: buf.readUInt16BE(off + 2), length: buf.readUInt16BE(off + 4), checksum: buf.readUInt16BE(off + 6) };
      return { l4, l4Offset: off, payload: Buffer.from(buf.subarray(off + 8, end)) };
    }
    case 1: {
      need(inner, off + 8, 'ICMP header');
      const l4: ParsedL4 = { proto: 'icmp', type: buf[off]!, code: buf[off + 1]!, checksum: buf.readUInt16BE(off + 2), id: buf.readUInt16BE(off + 4), seq: buf.readUInt16BE(off + 6), rest: Buffer.from(buf.subarray(off + 4, off + 8)) };
      return { l4, l4Offset: off, payload: Buffer.from(buf.subarray(off + 8, end)) };
    }
    case 58: {
      need(inner, off + 8, 'ICMPv6 header');
      const type = buf[off]!;
      const l4: ParsedL4 = { proto: 'icmpv6', type, code: buf[off + 1]!, checksum: buf.readUInt16BE(off + 2), id: buf.readUInt16BE(off + 4), seq: buf.readUInt16BE(off + 6), body: Buffer.from(buf.subarray(off + 4, end)) };
      if ((type === 135 || type === 136) && off + 24 <= end) l4.target = bytesToIpv6(buf.subarray(off + 8, off + 24));
      return { l4, l4Offset: off, payload: Buffer.from(buf.subarray(off + 8, end)) };
    }
    default:
      return { payload: Buffer.from(buf.subarray(off, end)) };
  }
}

export function verifyIpv4Checksum(frame: Buffer): boolean {
  const p = parseFrame(frame);
  if (p.ip?.version !== 4) throw new FrameParseError('verifyIpv4Checksum: not an IPv4 frame');
  return internetChecksum(frame.subarray(p.l3Offset, p.l3Offset + p.ip.headerLength)) === 0;
}

/**
 * True when the TCP/UDP/ICMP/ICMPv6 checksum is right. An IPv4 UDP checksum of 0 ("none",
 * RFC 768) counts as right; in IPv6 it is required (RFC 8200 §8.1), so 0 there is wrong.
 */
export function verifyL4Checksum(frame: Buffer): boolean {
  const p = parseFrame(frame);
  if (!p.ip || !p.l4 || p.l4Offset === undefined) throw new FrameParseError('verifyL4Checksum: no decodable L4 header (non-IP, fragment or unknown protocol)');
  const end = p.l3Offset + (p.ip.version === 4 ? p.ip.totalLength : 40 + p.ip.payloadLength);
  const msg = frame.subarray(p.l4Offset, end);
  if (p.l4.proto === 'icmp') return internetChecksum(msg) === 0;
  if (p.l4.proto === 'udp' && p.l4.checksum === 0) return p.ip.version === 4;
  const protoNum = p.l4.proto === 'tcp' ? 6 : p.l4.proto === 'udp' ? 17 : 58;
  let src: Buffer;
  let dst: Buffer;
  if (p.ip.version === 4) {
    src = frame.subarray(p.l3Offset + 12, p.l3Offset + 16);
    dst = frame.subarray(p.l3Offset + 16, p.l3Offset + 20);
  } else {
    src = frame.subarray(p.l3Offset + 8, p.l3Offset + 24);
    dst = frame.subarray(p.l3Offset + 24, p.l3Offset + 40);
    const rt = p.ip.ext.find((e) => e.routing && e.routing.segmentsLeft > 0 && e.routing.addresses.length > 0);
    if (rt?.routing) {
      const a = rt.routing.addresses;
      dst = ipv6ToBytes(a[a.length - 1]!);
    }
  }
  return internetChecksum(pseudoHeader(src, dst, protoNum, msg.length), msg) === 0;
}

/** The IP packet inside a frame (after Ethernet and VLAN tags), e.g. to quote in an ICMP error. */
export function ipPacketOf(frame: Buffer): Buffer {
  const p = parseFrame(frame);
  if (!p.ip) throw new FrameParseError('ipPacketOf: not an IP frame');
  const len = p.ip.version === 4 ? p.ip.totalLength : 40 + p.ip.payloadLength;
  return Buffer.from(frame.subarray(p.l3Offset, p.l3Offset + len));
}
