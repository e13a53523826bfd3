// Alerts: batched inserts (one transaction per batch), filtered newest-first queries with keyset
// pagination, and "everything after id N" for SSE resume. Listeners hear about rows only after
// their transaction committed, so an id anyone sees is an id that is on disk.
import type { Database, Statement } from 'better-sqlite3';
import type { Alert } from '../alerts/model.js';
import { SEVERITIES, type Severity } from '../alerts/model.js';
import { BatchWriter, type BatchWriterOptions, type WriterCounters } from './batch-writer.js';
import { canonicalIp, decodeAlert, encodeAlert, severityRank } from './codec.js';
import { clampLimit, commonTerms, keysetPage, StoreQueryError } from './paging.js';
import type { AlertPage, AlertQuery, StoredAlert } from './types.js';

export type AlertWriterOptions = Omit<BatchWriterOptions, 'what' | 'onFailed'>;
export type AlertCounters = WriterCounters;

type Listener = (rows: StoredAlert[]) => void;

export class AlertRepo {
  private readonly insert: Statement<[bigint, number, string, string, string, string, string]>;
  private readonly afterStmt: Statement<[number, number], { id: number; body: string }>;
  private readonly countStmt: Statement<[], { n: number }>;
  private readonly getStmt: Statement<[number], { id: number; body: string }>;
  private readonly listeners = new Set<Listener>();
  private readonly writer: BatchWriter<Alert, StoredAlert>;

  constructor(
    private readonly db: Database,
    private readonly opts: AlertWriterOptions,
  ) {
    this.insert = db.prepare('INSERT INTO alerts (ts_ns, severity, engine, rule_id, src_ip, dst_ip, body) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.afterStmt = db.prepare('SELECT id, body FROM alerts WHERE id > ? ORDER BY id LIMIT ?');
    this.countStmt = db.prepare('SELECT count(*) AS n FROM alerts');
    this.getStmt = db.prepare('SELECT id, body FROM alerts WHERE id = ?');
    this.writer = new BatchWriter((batch) => this.commit(batch), { ...opts, what: 'alert' });
  }

  get counters(): AlertCounters {
    return this.writer.counters;
  }

  /** One transaction; returns the rows with their ids once committed. Throws (nothing stored)
   * if any alert cannot be written. */
  insertBatch(alerts: readonly Alert[]): StoredAlert[] {
    return this.writer.writeBatch(alerts);
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
    return this.writer.enqueue(alert);
  }

  /** Writes everything queued now, in batchSize transactions (shutdown, tests). Returns the
   * rows committed. */
  flush(): StoredAlert[] {
    return this.writer.flush();
  }

  get queued(): number {
    return this.writer.queued;
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
    const { where, args } = commonTerms(q);
    for (const s of [...(q.severity ?? []), ...(q.minSeverity ? [q.minSeverity] : [])]) checkSeverity(s);
    if (q.severity && q.severity.length > 0) {
      where.push(`severity IN (${q.severity.map(() => '?').join(', ')})`);
      args.push(...q.severity.map(severityRank));
    }
    if (q.minSeverity) {
      where.push('severity >= ?');
      args.push(severityRank(q.minSeverity));
    }
    if (q.ruleId !== undefined) {
      where.push('rule_id = ?');
      args.push(q.ruleId);
    }
    const page = keysetPage(this.db, 'alerts', where, args, q, 'a1.');
    const alerts = page.rows.map(toStored);
    return page.next ? { alerts, total: page.total, next: page.next } : { alerts, total: page.total };
  }

  /** Stops the writer's timer; queued alerts are flushed first. */
  close(): void {
    this.flush();
    this.listeners.clear();
  }

  private commit(alerts: readonly Alert[]): StoredAlert[] {
    const rows = this.db.transaction((batch: readonly Alert[]): StoredAlert[] =>
      batch.map((alert) => {
        const r = this.insert.run(
          alert.timestampNs,
          severityRank(alert.severity),
          alert.engine,
          alert.ruleId,
          // an alert about a process has no addresses: '' matches no IP filter
          alert.flow ? canonicalIp(alert.flow.srcIp) : '',
          alert.flow ? canonicalIp(alert.flow.dstIp) : '',
          encodeAlert(alert),
        );
        return { id: Number(r.lastInsertRowid), alert };
      }),
    )(alerts);
    this.emit(rows);
    return rows;
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

function checkSeverity(s: Severity): void {
  if (!SEVERITIES.includes(s)) throw new StoreQueryError(`unknown severity ${JSON.stringify(s)} (expected one of ${SEVERITIES.join(', ')})`);
}

function toStored(r: { id: number; body: string }): StoredAlert {
  return { id: r.id, alert: decodeAlert(r.body) };
}
