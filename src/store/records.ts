// The other record kinds (dns, flow, anomaly, dlp): one table, batched inserts through the same
// non-blocking writer as alerts, and newest-first pages of one kind at a time with the filters
// that kind is queried by. Counted per kind, so a flood of one kind shows as that kind.
import type { Database, Statement } from 'better-sqlite3';
import { STORED_RECORD_KINDS, type NonAlertRecord, type StoredRecordKind } from '../alerts/records.js';
import { BatchWriter, type BatchWriterOptions } from './batch-writer.js';
import { canonicalIp, decodeRecord, encodeRecord } from './codec.js';
import { commonTerms, keysetPage, StoreQueryError } from './paging.js';
import type { RecordKindCounters, RecordPage, RecordQuery, StoredRecord } from './types.js';

type RecordWriterOptions = Omit<BatchWriterOptions, 'what' | 'onFailed'>;

/** The kind's own key, as stored in the `name` column (see migration 2). */
function recordName(r: NonAlertRecord): string {
  switch (r.kind) {
    case 'dns':
      return normaliseDnsName(r.dns.queries[0]?.rrname ?? '');
    case 'dlp':
      return r.dlp.detector.toLowerCase();
    case 'anomaly':
      return ('event' in r.anomaly ? r.anomaly.event : `${r.anomaly.type}:${r.anomaly.code}`).toLowerCase();
    case 'flow':
      return (r.appProto ?? '').toLowerCase();
  }
}

/** DNS names compare without case and without the root's trailing dot. */
function normaliseDnsName(n: string): string {
  const l = n.toLowerCase();
  return l.length > 1 && l.endsWith('.') ? l.slice(0, -1) : l;
}

const KIND_SET: ReadonlySet<string> = new Set(STORED_RECORD_KINDS);

export class RecordRepo {
  private readonly insert: Statement<[string, bigint, string, string, string, string, number | null, string]>;
  private readonly getStmt: Statement<[number], { id: number; kind: string; body: string }>;
  private readonly countStmt: Statement<[string], { n: number }>;
  private readonly writer: BatchWriter<NonAlertRecord, StoredRecord>;
  private readonly byKind = Object.fromEntries(STORED_RECORD_KINDS.map((k) => [k, { stored: 0, failed: 0, dropped: 0 }])) as Record<StoredRecordKind, RecordKindCounters>;

  constructor(
    private readonly db: Database,
    opts: RecordWriterOptions,
  ) {
    this.insert = db.prepare('INSERT INTO records (kind, ts_ns, engine, src_ip, dst_ip, name, pid, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.getStmt = db.prepare('SELECT id, kind, body FROM records WHERE id = ?');
    this.countStmt = db.prepare('SELECT count(*) AS n FROM records WHERE kind = ?');
    this.writer = new BatchWriter((batch) => this.commit(batch), {
      ...opts,
      what: 'record',
      onFailed: (batch) => {
        for (const r of batch) this.byKind[r.kind].failed++;
      },
    });
  }

  /** Per kind: committed, lost with a failed batch, refused by a full queue. */
  counters(): Record<StoredRecordKind, RecordKindCounters> {
    return Object.fromEntries(STORED_RECORD_KINDS.map((k) => [k, { ...this.byKind[k] }])) as Record<StoredRecordKind, RecordKindCounters>;
  }

  /** One transaction; returns the rows with their ids once committed. Throws (nothing stored)
   * if any record cannot be written. */
  insertBatch(records: readonly NonAlertRecord[]): StoredRecord[] {
    return this.writer.writeBatch(records);
  }

  /** For the event path: never blocks and never throws (see BatchWriter.enqueue). A record of
   * a kind this table does not keep is refused and counted as dropped under no kind. */
  enqueue(r: NonAlertRecord): boolean {
    if (!KIND_SET.has(r.kind)) return false;
    if (this.writer.enqueue(r)) return true;
    this.byKind[r.kind].dropped++;
    return false;
  }

  flush(): StoredRecord[] {
    return this.writer.flush();
  }

  get queued(): number {
    return this.writer.queued;
  }

  count(kind: StoredRecordKind): number {
    return this.countStmt.get(kind)?.n ?? 0;
  }

  get(id: number): StoredRecord | undefined {
    const r = this.getStmt.get(id);
    return r && KIND_SET.has(r.kind) ? { id: r.id, record: decodeRecord(r.kind as StoredRecordKind, r.body) } : undefined;
  }

  query(q: RecordQuery): RecordPage {
    if (!KIND_SET.has(q.kind)) throw new StoreQueryError(`unknown record kind ${JSON.stringify(q.kind)} (expected one of ${STORED_RECORD_KINDS.join(', ')})`);
    const { where, args } = commonTerms(q);
    where.push('kind = ?');
    args.push(q.kind);
    if (q.name !== undefined) {
      const n = q.kind === 'dns' ? normaliseDnsName(q.name.trim()) : q.name.trim().toLowerCase();
      if (n === '' || n === '*.') throw new StoreQueryError('name filter is empty');
      if (n.startsWith('*.')) {
        // every name below the given one; LIKE's own wildcards in the rest are taken literally
        where.push("name LIKE ? ESCAPE '\\'");
        args.push(`%${n.slice(1).replace(/[\\%_]/g, (c) => `\\${c}`)}`);
      } else {
        where.push('name = ?');
        args.push(n);
      }
    }
    if (q.pid !== undefined) {
      if (!Number.isSafeInteger(q.pid) || q.pid < 0) throw new StoreQueryError(`pid must be a non-negative integer; got ${q.pid}`);
      where.push('pid = ?');
      args.push(q.pid);
    }
    // a cursor names its kind: one handed out by the DNS list is refused by the flow list
    const page = keysetPage(this.db, 'records', where, args, q, `${q.kind}1.`);
    const records = page.rows.map((row) => ({ id: row.id, record: decodeRecord(q.kind, row.body) }));
    return page.next ? { records, total: page.total, next: page.next } : { records, total: page.total };
  }

  /** Writes what is queued. */
  close(): void {
    this.flush();
  }

  private commit(records: readonly NonAlertRecord[]): StoredRecord[] {
    const rows = this.db.transaction((batch: readonly NonAlertRecord[]): StoredRecord[] =>
      batch.map((record) => {
        const f = record.flow;
        const r = this.insert.run(
          record.kind,
          record.timestampNs,
          record.engine,
          // a record without a flow (a DLP finding not tied to a socket) has no addresses: '' matches no IP filter
          f ? canonicalIp(f.srcIp) : '',
          f ? canonicalIp(f.dstIp) : '',
          recordName(record),
          record.kind === 'dlp' ? record.process.pid : null,
          encodeRecord(record),
        );
        return { id: Number(r.lastInsertRowid), record };
      }),
    )(records);
    for (const { record } of rows) this.byKind[record.kind].stored++;
    return rows;
  }
}
