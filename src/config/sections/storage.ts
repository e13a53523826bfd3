// `storage`: the embedded SQLite database (alerts, the other records: DNS, flows, anomalies, DLP
// findings; audit trail, API rules and their history) and how long rows are kept.
import path from 'node:path';
import type { z } from 'zod';
import { show } from '../messages.js';
import { defineSection } from '../section.js';
import { custom, intIn, keyword, strictObject } from '../zod-helpers.js';

const dbPath = custom((v, fail): string => {
  if (typeof v !== 'string' || v.trim() === '') fail(`expected a database file path; got ${show(v)}`);
  else if (v.endsWith('/')) fail(`${show(v)} names a directory; give the database file, e.g. ${path.join(v, 'sentinel.db')}`);
  return v as string;
});

/** How long the store keeps rows: the one declaration of the keys and their defaults (the store
 * prunes with exactly this shape, src/store/retention.ts). */
export const retentionSchema = strictObject({
  /** 0 = keep forever */
  alerts_max_age_days: intIn(0, 36_500, 'days (0 = no age limit)').default(30),
  alerts_max_count: intIn(0, 1_000_000_000, 'rows (0 = no count limit)').default(1_000_000),
  /** dns, flow, anomaly and dlp records: they come in volume, so kept for less long */
  records_max_age_days: intIn(0, 36_500, 'days (0 = no age limit)').default(7),
  /** per kind */
  records_max_count: intIn(0, 1_000_000_000, 'rows per record kind (0 = no count limit)').default(1_000_000),
  audit_max_age_days: intIn(0, 36_500, 'days (0 = no age limit)').default(365),
  audit_max_count: intIn(0, 1_000_000_000, 'rows (0 = no count limit)').default(1_000_000),
  rule_history_max_versions: intIn(0, 1_000_000, 'versions per rule (0 = no limit)').default(100),
  interval_seconds: intIn(10, 86_400, 'seconds').default(600),
});

export const storageSchema = strictObject(
  {
    /** relative paths are resolved against the config file's directory by the loader */
    path: dbPath.default('/var/lib/ebpfsentinel/sentinel.db'),
    synchronous: keyword({ normal: 'normal', full: 'full' }, {
      off: 'could lose alerts already reported as stored; use normal or full',
    }).default('normal'),
    retention: retentionSchema.prefault({}),
  },
  {
    storage_path: 'use storage.path',
    buffer_size: 'use storage.retention.audit_max_count',
  },
);

export type StorageConfig = z.output<typeof storageSchema>;
export type RetentionConfig = z.output<typeof retentionSchema>;

export const storageSection = defineSection({
  key: 'storage',
  schema: storageSchema,
  reload: 'restart',
  description: 'the SQLite database and its retention',
  resolve(storage, ctx) {
    storage.path = path.resolve(ctx.baseDir, storage.path);
  },
});
