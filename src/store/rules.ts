// Firewall rules added through the API, kept across restarts, with a versioned history per rule.
// The caller validates the rule (config rule shape) before handing it in; the store only needs
// its `id`. put/delete return before/after so the caller can write the audit record.
import type { Database } from 'better-sqlite3';
import { decodeJson, encodeJson } from './codec.js';
import { StoreQueryError } from './paging.js';
import type { RuleChange, RuleVersion, StoredRule } from './types.js';

interface RuleRow {
  id: string;
  body: string;
  version: number;
  created_ms: number;
  updated_ms: number;
  actor: string;
}

interface VersionRow {
  rule_id: string;
  version: number;
  at_ms: number;
  actor: string;
  change: RuleChange;
  before: string | null;
  after: string | null;
}

export class RuleRepo {
  constructor(private readonly db: Database) {}

  /** In creation order, so the API lists rules the way they were added. */
  list(): StoredRule[] {
    return this.db.prepare<[], RuleRow>('SELECT * FROM rules ORDER BY seq').all().map(toRule);
  }

  get(id: string): StoredRule | undefined {
    const r = this.db.prepare<[string], RuleRow>('SELECT * FROM rules WHERE id = ?').get(id);
    return r ? toRule(r) : undefined;
  }

  /** Creates or replaces the rule with this id; one transaction for the rule and its history. */
  put(rule: unknown, actor: string): { before?: unknown; after: unknown } {
    const id = ruleIdOf(rule);
    const body = encodeJson(rule);
    return this.db.transaction(() => {
      const now = Date.now();
      const cur = this.db.prepare<[string], RuleRow>('SELECT * FROM rules WHERE id = ?').get(id);
      const version = this.nextVersion(id);
      if (cur) {
        this.db.prepare('UPDATE rules SET body = ?, version = ?, updated_ms = ?, actor = ? WHERE id = ?').run(body, version, now, actor, id);
      } else {
        this.db.prepare('INSERT INTO rules (id, body, version, created_ms, updated_ms, actor) VALUES (?, ?, ?, ?, ?, ?)').run(id, body, version, now, now, actor);
      }
      this.db
        .prepare('INSERT INTO rule_versions (rule_id, version, at_ms, actor, change, before, after) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(id, version, now, actor, cur ? 'updated' : 'created', cur ? cur.body : null, body);
      const after = decodeJson(body);
      return cur ? { before: decodeJson(cur.body), after } : { after };
    })();
  }

  /** Removes the rule; null when there was none (nothing recorded then). */
  delete(id: string, actor: string): { before: unknown } | null {
    return this.db.transaction(() => {
      const cur = this.db.prepare<[string], RuleRow>('SELECT * FROM rules WHERE id = ?').get(id);
      if (!cur) return null;
      this.db.prepare('DELETE FROM rules WHERE id = ?').run(id);
      this.db
        .prepare('INSERT INTO rule_versions (rule_id, version, at_ms, actor, change, before, after) VALUES (?, ?, ?, ?, ?, ?, NULL)')
        .run(id, this.nextVersion(id), Date.now(), actor, 'deleted', cur.body);
      return { before: decodeJson(cur.body) };
    })();
  }

  /** Oldest first; kept after the rule is deleted (bounded by retention). */
  history(id: string): RuleVersion[] {
    return this.db.prepare<[string], VersionRow>('SELECT * FROM rule_versions WHERE rule_id = ? ORDER BY version').all(id).map(toVersion);
  }

  private nextVersion(id: string): number {
    const r = this.db.prepare<[string], { v: number | null }>('SELECT max(version) AS v FROM rule_versions WHERE rule_id = ?').get(id);
    return (r?.v ?? 0) + 1;
  }
}

function ruleIdOf(rule: unknown): string {
  const id = rule !== null && typeof rule === 'object' ? (rule as { id?: unknown }).id : undefined;
  if (typeof id !== 'string' || id.length === 0) throw new StoreQueryError('a stored rule needs a non-empty string "id"');
  return id;
}

function toRule(r: RuleRow): StoredRule {
  return { id: r.id, rule: decodeJson(r.body), version: r.version, createdAt: new Date(r.created_ms).toISOString(), updatedAt: new Date(r.updated_ms).toISOString(), actor: r.actor };
}

function toVersion(r: VersionRow): RuleVersion {
  const v: RuleVersion = { ruleId: r.rule_id, version: r.version, at: new Date(r.at_ms).toISOString(), actor: r.actor, action: r.change };
  if (r.before !== null) v.before = decodeJson(r.before);
  if (r.after !== null) v.after = decodeJson(r.after);
  return v;
}
