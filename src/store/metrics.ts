// Prometheus view of the store, read from its counters at scrape time: nothing here is on the
// write path.
import fs from 'node:fs';
import { Counter, Gauge, type Registry } from 'prom-client';
import { STORED_RECORD_KINDS } from '../alerts/records.js';
import type { StoreStats } from './types.js';

const P = 'ebpfsentinel_store_';

// It reads the store's counters and file path only (index.ts, which re-exports this, has the
// Store; naming it here would make the two import each other).
export function registerStoreMetrics(registry: Registry, store: { readonly path: string; stats(): StoreStats }): void {
  new Counter({
    name: `${P}alerts_total`,
    help: 'Alerts handed to the store, by outcome: stored (committed), failed (batch not written), dropped (writer queue full)',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      const s = store.stats();
      this.reset();
      this.inc({ outcome: 'stored' }, s.alertsStored);
      this.inc({ outcome: 'failed' }, s.alertsFailed);
      this.inc({ outcome: 'dropped' }, s.alertsDropped);
    },
  });
  new Gauge({
    name: `${P}alerts_queued`,
    help: 'Alerts waiting in the store writer queue',
    registers: [registry],
    collect() {
      this.set(store.stats().alertsQueued);
    },
  });
  new Counter({
    name: `${P}records_total`,
    help: 'Records of the other kinds (dns, flow, anomaly, dlp) handed to the store, by kind and outcome as store_alerts_total',
    labelNames: ['kind', 'outcome'],
    registers: [registry],
    collect() {
      const s = store.stats();
      this.reset();
      for (const kind of STORED_RECORD_KINDS) {
        const c = s.records[kind];
        this.inc({ kind, outcome: 'stored' }, c.stored);
        this.inc({ kind, outcome: 'failed' }, c.failed);
        this.inc({ kind, outcome: 'dropped' }, c.dropped);
      }
    },
  });
  new Gauge({
    name: `${P}records_queued`,
    help: 'Records of the other kinds waiting in the store writer queue',
    registers: [registry],
    collect() {
      this.set(store.stats().recordsQueued);
    },
  });
  new Counter({
    name: `${P}audit_records_total`,
    help: 'Audit trail entries written',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(store.stats().auditRecorded);
    },
  });
  new Counter({
    name: `${P}retention_runs_total`,
    help: 'Retention passes over the database, by outcome',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      const s = store.stats();
      this.reset();
      this.inc({ outcome: 'ok' }, s.pruneRuns);
      this.inc({ outcome: 'failed' }, s.pruneFailures);
    },
  });
  new Counter({
    name: `${P}rows_pruned_total`,
    help: 'Rows removed by retention, by table',
    labelNames: ['table'],
    registers: [registry],
    collect() {
      const p = store.stats().pruned;
      this.reset();
      this.inc({ table: 'alerts' }, p.alerts);
      this.inc({ table: 'records' }, p.records);
      this.inc({ table: 'audit' }, p.audit);
      this.inc({ table: 'rule_versions' }, p.ruleVersions);
    },
  });
  new Gauge({
    name: `${P}size_bytes`,
    help: 'Size of the database file and its write-ahead log',
    registers: [registry],
    collect() {
      let bytes = 0;
      for (const f of [store.path, `${store.path}-wal`]) {
        try {
          bytes += fs.statSync(f).size;
        } catch {
          // the WAL file exists only while the database is open and written
        }
      }
      this.set(bytes);
    },
  });
}
