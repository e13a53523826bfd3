// Pure encoding of a compiled policy into the bytes of one generation's map entries. Offsets and
// sizes come from the layouts generated from the objects' BTF, so the C header stays the only
// definition of the structs; a field whose size is not what we write is an error, not a guess.
import { endianness } from 'node:os';
import { layouts } from '../../kernel/layouts.gen.js';
import { ACTION_CODE, type CompiledFirewall, type CompiledRule } from './compile.js';
import { fw_gen_flag, fw_limits } from '../../kernel/contract.gen.js';

interface Field {
  readonly offset: number;
  readonly size: number;
}

// Ports, counts and prefix lengths are host byte order in the kernel structs.
const HOST_LE = endianness() === 'LE';

function need(f: Field, size: number, name: string): void {
  if (f.size !== size) throw new Error(`layout mismatch: ${name} is ${f.size} bytes, the encoder writes ${size}`);
}

function u8(b: Buffer, f: Field, v: number, name: string): void {
  need(f, 1, name);
  b.writeUInt8(v, f.offset);
}

function u16(b: Buffer, f: Field, v: number, name: string): void {
  need(f, 2, name);
  if (HOST_LE) b.writeUInt16LE(v, f.offset);
  else b.writeUInt16BE(v, f.offset);
}

function u32(b: Buffer, f: Field, v: number, name: string): void {
  need(f, 4, name);
  if (HOST_LE) b.writeUInt32LE(v, f.offset);
  else b.writeUInt32BE(v, f.offset);
}

function u32be(b: Buffer, f: Field, v: number, name: string): void {
  need(f, 4, name);
  b.writeUInt32BE(v, f.offset);
}

function raw(b: Buffer, f: Field, src: Uint8Array, size: number, name: string): void {
  need(f, size, name);
  b.set(src.subarray(0, size), f.offset);
}

export interface EncodeOptions {
  generation: 0 | 1;
  /** stable rule number per config rule id (hit-counter index, event rule id), from 1 */
  ruleNums: ReadonlyMap<string, number>;
  /** kernel set id of set index 0; the agent keeps the two generations' ranges apart */
  setIdBase: number;
  /** monotonic policy id of this generation (never 0): conntrack fast-path validity */
  policyId: number;
}

/** Many u32-keyed array entries at once: keys and values concatenated (bpf batch update). */
/** Bytes for an mmapable array map (RawMap.writeAt): where in its value area, and what. */
export interface MmapWrite {
  offset: number;
  data: Buffer;
}

export interface LpmEntry {
  key: Buffer;
  value: Buffer;
}

export interface EncodedGeneration {
  generation: 0 | 1;
  /** slots per generation (FW_MAX_RULES): slot i of generation g is map key g * maxRules + i */
  maxRules: number;
  /** struct fw_rule for slots 0..n-1 of the generation (map key: ruleSlotKey(generation, i)) */
  rules: Buffer[];
  /** struct fw_gen (map key: generation) */
  gen: Buffer;
  lpmV4: LpmEntry[];
  lpmV6: LpmEntry[];
  /** the used part of the generation's fw_tree value (struct fw_tree_gen: 256 references per node) */
  tree: MmapWrite;
  /** the generation's wide root tables in its fw_wide value (struct fw_wide_gen) */
  wide: MmapWrite[];
  /** the used part of the generation's fw_leaf value (struct fw_leaf_gen: leaf candidate entries) */
  leaves: MmapWrite;
}

/** u32 values as map bytes (host byte order). */
function u32Bytes(values: Uint32Array): Buffer {
  if (HOST_LE) return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v, i * 4));
  return b;
}

/** fw_rules array index of slot `i` of a generation. */
export function ruleSlotKey(generation: 0 | 1, i: number): number {
  return generation * fw_limits.FW_MAX_RULES + i;
}

/** The LPM tries' value is a __u8 presence flag (xdp_firewall.bpf.c); every entry shares it. */
const LPM_PRESENT = Buffer.from([1]);

function encodeRule(r: CompiledRule, ruleNum: number, setIdBase: number): Buffer {
  const L = layouts.fw_rule;
  const F = L.fields;
  const b = Buffer.alloc(L.size);
  if (r.srcNet) {
    raw(b, F.src_addr, r.srcNet.addr, 16, 'fw_rule.src_addr');
    raw(b, F.src_mask, r.srcNet.mask(), 16, 'fw_rule.src_mask');
  }
  if (r.dstNet) {
    raw(b, F.dst_addr, r.dstNet.addr, 16, 'fw_rule.dst_addr');
    raw(b, F.dst_mask, r.dstNet.mask(), 16, 'fw_rule.dst_mask');
  }
  if (r.srcSet !== null) u32(b, F.src_set, setIdBase + r.srcSet, 'fw_rule.src_set');
  if (r.dstSet !== null) u32(b, F.dst_set, setIdBase + r.dstSet, 'fw_rule.dst_set');
  u32(b, F.rule_num, ruleNum, 'fw_rule.rule_num');
  if (r.srcPort) {
    u16(b, F.src_port_lo, r.srcPort.lo, 'fw_rule.src_port_lo');
    u16(b, F.src_port_hi, r.srcPort.hi, 'fw_rule.src_port_hi');
  }
  if (r.dstPort) {
    u16(b, F.dst_port_lo, r.dstPort.lo, 'fw_rule.dst_port_lo');
    u16(b, F.dst_port_hi, r.dstPort.hi, 'fw_rule.dst_port_hi');
  }
  if (r.vlanId !== null) u16(b, F.vlan_id, r.vlanId, 'fw_rule.vlan_id');
  u16(b, F.match, r.match, 'fw_rule.match');
  u8(b, F.family, r.family, 'fw_rule.family');
  if (r.proto !== null) u8(b, F.proto, r.proto, 'fw_rule.proto');
  if (r.icmpType !== null) u8(b, F.icmp_type, r.icmpType, 'fw_rule.icmp_type');
  if (r.icmpCode !== null) u8(b, F.icmp_code, r.icmpCode, 'fw_rule.icmp_code');
  u8(b, F.action, ACTION_CODE[r.action], 'fw_rule.action');
  if (r.ctStates !== null) u8(b, F.ct_states, r.ctStates, 'fw_rule.ct_states');
  return b;
}

function encodeLpm(c: CompiledFirewall, family: 4 | 6, setIdBase: number): LpmEntry[] {
  const L = family === 4 ? layouts.fw_lpm_v4_key : layouts.fw_lpm_v6_key;
  const F = L.fields;
  const addrLen = family === 4 ? 4 : 16;
  const name = family === 4 ? 'fw_lpm_v4_key' : 'fw_lpm_v6_key';
  let n = 0;
  for (const s of c.sets) if (s.family === family) n += s.prefixes.length;
  // One allocation for all keys: block lists have 100,000 entries.
  const all = Buffer.alloc(n * L.size);
  const out: LpmEntry[] = new Array<LpmEntry>(n);
  let i = 0;
  for (const s of c.sets) {
    if (s.family !== family) continue;
    const setId = setIdBase + s.index;
    for (const p of s.prefixes) {
      const key = all.subarray(i * L.size, (i + 1) * L.size);
      // The set id is the key's leading 32 bits, so the trie's prefix covers it too.
      u32(key, F.prefixlen, 32 + p.prefix, `${name}.prefixlen`);
      u32be(key, F.set_id, setId, `${name}.set_id`);
      raw(key, F.addr, p.addr, addrLen, `${name}.addr`);
      out[i++] = { key, value: LPM_PRESENT };
    }
  }
  return out;
}

/** Encodes every map entry of one generation. Throws when a rule has no number or a set id
 * would not fit. */
export function encodeGeneration(c: CompiledFirewall, opts: EncodeOptions): EncodedGeneration {
  if (c.rules.length > fw_limits.FW_MAX_RULES) throw new Error(`${c.rules.length} rules exceed FW_MAX_RULES (${fw_limits.FW_MAX_RULES})`);
  if (!Number.isInteger(opts.setIdBase) || opts.setIdBase < 0 || opts.setIdBase + c.sets.length > 0xffffffff) {
    throw new Error(`set id base ${opts.setIdBase} does not leave room for ${c.sets.length} sets in a u32`);
  }
  const rules = c.rules.map((r) => {
    const num = opts.ruleNums.get(r.ruleId);
    if (num === undefined) throw new Error(`no rule number assigned to rule "${r.ruleId}"`);
    if (!Number.isInteger(num) || num < 1 || num >= fw_limits.FW_MAX_RULE_NUMS) {
      throw new Error(`rule number ${num} of "${r.ruleId}" is outside 1..${fw_limits.FW_MAX_RULE_NUMS - 1}`);
    }
    return encodeRule(r, num, opts.setIdBase);
  });
  const G = layouts.fw_gen;
  const gen = Buffer.alloc(G.size);
  u32(gen, G.fields.rule_count, c.rules.length, 'fw_gen.rule_count');
  u8(gen, G.fields.default_action, ACTION_CODE[c.defaultAction], 'fw_gen.default_action');
  // Without state rules the kernel runs the rules before its ct_table lookup (firewall.h).
  u8(gen, G.fields.flags, c.rules.some((r) => r.ctStates !== null) ? 0 : fw_gen_flag.FW_GEN_F_STATELESS, 'fw_gen.flags');
  const R = G.fields.roots;
  const T = G.fields.tree_count;
  if (R.size !== 2 * 4 * fw_limits.FW_MAX_TREES || T.size !== 8) throw new Error(`layout mismatch: fw_gen.roots is ${R.size} bytes, tree_count ${T.size}, for 2 x ${fw_limits.FW_MAX_TREES} trees`);
  ([4, 6] as const).forEach((fam, f) => {
    const roots = c.classifier.roots[fam];
    if (roots.length > fw_limits.FW_MAX_TREES) throw new Error(`${roots.length} IPv${fam} classifier trees exceed FW_MAX_TREES (${fw_limits.FW_MAX_TREES})`);
    roots.forEach((ref, i) => u32(gen, { offset: R.offset + 4 * (f * fw_limits.FW_MAX_TREES + i), size: 4 }, ref, 'fw_gen.roots'));
    u32(gen, { offset: T.offset + 4 * f, size: 4 }, roots.length, 'fw_gen.tree_count');
  });
  if (!Number.isInteger(opts.policyId) || opts.policyId < 1 || opts.policyId > 0xffffffff) throw new Error(`policy id ${opts.policyId} is outside 1..2^32-1`);
  u32(gen, G.fields.policy_id, opts.policyId, 'fw_gen.policy_id');
  const cls = c.classifier;
  if (cls.nodes.length > fw_limits.FW_TREE_NODES * 256) throw new Error(`${cls.nodes.length / 256} classifier nodes exceed FW_TREE_NODES (${fw_limits.FW_TREE_NODES})`);
  if (cls.leafSlots.length > fw_limits.FW_LEAF_SLOTS) throw new Error(`${cls.leafSlots.length} leaf slots exceed FW_LEAF_SLOTS (${fw_limits.FW_LEAF_SLOTS})`);
  return {
    // Each classifier array is one value per generation (firewall.h); only the used part is written.
    tree: { offset: opts.generation * layouts.fw_tree_gen.size, data: u32Bytes(cls.nodes) },
    wide: [...cls.wide].map(([t, table]) => {
      if (t >= fw_limits.FW_WIDE_TABLES || table.length !== fw_limits.FW_WIDE_SLOTS) throw new Error(`wide root table ${t} (${table.length} entries) does not fit fw_wide`);
      return { offset: opts.generation * layouts.fw_wide_gen.size + t * fw_limits.FW_WIDE_SLOTS * 4, data: u32Bytes(table) };
    }),
    leaves: { offset: opts.generation * layouts.fw_leaf_gen.size, data: u32Bytes(cls.leafSlots) },
    generation: opts.generation,
    maxRules: fw_limits.FW_MAX_RULES,
    rules,
    gen,
    lpmV4: encodeLpm(c, 4, opts.setIdBase),
    lpmV6: encodeLpm(c, 6, opts.setIdBase),
  };
}
