// Newest-first pages over a table with an increasing id, for alerts and records alike: a filter
// (the caller's WHERE terms), a total, and keyset pagination (an opaque cursor naming the last
// id seen) so a page is stable while new rows arrive; a plain offset when no cursor is given.
import type { Database } from 'better-sqlite3';
import { msToNs, parseIpFilter } from './codec.js';

export const MAX_PAGE = 1000;

/** A query the store cannot run: bad cursor, offset, limit, filter. The API maps it to a 400. */
export class StoreQueryError extends Error {
  override name = 'StoreQueryError';
}

export function clampLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new StoreQueryError(`limit must be an integer 1-${MAX_PAGE}; got ${limit}`);
  return limit;
}

/** What every list filters on: its table has ts_ns, engine, src_ip and dst_ip. */
interface CommonFilter {
  /** inclusive */
  from?: Date;
  /** exclusive */
  to?: Date;
  engine?: string;
  /** either side; compared in canonical form */
  ip?: string;
}

type SqlArg = string | number | bigint;

/** The WHERE terms (and their arguments) of the filters every list shares; a list adds its own. */
export function commonTerms(q: CommonFilter): { where: string[]; args: SqlArg[] } {
  const where: string[] = [];
  const args: SqlArg[] = [];
  if (q.from) {
    where.push('ts_ns >= ?');
    args.push(msToNs(q.from));
  }
  if (q.to) {
    where.push('ts_ns < ?');
    args.push(msToNs(q.to));
  }
  if (q.engine !== undefined) {
    where.push('engine = ?');
    args.push(q.engine);
  }
  if (q.ip !== undefined) {
    const ip = parseIpFilter(q.ip);
    if (typeof ip !== 'string') throw new StoreQueryError(`ip filter: ${ip.message}`);
    where.push('(src_ip = ? OR dst_ip = ?)');
    args.push(ip, ip);
  }
  return { where, args };
}

interface PageRequest {
  limit: number;
  cursor?: string;
  offset?: number;
}

interface RawPage {
  /** newest first */
  rows: { id: number; body: string }[];
  total: number;
  next?: string;
}

/**
 * One page of `table` (which has `id` and `body` columns) matching `where`. `cursorPrefix`
 * tells one table's cursors from another's, so a cursor is only honoured where it was handed out.
 */
export function keysetPage(db: Database, table: string, where: readonly string[], args: readonly SqlArg[], q: PageRequest, cursorPrefix: string): RawPage {
  const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  const total = db.prepare<unknown[], { n: number }>(`SELECT count(*) AS n FROM ${table} ${filter}`).get(...args)?.n ?? 0;

  const limit = clampLimit(q.limit);
  const pageWhere = [...where];
  const pageArgs = [...args];
  let offset = 0;
  if (q.cursor !== undefined) {
    pageWhere.push('id < ?');
    pageArgs.push(decodeCursor(cursorPrefix, q.cursor));
  } else if (q.offset !== undefined) {
    if (!Number.isInteger(q.offset) || q.offset < 0) throw new StoreQueryError(`offset must be a non-negative integer; got ${q.offset}`);
    offset = q.offset;
  }
  const pageFilter = pageWhere.length > 0 ? `WHERE ${pageWhere.join(' AND ')}` : '';
  // one extra row tells whether another page follows without a second count
  const rows = db.prepare<unknown[], { id: number; body: string }>(`SELECT id, body FROM ${table} ${pageFilter} ORDER BY id DESC LIMIT ? OFFSET ?`).all(...pageArgs, limit + 1, offset);
  const more = rows.length > limit;
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return more && last ? { rows: page, total, next: encodeCursor(cursorPrefix, last.id) } : { rows: page, total };
}

function encodeCursor(prefix: string, id: number): string {
  return prefix + Buffer.from(String(id)).toString('base64url');
}

function decodeCursor(prefix: string, cursor: string): number {
  const id = cursor.startsWith(prefix) ? Number(Buffer.from(cursor.slice(prefix.length), 'base64url').toString()) : NaN;
  if (!Number.isSafeInteger(id) || id < 1) throw new StoreQueryError(`cursor ${JSON.stringify(cursor)} is not one this API handed out`);
  return id;
}
