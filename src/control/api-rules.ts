// Firewall rules added through the API, and how they combine with the file's rules.
//
// Combination (docs/configuration.md "Rules from the API"): the effective rule set is the file's
// rules plus the API's rules, evaluated together in ascending `priority`, first match wins. Ids
// and priorities are unique across both sources: an API rule may not take a file rule's id or
// priority (409 conflict), and a reload whose file takes an API rule's id or priority is refused
// whole, naming the API rule, so a file edit can never silently shadow or drop an API rule.
// API rules are validated with the file's rule schema and may use the file's aliases.
import { compileFirewall, FirewallCompileError, protocolName, ruleSchema, type Config, type FirewallRuleConfig } from '../catalog.js';
import { formatKeyPath } from '../config/errors.js';
import { configErrorMap } from '../config/messages.js';
import { UNKNOWN_KEYS_TAG } from '../config/zod-helpers.js';
import { formatPortRange, type PortRange } from '../net/port.js';
import { ConflictError, ValidationError, type ControlIssue, type FirewallRuleView } from './types.js';

/** An API rule as kept: the rule exactly as submitted (config-file shape) and its provenance.
 * The same shape as the store's StoredRule (src/store), so its RuleRepo plugs in directly. */
export interface StoredApiRule {
  id: string;
  rule: unknown;
  createdAt: string;
  updatedAt: string;
  actor: string;
}

/** Where API rules live between restarts: the store's RuleRepo (SQLite, with rule history). */
export interface ApiRuleStore {
  list(): StoredApiRule[];
  /** creates or replaces the rule with the rule's own id */
  put(rule: unknown, actor: string): unknown;
  delete(id: string, actor: string): unknown;
}

/** Process-lifetime store, for tests and for an agent run without storage. */
export class MemoryApiRuleStore implements ApiRuleStore {
  private readonly rules = new Map<string, StoredApiRule>();
  list(): StoredApiRule[] {
    return [...this.rules.values()].map((r) => structuredClone(r));
  }
  put(rule: unknown, actor: string): void {
    const id = String((rule as { id?: unknown }).id);
    const now = new Date().toISOString();
    const cur = this.rules.get(id);
    this.rules.set(id, { id, rule: structuredClone(rule), createdAt: cur?.createdAt ?? now, updatedAt: now, actor });
  }
  delete(id: string): void {
    this.rules.delete(id);
  }
}

function issuesOf(err: { issues: readonly { path: PropertyKey[]; message: string; code: string }[] }, prefix: string): ControlIssue[] {
  return err.issues.flatMap((i) => {
    if (i.code === 'unrecognized_keys' && i.message.startsWith(UNKNOWN_KEYS_TAG)) {
      const perKey = JSON.parse(i.message.slice(UNKNOWN_KEYS_TAG.length)) as Record<string, string>;
      return Object.entries(perKey).map(([k, message]) => ({ file: prefix, path: formatKeyPath([...i.path, k]), line: 0, column: 0, message }));
    }
    return [{ file: prefix, path: formatKeyPath(i.path), line: 0, column: 0, message: i.message }];
  });
}

/** Parses one rule in the config file's shape; ValidationError names each bad key. */
export function parseApiRule(input: unknown): FirewallRuleConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError('a firewall rule must be a JSON object');
  }
  const r = ruleSchema.safeParse(input, { error: configErrorMap });
  if (!r.success) throw new ValidationError('invalid firewall rule', issuesOf(r.error, 'api'));
  return r.data;
}

function isPortRange(v: unknown): v is PortRange {
  return typeof v === 'object' && v !== null && Object.keys(v).length === 2 && 'lo' in v && 'hi' in v;
}

/** A parsed rule back in the config file's shape (for file rules in API answers). */
function renderRule(r: FirewallRuleConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) {
    if (v === undefined) continue;
    if (k === 'protocol') out[k] = protocolName(v as number | null);
    else if (isPortRange(v)) out[k] = formatPortRange(v);
    else out[k] = JSON.parse(JSON.stringify(v)) as unknown;
  }
  return out;
}

export function fileRuleView(r: FirewallRuleConfig): FirewallRuleView {
  return { id: r.id, source: 'file', rule: renderRule(r) };
}

export function apiRuleView(s: StoredApiRule): FirewallRuleView {
  return { id: s.id, source: 'api', rule: structuredClone(s.rule) as Record<string, unknown>, created_at: s.createdAt, updated_at: s.updatedAt, actor: s.actor };
}

/**
 * The config the engines enforce: the file's config with the API rules merged into
 * firewall.rules (ascending priority). Throws ConflictError on an id/priority clash and
 * ValidationError when an API rule cannot be enforced (unknown alias, limits).
 */
export function effectiveConfig(file: Config, api: readonly StoredApiRule[]): Config {
  if (!api.length) return file;
  const fileIds = new Map(file.firewall.rules.map((r) => [r.id, r]));
  const prios = new Map(file.firewall.rules.map((r) => [r.priority, `file rule "${r.id}"`]));
  const ids = new Set(fileIds.keys());
  const merged: FirewallRuleConfig[] = [...file.firewall.rules];
  for (const s of api) {
    const rule = parseApiRule(s.rule);
    if (fileIds.has(rule.id)) throw new ConflictError(`firewall rule id "${rule.id}" is used by the config file (${file.source.file}) and by an API rule`);
    if (ids.has(rule.id)) throw new ConflictError(`firewall rule id "${rule.id}" is used twice by API rules`);
    const other = prios.get(rule.priority);
    if (other !== undefined) throw new ConflictError(`priority ${rule.priority} of API rule "${rule.id}" is already used by ${other}: first-match order would be ambiguous`);
    for (const k of ['src_alias', 'dst_alias'] as const) {
      const a = rule[k];
      if (a !== undefined && !Object.hasOwn(file.firewall.aliases, a)) {
        throw new ValidationError(`API rule "${rule.id}"`, [{ file: 'api', path: k, line: 0, column: 0, message: `unknown alias "${a}" (aliases come from the config file's firewall.aliases)` }]);
      }
    }
    ids.add(rule.id);
    prios.set(rule.priority, `API rule "${rule.id}"`);
    merged.push(rule);
  }
  merged.sort((a, b) => a.priority - b.priority);
  const firewall = { ...file.firewall, rules: merged };
  try {
    compileFirewall(firewall, file.resolved.firewall.aliases);
  } catch (e) {
    if (!(e instanceof FirewallCompileError)) throw e;
    throw new ValidationError('the firewall cannot enforce the rules with the API rules added', e.issues.map((i) => ({ file: 'api', path: formatKeyPath(i.path), line: 0, column: 0, message: i.message })));
  }
  return { ...file, firewall };
}
