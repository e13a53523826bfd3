// IPv4/IPv6/MAC text <-> bytes. Tools print addresses in different spellings (socat writes IPv6
// fully expanded, ip(8) compressed), so everything the lab compares goes through one canonical form.
import net from 'node:net';

export type Family = 4 | 6;

export function familyOf(addr: string): Family {
  const f = net.isIP(addr);
  if (f === 4 || f === 6) return f;
  throw new Error(`not an IPv4 or IPv6 address: "${addr}"`);
}

export function ipv4ToBytes(addr: string): Buffer {
  if (net.isIPv4(addr) === false) throw new Error(`not an IPv4 address: "${addr}"`);
  return Buffer.from(addr.split('.').map((o) => Number(o)));
}

export function ipv6ToBytes(addr: string): Buffer {
  if (net.isIPv6(addr) === false) throw new Error(`not an IPv6 address: "${addr}"`);
  let text = addr;
  // A trailing dotted quad (::ffff:198.18.0.1) stands for the last two groups.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = ipv4ToBytes(tail);
    text = `${text.slice(0, lastColon + 1)}${v4.readUInt16BE(0).toString(16)}:${v4.readUInt16BE(2).toString(16)}`;
  }
  const halves = text.split('::');
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const rest = halves.length === 2 ? (halves[1] === '' ? [] : halves[1]!.split(':')) : [];
  const missing = 8 - head.length - rest.length;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

export function ipToBytes(addr: string): Buffer {
  return familyOf(addr) === 4 ? ipv4ToBytes(addr) : ipv6ToBytes(addr);
}

export function bytesToIpv4(b: Uint8Array): string {
  if (b.length !== 4) throw new Error(`IPv4 address needs 4 bytes, got ${b.length}`);
  return Array.from(b).join('.');
}

/** RFC 5952 text: lowercase, longest run (>= 2) of zero groups compressed, first one on a tie. */
export function bytesToIpv6(b: Uint8Array): string {
  if (b.length !== 16) throw new Error(`IPv6 address needs 16 bytes, got ${b.length}`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Canonical text of any IPv4/IPv6 spelling (brackets allowed), so tool outputs compare equal. */
export function canonicalIp(addr: string): string {
  const bare = addr.startsWith('[') && addr.endsWith(']') ? addr.slice(1, -1) : addr;
  return familyOf(bare) === 4 ? bytesToIpv4(ipv4ToBytes(bare)) : bytesToIpv6(ipv6ToBytes(bare));
}

export function macToBytes(mac: string): Buffer {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) throw new Error(`not a MAC address: "${mac}"`);
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

export function bytesToMac(b: Uint8Array): string {
  if (b.length !== 6) throw new Error(`MAC address needs 6 bytes, got ${b.length}`);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** "198.18.0.10/24" -> address and prefix length, validated for the address family. */
export function parseCidr(cidr: string): { addr: string; prefix: number; family: Family } {
  const slash = cidr.indexOf('/');
  if (slash < 0) throw new Error(`CIDR "${cidr}" has no /prefix`);
  const addr = cidr.slice(0, slash);
  const family = familyOf(addr);
  const prefixText = cidr.slice(slash + 1);
  const prefix = Number(prefixText);
  const max = family === 4 ? 32 : 128;
  if (!/^\d+$/.test(prefixText) || prefix > max) throw new Error(`CIDR "${cidr}" has a bad prefix length (0..${max})`);
  return { addr: canonicalIp(addr), prefix, family };
}

/** True when addr lies inside the network cidr (same family). */
export function cidrContains(cidr: string, addr: string): boolean {
  const net0 = parseCidr(cidr);
  if (familyOf(addr) !== net0.family) return false;
  const a = ipToBytes(net0.addr);
  const b = ipToBytes(addr);
  let bits = net0.prefix;
  for (let i = 0; i < a.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a[i]! & mask) !== (b[i]! & mask)) return false;
  }
  return true;
}
