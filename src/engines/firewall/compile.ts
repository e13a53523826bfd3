// Pure compiler from the `firewall` config section to the kernel's rule model
// (bpf/include/sentinel/contract/firewall.h), plus a reference matcher with the kernel's exact semantics
// so a differential test can hold the two against each other. No I/O, no kernel.
import { Cidr, cidrKey, type IpFamily } from '../../net/ip.js';
import { buildClassifier, classifierCandidates, ClassifierFitError, packetKey, type Classifier } from './classifier.js';
import { CT_STATE_BITS, PROTO_ICMP, PROTO_ICMPV6, type CtStateName, type FirewallConfig, type FirewallRuleConfig, type FwAction } from './schema.js';
import { fw_action, fw_limits, fw_match } from '../../kernel/contract.gen.js';
import type { CompiledRule, PacketFacts } from './rule.js';

export type { CompiledRule, PacketFacts } from './rule.js';

/** Both generations' sets share one trie per family, so while the agent fills the inactive
 * generation the active one's entries are still there: one generation may use half. */
export const FW_LPM_PER_GENERATION = fw_limits.FW_LPM_MAX / 2;

export const ACTION_CODE: Readonly<Record<FwAction, number>> = { pass: fw_action.FW_ACT_PASS, drop: fw_action.FW_ACT_DROP, log: fw_action.FW_ACT_LOG, reject: fw_action.FW_ACT_REJECT };

/** Alias name -> every address/CIDR it holds (inline values and file lines). */
export type ResolvedAliases = ReadonlyMap<string, readonly Cidr[]>;

export type SetSource = { kind: 'alias'; alias: string } | { kind: 'list'; ruleId: string; side: 'src' | 'dst' };

/** One LPM set: a (set id, prefix) key per entry in the family's trie. */
export interface CompiledSet {
  /** index in CompiledFirewall.sets; kernel set id = setIdBase + index */
  readonly index: number;
  readonly family: IpFamily;
  /** unique prefixes, host bits cleared */
  readonly prefixes: readonly Cidr[];
  readonly source: SetSource;
}

export interface CompileIssue {
  /** path inside the firewall section, e.g. ['rules', 3, 'src_ip'] */
  readonly path: (string | number)[];
  readonly message: string;
}

export interface CompiledFirewall {
  readonly enabled: boolean;
  readonly mode: 'alert' | 'block';
  /** the kernel default action; alert mode turns a drop default into log */
  readonly defaultAction: FwAction;
  readonly rules: readonly CompiledRule[];
  readonly sets: readonly CompiledSet[];
  /** entries per family over all sets (each counts against the LPM trie) */
  readonly lpmEntries: { readonly v4: number; readonly v6: number };
  /** things that compile but are probably not what was meant */
  readonly warnings: readonly CompileIssue[];
  /** the decision structure the kernel walks (classifier.ts) */
  readonly classifier: Classifier;
}

export class FirewallCompileError extends Error {
  override name = 'FirewallCompileError';
  constructor(readonly issues: readonly CompileIssue[]) {
    super(issues.map((i) => `firewall.${formatPath(i.path)}: ${i.message}`).join('\n'));
  }
}

function formatPath(p: readonly (string | number)[]): string {
  return p.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

type Side = 'src' | 'dst';

/** The addresses one side of a rule names: a literal list, an alias, or nothing (any). */
interface SideSpec {
  readonly key: string;
  readonly kind: 'literal' | 'alias';
  readonly alias?: string;
  readonly byFamily: ReadonlyMap<IpFamily, Cidr[]>;
}

const FAMILY_NAME = (f: IpFamily): string => `IPv${f}`;

function splitByFamily(cidrs: readonly Cidr[]): Map<IpFamily, Cidr[]> {
  const m = new Map<IpFamily, Cidr[]>();
  const seen = new Set<string>();
  for (const c of cidrs) {
    const k = cidrKey(c);
    if (seen.has(k)) continue;
    seen.add(k);
    let l = m.get(c.family);
    if (!l) m.set(c.family, (l = []));
    l.push(c);
  }
  return m;
}

function familiesText(fams: Iterable<IpFamily>): string {
  return [...fams].sort().map(FAMILY_NAME).join(' and ');
}

/**
 * Compiles the firewall section. Throws FirewallCompileError listing every problem (paths are
 * relative to the section). Rules come out sorted by priority; a config rule needing both
 * families becomes two adjacent kernel rules (IPv4 first).
 */
export function compileFirewall(fw: FirewallConfig, aliases: ResolvedAliases): CompiledFirewall {
  // Config validation compiles, and so does the engine's prepare(): building the classifier
  // for 10,000 rules takes seconds, so the same section is compiled once.
  const cached = compiledCache.get(fw);
  if (cached && cached.aliases === aliases) return cached.result;
  const result = compileUncached(fw, aliases);
  compiledCache.set(fw, { aliases, result });
  return result;
}

const compiledCache = new WeakMap<FirewallConfig, { aliases: ResolvedAliases; result: CompiledFirewall }>();

function compileUncached(fw: FirewallConfig, aliases: ResolvedAliases): CompiledFirewall {
  const issues: CompileIssue[] = [];
  const warnings: CompileIssue[] = [];
  const sets: CompiledSet[] = [];
  const aliasSets = new Map<string, number>(); // `${alias}/${family}` -> set index
  const aliasSplit = new Map<string, Map<IpFamily, Cidr[]>>();
  const alert = fw.mode === 'alert';

  const ordered = fw.rules
    .map((r, i) => ({ r, i }))
    .filter(({ r }) => r.enabled)
    .sort((a, b) => a.r.priority - b.r.priority || a.i - b.i);

  const rules: CompiledRule[] = [];
  for (const { r, i } of ordered) {
    const err = (key: string, message: string): void => void issues.push({ path: ['rules', i, key], message });
    const warn = (key: string, message: string): void => void warnings.push({ path: ['rules', i, key], message });

    const side = (s: Side): SideSpec | null | undefined => {
      const lit = r[`${s}_ip`];
      if (lit) return { key: `${s}_ip`, kind: 'literal', byFamily: splitByFamily(lit) };
      const name = r[`${s}_alias`];
      if (name === undefined) return null;
      const cidrs = aliases.get(name);
      if (cidrs === undefined) {
        err(`${s}_alias`, `unknown alias "${name}"`);
        return undefined;
      }
      if (cidrs.length === 0) {
        err(`${s}_alias`, `alias "${name}" is empty: the rule could never match`);
        return undefined;
      }
      let split = aliasSplit.get(name);
      if (!split) aliasSplit.set(name, (split = splitByFamily(cidrs)));
      return { key: `${s}_alias`, kind: 'alias', alias: name, byFamily: split };
    };
    const src = side('src');
    const dst = side('dst');
    if (src === undefined || dst === undefined) continue;

    // Families each criterion allows; the rule exists for their intersection.
    const protoFamily: IpFamily | null = r.protocol === PROTO_ICMP ? 4 : r.protocol === PROTO_ICMPV6 ? 6 : null;
    let families: IpFamily[] | null = protoFamily ? [protoFamily] : null;
    for (const s of [src, dst]) {
      if (!s) continue;
      const mine = [...s.byFamily.keys()];
      families = families ? families.filter((f) => mine.includes(f)) : mine;
    }
    families?.sort();

    // Entries of a family the rest of the rule excludes can never match. In a literal list that
    // is a mistake; in an alias (shared, often a mixed block list) it is expected, so only warn.
    let broken = false;
    let pairReported = false; // src-vs-dst mismatch is one mistake: report it once
    for (const [s, other] of [
      [src, dst],
      [dst, src],
    ] as const) {
      if (!s) continue;
      for (const f of s.byFamily.keys()) {
        if (families?.includes(f)) continue;
        let why: string;
        const byProto = protoFamily !== null && f !== protoFamily;
        if (!byProto && pairReported) continue;
        if (byProto) {
          why = `has ${FAMILY_NAME(f)} entries but protocol ${r.protocol === PROTO_ICMP ? 'icmp is IPv4 only (use icmpv6 for IPv6)' : 'icmpv6 is IPv6 only (use icmp for IPv4)'}`;
        } else {
          why = `has ${FAMILY_NAME(f)} entries but ${other?.key ?? '?'} is ${familiesText(other?.byFamily.keys() ?? [])} only: src and dst must be of the same family`;
        }
        if (s.kind === 'literal') {
          err(s.key, `${s.key} ${why}`);
          broken = true;
          if (!byProto) pairReported = true;
        } else if (families && families.length > 0) {
          warn(s.key, `alias "${s.alias}" ${why}; those entries are ignored by this rule`);
        }
      }
    }
    if (broken) continue;
    if (families && families.length === 0) {
      const k = dst ? dst.key : src ? src.key : 'protocol';
      err(k, `no address family is left for this rule: ${[src, dst]
        .filter((s): s is SideSpec => !!s)
        .map((s) => `${s.key} is ${familiesText(s.byFamily.keys())}`)
        .concat(protoFamily ? [`protocol ${r.protocol === PROTO_ICMP ? 'icmp is IPv4' : 'icmpv6 is IPv6'}`] : [])
        .join(', ')}`);
      continue;
    }

    const addrFor = (s: SideSpec | null, f: IpFamily): { net: Cidr | null; set: number | null } => {
      if (!s) return { net: null, set: null };
      const list = s.byFamily.get(f)!;
      if (s.kind === 'alias') {
        const k = `${s.alias}/${f}`;
        let idx = aliasSets.get(k);
        if (idx === undefined) {
          idx = sets.length;
          sets.push({ index: idx, family: f, prefixes: list, source: { kind: 'alias', alias: s.alias! } });
          aliasSets.set(k, idx);
        }
        return { net: null, set: idx };
      }
      if (list.length === 1) return { net: list[0]!, set: null };
      const idx = sets.length;
      sets.push({ index: idx, family: f, prefixes: list, source: { kind: 'list', ruleId: r.id, side: s.key.startsWith('src') ? 'src' : 'dst' } });
      return { net: null, set: idx };
    };

    for (const f of families ?? [0 as const]) {
      rules.push(kernelRule(r, i, f, f === 0 ? null : addrFor(src, f), f === 0 ? null : addrFor(dst, f), alert));
    }
  }

  if (rules.length > fw_limits.FW_MAX_RULES) {
    issues.push({
      path: ['rules'],
      message: `${rules.length} kernel rules (config rules split per address family) exceed the limit of ${fw_limits.FW_MAX_RULES}; merge rules with aliases or address lists`,
    });
  }
  let v4 = 0;
  let v6 = 0;
  for (const s of sets) {
    if (s.family === 4) v4 += s.prefixes.length;
    else v6 += s.prefixes.length;
  }
  for (const [n, f] of [
    [v4, 4],
    [v6, 6],
  ] as const) {
    if (n > FW_LPM_PER_GENERATION) {
      issues.push({ path: ['aliases'], message: `${n} IPv${f} set entries exceed the limit of ${FW_LPM_PER_GENERATION} per policy` });
    }
  }
  if (issues.length) throw new FirewallCompileError(issues);

  let classifier: Classifier;
  try {
    classifier = buildClassifier(rules);
  } catch (e) {
    if (!(e instanceof ClassifierFitError)) throw e;
    throw new FirewallCompileError([{ path: ['rules'], message: e.message }]);
  }

  const defaultAction: FwAction = alert && fw.default_policy === 'drop' ? 'log' : fw.default_policy;
  return { enabled: fw.enabled, mode: fw.mode, defaultAction, rules, sets, lpmEntries: { v4, v6 }, warnings, classifier };
}

function kernelRule(
  r: FirewallRuleConfig,
  configIndex: number,
  family: 0 | IpFamily,
  src: { net: Cidr | null; set: number | null } | null,
  dst: { net: Cidr | null; set: number | null } | null,
  alert: boolean,
): CompiledRule {
  let match = 0;
  // A /0 network matches every address of its family; the family check already does that.
  const srcNet = src?.net && src.net.prefix > 0 ? src.net : null;
  const dstNet = dst?.net && dst.net.prefix > 0 ? dst.net : null;
  if (srcNet) match |= fw_match.FW_M_SRC_NET;
  if (dstNet) match |= fw_match.FW_M_DST_NET;
  const srcSet = src?.set ?? null;
  const dstSet = dst?.set ?? null;
  if (srcSet !== null) match |= fw_match.FW_M_SRC_SET;
  if (dstSet !== null) match |= fw_match.FW_M_DST_SET;
  if (r.protocol !== null) match |= fw_match.FW_M_PROTO;
  if (r.src_port) match |= fw_match.FW_M_SRC_PORT;
  if (r.dst_port) match |= fw_match.FW_M_DST_PORT;
  if (r.icmp_type !== undefined) match |= fw_match.FW_M_ICMP_TYPE;
  if (r.icmp_code !== undefined) match |= fw_match.FW_M_ICMP_CODE;
  if (r.vlan_id !== undefined) match |= fw_match.FW_M_VLAN;
  const ctStates = r.state ? r.state.reduce((b: number, n: CtStateName) => b | (1 << CT_STATE_BITS[n]), 0) : null;
  if (ctStates !== null) match |= fw_match.FW_M_CT_STATE;
  // Alert mode only watches: drop and reject become log.
  const enforcing = r.action === 'drop' || r.action === 'reject';
  return {
    ruleId: r.id,
    priority: r.priority,
    configIndex,
    family,
    action: alert && enforcing ? 'log' : r.action,
    configuredAction: r.action,
    match,
    srcNet,
    dstNet,
    srcSet,
    dstSet,
    proto: r.protocol,
    srcPort: r.src_port ?? null,
    dstPort: r.dst_port ?? null,
    icmpType: r.icmp_type ?? null,
    icmpCode: r.icmp_code ?? null,
    vlanId: r.vlan_id ?? null,
    ctStates,
  };
}

// ---------------------------------------------------------------------------------------------
// Reference matcher

export interface MatchResult {
  action: FwAction;
  /** the first matching rule, or null when the default policy decided */
  ruleId: string | null;
}

/** Per set: prefix length -> keys of the masked addresses, for exact LPM membership. */
type SetIndex = Map<number, Set<string>>;
const setIndexes = new WeakMap<CompiledSet, SetIndex>();

function indexOf(set: CompiledSet): SetIndex {
  let ix = setIndexes.get(set);
  if (!ix) {
    ix = new Map();
    const n = set.family === 4 ? 4 : 16;
    for (const p of set.prefixes) {
      let s = ix.get(p.prefix);
      if (!s) ix.set(p.prefix, (s = new Set()));
      s.add(p.addr.toString('hex', 0, n));
    }
    setIndexes.set(set, ix);
  }
  return ix;
}

function inSet(set: CompiledSet, family: IpFamily, addr: Uint8Array): boolean {
  if (set.family !== family) return false;
  const n = family === 4 ? 4 : 16;
  const buf = Buffer.alloc(n);
  for (const [prefix, keys] of indexOf(set)) {
    buf.fill(0);
    const full = prefix >> 3;
    for (let i = 0; i < full; i++) buf[i] = addr[i]!;
    const rest = prefix & 7;
    if (rest) buf[full] = addr[full]! & ((0xff << (8 - rest)) & 0xff);
    if (keys.has(buf.toString('hex'))) return true;
  }
  return false;
}

/** One rule against one packet, with the kernel's fw_rule_match semantics. */
export function ruleMatches(c: CompiledFirewall, r: CompiledRule, p: PacketFacts): boolean {
  const m = r.match;
  if (r.family !== 0 && r.family !== p.family) return false;
  if (m & fw_match.FW_M_PROTO && r.proto !== p.proto) return false;
  const vlan = p.vlanId ?? 0;
  if (m & fw_match.FW_M_VLAN && r.vlanId !== vlan) return false;
  if (m & fw_match.FW_M_VLAN && r.vlanId === 0 && (p.vlanDepth ?? 0) > 0) return false;
  if (m & (fw_match.FW_M_SRC_PORT | fw_match.FW_M_DST_PORT | fw_match.FW_M_ICMP_TYPE | fw_match.FW_M_ICMP_CODE) && p.laterFragment) return false;
  const sport = p.srcPort ?? 0;
  const dport = p.dstPort ?? 0;
  if (m & fw_match.FW_M_SRC_PORT && (sport < r.srcPort!.lo || sport > r.srcPort!.hi)) return false;
  if (m & fw_match.FW_M_DST_PORT && (dport < r.dstPort!.lo || dport > r.dstPort!.hi)) return false;
  if (m & fw_match.FW_M_ICMP_TYPE && r.icmpType !== (p.icmpType ?? 0)) return false;
  if (m & fw_match.FW_M_ICMP_CODE && r.icmpCode !== (p.icmpCode ?? 0)) return false;
  if (m & fw_match.FW_M_CT_STATE && !((r.ctStates ?? 0) & (1 << (p.ctState ?? 0)))) return false;
  // The kernel compares all 16 bytes under the mask; an IPv4 rule's mask is zero past byte 3.
  if (m & fw_match.FW_M_SRC_NET && !r.srcNet!.contains(p.family, p.src)) return false;
  if (m & fw_match.FW_M_DST_NET && !r.dstNet!.contains(p.family, p.dst)) return false;
  if (m & fw_match.FW_M_SRC_SET && !inSet(c.sets[r.srcSet!]!, p.family, p.src)) return false;
  if (m & fw_match.FW_M_DST_SET && !inSet(c.sets[r.dstSet!]!, p.family, p.dst)) return false;
  return true;
}

/** The verdict through the classifier, as the kernel reaches it: walk to a leaf, first
 * candidate that matches. Must always equal matchPacket (the linear oracle). */
export function classifyPacket(c: CompiledFirewall, p: PacketFacts): MatchResult {
  for (const slot of classifierCandidates(c.classifier, packetKey(p))) {
    const r = c.rules[slot]!;
    if (ruleMatches(c, r, p)) return { action: r.action, ruleId: r.ruleId };
  }
  return { action: c.defaultAction, ruleId: null };
}

/** The verdict the kernel reaches for a well-formed packet: first matching rule, else default. */
export function matchPacket(c: CompiledFirewall, p: PacketFacts): MatchResult {
  for (const r of c.rules) {
    if (ruleMatches(c, r, p)) return { action: r.action, ruleId: r.ruleId };
  }
  return { action: c.defaultAction, ruleId: null };
}
