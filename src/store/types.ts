// The store's public shapes: what callers (agent, API, CLI) hand in and get back. Rows are
// plain data; nothing here leaks SQLite.
import type { Alert, Severity } from '../alerts/model.js';
import type { NonAlertRecord, StoredRecordKind } from '../alerts/records.js';
import type { RetentionConfig } from '../config/sections/storage.js';

export interface StoredAlert {
  /** row id: strictly increasing, handed out only once the row is committed */
  id: number;
  alert: Alert;
}

export interface AlertQuery {
  /** inclusive lower bound on the alert's timestamp */
  from?: Date;
  /** exclusive upper bound on the alert's timestamp */
  to?: Date;
  /** any of these severities */
  severity?: Severity[];
  /** this severity or higher */
  minSeverity?: Severity;
  engine?: string;
  /** either side of the flow; compared in canonical form (RFC 5952 for IPv6) */
  ip?: string;
  ruleId?: string;
  /** 1..1000 */
  limit: number;
  /** opaque token from a previous page's `next` (keyset pagination, stable under inserts) */
  cursor?: string;
  /** plain offset; ignored when a cursor is given */
  offset?: number;
}

export interface AlertPage {
  /** newest first */
  alerts: StoredAlert[];
  /** rows matching the filter, all pages */
  total: number;
  /** present when more rows follow */
  next?: string;
}

export interface StoredRecord<R extends NonAlertRecord = NonAlertRecord> {
  /** row id of the records table (shared by every kind): strictly increasing, handed out only
   * once the row is committed */
  id: number;
  record: R;
}

export interface RecordQuery {
  kind: StoredRecordKind;
  /** inclusive lower bound on the record's timestamp */
  from?: Date;
  /** exclusive upper bound on the record's timestamp */
  to?: Date;
  engine?: string;
  /** either side of the flow; compared in canonical form (RFC 5952 for IPv6) */
  ip?: string;
  /** the kind's own key, case-insensitive: a DNS query name (a trailing dot ignored; "*.example.com"
   * = any name below example.com), a DLP detector, an anomaly event, a flow's application
   * protocol */
  name?: string;
  /** the process (DLP findings) */
  pid?: number;
  /** 1..1000 */
  limit: number;
  /** opaque token from a previous page's `next` of the same kind */
  cursor?: string;
  /** plain offset; ignored when a cursor is given */
  offset?: number;
}

export interface RecordPage {
  /** newest first */
  records: StoredRecord[];
  /** rows matching the filter, all pages */
  total: number;
  /** present when more rows follow */
  next?: string;
}

export type AuditOutcome = 'ok' | 'rejected';

export interface AuditInput {
  actor: string;
  action: string;
  target: string;
  before?: unknown;
  after?: unknown;
  outcome: AuditOutcome;
  detail?: string;
}

export interface AuditEntry extends AuditInput {
  id: number;
  /** ISO 8601, UTC, millisecond precision */
  at: string;
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  target?: string;
  from?: Date;
  to?: Date;
  limit: number;
  offset?: number;
}

export interface AuditPage {
  /** newest first */
  entries: AuditEntry[];
  total: number;
}

export interface StoredRule {
  id: string;
  /** the rule as the caller gave it (config rule shape) */
  rule: unknown;
  /** 1 on creation, +1 per update */
  version: number;
  /** ISO 8601 */
  createdAt: string;
  updatedAt: string;
  /** who made the current version */
  actor: string;
}

export type RuleChange = 'created' | 'updated' | 'deleted';

export interface RuleVersion {
  ruleId: string;
  /** monotonic per rule id, never reused (a deleted then re-created rule continues the count) */
  version: number;
  /** ISO 8601 */
  at: string;
  actor: string;
  action: RuleChange;
  before?: unknown;
  after?: unknown;
}

export interface PruneResult {
  alerts: number;
  /** rows of the records table (dns, flow, anomaly, dlp) */
  records: number;
  audit: number;
  ruleVersions: number;
}

/** What retention keeps: the config's storage.retention without its schedule (interval_seconds).
 * Each _max_age_days / _max_count / _max_versions bound: 0 = none. */
export type RetentionOptions = Omit<RetentionConfig, 'interval_seconds'>;

export interface StoreOptions {
  /** database file; its parent directory is created with mode 0700 when missing */
  path: string;
  /** NORMAL survives a crash of the process (SIGKILL); FULL also survives power loss */
  synchronous?: 'normal' | 'full';
  retention?: Partial<RetentionOptions>;
  /** how often prune() runs by itself; 0 = never (call prune() yourself). Default 10 min. */
  pruneIntervalMs?: number;
  /** each writer (alerts, records): flush when this many are queued (default 500) … */
  batchSize?: number;
  /** … or this long after the first one was queued (default 50 ms) */
  flushIntervalMs?: number;
  /** queued alerts (or records) beyond this are dropped and counted (default 100 000 each) */
  maxQueue?: number;
  /** pino-like logger; failures are logged here as well as counted */
  log?: StoreLog;
}

export interface StoreLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface RecordKindCounters {
  stored: number;
  failed: number;
  dropped: number;
}

/** Monotonic counters since open, for metrics and status. */
export interface StoreStats {
  alertsStored: number;
  /** alerts that reached the writer but whose batch failed to commit */
  alertsFailed: number;
  /** alerts refused by enqueue() because the queue was full */
  alertsDropped: number;
  /** alerts waiting in the writer's queue now */
  alertsQueued: number;
  /** the other kinds, each like the alerts' counters */
  records: Record<StoredRecordKind, RecordKindCounters>;
  /** records (every kind) waiting in their writer's queue now */
  recordsQueued: number;
  auditRecorded: number;
  pruneRuns: number;
  pruneFailures: number;
  pruned: PruneResult;
  /** the database file */
  path: string;
}
