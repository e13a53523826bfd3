// Alerts: batched inserts (one transaction per batch), filtered newest-first queries with keyset
// pagination, and "everything after id N" for SSE resume. Listeners hear about rows only after
// their transaction committed, so an id anyone sees is an id that is on disk.
import type { Database, Statement } from 'better-sqlite3';
import type { Alert } from '../alerts/model.js';
import { SEVERITIES, type Severity } from '../alerts/model.js';
import { canonicalIp, decodeAlert, encodeAlert, msToNs, parseIpFilter, severityRank } from './codec.js';
import type { AlertPage, AlertQuery, StoredAlert, StoreLog } from './types.js';

export const MAX_PAGE = 1000;

export interface AlertWriterOptions {
  batchSize: number;
  flushIntervalMs: number;
  maxQueue: number;
  log?: StoreLog;
}

export interface AlertCounters {
  stored: number;
  failed: number;
  dropped: number;
}

type Listener = (rows: StoredAlert[]) => void;

export class AlertRepo {
  private readonly insert: Statement<[bigint, number, string, string, string, string, string]>;
  private readonly afterStmt: Statement<[number, number], { id: number; body: string }>;
  private readonly countStmt: Statement<[], { n: number }>;
  private readonly getStmt: Statement<[number], { id: number; body: string }>;
  private readonly listeners = new Set<Listener>();
  private queue: Alert[] = [];
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  readonly counters: AlertCounters = { stored: 0, failed: 0, dropped: 0 };

  constructor(
    private readonly db: Database,
    private readonly opts: AlertWriterOptions,
  ) {
    this.insert = db.prepare('INSERT INTO alerts (ts_ns, severity, engine, rule_id, src_ip, dst_ip, body) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.afterStmt = db.prepare('SELECT id, body FROM alerts WHERE id > ? ORDER BY id LIMIT ?');
    this.countStmt = db.prepare('SELECT count(*) AS n FROM alerts');
    this.getStmt = db.prepare('SELECT id, body FROM alerts WHERE id = ?');
  }

  /** One transaction; returns the rows with their ids once committed. Throws (nothing stored)
   * if any alert cannot be written. */
  insertBatch(alerts: readonly Alert[]): StoredAlert[] {
    if (alerts.length === 0) return [];
    const rows = this.db.transaction((batch: readonly Alert[]): StoredAlert[] =>
      batch.map((alert) => {
        const r = this.insert.run(
          alert.timestampNs,
          severityRank(alert.severity),
          alert.engine,
          alert.ruleId,
          canonicalIp(alert.flow.srcIp),
          canonicalIp(alert.flow.dstIp),
          encodeAlert(alert),
        );
        return { id: Number(r.lastInsertRowid), alert };
      }),
    )(alerts);
    this.counters.stored += rows.length;
    this.emit(rows);
    return rows;
  }

  /** Tell `fn` about every committed batch (from insertBatch and from the writer). */
  onStored(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** For the kernel-event path: never blocks and never throws. The alert is written within
   * flushIntervalMs or as soon as batchSize are queued; when maxQueue are already waiting it is
   * dropped and counted. */
  enqueue(alert: Alert): boolean {
    if (this.queue.length >= this.opts.maxQueue) {
      this.counters.dropped++;
      return false;
    }
    this.queue.push(alert);
    if (this.queue.length >= this.opts.batchSize) this.soon();
    else if (!this.timer && !this.immediate) this.timer = setTimeout(() => this.drainStep(), this.opts.flushIntervalMs);
    return true;
  }

  /** Writes everything queued now, in batchSize transactions (shutdown, tests). Returns the
   * rows committed. */
  flush(): StoredAlert[] {
    this.cancel();
    const out: StoredAlert[] = [];
    while (this.queue.length > 0) out.push(...this.writeOne());
    return out;
  }

  get queued(): number {
    return this.queue.length;
  }

  count(): number {
    return this.countStmt.get()?.n ?? 0;
  }

  /** Rows with id > `id`, oldest first: what an SSE client that last saw `id` missed. */
  after(id: number, limit: number): StoredAlert[] {
    return this.afterStmt.all(id, clampLimit(limit)).map(toStored);
  }

  get(id: number): StoredAlert | undefined {
    const r = this.getStmt.get(id);
    return r ? toStored(r) : undefined;
  }

  query(q: AlertQuery): AlertPage {
    const where: string[] = [];
    const args: (string | number | bigint)[] = [];
    if (q.from) {
      where.push('ts_ns >= ?');
      args.push(msToNs(q.from));
    }
    if (q.to) {
      where.push('ts_ns < ?');
      args.push(msToNs(q.to));
    }
    for (const s of [...(q.severity ?? []), ...(q.minSeverity ? [q.minSeverity] : [])]) checkSeverity(s);
    if (q.severity && q.severity.length > 0) {
      where.push(`severity IN (${q.severity.map(() => '?').join(', ')})`);
      args.push(...q.severity.map(severityRank));
    }
    if (q.minSeverity) {
      where.push('severity >= ?');
      args.push(severityRank(q.minSeverity));
    }
    if (q.engine !== undefined) {
      where.push('engine = ?');
      args.push(q.engine);
    }
    if (q.ruleId !== undefined) {
      where.push('rule_id = ?');
      args.push(q.ruleId);
    }
    if (q.ip !== undefined) {
      const ip = parseIpFilter(q.ip);
      if (typeof ip !== 'string') throw new StoreQueryError(`ip filter: ${ip.message}`);
      where.push('(src_ip = ? OR dst_ip = ?)');
      args.push(ip, ip);
    }
    const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const total = this.db.prepare<unknown[], { n: number }>(`SELECT count(*) AS n FROM alerts ${filter}`).get(...args)?.n ?? 0;

    const limit = clampLimit(q.limit);
    const pageWhere = [...where];
    const pageArgs = [...args];
    let offset = 0;
    if (q.cursor !== undefined) {
      pageWhere.push('id < ?');
      pageArgs.push(decodeCursor(q.cursor));
    } else if (q.offset !== undefined) {
      if (!Number.isInteger(q.offset) || q.offset < 0) throw new StoreQueryError(`offset must be a non-negative integer; got ${q.offset}`);
      offset = q.offset;
    }
    const pageFilter = pageWhere.length > 0 ? `WHERE ${pageWhere.join(' AND ')}` : '';
    // one extra row tells whether another page follows without a second count
    const rows = this.db
      .prepare<unknown[], { id: number; body: string }>(`SELECT id, body FROM alerts ${pageFilter} ORDER BY id DESC LIMIT ? OFFSET ?`)
      .all(...pageArgs, limit + 1, offset);
    const more = rows.length > limit;
    const alerts = rows.slice(0, limit).map(toStored);
    const last = alerts[alerts.length - 1];
    return more && last ? { alerts, total, next: encodeCursor(last.id) } : { alerts, total };
  }

  /** Stops the writer's timer; queued alerts are flushed first. */
  close(): void {
    this.flush();
    this.listeners.clear();
  }

  /** Next macrotask: a backlog is written one batch per turn of the event loop, so ring
   * polling and the API keep running between batches. */
  private soon(): void {
    if (this.immediate) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.immediate = setImmediate(() => this.drainStep());
  }

  private drainStep(): void {
    this.timer = undefined;
    this.immediate = undefined;
    this.writeOne();
    if (this.queue.length >= this.opts.batchSize) this.soon();
    else if (this.queue.length > 0) this.timer = setTimeout(() => this.drainStep(), this.opts.flushIntervalMs);
  }

  private writeOne(): StoredAlert[] {
    const batch = this.queue.splice(0, this.opts.batchSize);
    if (batch.length === 0) return [];
    try {
      return this.insertBatch(batch);
    } catch (err) {
      this.counters.failed += batch.length;
      this.opts.log?.error({ err, alerts: batch.length }, 'store: alert batch not written; alerts lost');
      return [];
    }
  }

  private cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  private emit(rows: StoredAlert[]): void {
    for (const fn of this.listeners) {
      try {
        fn(rows);
      } catch (err) {
        // a broken listener must not make committed alerts look unstored
        this.opts.log?.error({ err }, 'store: onStored listener threw');
      }
    }
  }
}

/** A query the store cannot run: bad cursor, offset, severity. The API maps it to a 400. */
export class StoreQueryError extends Error {
  override name = 'StoreQueryError';
}

function checkSeverity(s: Severity): void {
  if (!SEVERITIES.includes(s)) throw new StoreQueryError(`unknown severity ${JSON.stringify(s)} (expected one of ${SEVERITIES.join(', ')})`);
}

function toStored(r: { id: number; body: string }): StoredAlert {
  return { id: r.id, alert: decodeAlert(r.body) };
}

function clampLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new StoreQueryError(`limit must be an integer 1-${MAX_PAGE}; got ${limit}`);
  return limit;
}

const CURSOR_PREFIX = 'a1.';

function encodeCursor(id: number): string {
  return CURSOR_PREFIX + Buffer.from(String(id)).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const id = cursor.startsWith(CURSOR_PREFIX) ? Number(Buffer.from(cursor.slice(CURSOR_PREFIX.length), 'base64url').toString()) : NaN;
  if (!Number.isSafeInteger(id) || id < 1) throw new StoreQueryError(`cursor ${JSON.stringify(cursor)} is not one this API handed out`);
  return id;
}

