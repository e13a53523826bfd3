// Writes a compiled policy into the kernel as one atomic generation flip (see firewall.h):
// fill the inactive generation (rules, classifier, header, LPM set entries under its own set
// ids), then flip the single u32 in fw_active. A packet reads fw_active once, so it is judged by
// the whole old policy or the whole new one.
//
// The generation switched out stays whole until no packet can still be reading it: a packet
// that read fw_active just before the flip walks the old classifier, reads old rules and looks
// up old set entries after it. Its set entries are removed, and its slots rewritten, only once
// every program run that began before the flip has returned (src/kernel/in-flight.ts): by
// settle() after a reload, or at the start of the next apply at the latest.
import { endianness } from 'node:os';
import { layouts } from '../../kernel/layouts.gen.js';
import { InactiveGeneration } from '../../kernel/in-flight.js';
import { type CompiledFirewall } from './compile.js';
import { encodeGeneration, type EncodedGeneration, type MmapWrite } from './encode.js';
import { RuleNumbers } from '../rule-numbers.js';
import { fw_limits } from '../../kernel/contract.gen.js';

/** The raw map operations this writer needs (satisfied by src/kernel BpfMap). */
export interface RawMap {
  update(key: Buffer, value: Buffer): void;
  delete(key: Buffer): boolean;
  lookup(key: Buffer): Buffer | null;
  /** many entries at once; implementations fall back to single updates where batch is unsupported */
  updateMany(keys: Buffer[], values: Buffer[]): void;
  /** bytes at an offset of an mmapable array's value area (the classifier arrays) */
  writeAt(w: MmapWrite): void;
  /** every key (the LPM tries, read once when the writer takes over maps) */
  keys(): Iterable<Buffer>;
}

export interface FirewallMaps {
  active: RawMap;
  gen: RawMap;
  rules: RawMap;
  tree: RawMap;
  leaves: RawMap;
  wide: RawMap;
  lpmV4: RawMap;
  lpmV6: RawMap;
  /** zeroes the hit counters of rule numbers about to be (re)used */
  resetRuleHits(nums: readonly number[]): void;
}

interface LiveSets {
  v4: Buffer[];
  v6: Buffer[];
}

/** Set ids of generation 0 start at 1, those of generation 1 at 0x80000001: the two never meet,
 * and a key's set id tells which generation it belongs to. */
const SET_ID_BASE = [1, 0x8000_0001] as const;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

export interface ApplyResult {
  generation: 0 | 1;
  rules: number;
  setEntries: number;
  ruleNums: Map<string, number>;
}

export class GenerationWriter {
  readonly numbers = new RuleNumbers({ capacity: fw_limits.FW_MAX_RULE_NUMS, owner: 'firewall', recycle: true });
  private active: 0 | 1;
  /** set keys each generation currently has in the tries */
  private readonly sets: [LiveSets, LiveSets] = [{ v4: [], v6: [] }, { v4: [], v6: [] }];
  private lastCompiled: CompiledFirewall | null = null;
  /** policy id of the live generation (monotonic, never 0) */
  private policy: number;
  /** whether packets may still read the inactive generation */
  private readonly inactive = new InactiveGeneration();

  constructor(private readonly maps: FirewallMaps) {
    const cur = maps.active.lookup(u32(0));
    this.active = cur && (cur.readUInt32LE(0) & 1) === 1 ? 1 : 0;
    // Continue from the live generation's id so an adopted program never sees an id reused
    // (a reused id would let flows judged by an older policy keep their fast path).
    const g = maps.gen.lookup(u32(this.active));
    const at = layouts.fw_gen.fields.policy_id.offset;
    this.policy = g ? (endianness() === 'LE' ? g.readUInt32LE(at) : g.readUInt32BE(at)) : 0;
    // Set entries already in the tries (maps filled by an earlier writer) are each generation's
    // to remove when it is next rewritten, exactly like the ones this writer adds.
    this.adoptSets(maps.lpmV4, 'v4');
    this.adoptSets(maps.lpmV6, 'v6');
  }

  /** Policy id of the live generation (0 before the first apply). */
  get policyId(): number {
    return this.policy;
  }

  get activeGeneration(): 0 | 1 {
    return this.active;
  }

  get compiled(): CompiledFirewall | null {
    return this.lastCompiled;
  }

  /** LPM entries currently in a family's trie (both generations). */
  setEntries(family: 4 | 6): number {
    const key = family === 4 ? 'v4' : 'v6';
    return this.sets[0][key].length + this.sets[1][key].length;
  }

  /** Whether no packet can be reading the inactive generation any more (settle() done). */
  get settled(): boolean {
    return this.inactive.free;
  }

  apply(compiled: CompiledFirewall): ApplyResult {
    // The generation about to be rewritten was live until the last flip: packets that read
    // fw_active before it must be done with it first (at once when settle() already saw to it).
    this.inactive.settleSync();

    const next: 0 | 1 = this.active === 0 ? 1 : 0;
    const ids = compiled.rules.map((r) => r.ruleId);
    const { nums, fresh } = this.numbers.assign(ids);

    // Counters of a recycled number start from zero.
    if (fresh.length) this.maps.resetRuleHits(fresh);

    // Its set entries (left since the last flip, by an aborted apply or an earlier agent) go
    // before the new ones are written under the same set ids.
    this.clearSets(next);

    const enc: EncodedGeneration = encodeGeneration(compiled, {
      generation: next,
      ruleNums: nums,
      setIdBase: SET_ID_BASE[next],
      policyId: this.policy >= 0xffffffff ? 1 : this.policy + 1,
    });

    if (enc.rules.length) {
      const base = next * enc.maxRules;
      this.maps.rules.updateMany(
        enc.rules.map((_, i) => u32(base + i)),
        enc.rules,
      );
    }
    // The classifier's arrays: one mmapable value per generation each (firewall.h).
    this.maps.tree.writeAt(enc.tree);
    for (const w of enc.wide) this.maps.wide.writeAt(w);
    this.maps.leaves.writeAt(enc.leaves);
    this.writeSet(this.maps.lpmV4, enc.lpmV4, this.sets[next].v4);
    this.writeSet(this.maps.lpmV6, enc.lpmV6, this.sets[next].v6);
    this.maps.gen.update(u32(next), enc.gen);

    // The flip: one aligned u32. The old generation stays whole (see the top of this file).
    this.maps.active.update(u32(0), u32(next));
    this.inactive.flipped();
    this.active = next;
    this.policy = this.policy >= 0xffffffff ? 1 : this.policy + 1;
    this.numbers.committed(new Set(ids));
    this.lastCompiled = compiled;

    return {
      generation: next,
      rules: enc.rules.length,
      setEntries: enc.lpmV4.length + enc.lpmV6.length,
      ruleNums: nums,
    };
  }

  /**
   * Removes the set entries of the generation the last flip switched out, once no packet can
   * still be reading it (one grace period after the flip; src/kernel/in-flight.ts). Without it
   * they go at the start of the next apply. Returns how many entries went.
   */
  async settle(): Promise<number> {
    if (!(await this.inactive.settle())) return 0; // flipped again meanwhile: that apply waited
    return this.clearSets(this.active === 0 ? 1 : 0);
  }

  /** settle() on the calling thread (blocks it for one grace period): tests and benches. */
  settleSync(): number {
    this.inactive.settleSync();
    return this.clearSets(this.active === 0 ? 1 : 0);
  }

  private adoptSets(map: RawMap, family: 'v4' | 'v6'): void {
    const at = layouts.fw_lpm_v4_key.fields.set_id.offset;
    if (layouts.fw_lpm_v6_key.fields.set_id.offset !== at) throw new Error('fw_lpm_v4_key and fw_lpm_v6_key disagree on set_id');
    for (const k of map.keys()) this.sets[k.readUInt32BE(at) >= SET_ID_BASE[1] ? 1 : 0][family].push(Buffer.from(k));
  }

  private writeSet(map: RawMap, entries: { key: Buffer; value: Buffer }[], live: Buffer[]): void {
    if (!entries.length) return;
    // Recorded before writing so a failure half-way still gets cleaned up next time.
    for (const e of entries) live.push(e.key);
    map.updateMany(
      entries.map((e) => e.key),
      entries.map((e) => e.value),
    );
  }

  private clearSets(g: 0 | 1): number {
    const s = this.sets[g];
    const n = s.v4.length + s.v6.length;
    for (const k of s.v4) this.maps.lpmV4.delete(k);
    for (const k of s.v6) this.maps.lpmV6.delete(k);
    s.v4 = [];
    s.v6 = [];
    return n;
  }
}
