// Flow records as people see them: the kernel's (key, entry) pair decoded, turned from the
// normalised a/b endpoints into initiator/responder, filtered, and sorted out for the GC sweep.
// Pure: no kernel access, so it is unit-tested with hand-built buffers.
import { layouts } from '../../kernel/layouts.gen.js';
import { formatAddress, parseAddress, type IpFamily } from '../../net/ip.js';
import { stateName } from './states.js';
import { ct_flag } from '../../kernel/contract.gen.js';

const K = layouts.ct_key.fields;
const E = layouts.ct_entry.fields;
export const CT_KEY_SIZE = layouts.ct_key.size;
export const CT_ENTRY_SIZE = layouts.ct_entry.size;

const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6' };

export interface Endpoint {
  addr: string;
  /** TCP/UDP port; for ICMP echo the echo identifier */
  port: number;
}

export interface Flow {
  family: 'ipv4' | 'ipv6';
  proto: string;
  state: string;
  initiator: Endpoint;
  responder: Endpoint;
  packets: { from_initiator: number; from_responder: number };
  bytes: { from_initiator: number; from_responder: number };
  seen_reply: boolean;
  assured: boolean;
  /** seconds since the first packet */
  age_secs: number;
  /** seconds since the last packet */
  idle_secs: number;
  /** seconds until the entry expires (0 = expired, waiting for the sweep) */
  expires_in_secs: number;
}

export interface FlowFilter {
  family?: 'ipv4' | 'ipv6';
  proto?: string;
  state?: string;
  /** either endpoint, canonical text form */
  ip?: string;
  /** either endpoint */
  port?: number;
}

const secs = (ns: bigint): number => Math.round(Number(ns) / 1e6) / 1e3;

function endpoint(key: Buffer, koff: number, addrOff: number, portOff: number, family: IpFamily): Endpoint {
  return {
    addr: formatAddress(family, key.subarray(koff + addrOff, koff + addrOff + 16)),
    port: key.readUInt16LE(koff + portOff),
  };
}

/** Expiry deadline of the entry at `voff` (boot-time ns). */
function expiresAt(values: Buffer, voff: number): bigint {
  return values.readBigUInt64LE(voff + E.expires_ns.offset);
}

/** Decodes one (key, entry) pair; `now` is CLOCK_BOOTTIME in ns. */
export function decodeFlow(keys: Buffer, koff: number, values: Buffer, voff: number, now: bigint): Flow {
  const family: IpFamily = keys[koff + K.family.offset] === 6 ? 6 : 4;
  const proto = keys[koff + K.proto.offset]!;
  const a = endpoint(keys, koff, K.addr_a.offset, K.port_a.offset, family);
  const b = endpoint(keys, koff, K.addr_b.offset, K.port_b.offset, family);
  const flags = values[voff + E.flags.offset]!;
  const initIsA = (flags & ct_flag.CT_F_INIT_IS_A) !== 0;
  const u64 = (off: number): bigint => values.readBigUInt64LE(voff + off);
  const created = u64(E.created_ns.offset);
  const last = u64(E.last_seen_ns.offset);
  const expires = u64(E.expires_ns.offset);
  return {
    family: family === 4 ? 'ipv4' : 'ipv6',
    proto: PROTO_NAMES[proto] ?? String(proto),
    state: stateName(values[voff + E.state.offset]!),
    initiator: initIsA ? a : b,
    responder: initIsA ? b : a,
    packets: { from_initiator: Number(u64(E.packets.offset)), from_responder: Number(u64(E.packets.offset + 8)) },
    bytes: { from_initiator: Number(u64(E.bytes.offset)), from_responder: Number(u64(E.bytes.offset + 8)) },
    seen_reply: (flags & ct_flag.CT_F_SEEN_REPLY) !== 0,
    assured: (flags & ct_flag.CT_F_ASSURED) !== 0,
    age_secs: now > created ? secs(now - created) : 0,
    idle_secs: now > last ? secs(now - last) : 0,
    expires_in_secs: expires > now ? secs(expires - now) : 0,
  };
}

/** Canonical text of an address filter ("2001:DB8::1" matches "2001:db8::1"); throws on garbage. */
export function canonicalIp(text: string): string {
  const a = parseAddress(text);
  return formatAddress(a.family, a.addr);
}

function matches(f: Flow, filter: FlowFilter): boolean {
  if (filter.family && f.family !== filter.family) return false;
  if (filter.proto && f.proto !== filter.proto) return false;
  if (filter.state && f.state !== filter.state) return false;
  if (filter.ip && f.initiator.addr !== filter.ip && f.responder.addr !== filter.ip) return false;
  if (filter.port !== undefined && f.initiator.port !== filter.port && f.responder.port !== filter.port) return false;
  return true;
}

export interface FlowPage {
  flows: Flow[];
  /** live flows matching the filter (before the limit) */
  matched: number;
  /** live entries in the table */
  total: number;
}

/** Lists live flows (expired entries are treated as absent) matching `filter`, at most `limit`,
 * most recently active first. `keys`/`values` are the concatenated dump of the table. */
export function listFlows(keys: Buffer, values: Buffer, count: number, now: bigint, filter: FlowFilter, limit: number): FlowPage {
  const out: Flow[] = [];
  let matched = 0;
  let total = 0;
  for (let i = 0; i < count; i++) {
    const voff = i * CT_ENTRY_SIZE;
    if (expiresAt(values, voff) <= now) continue;
    total++;
    const f = decodeFlow(keys, i * CT_KEY_SIZE, values, voff, now);
    if (!matches(f, filter)) continue;
    matched++;
    out.push(f);
  }
  out.sort((x, y) => x.idle_secs - y.idle_secs);
  return { flows: out.slice(0, limit), matched, total };
}

/** Indexes of dead entries (deadline at or before `now`): what the GC sweep deletes. */
export function expiredIndexes(values: Buffer, count: number, now: bigint): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) if (expiresAt(values, i * CT_ENTRY_SIZE) <= now) out.push(i);
  return out;
}

/** Live entries per state name (the flows-by-state gauge). */
export function countByState(values: Buffer, count: number, now: bigint): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const voff = i * CT_ENTRY_SIZE;
    if (expiresAt(values, voff) <= now) continue;
    const s = stateName(values[voff + E.state.offset]!);
    m.set(s, (m.get(s) ?? 0) + 1);
  }
  return m;
}

/** Entries the LRU pushed out: every entry ever created is still present, was removed as dead
 * (by the kernel on touch or by the sweep), or was evicted — evictions are the remainder.
 * `presentAtStart` counts entries the table already held when counting began. */
export function evictedCount(created: number, presentAtStart: number, expiredKernel: number, gcDeleted: number, present: number): number {
  return Math.max(0, created + presentAtStart - expiredKernel - gcDeleted - present);
}
