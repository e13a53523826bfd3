// The audit trail: who did what to which target, with before/after snapshots and the outcome
// (a rejected change is recorded too: attempts matter as much as successes).
import type { Database, Statement } from 'better-sqlite3';
import { decodeJson, encodeJson } from './codec.js';
import { StoreQueryError, MAX_PAGE } from './paging.js';
import type { AuditEntry, AuditInput, AuditPage, AuditQuery } from './types.js';

interface Row {
  id: number;
  at_ms: number;
  actor: string;
  action: string;
  target: string;
  outcome: 'ok' | 'rejected';
  before: string | null;
  after: string | null;
  detail: string | null;
}

/** detail is for people; a megabyte of it is a bug upstream, not an audit record */
const MAX_DETAIL = 4096;

export class AuditRepo {
  private readonly insert: Statement<[number, string, string, string, string, string | null, string | null, string | null]>;
  recorded = 0;

  constructor(private readonly db: Database) {
    this.insert = db.prepare('INSERT INTO audit (at_ms, actor, action, target, outcome, before, after, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  }

  record(e: AuditInput): AuditEntry {
    if (e.outcome !== 'ok' && e.outcome !== 'rejected') throw new StoreQueryError(`audit outcome must be "ok" or "rejected"; got ${JSON.stringify(e.outcome)}`);
    const row: Row = {
      id: 0,
      at_ms: Date.now(),
      actor: e.actor,
      action: e.action,
      target: e.target,
      outcome: e.outcome,
      before: e.before === undefined ? null : encodeJson(e.before),
      after: e.after === undefined ? null : encodeJson(e.after),
      detail: e.detail === undefined ? null : e.detail.slice(0, MAX_DETAIL),
    };
    const r = this.insert.run(row.at_ms, row.actor, row.action, row.target, row.outcome, row.before, row.after, row.detail);
    row.id = Number(r.lastInsertRowid);
    this.recorded++;
    return toEntry(row);
  }

  query(q: AuditQuery): AuditPage {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const eq = (col: string, v: string | undefined): void => {
      if (v === undefined) return;
      where.push(`${col} = ?`);
      args.push(v);
    };
    eq('actor', q.actor);
    eq('action', q.action);
    eq('target', q.target);
    if (q.from) {
      where.push('at_ms >= ?');
      args.push(q.from.getTime());
    }
    if (q.to) {
      where.push('at_ms < ?');
      args.push(q.to.getTime());
    }
    if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > MAX_PAGE) throw new StoreQueryError(`limit must be an integer 1-${MAX_PAGE}; got ${q.limit}`);
    const offset = q.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0) throw new StoreQueryError(`offset must be a non-negative integer; got ${offset}`);
    const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const total = this.db.prepare<unknown[], { n: number }>(`SELECT count(*) AS n FROM audit ${filter}`).get(...args)?.n ?? 0;
    const rows = this.db.prepare<unknown[], Row>(`SELECT * FROM audit ${filter} ORDER BY id DESC LIMIT ? OFFSET ?`).all(...args, q.limit, offset);
    return { entries: rows.map(toEntry), total };
  }

  count(): number {
    return this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM audit').get()?.n ?? 0;
  }
}

function toEntry(r: Row): AuditEntry {
  const e: AuditEntry = { id: r.id, at: new Date(r.at_ms).toISOString(), actor: r.actor, action: r.action, target: r.target, outcome: r.outcome };
  if (r.before !== null) e.before = decodeJson(r.before);
  if (r.after !== null) e.after = decodeJson(r.after);
  if (r.detail !== null) e.detail = r.detail;
  return e;
}
