// Frames of every link type a replay takes, made Ethernet frames (what the XDP and TC programs
// parse): Ethernet as it is; Linux cooked captures (SLL, SLL2: `tcpdump -i any`), BSD loopback
// (NULL, LOOP) and raw IP get an Ethernet header carrying the frame's protocol. Anything else is
// refused by name before a frame is read.

export const LINKTYPE = {
  NULL: 0,
  ETHERNET: 1,
  RAW_12: 12,
  RAW_14: 14,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

const SUPPORTED: ReadonlyMap<number, string> = new Map([
  [LINKTYPE.NULL, 'NULL (BSD loopback)'],
  [LINKTYPE.ETHERNET, 'Ethernet'],
  [LINKTYPE.RAW_12, 'raw IP (12)'],
  [LINKTYPE.RAW_14, 'raw IP (14)'],
  [LINKTYPE.RAW, 'raw IP'],
  [LINKTYPE.LOOP, 'LOOP (OpenBSD loopback)'],
  [LINKTYPE.LINUX_SLL, 'Linux cooked (SLL)'],
  [LINKTYPE.IPV4, 'raw IPv4'],
  [LINKTYPE.IPV6, 'raw IPv6'],
  [LINKTYPE.LINUX_SLL2, 'Linux cooked v2 (SLL2)'],
]);

/** A few link types users meet that a replay does not take, to name them in the refusal. */
const KNOWN_OTHERS: ReadonlyMap<number, string> = new Map([
  [6, 'IEEE 802.5 Token Ring'],
  [9, 'PPP'],
  [10, 'FDDI'],
  [50, 'PPP in HDLC'],
  [104, 'Cisco HDLC'],
  [105, 'IEEE 802.11'],
  [119, 'Prism 802.11'],
  [127, 'radiotap 802.11'],
  [147, 'user-defined (147)'],
  [189, 'USB (Linux)'],
  [192, 'PPI'],
  [195, 'IEEE 802.15.4'],
  [201, 'Bluetooth HCI H4'],
  [220, 'USB (Linux mmapped)'],
  [249, 'netlink'],
  [263, 'Bluetooth LE'],
]);

export function linkTypeName(lt: number): string {
  return SUPPORTED.get(lt) ?? KNOWN_OTHERS.get(lt) ?? `link type ${lt}`;
}

export function linkTypeSupported(lt: number): boolean {
  return SUPPORTED.has(lt);
}

/** What the replay can say about a link type it refuses. */
export function unsupportedLinkType(lt: number): string {
  return `${linkTypeName(lt)} (LINKTYPE ${lt}) is not a link type replay takes; it takes ${[...SUPPORTED.values()].join(', ')}`;
}

/** Why a frame could not be made an Ethernet frame (negative results of toEthernet, -1 - index). */
export const UNUSABLE = [
  'shorter than its link-layer header',
  'loopback family is neither IPv4 nor IPv6',
  'raw IP packet of neither version 4 nor 6',
  'cooked capture of a protocol that is not an EtherType',
  'link type not supported',
] as const;

const ETH_HLEN = 14;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;

/** Writes the Ethernet header the programs see for a frame of another link type. */
function ethHeader(out: Buffer, at: number, proto: number, src?: Buffer): void {
  out.fill(0, at, at + 12);
  // the capturing host's own address, when the cooked header kept it
  if (src) src.copy(out, at + 6, 0, 6);
  out[at + 12] = proto >>> 8;
  out[at + 13] = proto & 0xff;
}

function ipVersionProto(data: Buffer, off: number): number {
  if (data.length <= off) return -1;
  const v = data[off]! >>> 4;
  return v === 4 ? ETH_P_IP : v === 6 ? ETH_P_IPV6 : 0;
}

/** BSD address families that mean IPv6 (Linux 10, the BSDs 24, 28, 30). */
function loopbackProto(family: number): number {
  if (family === 2) return ETH_P_IP;
  if (family === 10 || family === 24 || family === 28 || family === 30) return ETH_P_IPV6;
  return 0;
}

/**
 * The frame as an Ethernet frame, written to out[at..]; returns its length, or -1 - i where
 * UNUSABLE[i] says why it could not be. `out` must have data.length + 14 bytes from `at`.
 */
export function toEthernet(linktype: number, data: Buffer, out: Buffer, at: number): number {
  let hdr: number;
  let proto: number;
  let src: Buffer | undefined;
  switch (linktype) {
    case LINKTYPE.ETHERNET:
      data.copy(out, at);
      return data.length;
    case LINKTYPE.RAW:
    case LINKTYPE.RAW_12:
    case LINKTYPE.RAW_14:
      hdr = 0;
      proto = ipVersionProto(data, 0);
      if (proto < 0) return -1;
      if (proto === 0) return -3;
      break;
    case LINKTYPE.IPV4:
      hdr = 0;
      proto = ETH_P_IP;
      break;
    case LINKTYPE.IPV6:
      hdr = 0;
      proto = ETH_P_IPV6;
      break;
    case LINKTYPE.NULL:
    case LINKTYPE.LOOP: {
      hdr = 4;
      if (data.length < 4) return -1;
      // NULL is in the capturing host's byte order: a family fits in the low 16 bits either way
      let fam = linktype === LINKTYPE.LOOP ? data.readUInt32BE(0) : data.readUInt32LE(0);
      if (linktype === LINKTYPE.NULL && fam > 0xffff) fam = data.readUInt32BE(0);
      proto = loopbackProto(fam);
      if (proto === 0) return -2;
      break;
    }
    case LINKTYPE.LINUX_SLL: {
      hdr = 16;
      if (data.length < 16) return -1;
      proto = data.readUInt16BE(14);
      const alen = data.readUInt16BE(4);
      if (alen === 6) src = data.subarray(6, 12);
      break;
    }
    case LINKTYPE.LINUX_SLL2: {
      hdr = 20;
      if (data.length < 20) return -1;
      proto = data.readUInt16BE(0);
      if (data[11] === 6) src = data.subarray(12, 18);
      break;
    }
    default:
      return -5;
  }
  // Ethernet II carries an EtherType (>= 0x0600); cooked 802.2/802.3 frames have none
  if (proto < 0x0600) return -4;
  ethHeader(out, at, proto, src);
  data.copy(out, at + ETH_HLEN, hdr);
  return ETH_HLEN + data.length - hdr;
}

/** Direction from a Linux cooked header's packet type (PACKET_OUTGOING = 4), when it has one. */
export function cookedOutgoing(linktype: number, data: Buffer): boolean {
  if (linktype === LINKTYPE.LINUX_SLL) return data.length >= 2 && data.readUInt16BE(0) === 4;
  if (linktype === LINKTYPE.LINUX_SLL2) return data.length >= 11 && data[10] === 4;
  return false;
}
