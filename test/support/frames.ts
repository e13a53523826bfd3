// Builds exact Ethernet frames for kernel tests (BPF_PROG_TEST_RUN), pcaps and assertions.
// Every length and checksum is computed from the bytes actually emitted unless the spec overrides
// it, which is how malformed frames are made on purpose (see malformed.ts).
import { familyOf, ipv4ToBytes, ipv6ToBytes, macToBytes } from '../../src/lab/inet.js';
import { internetChecksum, pseudoHeader } from './checksum.js';

export { parseFrame, verifyIpv4Checksum, verifyL4Checksum, ipPacketOf } from './frame-parse.js';
export type { ParsedFrame, ParsedIpv4, ParsedIpv6, ParsedL4, ParsedExt } from './frame-parse.js';

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
export const ETH_P_ARP = 0x0806;
const ETH_P_8021Q = 0x8100;
const ETH_P_8021AD = 0x88a8;

const IPPROTO = { hopopts: 0, icmp: 1, tcp: 6, udp: 17, routing: 43, fragment: 44, esp: 50, ah: 51, icmpv6: 58, none: 59, dstopts: 60 } as const;

export const DEFAULT_SRC_MAC = '02:00:00:00:00:01';
export const DEFAULT_DST_MAC = '02:00:00:00:00:02';

export interface VlanTag {
  vid: number;
  pcp?: number;
  dei?: boolean;
  /** default: 0x88A8 for the outer tag of a stack, 0x8100 otherwise */
  tpid?: number;
}

export interface EthSpec {
  src?: string;
  dst?: string;
  /** EtherType after the VLAN tags; defaults from the IP version */
  type?: number;
}

export interface Ipv4Spec {
  version?: 4;
  src: string;
  dst: string;
  ttl?: number;
  id?: number;
  tos?: number;
  df?: boolean;
  mf?: boolean;
  /** fragment offset in bytes (a multiple of 8) */
  fragOffset?: number;
  /** options bytes; must be a multiple of 4 and at most 40 */
  options?: Buffer;
  /** overrides for malformed frames */
  protocol?: number;
  ihl?: number;
  versionField?: number;
  totalLength?: number;
  checksum?: number;
}

export type Ipv6Ext =
  | { kind: 'hop-by-hop' | 'dest-opts'; options?: Buffer; hdrExtLen?: number }
  | { kind: 'routing'; routingType?: number; segmentsLeft?: number; addresses?: string[]; hdrExtLen?: number }
  | { kind: 'fragment'; offset?: number; more?: boolean; id?: number }
  | { kind: 'ah'; spi?: number; seq?: number; icv?: Buffer; payloadLen?: number };

export interface Ipv6Spec {
  version: 6;
  src: string;
  dst: string;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
  ext?: Ipv6Ext[];
  /** overrides for malformed frames */
  nextHeader?: number;
  payloadLength?: number;
  versionField?: number;
}

export type TcpFlagName = 'fin' | 'syn' | 'rst' | 'psh' | 'ack' | 'urg' | 'ece' | 'cwr';
const TCP_FLAG_BITS: Record<TcpFlagName, number> = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10, urg: 0x20, ece: 0x40, cwr: 0x80 };

export interface TcpSpec {
  proto: 'tcp';
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  flags?: TcpFlagName[];
  window?: number;
  urgent?: number;
  /** option bytes; padded with EOL (0) to a multiple of 4 */
  options?: Buffer;
  dataOffset?: number;
  checksum?: number;
}

export interface UdpSpec {
  proto: 'udp';
  sport: number;
  dport: number;
  length?: number;
  checksum?: number;
}

export interface IcmpSpec {
  proto: 'icmp';
  type: number;
  code?: number;
  /** echo identifier/sequence: written into the 4 "rest of header" bytes */
  id?: number;
  seq?: number;
  /** the 4 "rest of header" bytes, verbatim (wins over id/seq) */
  rest?: Buffer;
  checksum?: number;
}

export interface Icmpv6Spec {
  proto: 'icmpv6';
  type: number;
  code?: number;
  id?: number;
  seq?: number;
  /** message body after the 4-byte type/code/checksum (wins over id/seq) */
  body?: Buffer;
  checksum?: number;
}

/** Any other upper-layer protocol (or a non-first fragment): bytes emitted as given. */
export interface RawL4Spec {
  proto: 'raw';
  number: number;
  bytes: Buffer;
}

export type L4Spec = TcpSpec | UdpSpec | IcmpSpec | Icmpv6Spec | RawL4Spec;

export interface FrameSpec {
  eth?: EthSpec;
  /** outer tag first; more than two builds a frame the kernel must treat as malformed */
  vlans?: VlanTag[];
  ip?: Ipv4Spec | Ipv6Spec;
  l4?: L4Spec;
  payload?: Buffer | string;
}

function u8(name: string, v: number, max = 0xff): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new Error(`${name} must be an integer 0..${max}, got ${v}`);
  return v;
}

function protoNumber(l4: L4Spec | undefined): number {
  if (!l4) return IPPROTO.none;
  switch (l4.proto) {
    case 'tcp':
      return IPPROTO.tcp;
    case 'udp':
      return IPPROTO.udp;
    case 'icmp':
      return IPPROTO.icmp;
    case 'icmpv6':
      return IPPROTO.icmpv6;
    case 'raw':
      return u8('raw L4 protocol number', l4.number);
  }
}

export function buildEthernet(spec: { eth?: EthSpec; vlans?: VlanTag[] }, innerType: number): Buffer {
  const vlans = spec.vlans ?? [];
  const out = Buffer.alloc(14 + 4 * vlans.length);
  macToBytes(spec.eth?.dst ?? DEFAULT_DST_MAC).copy(out, 0);
  macToBytes(spec.eth?.src ?? DEFAULT_SRC_MAC).copy(out, 6);
  let off = 12;
  vlans.forEach((tag, i) => {
    const tpid = tag.tpid ?? (vlans.length > 1 && i === 0 ? ETH_P_8021AD : ETH_P_8021Q);
    out.writeUInt16BE(tpid, off);
    const tci = (u8('VLAN pcp', tag.pcp ?? 0, 7) << 13) | ((tag.dei ? 1 : 0) << 12) | u8('VLAN id', tag.vid, 0xfff);
    out.writeUInt16BE(tci, off + 2);
    off += 4;
  });
  out.writeUInt16BE(spec.eth?.type ?? innerType, off);
  return out;
}

function tcpHeader(t: TcpSpec): Buffer {
  const opts = t.options ?? Buffer.alloc(0);
  const optLen = Math.ceil(opts.length / 4) * 4;
  if (optLen > 40) throw new Error(`TCP options are ${opts.length} bytes; at most 40 fit`);
  const h = Buffer.alloc(20 + optLen);
  h.writeUInt16BE(u8('TCP sport', t.sport, 0xffff), 0);
  h.writeUInt16BE(u8('TCP dport', t.dport, 0xffff), 2);
  h.writeUInt32BE((t.seq ?? 0) >>> 0, 4);
  h.writeUInt32BE((t.ack ?? 0) >>> 0, 8);
  const doff = t.dataOffset ?? (20 + optLen) / 4;
  h[12] = u8('TCP data offset', doff, 15) << 4;
  let flags = 0;
  for (const f of t.flags ?? []) {
    const bit = TCP_FLAG_BITS[f];
    if (bit === undefined) throw new Error(`unknown TCP flag "${String(f)}" (known: ${Object.keys(TCP_FLAG_BITS).join(', ')})`);
    flags |= bit;
  }
  h[13] = flags;
  h.writeUInt16BE(u8('TCP window', t.window ?? 65535, 0xffff), 14);
  h.writeUInt16BE(u8('TCP urgent pointer', t.urgent ?? 0, 0xffff), 18);
  opts.copy(h, 20);
  return h;
}

/** L4 header + payload with its checksum filled in; srcB/dstB are the pseudo-header addresses. */
function buildL4(l4: L4Spec, payload: Buffer, srcB: Buffer | null, dstB: Buffer | null): Buffer {
  const withPseudo = (msg: Buffer, proto: number): number => {
    if (!srcB || !dstB) throw new Error(`${l4.proto} checksum needs an IP header for its pseudo-header`);
    return internetChecksum(pseudoHeader(srcB, dstB, proto, msg.length), msg);
  };
  switch (l4.proto) {
    case 'tcp': {
      const msg = Buffer.concat([tcpHeader(l4), payload]);
      msg.writeUInt16BE(l4.checksum ?? withPseudo(msg, IPPROTO.tcp), 16);
      return msg;
    }
    case 'udp': {
      const msg = Buffer.concat([Buffer.alloc(8), payload]);
      msg.writeUInt16BE(u8('UDP sport', l4.sport, 0xffff), 0);
      msg.writeUInt16BE(u8('UDP dport', l4.dport, 0xffff), 2);
      msg.writeUInt16BE(l4.length ?? msg.length, 4);
      // A computed 0 is sent as 0xffff: 0 means "no checksum" (RFC 768).
      msg.writeUInt16BE(l4.checksum ?? (withPseudo(msg, IPPROTO.udp) || 0xffff), 6);
      return msg;
    }
    case 'icmp': {
      const rest = l4.rest ?? restOfHeader(l4.id, l4.seq);
      if (rest.length !== 4) throw new Error(`ICMP rest-of-header must be 4 bytes, got ${rest.length}`);
      const msg = Buffer.concat([Buffer.from([u8('ICMP type', l4.type), u8('ICMP code', l4.code ?? 0), 0, 0]), rest, payload]);
      msg.writeUInt16BE(l4.checksum ?? internetChecksum(msg), 2);
      return msg;
    }
    case 'icmpv6': {
      const body = l4.body ?? restOfHeader(l4.id, l4.seq);
      const msg = Buffer.concat([Buffer.from([u8('ICMPv6 type', l4.type), u8('ICMPv6 code', l4.code ?? 0), 0, 0]), body, payload]);
      msg.writeUInt16BE(l4.checksum ?? withPseudo(msg, IPPROTO.icmpv6), 2);
      return msg;
    }
    case 'raw':
      return Buffer.concat([l4.bytes, payload]);
  }
}

function restOfHeader(id: number | undefined, seq: number | undefined): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(u8('ICMP echo id', id ?? 0, 0xffff), 0);
  b.writeUInt16BE(u8('ICMP echo seq', seq ?? 0, 0xffff), 2);
  return b;
}

function ipv4Header(ip: Ipv4Spec, protocol: number, l4Len: number): Buffer {
  const opts = ip.options ?? Buffer.alloc(0);
  if (opts.length % 4 !== 0 || opts.length > 40) {
    throw new Error(`IPv4 options must be a multiple of 4 bytes and at most 40, got ${opts.length}`);
  }
  const hlen = 20 + opts.length;
  const h = Buffer.alloc(hlen);
  const ihl = ip.ihl ?? hlen / 4;
  h[0] = (u8('IPv4 version field', ip.versionField ?? 4, 15) << 4) | u8('IPv4 IHL', ihl, 15);
  h[1] = u8('IPv4 TOS', ip.tos ?? 0);
  h.writeUInt16BE(u8('IPv4 total length', ip.totalLength ?? hlen + l4Len, 0xffff), 2);
  h.writeUInt16BE(u8('IPv4 id', ip.id ?? 0, 0xffff), 4);
  const fragOff = ip.fragOffset ?? 0;
  if (fragOff % 8 !== 0) throw new Error(`IPv4 fragment offset ${fragOff} is not a multiple of 8 bytes`);
  const frag = (ip.df ? 0x4000 : 0) | (ip.mf ? 0x2000 : 0) | u8('IPv4 fragment offset / 8', fragOff / 8, 0x1fff);
  h.writeUInt16BE(frag, 6);
  h[8] = u8('IPv4 TTL', ip.ttl ?? 64);
  h[9] = u8('IPv4 protocol', ip.protocol ?? protocol);
  ipv4ToBytes(ip.src).copy(h, 12);
  ipv4ToBytes(ip.dst).copy(h, 16);
  opts.copy(h, 20);
  h.writeUInt16BE(ip.checksum ?? internetChecksum(h), 10);
  return h;
}

const EXT_TYPE: Record<Ipv6Ext['kind'], number> = {
  'hop-by-hop': IPPROTO.hopopts,
  routing: IPPROTO.routing,
  fragment: IPPROTO.fragment,
  'dest-opts': IPPROTO.dstopts,
  ah: IPPROTO.ah,
};

/** Options padded with Pad1/PadN (RFC 8200 §4.2) so the header is a multiple of 8 bytes. */
function padOptions(options: Buffer): Buffer {
  const pad = (8 - ((2 + options.length) % 8)) % 8;
  if (pad === 0) return options;
  if (pad === 1) return Buffer.concat([options, Buffer.from([0])]);
  return Buffer.concat([options, Buffer.from([1, pad - 2]), Buffer.alloc(pad - 2)]);
}

function extHeader(ext: Ipv6Ext, next: number): Buffer {
  switch (ext.kind) {
    case 'hop-by-hop':
    case 'dest-opts': {
      const body = padOptions(ext.options ?? Buffer.alloc(0));
      const h = Buffer.concat([Buffer.from([next, 0]), body]);
      h[1] = u8(`${ext.kind} Hdr Ext Len`, ext.hdrExtLen ?? h.length / 8 - 1);
      return h;
    }
    case 'routing': {
      const addrs = (ext.addresses ?? []).map((a) => ipv6ToBytes(a));
      const h = Buffer.concat([Buffer.alloc(8), ...addrs]);
      h[0] = next;
      h[1] = u8('routing Hdr Ext Len', ext.hdrExtLen ?? h.length / 8 - 1);
      h[2] = u8('routing type', ext.routingType ?? 0);
      h[3] = u8('segments left', ext.segmentsLeft ?? addrs.length);
      return h;
    }
    case 'fragment': {
      const h = Buffer.alloc(8);
      h[0] = next;
      const off = ext.offset ?? 0;
      if (off % 8 !== 0) throw new Error(`IPv6 fragment offset ${off} is not a multiple of 8 bytes`);
      h.writeUInt16BE((u8('IPv6 fragment offset / 8', off / 8, 0x1fff) << 3) | (ext.more ? 1 : 0), 2);
      h.writeUInt32BE((ext.id ?? 0) >>> 0, 4);
      return h;
    }
    case 'ah': {
      const icv = ext.icv ?? Buffer.alloc(12);
      const h = Buffer.concat([Buffer.alloc(12), icv]);
      if (h.length % 8 !== 0) throw new Error(`AH in IPv6 must be a multiple of 8 bytes; ICV of ${icv.length} makes ${h.length}`);
      h[0] = next;
      h[1] = u8('AH payload length', ext.payloadLen ?? h.length / 4 - 2);
      h.writeUInt32BE((ext.spi ?? 0x100) >>> 0, 4);
      h.writeUInt32BE((ext.seq ?? 1) >>> 0, 8);
      return h;
    }
  }
}

/** The destination the upper layer's pseudo-header uses: the final one when routing is pending. */
function finalIpv6Destination(ip: Ipv6Spec): string {
  for (const e of ip.ext ?? []) {
    if (e.kind === 'routing' && (e.segmentsLeft ?? e.addresses?.length ?? 0) > 0 && e.addresses && e.addresses.length > 0) {
      return e.addresses[e.addresses.length - 1]!;
    }
  }
  return ip.dst;
}

export function buildFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const ip = spec.ip;
  if (!ip) {
    if (spec.l4) throw new Error('an L4 header needs an ip spec');
    return Buffer.concat([buildEthernet(spec, spec.eth?.type ?? ETH_P_IP), payload]);
  }
  const proto = protoNumber(spec.l4);
  if (ip.version === 6) {
    if (familyOf(ip.src) !== 6 || familyOf(ip.dst) !== 6) throw new Error(`IPv6 frame needs IPv6 addresses, got ${ip.src} -> ${ip.dst}`);
    const l4 = spec.l4 ? buildL4(spec.l4, payload, ipv6ToBytes(ip.src), ipv6ToBytes(finalIpv6Destination(ip))) : payload;
    const exts = ip.ext ?? [];
    const extBufs = exts.map((e, i) => extHeader(e, i + 1 < exts.length ? EXT_TYPE[exts[i + 1]!.kind] : proto));
    const body = Buffer.concat([...extBufs, l4]);
    const h = Buffer.alloc(40);
    const vtcfl = ((u8('IPv6 version field', ip.versionField ?? 6, 15) << 28) | (u8('traffic class', ip.trafficClass ?? 0) << 20) | u8('flow label', ip.flowLabel ?? 0, 0xfffff)) >>> 0;
    h.writeUInt32BE(vtcfl, 0);
    h.writeUInt16BE(u8('IPv6 payload length', ip.payloadLength ?? body.length, 0xffff), 4);
    h[6] = ip.nextHeader ?? (exts.length > 0 ? EXT_TYPE[exts[0]!.kind] : proto);
    h[7] = u8('hop limit', ip.hopLimit ?? 64);
    ipv6ToBytes(ip.src).copy(h, 8);
    ipv6ToBytes(ip.dst).copy(h, 24);
    return Buffer.concat([buildEthernet(spec, ETH_P_IPV6), h, body]);
  }
  if (familyOf(ip.src) !== 4 || familyOf(ip.dst) !== 4) throw new Error(`IPv4 frame needs IPv4 addresses, got ${ip.src} -> ${ip.dst}`);
  const l4 = spec.l4 ? buildL4(spec.l4, payload, ipv4ToBytes(ip.src), ipv4ToBytes(ip.dst)) : payload;
  return Buffer.concat([buildEthernet(spec, ETH_P_IP), ipv4Header(ip, proto, l4.length), l4]);
}

/** The first n bytes of a frame (a copy), for truncated-frame tests. */
export function truncate(frame: Buffer, n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > frame.length) throw new Error(`cannot truncate a ${frame.length}-byte frame to ${n} bytes`);
  return Buffer.from(frame.subarray(0, n));
}

// ---- convenience builders: one call per common packet, family picked from the addresses ----

export interface FlowOpts {
  src: string;
  dst: string;
  vlans?: VlanTag[];
  srcMac?: string;
  dstMac?: string;
  /** TTL (IPv4) or hop limit (IPv6) */
  ttl?: number;
  /** IPv4 identification */
  ipId?: number;
  df?: boolean;
  /** IPv6 extension headers (ignored for IPv4) */
  ext?: Ipv6Ext[];
  /** IPv4 options (ignored for IPv6) */
  ipOptions?: Buffer;
  payload?: Buffer | string;
}

function ipFor(o: FlowOpts): Ipv4Spec | Ipv6Spec {
  const fam = familyOf(o.src);
  if (familyOf(o.dst) !== fam) throw new Error(`source ${o.src} and destination ${o.dst} are of different families`);
  if (fam === 6) {
    const v6: Ipv6Spec = { version: 6, src: o.src, dst: o.dst, hopLimit: o.ttl ?? 64 };
    if (o.ext) v6.ext = o.ext;
    return v6;
  }
  const v4: Ipv4Spec = { src: o.src, dst: o.dst, ttl: o.ttl ?? 64, id: o.ipId ?? 1, df: o.df ?? false };
  if (o.ipOptions) v4.options = o.ipOptions;
  return v4;
}

function frameFor(o: FlowOpts, l4: L4Spec): Buffer {
  const spec: FrameSpec = { eth: { src: o.srcMac ?? DEFAULT_SRC_MAC, dst: o.dstMac ?? DEFAULT_DST_MAC }, ip: ipFor(o), l4 };
  if (o.vlans) spec.vlans = o.vlans;
  if (o.payload !== undefined) spec.payload = o.payload;
  return buildFrame(spec);
}

export function tcpFrame(o: FlowOpts & Omit<TcpSpec, 'proto'>): Buffer {
  const t: TcpSpec = { proto: 'tcp', sport: o.sport, dport: o.dport, flags: o.flags ?? ['syn'] };
  if (o.seq !== undefined) t.seq = o.seq;
  if (o.ack !== undefined) t.ack = o.ack;
  if (o.window !== undefined) t.window = o.window;
  if (o.urgent !== undefined) t.urgent = o.urgent;
  if (o.options !== undefined) t.options = o.options;
  return frameFor(o, t);
}

export function udpFrame(o: FlowOpts & { sport: number; dport: number }): Buffer {
  return frameFor(o, { proto: 'udp', sport: o.sport, dport: o.dport });
}

/** Echo request (or reply), ICMP for IPv4 and ICMPv6 for IPv6. */
export function icmpEchoFrame(o: FlowOpts & { id?: number; seq?: number; reply?: boolean }): Buffer {
  const id = o.id ?? 0x1234;
  const seq = o.seq ?? 1;
  if (familyOf(o.src) === 6) return frameFor(o, { proto: 'icmpv6', type: o.reply ? 129 : 128, id, seq });
  return frameFor(o, { proto: 'icmp', type: o.reply ? 0 : 8, id, seq });
}

/** Any ICMP/ICMPv6 type/code with a zeroed 4-byte rest-of-header (unless given). */
export function icmpFrame(o: FlowOpts & { type: number; code?: number; rest?: Buffer }): Buffer {
  if (familyOf(o.src) === 6) {
    const s: Icmpv6Spec = { proto: 'icmpv6', type: o.type, code: o.code ?? 0, body: o.rest ?? Buffer.alloc(4) };
    return frameFor(o, s);
  }
  const s: IcmpSpec = { proto: 'icmp', type: o.type, code: o.code ?? 0, rest: o.rest ?? Buffer.alloc(4) };
  return frameFor(o, s);
}

/**
 * Destination unreachable quoting the offending packet (its IP header and the start of its
 * payload), as a router would send it: ICMP type 3 or ICMPv6 type 1.
 */
export function icmpUnreachableFrame(o: FlowOpts & { code: number; original: Buffer }): Buffer {
  const v6 = familyOf(o.src) === 6;
  // IPv4 quotes the header + 8 bytes (RFC 792); IPv6 as much as fits in 1280 (RFC 4443).
  const quote = v6 ? o.original.subarray(0, 1280 - 48) : o.original.subarray(0, ((o.original[0]! & 0x0f) * 4) + 8);
  return icmpFrame({ ...o, type: v6 ? 1 : 3, code: o.code, payload: Buffer.from(quote) });
}

/** ICMPv6 neighbour solicitation (135) for target, with an optional source link-layer option. */
export function ndSolicitFrame(o: FlowOpts & { target: string; sourceLinkAddr?: string }): Buffer {
  const body = Buffer.concat([Buffer.alloc(4), ipv6ToBytes(o.target), o.sourceLinkAddr ? Buffer.concat([Buffer.from([1, 1]), macToBytes(o.sourceLinkAddr)]) : Buffer.alloc(0)]);
  return frameFor({ ...o, ttl: o.ttl ?? 255 }, { proto: 'icmpv6', type: 135, body });
}

/** ICMPv6 neighbour advertisement (136) with R/S/O flags and an optional target link-layer option. */
export function ndAdvertFrame(o: FlowOpts & { target: string; router?: boolean; solicited?: boolean; override?: boolean; targetLinkAddr?: string }): Buffer {
  const flags = Buffer.alloc(4);
  flags[0] = (o.router ? 0x80 : 0) | (o.solicited ? 0x40 : 0) | (o.override ? 0x20 : 0);
  const body = Buffer.concat([flags, ipv6ToBytes(o.target), o.targetLinkAddr ? Buffer.concat([Buffer.from([2, 1]), macToBytes(o.targetLinkAddr)]) : Buffer.alloc(0)]);
  return frameFor({ ...o, ttl: o.ttl ?? 255 }, { proto: 'icmpv6', type: 136, body });
}

/** Common option encodings, so tests need not spell bytes. */
export const tcpOptions = {
  mss: (mss: number): Buffer => Buffer.from([2, 4, (mss >> 8) & 0xff, mss & 0xff]),
  windowScale: (shift: number): Buffer => Buffer.from([3, 3, shift]),
  sackPermitted: (): Buffer => Buffer.from([4, 2]),
  timestamps: (val: number, ecr: number): Buffer => {
    const b = Buffer.alloc(10);
    b[0] = 8;
    b[1] = 10;
    b.writeUInt32BE(val >>> 0, 2);
    b.writeUInt32BE(ecr >>> 0, 6);
    return b;
  },
  nop: (): Buffer => Buffer.from([1]),
};

export const ipv4Options = {
  /** Router Alert (RFC 2113), 4 bytes */
  routerAlert: (): Buffer => Buffer.from([0x94, 0x04, 0x00, 0x00]),
  /** NOP padding to a multiple of 4 */
  nops: (n: number): Buffer => Buffer.alloc(n, 1),
  /** Record Route with room for n addresses, padded with one NOP to a 4-byte multiple */
  recordRoute: (n: number): Buffer => {
    const len = 3 + 4 * n;
    const b = Buffer.alloc(len + 1, 0);
    b[0] = 1; // leading NOP keeps the option 4-aligned
    b[1] = 7;
    b[2] = len;
    b[3] = 4;
    return b;
  },
};
