// Compiles the ordered kernel rules into the classifier the kernel walks instead of scanning
// rules one by one (see firewall.h): a 256-way decision DAG over the fixed packet key
// (struct fw_key). Each inner node cuts one key byte; a leaf lists the few rules that can still
// match in its region, in priority order, and the kernel checks them with the exact matcher.
//
// Why it stays first-match exact: a rule is dropped from a region only when it cannot match
// any packet there, or when an earlier rule of the list matches every packet there (shadowed).
// Everything else is conservative: address sets (LPM) count as "any address" for the cut and
// never shadow anything, and the leaf check decides.
//
// Why it stays small: siblings whose rule lists and relevant region agree share one subtree
// (a DAG), and a node budget makes the compiler fall back to bigger leaves before it gives up.
import { layouts } from '../../kernel/layouts.gen.js';
import type { CompiledRule, PacketFacts } from './rule.js';
import { fw_leaf_entry, fw_limits, fw_match, fw_meta, fw_ref } from '../../kernel/contract.gen.js';

const K = layouts.fw_key.fields;
/** Byte offsets of struct fw_key, the key the classifier cuts (generated from its BTF). */
const KEY = {
  META: K.meta.offset,
  PROTO: K.proto.offset,
  VLAN: K.vlan.offset,
  SPORT: K.sport.offset,
  DPORT: K.dport.offset,
  ICMP_TYPE: K.icmp_type.offset,
  ICMP_CODE: K.icmp_code.offset,
  SRC: K.src.offset,
  DST: K.dst.offset,
  SIZE: layouts.fw_key.size,
} as const;

/** Leaf size the compiler aims for (the candidates the kernel checks inline,
 * FW_LEAF_INLINE); doubled (up to the reference's count field) when the node budget runs
 * out. A candidate the quick-reject filter turns away costs a few instructions on a leaf's one
 * cache line, a level of descent a dependent load from another line: with many flows (caches
 * holding little of the tree) eight candidates and fewer levels walk faster than two or four and
 * more levels, and as fast warm (bench: 10,000 mixed rules, IPv4 p99 of frames rotating over the
 * policy 1,052 ns with leaves of 4, 752 ns with 8; warm 92 / 89 ns; past 8 the callback costs). */
export const DEFAULT_LEAF_TARGET = 8;

/** Every meta byte the kernel can produce: 2 families x later-fragment x 4 ct states. */
const VALID_META: readonly number[] = (() => {
  const out: number[] = [];
  for (const v6 of [0, fw_meta.FW_META_V6]) for (const lf of [0, fw_meta.FW_META_LATER_FRAG]) for (let ct = 0; ct < 4; ct++) out.push(v6 | lf | ct);
  return out;
})();

/** Meta values per family: each family has trees of its own (fw_gen.roots[family]), so the
 * family is decided before the walk and never costs a level. */
const FAMILY_META: Readonly<Record<4 | 6, readonly number[]>> = {
  4: VALID_META.filter((v) => !(v & fw_meta.FW_META_V6)),
  6: VALID_META.filter((v) => (v & fw_meta.FW_META_V6) !== 0),
};

/** Masked key bytes: rules constrain each with (byte & mask) == want, masks prefix-shaped
 * (CIDRs) or full (exact values), so any of them can be cut in any order. */
const MASKED_COLS: readonly number[] = [
  KEY.PROTO, KEY.VLAN, KEY.VLAN + 1, KEY.ICMP_TYPE, KEY.ICMP_CODE,
  ...Array.from({ length: 16 }, (_, i) => KEY.SRC + i),
  ...Array.from({ length: 16 }, (_, i) => KEY.DST + i),
];

/** Port fields: intervals over two big-endian bytes, cut high byte first. */
const RANGE_FIELDS = [
  { off: KEY.SPORT, len: 2 },
  { off: KEY.DPORT, len: 2 },
] as const;
const NR = RANGE_FIELDS.length;

/** A rule as the classifier sees it. */
interface Cond {
  /** 256 flags: meta values the rule accepts */
  readonly meta: Uint8Array;
  /** meta set holds every value the kernel produces */
  readonly metaAll: boolean;
  /** meta set holds every value of a family's packets */
  readonly metaFam: Readonly<Record<4 | 6, boolean>>;
  /** per key byte: required bits and their values (mask 0 = any) */
  readonly want: Uint8Array;
  readonly mask: Uint8Array;
  /** masked columns with a non-zero mask */
  readonly cols: readonly number[];
  /** per port field: [lo, hi] big-endian, or null for any */
  readonly ranges: readonly ([Uint8Array, Uint8Array] | null)[];
  /** an LPM set criterion: never shadows others (membership is not known here) */
  readonly hasSet: boolean;
  readonly family: 0 | 4 | 6;
}

function be(n: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    b[i] = n & 0xff;
    n = Math.floor(n / 256);
  }
  return b;
}

function condOf(r: CompiledRule): Cond {
  const m = r.match;
  const meta = new Uint8Array(256);
  const needL4 = (m & (fw_match.FW_M_SRC_PORT | fw_match.FW_M_DST_PORT | fw_match.FW_M_ICMP_TYPE | fw_match.FW_M_ICMP_CODE)) !== 0;
  for (const v of VALID_META) {
    const v6 = (v & fw_meta.FW_META_V6) !== 0;
    if (r.family === 4 && v6) continue;
    if (r.family === 6 && !v6) continue;
    if (needL4 && v & fw_meta.FW_META_LATER_FRAG) continue;
    if (m & fw_match.FW_M_CT_STATE && !((r.ctStates ?? 0) & (1 << (v & fw_meta.FW_META_CT_MASK)))) continue;
    meta[v] = 1;
  }
  const metaAll = VALID_META.every((v) => meta[v] === 1);
  const want = new Uint8Array(KEY.SIZE);
  const mask = new Uint8Array(KEY.SIZE);
  const exact = (off: number, bytes: Uint8Array): void => {
    want.set(bytes, off);
    mask.fill(0xff, off, off + bytes.length);
  };
  if (m & fw_match.FW_M_PROTO) exact(KEY.PROTO, be(r.proto!, 1));
  if (m & fw_match.FW_M_VLAN) exact(KEY.VLAN, be(r.vlanId === 0 ? 0 : 0x1000 | r.vlanId!, 2));
  if (m & fw_match.FW_M_ICMP_TYPE) exact(KEY.ICMP_TYPE, be(r.icmpType!, 1));
  if (m & fw_match.FW_M_ICMP_CODE) exact(KEY.ICMP_CODE, be(r.icmpCode!, 1));
  // The kernel compares all 16 bytes under the mask; an IPv4 mask is zero past byte 3.
  for (const [bit, net, off] of [
    [fw_match.FW_M_SRC_NET, r.srcNet, KEY.SRC],
    [fw_match.FW_M_DST_NET, r.dstNet, KEY.DST],
  ] as const) {
    if (!(m & bit) || !net) continue;
    const nm = net.mask();
    for (let i = 0; i < 16; i++) {
      mask[off + i] = nm[i]!;
      want[off + i] = net.addr[i]! & nm[i]!;
    }
  }
  const cols = MASKED_COLS.filter((c) => mask[c] !== 0);
  const ranges: ([Uint8Array, Uint8Array] | null)[] = [
    m & fw_match.FW_M_SRC_PORT ? [be(r.srcPort!.lo, 2), be(r.srcPort!.hi, 2)] : null,
    m & fw_match.FW_M_DST_PORT ? [be(r.dstPort!.lo, 2), be(r.dstPort!.hi, 2)] : null,
  ];
  const metaFam = { 4: FAMILY_META[4].every((v) => meta[v] === 1), 6: FAMILY_META[6].every((v) => meta[v] === 1) };
  return { meta, metaAll, metaFam, want, mask, cols, ranges, hasSet: (m & (fw_match.FW_M_SRC_SET | fw_match.FW_M_DST_SET)) !== 0, family: r.family };
}

/** The part of key space a node covers: meta (or free), each masked byte fixed or free, and a
 * fixed prefix per port field (an interval). */
interface Region {
  readonly meta: number; // -1 = free
  /** the tree's family: the meta values a packet reaching this tree can carry */
  readonly fam: 4 | 6;
  readonly fixed: Int16Array; // per key byte: value, or -1 = free
  readonly prefix: readonly Uint8Array[]; // per port field
}

/** Compares a[0..n) with b[0..n). */
function cmpPrefix(a: Uint8Array, b: Uint8Array, n: number): number {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

function allFrom(a: Uint8Array, from: number, v: number): boolean {
  for (let i = from; i < a.length; i++) if (a[i] !== v) return false;
  return true;
}

/** For a rule that intersects the region on a port field: the child byte values it reaches
 * when the field's next byte is cut. */
function childSpan(range: [Uint8Array, Uint8Array], p: Uint8Array): { a: number; b: number } {
  const j = p.length;
  const [lo, hi] = range;
  return { a: cmpPrefix(lo, p, j) < 0 ? 0 : lo[j]!, b: cmpPrefix(hi, p, j) > 0 ? 255 : hi[j]! };
}

function coversRange(range: [Uint8Array, Uint8Array] | null, p: Uint8Array): boolean {
  if (!range) return true;
  const j = p.length;
  const [lo, hi] = range;
  const c1 = cmpPrefix(lo, p, j);
  const c2 = cmpPrefix(hi, p, j);
  return (c1 < 0 || (c1 === 0 && allFrom(lo, j, 0))) && (c2 > 0 || (c2 === 0 && allFrom(hi, j, 0xff)));
}

/** The rule accepts every meta value of the family's tree. */
function metaAllOf(c: Cond, fam: 4 | 6): boolean {
  return c.metaFam[fam];
}

function covers(c: Cond, reg: Region): boolean {
  if (c.hasSet) return false;
  if (reg.meta < 0 ? !metaAllOf(c, reg.fam) : c.meta[reg.meta] !== 1) return false;
  for (const j of c.cols) {
    const v = reg.fixed[j]!;
    if (v < 0 || (v & c.mask[j]!) !== c.want[j]) return false;
  }
  for (let f = 0; f < NR; f++) if (!coversRange(c.ranges[f]!, reg.prefix[f]!)) return false;
  return true;
}

/** Keeps rules up to and including the first that covers the whole region (first match:
 * nothing after it can decide a packet there). */
function pruneShadowed(list: number[], conds: readonly Cond[], reg: Region): number[] {
  for (let i = 0; i < list.length; i++) {
    if (covers(conds[list[i]!]!, reg)) return list.slice(0, i + 1);
  }
  return list;
}

/** Rank of a key byte as a quick-reject filter: the likelier a packet that reached the leaf
 * differs there, the higher. Late address bytes tell hosts apart, a port's low byte tells
 * services apart; protocol, VLAN and ICMP bytes are shared by much of the traffic. */
function filterRank(col: number): number {
  if (col >= KEY.SRC) return 16 + ((col - KEY.SRC) & 15);
  if (col === KEY.SPORT + 1 || col === KEY.DPORT + 1) return 40;
  if (col === KEY.SPORT || col === KEY.DPORT) return 8;
  return col === KEY.PROTO ? 1 : 4;
}

/** A leaf entry's quick-reject filter (LEAF_*_SHIFT fields; 0 = none): one key byte the rule
 * needs to hold a value under a prefix mask, which the kernel tests before it reads the rule
 * (a candidate that fails it cannot match). It is a necessary condition of the rule whatever
 * the region, so it never changes a verdict; the region only says which bytes are worth it
 * (a byte every packet there already has is not). */
function leafFilter(c: Cond, reg: Region): number {
  let best = -1;
  let bestRank = -1;
  let bestMask = 0;
  let bestValue = 0;
  const consider = (col: number, mask: number, value: number): void => {
    // Prefix masks only: the kernel rebuilds the mask from its length.
    const len = Math.clz32(~(mask << 24));
    if (len === 0 || ((0xff00 >> len) & 0xff) !== mask) return;
    const rank = filterRank(col) * 16 + len;
    if (rank > bestRank) {
      best = col;
      bestRank = rank;
      bestMask = len;
      bestValue = value & mask;
    }
  };
  for (const j of c.cols) if (reg.fixed[j]! < 0) consider(j, c.mask[j]!, c.want[j]!);
  RANGE_FIELDS.forEach((f, i) => {
    const r = c.ranges[i];
    if (!r || coversRange(r, reg.prefix[i]!)) return;
    const [lo, hi] = r;
    // A range within one high byte pins it; a single port pins both.
    if (reg.prefix[i]!.length === 0 && lo[0] === hi[0]) consider(f.off, 0xff, lo[0]!);
    if (lo[0] === hi[0] && lo[1] === hi[1] && reg.prefix[i]!.length < 2) consider(f.off + 1, 0xff, lo[1]!);
  });
  if (best < 0) return 0;
  return ((best << fw_leaf_entry.FW_LEAF_BYTE_SHIFT) | (bestMask << fw_leaf_entry.FW_LEAF_MASKLEN_SHIFT) | (bestValue << fw_leaf_entry.FW_LEAF_VALUE_SHIFT)) >>> 0;
}

/** Whether a key passes a leaf entry's filter (as the kernel tests it). */
function leafFilterPasses(entry: number, key: Uint8Array): boolean {
  const col = (entry >>> fw_leaf_entry.FW_LEAF_BYTE_SHIFT) & 0x3f;
  const mask = (0xff00 >> ((entry >>> fw_leaf_entry.FW_LEAF_MASKLEN_SHIFT) & 0xf)) & 0xff;
  return ((key[col]! ^ (entry >>> fw_leaf_entry.FW_LEAF_VALUE_SHIFT)) & mask) === 0;
}

export interface Classifier {
  /** per packet family, references of its trees' roots (FW_REF_*), at most MAX_TREES each; a
   * packet's rule is the first (lowest slot) match over its family's trees */
  roots: Record<4 | 6, number[]>;
  /** wide root tables (fw_wide), WIDE_SLOTS references each; table t of a generation is the one
   * a wide root reference names (family f, tree i: t = f * MAX_TREES + i, f = 0 for IPv4) */
  wide: Map<number, Uint32Array>;
  /** inner nodes, 256 references each, node i at [i*256, i*256+256) */
  nodes: Uint32Array;
  /** leaf candidates: rule slot index (generation-relative, LEAF_SLOT_MASK) and a quick-reject
   * filter on one key byte (leafFilter) */
  leafSlots: Uint32Array;
  stats: ClassifierStats;
}

export interface ClassifierStats {
  rules: number;
  nodes: number;
  leaves: number;
  leafSlots: number;
  maxLeaf: number;
  maxDepth: number;
  /** leaf size the build aimed for (grows when the node budget is short) */
  leafTarget: number;
  /** trees whose root is a wide table (two key bytes in one lookup) */
  wideRoots: number;
}

export class ClassifierFitError extends Error {
  override name = 'ClassifierFitError';
}

export interface ClassifierLimits {
  nodes: number;
  leafSlots: number;
  maxDepth: number;
  leafTarget: number;
}

const DEFAULT_LIMITS: ClassifierLimits = {
  nodes: fw_limits.FW_TREE_NODES,
  leafSlots: fw_limits.FW_LEAF_SLOTS,
  maxDepth: fw_limits.FW_MAX_DEPTH,
  leafTarget: DEFAULT_LEAF_TARGET,
};

class BudgetExceeded extends Error {}

/** Builds the classifier for rules (in priority order; slot i = rules[i]). Tries the leaf
 * target first and doubles it while the node or leaf budget is exceeded; throws
 * ClassifierFitError when even the largest leaves do not fit. */
export function buildClassifier(rules: readonly CompiledRule[], limits: Partial<ClassifierLimits> = {}): Classifier {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  const conds = rules.map(condOf);
  let target = lim.leafTarget;
  let depth = lim.maxDepth;
  let last = '';
  // Each round trades walk depth for leaf size: fewer, bigger leaves need fewer nodes and
  // fewer leaf slots (rules repeated across leaves).
  for (;;) {
    try {
      return new Builder(conds, { ...lim, maxDepth: depth }, target).build();
    } catch (e) {
      if (!(e instanceof BudgetExceeded)) throw e;
      last = e.message;
      if (target >= fw_ref.FW_REF_COUNT_MASK && depth <= 1) break;
      target = Math.min(fw_ref.FW_REF_COUNT_MASK, target * 2);
      depth = Math.max(1, depth - 1);
    }
  }
  throw new ClassifierFitError(
    `the ${rules.length} firewall rules do not fit the kernel classifier (${last}, even with leaves of up to ${fw_ref.FW_REF_COUNT_MASK} rules); ` +
      'merge rules that differ only in addresses into aliases (LPM sets) or reduce the number of rules',
  );
}

class Builder {
  private readonly nodes: number[][] = [];
  private readonly leafSlots: number[] = [];
  private readonly memo = new Map<string, number>();
  private readonly leafMemo = new Map<string, number>();
  private readonly nodeMemo = new Map<string, number>();
  /** inner nodes below a reference, counting itself (leaves: absent = 0) */
  private readonly height = new Map<number, number>();
  private maxHeight = 0;
  private leaves = 0;
  private maxLeaf = 0;

  constructor(
    private readonly conds: readonly Cond[],
    private readonly lim: ClassifierLimits,
    private readonly target: number,
  ) {}

  build(): Classifier {
    const rootsOf = (fam: 4 | 6): number[] => {
      const reg: Region = { meta: -1, fam, fixed: new Int16Array(KEY.SIZE).fill(-1), prefix: RANGE_FIELDS.map(() => new Uint8Array(0)) };
      return partition(this.conds, fam).map((part) => this.node(pruneShadowed(part, this.conds, reg), reg, 0));
    };
    const roots = { 4: rootsOf(4), 6: rootsOf(6) };
    const wide = new Map<number, Uint32Array>();
    ([4, 6] as const).forEach((fam, f) => {
      roots[fam] = roots[fam].map((ref, i) => {
        const w = this.widen(ref, f * fw_limits.FW_MAX_TREES + i);
        if (!w) return ref;
        wide.set(f * fw_limits.FW_MAX_TREES + i, w.table);
        return w.ref;
      });
    });
    const nodes = new Uint32Array(this.nodes.length * 256);
    this.nodes.forEach((n, i) => nodes.set(n, i * 256));
    return {
      roots,
      wide,
      nodes,
      leafSlots: Uint32Array.from(this.leafSlots),
      stats: {
        rules: this.conds.length,
        nodes: this.nodes.length,
        leaves: this.leaves,
        leafSlots: this.leafSlots.length,
        maxLeaf: this.maxLeaf,
        maxDepth: this.maxHeight,
        leafTarget: this.target,
        wideRoots: wide.size,
      },
    };
  }

  /** The wide form of a tree's root: the root node and its children flattened into one table
   * indexed by (root byte value << 8 | second byte value), where the second byte is the one most
   * of the root's children cut. An entry is where cutting both bytes leads: the grandchild when
   * the child cuts that byte, else the child itself (leaf, or a node cutting another byte, whose
   * walk simply goes on), so it is exact whatever the children. Worth it only when some child
   * is an inner node: a root over leaves already decides in one lookup. */
  private widen(ref: number, table: number): { ref: number; table: Uint32Array } | null {
    if (ref & fw_ref.FW_REF_LEAF) return null;
    const byteOf = (r: number): number => (r >>> fw_ref.FW_REF_BYTE_SHIFT) & 0x3f;
    const children = this.nodes[ref & fw_ref.FW_REF_NODE_MASK]!;
    const votes = new Map<number, number>();
    for (const c of children) if (!(c & fw_ref.FW_REF_LEAF)) votes.set(byteOf(c), (votes.get(byteOf(c)) ?? 0) + 1);
    if (!votes.size) return null;
    const second = [...votes.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]![0];
    const t = new Uint32Array(fw_limits.FW_WIDE_SLOTS);
    for (let hi = 0; hi < 256; hi++) {
      const c = children[hi]!;
      if (!(c & fw_ref.FW_REF_LEAF) && byteOf(c) === second) t.set(this.nodes[c & fw_ref.FW_REF_NODE_MASK]!, hi << 8);
      else t.fill(c, hi << 8, (hi + 1) << 8);
    }
    const wideRef = (fw_ref.FW_REF_WIDE | (byteOf(ref) << fw_ref.FW_REF_BYTE_SHIFT) | (second << fw_ref.FW_REF_BYTE2_SHIFT) | table) >>> 0;
    return { ref: wideRef, table: t };
  }

  private leaf(list: number[], reg: Region): number {
    if (list.length > fw_ref.FW_REF_COUNT_MASK) throw new BudgetExceeded(`a leaf would hold ${list.length} rules`);
    const entries = list.map((i) => (i | leafFilter(this.conds[i]!, reg)) >>> 0);
    const k = entries.join(',');
    let ref = this.leafMemo.get(k);
    if (ref !== undefined) return ref;
    const start = this.leafSlots.length;
    if (start + list.length > this.lim.leafSlots) throw new BudgetExceeded(`more than ${this.lim.leafSlots} leaf slots`);
    for (const e of entries) this.leafSlots.push(e);
    this.leaves++;
    this.maxLeaf = Math.max(this.maxLeaf, list.length);
    ref = (fw_ref.FW_REF_LEAF | (list.length << fw_ref.FW_REF_COUNT_SHIFT) | start) >>> 0;
    this.leafMemo.set(k, ref);
    return ref;
  }

  /** Memo key: the list and what of the region can still matter below: which masked bytes
   * the list looks at are fixed (their values cannot matter: every rule of the list accepts
   * them), the port prefixes where a rule is cut by the bounds, and whether meta is open. */
  private key(list: number[], reg: Region): string {
    let metaUsed = false;
    const usedRange = [false, false];
    const fixedUsed = new Set<number>();
    for (const i of list) {
      const c = this.conds[i]!;
      if (reg.meta < 0 && !metaAllOf(c, reg.fam)) metaUsed = true;
      for (const j of c.cols) if (reg.fixed[j]! >= 0) fixedUsed.add(j);
      for (let f = 0; f < NR; f++) {
        if (!usedRange[f] && c.ranges[f] && !coversRange(c.ranges[f]!, reg.prefix[f]!)) usedRange[f] = true;
      }
    }
    let k = list.join(',') + '|' + (metaUsed ? `m${reg.fam}` : '*') + '|' + [...fixedUsed].sort((a, b) => a - b).join('.');
    for (let f = 0; f < NR; f++) k += '|' + (usedRange[f] ? reg.prefix[f]!.join('.') : '*');
    return k;
  }

  private node(list: number[], reg: Region, depth: number): number {
    if (list.length <= this.target || depth >= this.lim.maxDepth) return this.leaf(list, reg);
    const k = this.key(list, reg);
    const hit = this.memo.get(k);
    // A shared subtree must still fit under the depth bound where it is reused.
    if (hit !== undefined && depth + (this.height.get(hit) ?? 0) <= this.lim.maxDepth) return hit;

    const cut = this.chooseCut(list, reg);
    if (cut === null) {
      const ref = this.leaf(list, reg);
      this.memo.set(k, ref);
      return ref;
    }
    const refs = new Array<number>(256).fill(0);
    for (const seg of this.split(list, reg, cut)) {
      const ref = this.node(seg.list, seg.reg, depth + 1);
      for (let v = seg.from; v <= seg.to; v++) refs[v] = ref;
    }
    const byte = cut.kind === 'meta' ? KEY.META : cut.kind === 'col' ? cut.col : RANGE_FIELDS[cut.field]!.off + reg.prefix[cut.field]!.length;
    const ref = this.intern(byte, refs);
    if (!this.memo.has(k)) this.memo.set(k, ref);
    return ref;
  }

  /** One node per distinct (byte, children): different rule lists often end in the same
   * structure; a node whose children are all alike is that child. */
  private intern(byte: number, refs: number[]): number {
    if (refs.every((r) => r === refs[0])) return refs[0]!;
    const k = `${byte}:${refs.join(',')}`;
    const hit = this.nodeMemo.get(k);
    if (hit !== undefined) return hit;
    let h = 0;
    for (const r of new Set(refs)) h = Math.max(h, this.height.get(r) ?? 0);
    const idx = this.nodes.length;
    if (idx >= this.lim.nodes) throw new BudgetExceeded(`more than ${this.lim.nodes} nodes`);
    this.nodes.push(refs);
    const ref = ((byte << fw_ref.FW_REF_BYTE_SHIFT) | idx) >>> 0;
    this.nodeMemo.set(k, ref);
    this.height.set(ref, h + 1);
    if (h + 1 > this.maxHeight) this.maxHeight = h + 1;
    return ref;
  }

  /** Among cuts that shrink every child (else any), the one that leaves the fewest rules per
   * child on average (then the smallest largest child); null when no cut separates anything. */
  private chooseCut(list: number[], reg: Region): Cut | null {
    const n = list.length;
    let best: Cut | null = null;
    let bestAvg = n; // a cut must do better than keeping every rule everywhere
    let bestMax = n;
    let bestSplits = false;
    const consider = (cut: Cut, counts: Int32Array, base: number, values: readonly number[] | null): void => {
      let max = 0;
      let sum = 0;
      let acc = 0;
      let nv = 0;
      let vi = 0;
      for (let v = 0; v < 256; v++) {
        acc += counts[base + v]!;
        if (values) {
          if (values[vi] !== v) continue;
          vi++;
        }
        nv++;
        if (acc > max) max = acc;
        sum += acc;
      }
      const avg = sum / nv;
      const splits = max < n;
      // A cut that leaves some child with every rule only helps packets elsewhere (e.g. an
      // address byte all IPv4 rules share): prefer cuts that shrink every child.
      if (!splits && bestSplits) return;
      if ((splits && !bestSplits) || avg < bestAvg - 1e-9 || (Math.abs(avg - bestAvg) <= 1e-9 && max < bestMax)) {
        bestSplits = splits;
        best = cut;
        bestAvg = avg;
        bestMax = max;
      }
    };
    if (reg.meta < 0) {
      const counts = new Int32Array(257);
      let useful = false;
      for (const i of list) {
        const c = this.conds[i]!;
        if (!metaAllOf(c, reg.fam)) useful = true;
        for (const v of FAMILY_META[reg.fam]) {
          if (c.meta[v]) {
            counts[v]!++;
            counts[v + 1]!--;
          }
        }
      }
      if (useful) consider({ kind: 'meta' }, counts, 0, FAMILY_META[reg.fam]);
    }
    // Masked bytes: one difference array per byte; rules that ignore a byte reach every child.
    const counts = new Int32Array(KEY.SIZE * 257);
    const constrained = new Int32Array(KEY.SIZE);
    for (const i of list) {
      const c = this.conds[i]!;
      for (const j of c.cols) {
        if (reg.fixed[j]! >= 0) continue;
        const m = c.mask[j]!;
        const w = c.want[j]!;
        constrained[j]!++;
        counts[j * 257 + w]!++;
        counts[j * 257 + (w | (~m & 0xff)) + 1]!--;
      }
    }
    for (const j of MASKED_COLS) {
      if (!constrained[j]) continue;
      counts[j * 257]! += n - constrained[j]!;
      consider({ kind: 'col', col: j }, counts, j * 257, null);
    }
    for (let f = 0; f < NR; f++) {
      const p = reg.prefix[f]!;
      if (p.length >= RANGE_FIELDS[f]!.len) continue;
      const rc = new Int32Array(257);
      let useful = false;
      for (const i of list) {
        const r = this.conds[i]!.ranges[f];
        if (!r || coversRange(r, p)) {
          rc[0]!++;
          rc[256]!--;
          continue;
        }
        useful = true;
        const s = childSpan(r, p);
        rc[s.a]!++;
        rc[s.b + 1]!--;
      }
      if (useful) consider({ kind: 'range', field: f }, rc, 0, null);
    }
    // A cut that sends every rule to the same children and none anywhere else (typically a
    // byte every rule names alike, such as the first address byte of rules in one network)
    // separates nothing that matches: it only moves packets no rule matches to empty leaves, and
    // costs every other packet a level. A list the kernel checks inline is better off as a leaf
    // (its candidates turn such packets away by their filters); a longer list still takes the
    // cut.
    if (best && !bestSplits && n <= fw_limits.FW_LEAF_INLINE && this.allOrNothing(list, reg, best)) return null;
    return best;
  }

  /** Whether every child of the cut gets the whole list or nothing. */
  private allOrNothing(list: number[], reg: Region, cut: Cut): boolean {
    return this.split(list, reg, cut).every((c) => c.list.length === 0 || c.list.length === list.length);
  }

  /** Children of a cut as runs of byte values that share one subtree. */
  private split(list: number[], reg: Region, cut: Cut): { from: number; to: number; list: number[]; reg: Region }[] {
    const out: { from: number; to: number; list: number[]; reg: Region }[] = [];
    if (cut.kind === 'meta') {
      for (let v = 0; v < 256; v++) {
        const r: Region = { meta: v, fam: reg.fam, fixed: reg.fixed, prefix: reg.prefix };
        const l = FAMILY_META[reg.fam].includes(v) ? list.filter((i) => this.conds[i]!.meta[v]) : [];
        out.push({ from: v, to: v, list: pruneShadowed(l, this.conds, r), reg: r });
      }
      return out;
    }
    // Breakpoints: where some rule starts or stops reaching (and, for ports, starts or stops
    // covering a whole child). Between them every child has the same list and the same
    // relation to every rule, so one subtree serves the whole run.
    const spans = new Map<number, { a: number; b: number } | null>();
    const breaks = new Set<number>([0, 256]);
    const col = cut.kind === 'col' ? cut.col : -1;
    const field = cut.kind === 'range' ? cut.field : -1;
    const p = field >= 0 ? reg.prefix[field]! : new Uint8Array(0);
    for (const i of list) {
      const c = this.conds[i]!;
      let s: { a: number; b: number } | null = null;
      if (col >= 0) {
        const m = c.mask[col]!;
        if (m !== 0) s = { a: c.want[col]!, b: c.want[col]! | (~m & 0xff) };
      } else {
        const r = c.ranges[field];
        if (r && !coversRange(r, p)) s = childSpan(r, p);
      }
      spans.set(i, s);
      if (s) for (const b of field >= 0 ? [s.a, s.a + 1, s.b, s.b + 1] : [s.a, s.b + 1]) breaks.add(b);
    }
    const points = [...breaks].filter((b) => b <= 256).sort((a, b) => a - b);
    for (let k = 0; k + 1 < points.length; k++) {
      const from = points[k]!;
      const to = points[k + 1]! - 1;
      let r: Region;
      if (col >= 0) {
        const fixed = Int16Array.from(reg.fixed);
        fixed[col] = from;
        r = { meta: reg.meta, fam: reg.fam, fixed, prefix: reg.prefix };
      } else {
        const np = new Uint8Array(p.length + 1);
        np.set(p);
        np[p.length] = from;
        const prefix = reg.prefix.slice();
        prefix[field] = np;
        r = { meta: reg.meta, fam: reg.fam, fixed: reg.fixed, prefix };
      }
      const l: number[] = [];
      for (const i of list) {
        const s = spans.get(i);
        if (s === null || (s !== undefined && from >= s.a && from <= s.b)) l.push(i);
      }
      out.push({ from, to, list: pruneShadowed(l, this.conds, r), reg: r });
    }
    return out;
  }
}

type Cut = { kind: 'meta' } | { kind: 'col'; col: number } | { kind: 'range'; field: number };

/** Small = names a network at all (IPv4 /8 or longer, IPv6 /16 or longer): such a rule is cut
 * well by its address bytes, and what must not share a tree is rules that name a source with
 * rules that name only a destination (each is copied into every child of the other's cuts).
 * A /24 threshold sent every wider network to the rest tree, where a grouped 10,000-rule policy
 * ran out of nodes and fell back to leaves of 830 rules. */
function small(c: Cond, off: number, family: 4 | 6): boolean {
  const need = family === 4 ? 1 : 2; // whole bytes that must be fixed
  for (let i = 0; i < need; i++) if (c.mask[off + i] !== 0xff) return false;
  return true;
}

/**
 * A family's rules (its own and family-less ones) split into up to MAX_TREES trees by which
 * address they name narrowly: by destination,
 * else by source, else the rest (ports, protocols, wide networks). In one tree, a rule that
 * ignores the field a node cuts is copied into every child, so mixing "any source, this
 * destination" with "this source, any destination" multiplies nodes; apart, each tree cuts
 * its own field and the packet walks each (a fixed number of walks whatever the rule count).
 */
function partition(conds: readonly Cond[], family: 4 | 6): number[][] {
  const parts: number[][] = [[], [], []];
  conds.forEach((c, i) => {
    const fam = c.family;
    if (fam !== 0 && fam !== family) return;
    if (fam !== 0 && small(c, KEY.DST, fam)) parts[0]!.push(i);
    else if (fam !== 0 && small(c, KEY.SRC, fam)) parts[1]!.push(i);
    else parts[2]!.push(i);
  });
  const out = parts.filter((p) => p.length > 0);
  return out.length ? out : [[]];
}

/** The classifier's walk in TS, as the kernel does it: every tree's candidate slots for a key,
 * in priority order. */
export function classifierCandidates(c: Classifier, key: Uint8Array): number[] {
  const all = new Set<number>();
  const fam = key[KEY.META]! & fw_meta.FW_META_V6 ? 6 : 4;
  for (const root of c.roots[fam]) for (const s of treeCandidates(c, root, key)) all.add(s);
  return [...all].sort((a, b) => a - b);
}

function treeCandidates(c: Classifier, root: number, key: Uint8Array): number[] {
  let ref = root;
  if ((ref & (fw_ref.FW_REF_LEAF | fw_ref.FW_REF_WIDE)) === fw_ref.FW_REF_WIDE) {
    const table = c.wide.get(ref & fw_ref.FW_REF_TABLE_MASK);
    if (!table) throw new Error(`wide root ${ref.toString(16)} names a table the classifier does not hold`);
    const a = (ref >>> fw_ref.FW_REF_BYTE_SHIFT) & 0x3f;
    const b = (ref >>> fw_ref.FW_REF_BYTE2_SHIFT) & 0x3f;
    ref = table[(key[a]! << 8) | key[b]!]!;
  }
  for (let d = 0; d < fw_limits.FW_MAX_DEPTH + 1 && !(ref & fw_ref.FW_REF_LEAF); d++) {
    const byte = (ref >>> fw_ref.FW_REF_BYTE_SHIFT) & 0x3f;
    const node = ref & fw_ref.FW_REF_NODE_MASK;
    ref = c.nodes[node * 256 + key[byte]!]!;
  }
  if (!(ref & fw_ref.FW_REF_LEAF)) throw new Error('classifier walk ended off a leaf');
  const count = (ref >>> fw_ref.FW_REF_COUNT_SHIFT) & fw_ref.FW_REF_COUNT_MASK;
  const start = ref & fw_ref.FW_REF_SLOT_MASK;
  const out: number[] = [];
  for (const e of c.leafSlots.subarray(start, start + count)) if (leafFilterPasses(e, key)) out.push(e & fw_leaf_entry.FW_LEAF_SLOT_MASK);
  return out;
}

/** struct fw_key of a packet, as fw_key_of builds it in the kernel. */
export function packetKey(p: PacketFacts): Uint8Array {
  const k = new Uint8Array(KEY.SIZE);
  const later = p.laterFragment === true;
  k[KEY.META] = (p.family === 6 ? fw_meta.FW_META_V6 : 0) | (later ? fw_meta.FW_META_LATER_FRAG : 0) | ((p.ctState ?? 0) & fw_meta.FW_META_CT_MASK);
  k[KEY.PROTO] = p.proto;
  const vlan = (p.vlanDepth ?? 0) > 0 ? 0x1000 | (p.vlanId ?? 0) : 0;
  k[KEY.VLAN] = vlan >> 8;
  k[KEY.VLAN + 1] = vlan & 0xff;
  const sport = later ? 0 : (p.srcPort ?? 0);
  const dport = later ? 0 : (p.dstPort ?? 0);
  k[KEY.SPORT] = sport >> 8;
  k[KEY.SPORT + 1] = sport & 0xff;
  k[KEY.DPORT] = dport >> 8;
  k[KEY.DPORT + 1] = dport & 0xff;
  k[KEY.ICMP_TYPE] = later ? 0 : (p.icmpType ?? 0);
  k[KEY.ICMP_CODE] = later ? 0 : (p.icmpCode ?? 0);
  k.set(p.src.subarray(0, 16), KEY.SRC);
  k.set(p.dst.subarray(0, 16), KEY.DST);
  return k;
}
