// The NAT's kernel face: two objects (tc-nat-ingress, tc-nat-egress) sharing the policy (two
// generations, written whole then flipped), the masquerade addresses and the translation table
// (shared with tc-conntrack too), each with its own counters. Used by the engine, the kernel
// tests and the bench, so all of them drive the programs alike.
import path from 'node:path';
import { BpfObject } from '../../kernel/object.js';
import { BpfMap, bytesCodec, u32Codec, type Codec } from '../../kernel/map.js';
import { layouts } from '../../kernel/layouts.gen.js';
import { nat_counter, nat_limits } from '../../kernel/contract.gen.js';
import { programCounterSlots } from '../../kernel/contract-names.js';
import { formatAddress, type IpFamily } from '../../net/ip.js';
import { readPerInterface } from '../runtime/counters.js';
import type { ProgramKernel } from '../runtime/program.js';
import { checkPinnedShared, SHARED_MAPS } from '../runtime/shared-maps.js';

export const NAT_INGRESS_PROGRAM = 'tc-nat-ingress';
export const NAT_EGRESS_PROGRAM = 'tc-nat-egress';
export const NAT_INGRESS_OBJECT_FILE = 'tc_nat_ingress.bpf.o';
export const NAT_EGRESS_OBJECT_FILE = 'tc_nat_egress.bpf.o';
export const NAT_ENTRY_INGRESS = 'tc_nat_ingress';
export const NAT_ENTRY_EGRESS = 'tc_nat_egress';
export const NAT_FLOWS = 'nat_flows';

/** Per-CPU counter slots (contract/counters.h, then NAT_CNT_* of contract/nat.h). */
export const NAT_COUNTER_SLOTS = programCounterSlots('NAT_CNT_', nat_counter);
export type NatCounterSlot = (typeof NAT_COUNTER_SLOTS)[number];
export type NatCounters = Record<NatCounterSlot, bigint>;

export function zeroNatCounters(): NatCounters {
  return Object.fromEntries(NAT_COUNTER_SLOTS.map((s) => [s, 0n])) as NatCounters;
}

export type NatKindName = 'snat' | 'masquerade' | 'dnat' | 'nptv6';
const KIND_CODE: Record<NatKindName, number> = { snat: 1, masquerade: 2, dnat: 3, nptv6: 4 };
const KIND_NAME: Record<number, NatKindName> = { 1: 'snat', 2: 'masquerade', 3: 'dnat', 4: 'nptv6' };
export type NatHook = 'ingress' | 'egress';
const HOOK_CODE: Record<NatHook, number> = { ingress: 0, egress: 1 };

/** One rule as the kernel runs it (compile.ts makes these from the config). Addresses are 16
 * network-order bytes, IPv4 in bytes 0..3. */
export interface KernelNatRule {
  ruleId: number;
  kind: NatKindName;
  hook: NatHook;
  family: IpFamily;
  /** 0 any, 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6 */
  proto: number;
  /** 0 = any interface */
  ifindex: number;
  src: Buffer;
  srcMask: Buffer;
  dst: Buffer;
  dstMask: Buffer;
  /** [0, 0] = any */
  dports: readonly [number, number];
  toAddr: Buffer;
  poolSize: number;
  /** DNAT: where dports[0] lands ([0,0] keeps the port); SNAT/masquerade: allocation range */
  toPorts: readonly [number, number];
  hairpinOnly: boolean;
  randomPorts: boolean;
  prefixLen: number;
}

const R = layouts.nat_rule.fields;

export function encodeNatRule(r: KernelNatRule, out: Buffer, at: number): void {
  const put16 = (b: Buffer, off: number): void => void b.copy(out, at + off, 0, 16);
  put16(r.src, R.src.offset);
  put16(r.srcMask, R.src_mask.offset);
  put16(r.dst, R.dst.offset);
  put16(r.dstMask, R.dst_mask.offset);
  put16(r.toAddr, R.to_addr.offset);
  out.writeUInt32LE(r.ifindex >>> 0, at + R.ifindex.offset);
  out.writeUInt32LE(r.ruleId >>> 0, at + R.rule_id.offset);
  out.writeUInt32LE(r.poolSize >>> 0, at + R.pool_size.offset);
  out.writeUInt16LE(r.dports[0], at + R.dport_lo.offset);
  out.writeUInt16LE(r.dports[1], at + R.dport_hi.offset);
  out.writeUInt16LE(r.toPorts[0], at + R.to_port_lo.offset);
  out.writeUInt16LE(r.toPorts[1], at + R.to_port_hi.offset);
  out.writeUInt8(r.family, at + R.family.offset);
  out.writeUInt8(r.proto, at + R.proto.offset);
  out.writeUInt8(KIND_CODE[r.kind], at + R.kind.offset);
  out.writeUInt8(HOOK_CODE[r.hook], at + R.hook.offset);
  out.writeUInt8((r.hairpinOnly ? 1 : 0) | (r.randomPorts ? 2 : 0), at + R.flags.offset);
  out.writeUInt8(r.prefixLen, at + R.prefix_len.offset);
}

/** The whole policy value: count, generation and the rules in order (first match wins). */
export function encodeNatPolicy(rules: readonly KernelNatRule[], generation: number): Buffer {
  if (rules.length > nat_limits.NAT_MAX_RULES) throw new Error(`${rules.length} NAT rules; the kernel holds at most ${nat_limits.NAT_MAX_RULES}`);
  const P = layouts.nat_policy;
  const out = Buffer.alloc(P.size);
  out.writeUInt32LE(rules.length, P.fields.count.offset);
  out.writeUInt32LE(generation >>> 0, P.fields.generation.offset);
  rules.forEach((r, i) => encodeNatRule(r, out, P.fields.rules.offset + i * layouts.nat_rule.size));
  return out;
}

/** A translated direction of a flow, as nat_flows holds it. */
export interface NatBinding {
  family: IpFamily;
  proto: number;
  /** what the packet carries */
  from: { src: string; sport: number; dst: string; dport: number };
  /** what it becomes */
  to: { src: string; sport: number; dst: string; dport: number };
  hook: NatHook;
  /** 0 = any interface of the hook */
  ifindex: number;
  ruleId: number;
  kind: NatKindName;
  reply: boolean;
  createdNs: bigint;
  /** the conntrack key of the flow (raw), to judge liveness */
  ctKey: Buffer;
}

const T = layouts.nat_tuple.fields;
const F = layouts.nat_flow.fields;

function decodeTuple(b: Buffer, at: number): { family: IpFamily; proto: number; src: string; sport: number; dst: string; dport: number } {
  const family = b.readUInt8(at + T.family.offset) === 6 ? 6 : 4;
  return {
    family,
    proto: b.readUInt8(at + T.proto.offset),
    src: formatAddress(family, b.subarray(at + T.src.offset, at + T.src.offset + 16)),
    sport: b.readUInt16LE(at + T.sport.offset),
    dst: formatAddress(family, b.subarray(at + T.dst.offset, at + T.dst.offset + 16)),
    dport: b.readUInt16LE(at + T.dport.offset),
  };
}

export function decodeBinding(key: Buffer, value: Buffer): NatBinding {
  const from = decodeTuple(key, 0);
  const to = decodeTuple(value, F.to.offset);
  return {
    family: from.family,
    proto: from.proto,
    from: { src: from.src, sport: from.sport, dst: from.dst, dport: from.dport },
    to: { src: to.src, sport: to.sport, dst: to.dst, dport: to.dport },
    hook: value.readUInt8(F.hook.offset) === 1 ? 'egress' : 'ingress',
    ifindex: value.readUInt32LE(F.ifindex.offset),
    ruleId: value.readUInt32LE(F.rule_id.offset),
    kind: KIND_NAME[value.readUInt8(F.kind.offset)] ?? 'snat',
    reply: (value.readUInt8(F.flags.offset) & 1) !== 0,
    createdNs: value.readBigUInt64LE(F.created_ns.offset),
    ctKey: Buffer.from(value.subarray(F.ct.offset, F.ct.offset + layouts.ct_key.size)),
  };
}

export interface NatKernelOptions {
  ingressPath: string;
  egressPath: string;
  /** libbpf pin root for the maps pinned by name (shared with each other and tc-conntrack) */
  mapPinDir: string;
  /** ct_table's size: the NAT objects read it, so they must open it at the size it has */
  ctMaxEntries: number;
}

const COUNTER_MAP: Record<NatHook, string> = { ingress: 'nat_in_counters', egress: 'nat_out_counters' };

/** One program's object as the program runtime holds it: its counters. */
export class NatSide implements ProgramKernel {
  private readonly counters: BpfMap<number, Buffer>;
  private constructor(readonly obj: BpfObject, readonly hook: NatHook) {
    this.counters = obj.map(COUNTER_MAP[hook], u32Codec, bytesCodec(layouts.sentinel_counters.size) as Codec<Buffer>);
  }

  static over(obj: BpfObject, hook: NatHook): NatSide {
    return new NatSide(obj, hook);
  }

  readCounters(): Map<number, NatCounters> {
    return readPerInterface(this.counters, NAT_COUNTER_SLOTS);
  }

  close(): void {
    this.obj.close();
  }
}

const SHARED = ['nat_flows', 'nat_policy', 'nat_active', 'nat_ifaddr', 'nat_scratch'] as const;

export class NatKernel {
  readonly flows: BpfMap<Buffer, Buffer>;
  private readonly ct: BpfMap<Buffer, Buffer>;
  private readonly policy: BpfMap<number, Buffer>;
  private readonly active: BpfMap<number, Buffer>;
  private readonly ifaddr: BpfMap<number, Buffer>;
  private readonly sides: Record<NatHook, NatSide>;
  private slot = 0;
  private generation = 0;

  private constructor(readonly ingress: BpfObject, readonly egress: BpfObject) {
    this.flows = ingress.map(NAT_FLOWS, bytesCodec(layouts.nat_tuple.size), bytesCodec(layouts.nat_flow.size));
    this.ct = ingress.map('ct_table', bytesCodec(layouts.ct_key.size), bytesCodec(layouts.ct_entry.size));
    this.policy = ingress.map('nat_policy', u32Codec, bytesCodec(layouts.nat_policy.size) as Codec<Buffer>);
    this.active = ingress.map('nat_active', u32Codec, bytesCodec(layouts.nat_active.size) as Codec<Buffer>);
    this.ifaddr = ingress.map('nat_ifaddr', u32Codec, bytesCodec(layouts.nat_ifaddr.size) as Codec<Buffer>);
    this.sides = { ingress: NatSide.over(ingress, 'ingress'), egress: NatSide.over(egress, 'egress') };
    const cur = this.active.lookup(0);
    if (cur) this.slot = cur.readUInt32LE(layouts.nat_active.fields.slot.offset) & 1;
    const live = this.policy.lookup(this.slot);
    if (live) this.generation = live.readUInt32LE(layouts.nat_policy.fields.generation.offset);
  }

  /** The kernel face over objects already loaded (the agent's program runtime loads them). */
  static over(ingress: BpfObject, egress: BpfObject): NatKernel {
    return new NatKernel(ingress, egress);
  }

  /** Opens and loads both objects, sharing the pinned maps (tests and benches). */
  static load(opts: NatKernelOptions): NatKernel {
    const sizes: Record<string, number> = { ct_table: opts.ctMaxEntries };
    for (const name of SHARED) sizes[name] = SHARED_MAPS[name]!.maxEntries({ conntrack: { max_entries: opts.ctMaxEntries } });
    const open = (file: string): BpfObject => {
      const probe = BpfObject.open(file);
      try {
        for (const m of probe.mapInfo()) if (sizes[m.name] !== undefined) checkPinnedShared(path.join(opts.mapPinDir, m.name), { ...m, maxEntries: sizes[m.name]! });
      } finally {
        probe.close();
      }
      return BpfObject.load(file, { pinRoot: opts.mapPinDir, maxEntries: sizes });
    };
    const ingress = open(opts.ingressPath);
    let egress: BpfObject;
    try {
      egress = open(opts.egressPath);
    } catch (e) {
      ingress.close();
      throw e;
    }
    return new NatKernel(ingress, egress);
  }

  /** Writes the rules into the idle generation, then makes it the live one: a packet sees the
   * old policy or the new one whole, never a mix. Returns the new generation. */
  writePolicy(rules: readonly KernelNatRule[]): number {
    const next = this.slot ^ 1;
    const gen = this.generation + 1;
    this.policy.update(next, encodeNatPolicy(rules, gen));
    const a = Buffer.alloc(layouts.nat_active.size);
    a.writeUInt32LE(next, layouts.nat_active.fields.slot.offset);
    this.active.update(0, a);
    this.slot = next;
    this.generation = gen;
    return gen;
  }

  /** Masquerade addresses of one interface (undefined: the interface has none of that family). */
  setInterfaceAddresses(ifindex: number, v4: Buffer | undefined, v6: Buffer | undefined): void {
    const A = layouts.nat_ifaddr.fields;
    const b = Buffer.alloc(layouts.nat_ifaddr.size);
    if (v4) {
      v4.copy(b, A.v4.offset, 0, 4);
      b.writeUInt8(1, A.has_v4.offset);
    }
    if (v6) {
      v6.copy(b, A.v6.offset, 0, 16);
      b.writeUInt8(1, A.has_v6.offset);
    }
    this.ifaddr.update(ifindex, b);
  }

  clearInterfaceAddresses(ifindex: number): void {
    this.ifaddr.delete(ifindex);
  }

  /** Every entry of the translation table, decoded. */
  bindings(): NatBinding[] {
    return this.flows.all().map(([k, v]) => decodeBinding(k, v));
  }

  /** Deletes the entries `keep` says no to; returns how many went. */
  deleteBindings(drop: (b: NatBinding) => boolean): number {
    let n = 0;
    for (const [k, v] of this.flows.all()) if (drop(decodeBinding(k, v)) && this.flows.delete(k)) n++;
    return n;
  }

  /** Whether a translation's flow is alive (its conntrack entry is there and not expired). */
  private flowLive(ctKey: Buffer, now: bigint): boolean {
    const e = this.ct.lookup(ctKey);
    return e !== undefined && e.readBigUInt64LE(layouts.ct_entry.fields.expires_ns.offset) > now;
  }

  /** The translations whose flow is alive (from `all` when the caller has read the table). */
  liveBindings(now: bigint, all: readonly NatBinding[] = this.bindings()): NatBinding[] {
    return all.filter((b) => this.flowLive(b.ctKey, now));
  }

  /** Deletes the translations whose flow has ended; returns how many went. The kernel replaces
   * a dead one it meets, this keeps the table from holding the rest. */
  sweep(now: bigint): number {
    return this.deleteBindings((b) => !this.flowLive(b.ctKey, now));
  }

  get maxFlows(): number {
    return this.flows.info.maxEntries;
  }

  readCounters(hook: NatHook): Map<number, NatCounters> {
    return this.sides[hook].readCounters();
  }

  close(): void {
    this.ingress.close();
    this.egress.close();
  }
}
