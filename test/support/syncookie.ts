// xdp-ratelimit's SYN cookie recomputed from its documented layout (bpf/include/sentinel/lib/
// syncookie.h) with the tests' own SipHash: what the kernel must have put in a SYN-ACK.
import { isIPv4 } from 'node:net';
import { siphash24 } from './siphash.js';

/** 68.7 s slots of CLOCK_MONOTONIC (bpf_ktime_get_ns; process.hrtime reads the same clock) */
const COOKIE_SLOT_SHIFT = 36n;

export function cookieSlotNow(): bigint {
  return process.hrtime.bigint() >> COOKIE_SLOT_SHIFT;
}

function addr16(a: string): Buffer {
  const b = Buffer.alloc(16);
  if (isIPv4(a)) {
    a.split('.').forEach((o, i) => (b[i] = Number(o)));
    return b;
  }
  const [head, tail = ''] = a.split('::');
  const words = (s: string): number[] => (s ? s.split(':').map((w) => Number.parseInt(w, 16)) : []);
  const h = words(head ?? '');
  const t = words(tail);
  const all = a.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill(0), ...t] : h;
  all.forEach((w, i) => b.writeUInt16BE(w, i * 2));
  return b;
}

export interface CookieInput {
  key: Buffer;
  client: string;
  server: string;
  sport: number;
  dport: number;
  /** the client's initial sequence number */
  isn: number;
  slot: bigint;
  /** the option byte: MSS index << 6 | ECN 0x20 | SACK 0x10 | window scale (0xf: none) */
  data: number;
}

/** The server ISN and the low byte of its TSval for one SYN. */
export function expectedCookie(c: CookieInput): { isn: number; tsLow: number } {
  const m = Buffer.alloc(48);
  addr16(c.client).copy(m, 0);
  addr16(c.server).copy(m, 16);
  m.writeUInt16BE(c.sport, 32);
  m.writeUInt16BE(c.dport, 34);
  m.writeUInt32LE(c.isn >>> 0, 36);
  m.writeUIntLE(Number(c.slot & 0xffffffffffffn), 40, 6);
  m[46] = isIPv4(c.client) ? 4 : 6;
  m[47] = c.data;
  const h = siphash24(c.key, m);
  return { isn: ((Number((h >> 40n) & 0xffffffn) << 8) | c.data) >>> 0, tsLow: Number(h & 0xffn) };
}
