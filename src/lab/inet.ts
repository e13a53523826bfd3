// IPv4/IPv6/MAC text <-> bytes. Tools print addresses in different spellings (socat writes IPv6
// fully expanded, ip(8) compressed), so everything the lab compares goes through one canonical form.
import net from 'node:net';
import { formatAddress, parseAddress, parseCidr as netParseCidr } from '../net/ip.js';

export type Family = 4 | 6;

export function familyOf(addr: string): Family {
  const f = net.isIP(addr);
  if (f === 4 || f === 6) return f;
  throw new Error(`not an IPv4 or IPv6 address: "${addr}"`);
}

function parseAs(addr: string, family: Family): Buffer {
  const a = parseAddress(addr);
  if (a.family !== family) throw new Error(`not an IPv${family} address: "${addr}"`);
  return Buffer.from(a.addr.subarray(0, family === 4 ? 4 : 16));
}

export function ipv4ToBytes(addr: string): Buffer {
  return parseAs(addr, 4);
}

export function ipv6ToBytes(addr: string): Buffer {
  return parseAs(addr, 6);
}

export function bytesToIpv4(b: Uint8Array): string {
  if (b.length !== 4) throw new Error(`IPv4 address needs 4 bytes, got ${b.length}`);
  return formatAddress(4, b);
}

/** RFC 5952 text (the product's own formatter, so lab and agent spell addresses alike). */
export function bytesToIpv6(b: Uint8Array): string {
  if (b.length !== 16) throw new Error(`IPv6 address needs 16 bytes, got ${b.length}`);
  return formatAddress(6, b);
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
  const n = parseCidr(cidr);
  const a = parseAddress(addr);
  return a.family === n.family && netParseCidr(cidr).contains(a.family, a.addr);
}
