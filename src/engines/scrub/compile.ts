// The `scrub` section as tc-scrub's map entries (pure, unit-tested without a kernel): one profile
// per interface (scrub_ifaces) and one per network and interface (scrub_nets_v4/v6, keyed by the
// interface then the network). A profile is the section's keys, overridden key by key by the
// interface's entry, then by the network's.
import { layouts } from '../../kernel/layouts.gen.js';
import { scrub_flag } from '../../kernel/contract.gen.js';
import type { Cidr } from '../../net/ip.js';
import type { InterfaceRef } from '../engine.js';
import { SCRUB_MAX_NETWORKS, type ScrubConfig, type ScrubProfileConfig, type TcpFlagsMode } from './schema.js';

/** One profile as the kernel reads it (struct scrub_profile). */
export interface ScrubProfile {
  flags: number;
  maxMss: number;
  minTtl: number;
  minHopLimit: number;
  tosMask: number;
  tosValue: number;
}

export interface ScrubNetEntry {
  ifindex: number;
  cidr: Cidr;
  profile: ScrubProfile;
}

export interface ScrubPolicy {
  /** ifindex -> its profile (every interface scrub runs on has one) */
  ifaces: Map<number, ScrubProfile>;
  nets4: ScrubNetEntry[];
  nets6: ScrubNetEntry[];
}

/** The effective keys of a profile after inheritance. */
interface Resolved {
  min_ttl: number;
  min_hop_limit: number;
  max_mss: number;
  clear_df: boolean;
  random_ip_id: boolean;
  dscp: number | 'keep';
  strip_ecn: boolean;
  normalize_tos: boolean;
  tos_value: number;
  scrub_tcp_flags: TcpFlagsMode;
}

const NOTHING: Resolved = {
  min_ttl: 0,
  min_hop_limit: 0,
  max_mss: 0,
  clear_df: false,
  random_ip_id: false,
  dscp: 'keep',
  strip_ecn: false,
  normalize_tos: false,
  tos_value: 0,
  scrub_tcp_flags: 'off',
};

function over(base: Resolved, p: ScrubProfileConfig): Resolved {
  const out: Resolved = { ...base };
  for (const k of Object.keys(NOTHING) as (keyof Resolved)[]) {
    const v = p[k];
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  }
  // the more specific block's choice of how to write the TOS byte wins over an inherited one
  if (p.dscp !== undefined || p.strip_ecn !== undefined) out.normalize_tos = p.normalize_tos ?? false;
  else if (p.normalize_tos) {
    out.dscp = 'keep';
    out.strip_ecn = false;
  }
  return out;
}

export function profileOf(r: Resolved): ScrubProfile {
  const F = scrub_flag;
  let flags = 0;
  if (r.min_ttl > 0) flags |= F.SCRUB_F_MIN_TTL;
  if (r.min_hop_limit > 0) flags |= F.SCRUB_F_MIN_HOP_LIMIT;
  if (r.max_mss > 0) flags |= F.SCRUB_F_MAX_MSS;
  if (r.clear_df) flags |= F.SCRUB_F_CLEAR_DF;
  if (r.random_ip_id) flags |= F.SCRUB_F_RANDOM_IP_ID;
  if (r.scrub_tcp_flags === 'repair') flags |= F.SCRUB_F_FLAGS_REPAIR;
  if (r.scrub_tcp_flags === 'drop') flags |= F.SCRUB_F_FLAGS_DROP;
  let tosMask = 0;
  let tosValue = 0;
  if (r.normalize_tos) {
    tosMask = 0xff;
    tosValue = r.tos_value;
  } else {
    if (r.dscp !== 'keep') {
      tosMask |= 0xfc;
      tosValue |= r.dscp << 2;
    }
    if (r.strip_ecn) tosMask |= 0x03;
  }
  if (tosMask) flags |= F.SCRUB_F_TOS;
  return { flags, maxMss: r.max_mss, minTtl: r.min_ttl, minHopLimit: r.min_hop_limit, tosMask, tosValue };
}

export class ScrubCompileError extends Error {
  override name = 'ScrubCompileError';
}

/** The map entries for `cfg` on the interfaces scrub runs on. Throws naming the key when the
 * section names an interface the agent does not run on, or has more network entries than fit. */
export function compileScrub(cfg: ScrubConfig, interfaces: readonly InterfaceRef[]): ScrubPolicy {
  const byName = new Map(interfaces.map((i) => [i.ifname, i]));
  const known = (): string => interfaces.map((i) => i.ifname).join(', ') || 'none';
  for (const name of Object.keys(cfg.interfaces)) {
    if (!byName.has(name)) throw new ScrubCompileError(`scrub.interfaces.${name}: not an interface the agent runs on (agent.interfaces: ${known()})`);
  }
  const base = over(NOTHING, cfg);
  const resolvedIf = new Map<number, Resolved>();
  const ifaces = new Map<number, ScrubProfile>();
  for (const i of interfaces) {
    const r = over(base, cfg.interfaces[i.ifname] ?? {});
    resolvedIf.set(i.ifindex, r);
    ifaces.set(i.ifindex, profileOf(r));
  }
  const nets4: ScrubNetEntry[] = [];
  const nets6: ScrubNetEntry[] = [];
  cfg.networks.forEach((n, idx) => {
    for (const name of n.interfaces ?? []) {
      if (!byName.has(name)) throw new ScrubCompileError(`scrub.networks[${idx}].interfaces: ${name} is not an interface the agent runs on (agent.interfaces: ${known()})`);
    }
    const on = n.interfaces ? n.interfaces.map((name) => byName.get(name)!) : interfaces;
    for (const i of on) {
      const profile = profileOf(over(resolvedIf.get(i.ifindex)!, n));
      for (const cidr of n.cidr) (cidr.family === 4 ? nets4 : nets6).push({ ifindex: i.ifindex, cidr, profile });
    }
  });
  for (const [fam, list] of [[4, nets4], [6, nets6]] as const) {
    if (list.length > SCRUB_MAX_NETWORKS) {
      throw new ScrubCompileError(`scrub.networks: ${list.length} IPv${fam} entries (networks x interfaces), at most ${SCRUB_MAX_NETWORKS}`);
    }
  }
  // An interface's entry says whether it has networks, so the kernel looks them up only there.
  for (const [list, flag] of [[nets4, scrub_flag.SCRUB_F_NETS_V4], [nets6, scrub_flag.SCRUB_F_NETS_V6]] as const) {
    for (const e of list) ifaces.get(e.ifindex)!.flags |= flag;
  }
  return { ifaces, nets4, nets6 };
}

/** struct scrub_profile */
export function encodeProfile(p: ScrubProfile): Buffer {
  const L = layouts.scrub_profile;
  const b = Buffer.alloc(L.size);
  b.writeUInt32LE(p.flags >>> 0, L.fields.flags.offset);
  b.writeUInt16LE(p.maxMss, L.fields.max_mss.offset);
  b.writeUInt8(p.minTtl, L.fields.min_ttl.offset);
  b.writeUInt8(p.minHopLimit, L.fields.min_hop_limit.offset);
  b.writeUInt8(p.tosMask, L.fields.tos_mask.offset);
  b.writeUInt8(p.tosValue, L.fields.tos_value.offset);
  return b;
}

/** struct scrub_net_v4 / scrub_net_v6: prefix length covers the interface then the network. */
export function encodeNetKey(ifindex: number, cidr: Cidr): Buffer {
  const L = cidr.family === 4 ? layouts.scrub_net_v4 : layouts.scrub_net_v6;
  const b = Buffer.alloc(L.size);
  b.writeUInt32LE(32 + cidr.prefix, L.fields.prefixlen.offset);
  b.writeUInt32LE(ifindex >>> 0, L.fields.ifindex.offset);
  cidr.addr.copy(b, L.fields.addr.offset, 0, cidr.family === 4 ? 4 : 16);
  return b;
}
