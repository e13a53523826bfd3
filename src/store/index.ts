// The agent's embedded database (SQLite through better-sqlite3, WAL): alerts, the other record
// kinds (dns, flow, anomaly, dlp), the audit trail and API firewall rules with their history.
// One Store per agent process; open() creates the file, its 0700 parent directory and the
// schema, and starts periodic retention.
//
// Durability: WAL with synchronous=NORMAL makes a transaction durable against a crash of the
// process (SIGKILL included) the moment commit returns: the WAL frames are in the kernel's page
// cache, which outlives the process; only an OS crash or power loss can lose the last commits,
// and `synchronous: full` (an fsync per commit) closes that too, at a cost per batch.
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import type { SentinelRecord } from '../alerts/records.js';
import type { StorageConfig } from '../config/sections/storage.js';
import { AlertRepo } from './alerts.js';
import { AuditRepo } from './audit.js';
import { BlocklistRepo } from './blocklist.js';
import { migrate } from './migrations.js';
import { RecordRepo } from './records.js';
import { DEFAULT_RETENTION, pruneDatabase } from './retention.js';
import { RuleRepo } from './rules.js';
import type { PruneResult, RetentionOptions, StoreLog, StoreOptions, StoreStats } from './types.js';

export * from './types.js';
export { StoreQueryError } from './paging.js';
export { registerStoreMetrics } from './metrics.js';

const DEFAULT_PRUNE_INTERVAL_MS = 10 * 60_000;

/** The `storage` config section as StoreOptions (the agent's one call: Store.open(storeOptions(cfg.storage, log))). */
export function storeOptions(cfg: StorageConfig, log?: StoreLog): StoreOptions {
  const { interval_seconds, ...retention } = cfg.retention;
  return {
    path: cfg.path,
    synchronous: cfg.synchronous,
    retention,
    pruneIntervalMs: interval_seconds * 1000,
    ...(log ? { log } : {}),
  };
}

export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
}

export class Store {
  readonly alerts: AlertRepo;
  readonly records: RecordRepo;
  readonly audit: AuditRepo;
  readonly rules: RuleRepo;
  readonly blocklist: BlocklistRepo;
  readonly retention: RetentionOptions;
  private readonly pruneTimer: NodeJS.Timeout | undefined;
  private readonly pruned: PruneResult = { alerts: 0, records: 0, audit: 0, ruleVersions: 0 };
  private pruneRuns = 0;
  private pruneFailures = 0;
  private closed = false;

  private constructor(
    private readonly db: Database,
    readonly path: string,
    opts: StoreOptions,
    private readonly log: StoreLog | undefined,
  ) {
    this.retention = { ...DEFAULT_RETENTION, ...opts.retention };
    const writer = {
      batchSize: opts.batchSize ?? 500,
      flushIntervalMs: opts.flushIntervalMs ?? 50,
      maxQueue: opts.maxQueue ?? 100_000,
      ...(log ? { log } : {}),
    };
    this.alerts = new AlertRepo(db, writer);
    this.records = new RecordRepo(db, writer);
    this.audit = new AuditRepo(db);
    this.rules = new RuleRepo(db);
    this.blocklist = new BlocklistRepo(db);
    const every = opts.pruneIntervalMs ?? DEFAULT_PRUNE_INTERVAL_MS;
    if (every > 0) {
      this.pruneTimer = setInterval(() => this.pruneSafely(), every);
      this.pruneTimer.unref();
    }
  }

  static open(opts: StoreOptions): Store {
    const file = path.resolve(opts.path);
    let db: Database | undefined;
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      const created = !fs.existsSync(file);
      db = new BetterSqlite3(file);
      // alerts and the audit trail name hosts and people: readable by the agent's user only
      if (created) fs.chmodSync(file, 0o600);
      db.pragma('journal_mode = WAL');
      const mode = db.pragma('journal_mode', { simple: true });
      if (mode !== 'wal') throw new Error(`the file system refused WAL mode (journal_mode is ${String(mode)})`);
      db.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      // another handle (a CLI, a second agent by mistake) waits a little instead of failing at once
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = ON');
      const from = migrate(db, file);
      const store = new Store(db, file, opts, opts.log);
      opts.log?.info({ path: file, schema_from: from, alerts: store.alerts.count() }, 'store opened');
      store.pruneSafely();
      return store;
    } catch (err) {
      db?.close();
      throw new StoreOpenError(`storage: cannot open ${file}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Applies retention now; also runs at open and every pruneIntervalMs. */
  prune(now: Date = new Date()): PruneResult {
    const r = pruneDatabase(this.db, this.retention, now);
    this.pruneRuns++;
    this.pruned.alerts += r.alerts;
    this.pruned.records += r.records;
    this.pruned.audit += r.audit;
    this.pruned.ruleVersions += r.ruleVersions;
    if (r.alerts + r.records + r.audit + r.ruleVersions > 0) this.log?.info({ ...r }, 'store: retention removed old rows');
    return r;
  }

  /** For the pipeline's store subscriber: an alert goes to the alerts table, any other kind to
   * the records table (AlertRepo.enqueue, RecordRepo.enqueue: never blocks, never throws). */
  enqueue(r: SentinelRecord): boolean {
    return r.kind === 'alert' ? this.alerts.enqueue(r) : this.records.enqueue(r);
  }

  stats(): StoreStats {
    return {
      alertsStored: this.alerts.counters.stored,
      alertsFailed: this.alerts.counters.failed,
      alertsDropped: this.alerts.counters.dropped,
      alertsQueued: this.alerts.queued,
      records: this.records.counters(),
      recordsQueued: this.records.queued,
      auditRecorded: this.audit.recorded,
      pruneRuns: this.pruneRuns,
      pruneFailures: this.pruneFailures,
      pruned: { ...this.pruned },
      path: this.path,
    };
  }

  /** PRAGMA values for status/doctor and tests. */
  pragma(name: 'journal_mode' | 'synchronous' | 'user_version'): unknown {
    return this.db.pragma(name, { simple: true });
  }

  /** Flushes queued alerts and records, stops retention, closes the file. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.alerts.close();
    this.records.close();
    this.db.close();
  }

  private pruneSafely(): void {
    try {
      this.prune();
    } catch (err) {
      this.pruneFailures++;
      this.log?.error({ err }, 'store: retention run failed');
    }
  }
}
