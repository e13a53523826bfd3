// Retention: age and count bounds for alerts, the other records (the count per kind) and the
// audit trail, a per-rule bound for rule history. Deletes run in one transaction; the caller counts runs and rows.
import type { Database } from 'better-sqlite3';
import { STORED_RECORD_KINDS } from '../alerts/records.js';
import { retentionSchema } from '../config/sections/storage.js';
import { msToNs } from './codec.js';
import type { PruneResult, RetentionOptions } from './types.js';

/** The config's defaults (storage.retention), for a store opened without a config. */
export const DEFAULT_RETENTION: RetentionOptions = (({ interval_seconds: _schedule, ...bounds }) => bounds)(retentionSchema.parse({}));

const DAY_MS = 86_400_000;

export function pruneDatabase(db: Database, r: RetentionOptions, now: Date = new Date()): PruneResult {
  return db.transaction((): PruneResult => {
    let alerts = 0;
    let audit = 0;
    if (r.alerts_max_age_days > 0) {
      alerts += db.prepare('DELETE FROM alerts WHERE ts_ns < ?').run(msToNs(new Date(now.getTime() - r.alerts_max_age_days * DAY_MS))).changes;
    }
    if (r.alerts_max_count > 0) {
      // ids grow with insertion, so "keep the newest N" is "drop ids below the Nth highest"
      alerts += db.prepare('DELETE FROM alerts WHERE id <= (SELECT id FROM alerts ORDER BY id DESC LIMIT 1 OFFSET ?)').run(r.alerts_max_count).changes;
    }
    let records = 0;
    if (r.records_max_age_days > 0) {
      records += db.prepare('DELETE FROM records WHERE ts_ns < ?').run(msToNs(new Date(now.getTime() - r.records_max_age_days * DAY_MS))).changes;
    }
    if (r.records_max_count > 0) {
      // per kind, so a flood of flow records cannot push out the DNS history
      const del = db.prepare('DELETE FROM records WHERE kind = ? AND id <= (SELECT id FROM records WHERE kind = ? ORDER BY id DESC LIMIT 1 OFFSET ?)');
      for (const kind of STORED_RECORD_KINDS) records += del.run(kind, kind, r.records_max_count).changes;
    }
    if (r.audit_max_age_days > 0) {
      audit += db.prepare('DELETE FROM audit WHERE at_ms < ?').run(now.getTime() - r.audit_max_age_days * DAY_MS).changes;
    }
    if (r.audit_max_count > 0) {
      audit += db.prepare('DELETE FROM audit WHERE id <= (SELECT id FROM audit ORDER BY id DESC LIMIT 1 OFFSET ?)').run(r.audit_max_count).changes;
    }
    let ruleVersions = 0;
    if (r.rule_history_max_versions > 0) {
      ruleVersions = db
        .prepare(
          `DELETE FROM rule_versions WHERE (rule_id, version) IN (
             SELECT rule_id, version FROM (
               SELECT rule_id, version, row_number() OVER (PARTITION BY rule_id ORDER BY version DESC) AS rn FROM rule_versions
             ) WHERE rn > ?)`,
        )
        .run(r.rule_history_max_versions).changes;
    }
    return { alerts, records, audit, ruleVersions };
  })();
}
