// The store's records table (dns, flow, anomaly, dlp): round trips of every kind, IPv4 and IPv6,
// queries by the keys each kind is looked up by, keyset pages, the non-blocking writer's counts
// per kind, retention per kind, and a database from before the table existed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { Registry } from 'prom-client';
import type { Alert } from '../../src/alerts/model.js';
import type { NonAlertRecord, StoredRecordKind } from '../../src/alerts/records.js';
import { parseConfigText } from '../../src/catalog.js';
import { namingProblems } from '../support/metric-naming.js';
import { registerStoreMetrics, Store, StoreQueryError, storeOptions, type StoredRecord } from '../../src/store/index.js';
import { SCHEMA_VERSION } from '../../src/store/migrations.js';
import { anomalyRecord, dlpRecord, dnsRecord, flowRecord, oneOfEach } from '../support/records.js';

const root = mkdtempSync(path.join(tmpdir(), 'sentinel-records-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const dbPath = (): string => path.join(root, `db${++n}`, 'sentinel.db');
const open = (p = dbPath(), o: Partial<Parameters<typeof Store.open>[0]> = {}): Store => Store.open({ path: p, pruneIntervalMs: 0, ...o });

// recent, so the default retention (7 days) keeps them
const T0 = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
const ts = (i: number): bigint => BigInt(T0 + i * 1000) * 1_000_000n + 789n;
const ids = (rows: readonly StoredRecord[]): number[] => rows.map((r) => r.id);

describe('Store: records of every kind', () => {
  it('round-trips each kind exactly (bigints past 2^53, optional flow, nested bodies), IPv4 and IPv6, and keeps them across a reopen', () => {
    const p = dbPath();
    const batch: NonAlertRecord[] = [...oneOfEach(0, ts(0)), ...oneOfEach(1, ts(1))];
    let stored: StoredRecord[];
    let s = open(p);
    try {
      stored = s.records.insertBatch(batch);
      assert.equal(stored.length, 8);
      assert.deepEqual(stored.map((r) => r.record), batch);
      for (const kind of ['dns', 'flow', 'anomaly', 'dlp'] as const) assert.equal(s.records.count(kind), 2);
      assert.equal(s.alerts.count(), 0, 'records do not land among alerts');
    } finally {
      s.close();
    }
    s = open(p);
    try {
      for (const r of stored) {
        const got = s.records.get(r.id);
        assert.deepEqual(got, r);
      }
      const dlp = s.records.get(stored.find((r) => r.record.kind === 'dlp' && !r.record.flow)!.id)!.record;
      assert.ok(dlp.kind === 'dlp');
      assert.equal(typeof dlp.process.cgroupId, 'bigint');
      assert.equal(dlp.process.cgroupId, 2n ** 60n + 1n);
      assert.equal(dlp.flow, undefined);
      const flow = s.records.get(stored.find((r) => r.record.kind === 'flow')!.id)!.record;
      assert.ok(flow.kind === 'flow');
      assert.equal(flow.startNs, ts(0) - 5_000_000_000n);
    } finally {
      s.close();
    }
  });

  it('each kind is its own list: filters by time, engine, IP (either side, canonical IPv6) and the kind\'s own key', () => {
    const s = open();
    try {
      const batch: NonAlertRecord[] = [];
      for (let i = 0; i < 20; i++) batch.push(...oneOfEach(i, ts(i)));
      batch.push(dnsRecord(100, ts(100), { dns: { type: 'response', id: 1, flags: 0x8180, queries: [{ rrname: 'WWW.Example.COM.', rrtype: 1 }] } }));
      batch.push(dnsRecord(101, ts(101), { dns: { type: 'request', id: 2, flags: 0x0100, queries: [{ rrname: 'mail_x.example.com', rrtype: 15 }] } }));
      batch.push(dnsRecord(102, ts(102), { dns: { type: 'request', id: 3, flags: 0x0100, queries: [{ rrname: 'example.com', rrtype: 1 }] } }));
      const stored = s.records.insertBatch(batch);
      const expect = (kind: StoredRecordKind, pred: (r: NonAlertRecord) => boolean): number[] => stored.filter((r) => r.record.kind === kind && pred(r.record)).map((r) => r.id).reverse();
      const q = (filter: Parameters<typeof s.records.query>[0]): number[] => {
        const page = s.records.query(filter);
        assert.equal(page.total, page.records.length, 'one page holds every match here');
        for (const r of page.records) assert.equal(r.record.kind, filter.kind);
        return ids(page.records);
      };
      assert.deepEqual(q({ kind: 'dns', limit: 100 }), expect('dns', () => true));
      assert.equal(q({ kind: 'flow', limit: 100 }).length, 20);
      const ms = (i: number): Date => new Date(T0 + i * 1000);
      assert.deepEqual(q({ kind: 'flow', from: ms(5), to: ms(10), limit: 100 }), expect('flow', (r) => r.timestampNs >= ts(5) - 789n && r.timestampNs < ts(10) - 789n));
      assert.equal(q({ kind: 'flow', from: ms(5), to: ms(10), limit: 100 }).length, 5);
      assert.deepEqual(q({ kind: 'anomaly', engine: 'scrub', limit: 100 }).length, 20);
      assert.deepEqual(q({ kind: 'anomaly', engine: 'dns', limit: 100 }), []);
      // IPv4 source; IPv6 source written non-canonically; the shared destination
      assert.deepEqual(q({ kind: 'flow', ip: '198.18.1.5', limit: 100 }), expect('flow', (r) => r.flow?.srcIp === '198.18.1.5'));
      assert.equal(q({ kind: 'flow', ip: '198.18.1.5', limit: 100 }).length, 1);
      assert.deepEqual(q({ kind: 'dns', ip: '2001:DB8:1:0::4', limit: 100 }), expect('dns', (r) => r.flow?.srcIp === '2001:db8:1::4'));
      assert.equal(q({ kind: 'dns', ip: '2001:db8:2:0:0:0:0:53', limit: 100 }).length, 11, 'every IPv6 DNS record (10) and the IPv6 one of the three extras (101)');
      // a DLP finding without a flow matches no IP
      assert.deepEqual(q({ kind: 'dlp', ip: '2001:db8:2::53', limit: 100 }), []);
      // DNS names: case and the trailing dot ignored; "*." = any name below; LIKE's wildcards literal
      assert.deepEqual(q({ kind: 'dns', name: 'www.example.com', limit: 100 }), [stored[80]!.id]);
      assert.deepEqual(q({ kind: 'dns', name: 'WWW.EXAMPLE.COM.', limit: 100 }), [stored[80]!.id]);
      assert.equal(q({ kind: 'dns', name: '*.example.com', limit: 100 }).length, 22, 'every name below example.com, not example.com itself');
      assert.deepEqual(q({ kind: 'dns', name: '*._x.example.com', limit: 100 }), []);
      assert.deepEqual(q({ kind: 'dns', name: 'mail_x.example.com', limit: 100 }), [stored[81]!.id]);
      assert.deepEqual(q({ kind: 'dns', name: 'mailxx.example.com', limit: 100 }), [], '"_" is not a wildcard');
      // DLP by detector and process; anomalies by event; flows by application protocol
      assert.deepEqual(q({ kind: 'dlp', name: 'credit_card', limit: 100 }), expect('dlp', (r) => r.kind === 'dlp' && r.dlp.detector === 'credit_card'));
      assert.deepEqual(q({ kind: 'dlp', pid: 1001, limit: 100 }), expect('dlp', (r) => r.kind === 'dlp' && r.process.pid === 1001));
      assert.deepEqual(q({ kind: 'dlp', pid: 1001, name: 'aws_access_key', limit: 100 }), expect('dlp', (r) => r.kind === 'dlp' && r.process.pid === 1001 && r.dlp.detector === 'aws_access_key'));
      assert.deepEqual(q({ kind: 'anomaly', name: 'IPv6.trunc_pkt', limit: 100 }), expect('anomaly', (r) => r.flow?.srcIp.includes(':') === true));
      assert.deepEqual(q({ kind: 'flow', name: 'dns', limit: 100 }), []);
    } finally {
      s.close();
    }
  });

  it('cursor pages walk every record of a kind once, newest first, while other kinds and new rows arrive; offsets and totals', () => {
    const s = open();
    try {
      const all = s.records.insertBatch(Array.from({ length: 45 }, (_, i) => dnsRecord(i, ts(i))));
      s.records.insertBatch(Array.from({ length: 30 }, (_, i) => flowRecord(i, ts(i))));
      const want = ids(all).reverse();
      const seen: number[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = s.records.query({ kind: 'dns', limit: 10, ...(cursor ? { cursor } : {}) });
        seen.push(...ids(page.records));
        cursor = page.next;
        pages++;
        // new rows of this kind and another between pages must not shift the walk
        if (pages === 2) s.records.insertBatch([dnsRecord(500, ts(50)), flowRecord(501, ts(50))]);
      } while (cursor);
      assert.equal(pages, 5);
      assert.deepEqual(seen, want);
      const p2 = s.records.query({ kind: 'dns', limit: 10, offset: 10 });
      assert.equal(p2.total, 46);
      assert.equal(p2.records[0]!.id, want[9], 'one newer row arrived at the top');
      assert.equal(s.records.query({ kind: 'dns', limit: 10, offset: 46 }).records.length, 0);
      // a cursor is honoured only by the kind that handed it out
      const dnsCursor = s.records.query({ kind: 'dns', limit: 1 }).next!;
      assert.throws(() => s.records.query({ kind: 'flow', limit: 10, cursor: dnsCursor }), (e: unknown) => e instanceof StoreQueryError && /is not one this API handed out/.test(e.message));
      const alertCursor = (() => {
        s.alerts.insertBatch([alertOf(1), alertOf(2)]);
        return s.alerts.query({ limit: 1 }).next!;
      })();
      assert.throws(() => s.records.query({ kind: 'dns', limit: 10, cursor: alertCursor }), StoreQueryError);
      assert.throws(() => s.records.query({ kind: 'dns', limit: 0 }), /limit must be an integer 1-1000; got 0/);
      assert.throws(() => s.records.query({ kind: 'dns', limit: 5, ip: 'not-an-ip' }), (e: unknown) => e instanceof StoreQueryError && /ip filter/.test(e.message));
      assert.throws(() => s.records.query({ kind: 'dns', limit: 5, name: '  ' }), /name filter is empty/);
      assert.throws(() => s.records.query({ kind: 'alert' as StoredRecordKind, limit: 5 }), /unknown record kind "alert"/);
    } finally {
      s.close();
    }
  });
});

function alertOf(i: number): Alert {
  return {
    kind: 'alert',
    timestampNs: ts(i),
    severity: 'high',
    engine: 'firewall',
    program: 'xdp-firewall',
    ruleId: 'r',
    ruleName: 'r',
    signatureId: 1,
    action: 'blocked',
    reason: 'rule',
    flow: { srcIp: '198.18.0.1', dstIp: '198.18.0.2', proto: 6, srcPort: 1, dstPort: 2 },
  };
}

describe('Store: the records writer', () => {
  it('enqueue() routes by kind (alerts to their table), writes within the flush interval, and counts per kind', async () => {
    const s = open(dbPath(), { flushIntervalMs: 10, batchSize: 1000 });
    try {
      assert.ok(s.enqueue(alertOf(1)));
      for (const r of oneOfEach(3, ts(3))) assert.ok(s.enqueue(r));
      assert.ok(s.enqueue(dnsRecord(4, ts(4))));
      assert.equal(s.stats().recordsQueued, 5);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(s.stats().recordsQueued, 0);
      assert.equal(s.alerts.count(), 1);
      assert.deepEqual(s.stats().records, {
        dns: { stored: 2, failed: 0, dropped: 0 },
        flow: { stored: 1, failed: 0, dropped: 0 },
        anomaly: { stored: 1, failed: 0, dropped: 0 },
        dlp: { stored: 1, failed: 0, dropped: 0 },
      });
    } finally {
      s.close();
    }
  });

  it('a full queue drops and counts by kind; a batch that cannot be written is lost whole and counted by kind, the next one goes on', () => {
    const log: string[] = [];
    const s = open(dbPath(), { maxQueue: 3, flushIntervalMs: 60_000, batchSize: 1000, log: { info: () => undefined, warn: () => undefined, error: (_o, m) => log.push(String(m)) } });
    try {
      assert.ok(s.enqueue(dnsRecord(1, ts(1))));
      assert.ok(s.enqueue(flowRecord(2, ts(2))));
      // a body JSON cannot hold: the transaction fails, nothing of the batch is stored
      const cyclic = anomalyRecord(3, ts(3));
      (cyclic as unknown as { self: unknown }).self = cyclic;
      assert.ok(s.enqueue(cyclic));
      assert.equal(s.enqueue(dlpRecord(4, ts(4))), false);
      assert.equal(s.enqueue(dnsRecord(5, ts(5))), false);
      assert.deepEqual(s.records.flush(), []);
      assert.ok(log.some((m) => /record batch not written/.test(m)));
      assert.deepEqual(s.stats().records, {
        dns: { stored: 0, failed: 1, dropped: 1 },
        flow: { stored: 0, failed: 1, dropped: 0 },
        anomaly: { stored: 0, failed: 1, dropped: 0 },
        dlp: { stored: 0, failed: 0, dropped: 1 },
      });
      assert.equal(s.records.count('dns'), 0);
      assert.ok(s.enqueue(dnsRecord(6, ts(6))));
      assert.equal(s.records.flush().length, 1);
      assert.equal(s.stats().records.dns.stored, 1);
    } finally {
      s.close();
    }
  });

  it('metrics: store_records_total by kind and outcome, the queue gauge, pruned records; names pass the naming rules', async () => {
    const s = open();
    const registry = new Registry();
    registerStoreMetrics(registry, s);
    try {
      s.records.insertBatch([dnsRecord(1, ts(1)), dnsRecord(2, ts(2)), dlpRecord(3, ts(3))]);
      const text = await registry.metrics();
      assert.match(text, /^ebpfsentinel_store_records_total\{kind="dns",outcome="stored"\} 2$/m);
      assert.match(text, /^ebpfsentinel_store_records_total\{kind="dlp",outcome="stored"\} 1$/m);
      assert.match(text, /^ebpfsentinel_store_records_total\{kind="flow",outcome="dropped"\} 0$/m);
      assert.match(text, /^ebpfsentinel_store_records_queued 0$/m);
      assert.match(text, /^ebpfsentinel_store_rows_pruned_total\{table="records"\} 0$/m);
      assert.deepEqual(namingProblems(text), []);
    } finally {
      s.close();
    }
  });
});

describe('Store: records retention', () => {
  it('removes records older than records_max_age_days and keeps the newest records_max_count of each kind (a flood of one kind evicts none of another)', () => {
    const now = new Date(T0 + 100 * 86_400_000);
    const day = (d: number): bigint => BigInt(now.getTime() - d * 86_400_000) * 1_000_000n;
    const s = open(dbPath(), { retention: { records_max_age_days: 7, records_max_count: 5 } });
    try {
      s.records.insertBatch(Array.from({ length: 4 }, (_, i) => dnsRecord(i, day(8))));
      const dns = s.records.insertBatch(Array.from({ length: 3 }, (_, i) => dnsRecord(i, day(1))));
      const flows = s.records.insertBatch(Array.from({ length: 50 }, (_, i) => flowRecord(i, day(1))));
      const r = s.prune(now);
      assert.equal(r.records, 4 + 45);
      assert.deepEqual(ids(s.records.query({ kind: 'dns', limit: 100 }).records), ids(dns).reverse());
      assert.deepEqual(ids(s.records.query({ kind: 'flow', limit: 100 }).records), ids(flows.slice(45)).reverse());
      assert.equal(s.stats().pruned.records, 49);
      assert.equal(s.prune(now).records, 0);
    } finally {
      s.close();
    }
  });

  it('storage.retention.records_max_age_days / records_max_count reach the store, with their defaults', () => {
    const base = 'agent:\n  interfaces: [eth1]\n';
    assert.deepEqual(
      (({ records_max_age_days, records_max_count }) => ({ records_max_age_days, records_max_count }))(storeOptions(parseConfigText(`${base}storage:\n  retention: { records_max_age_days: 2, records_max_count: 10 }\n`, '/etc/x.yaml').storage).retention!),
      { records_max_age_days: 2, records_max_count: 10 },
    );
    const d = storeOptions(parseConfigText(base, '/etc/x.yaml').storage).retention!;
    assert.deepEqual([d.records_max_age_days, d.records_max_count], [7, 1_000_000]);
    assert.throws(() => parseConfigText(`${base}storage:\n  retention: { records_max_count: -1 }\n`, '/etc/x.yaml'), /storage\.retention\.records_max_count/);
  });
});

describe('Store: a database from before records', () => {
  it('migrates a schema-1 file: its alerts (stored without a kind) read back as alerts, the records table appears', () => {
    const p = dbPath();
    open(p).close();
    // make it what the previous release left: schema 1, no records (nor block-list) table, alert
    // bodies without `kind`
    const raw = new BetterSqlite3(p);
    raw.exec('DROP TABLE records; DROP TABLE blocklist');
    raw.pragma('user_version = 1');
    const { kind: _k, ...old } = alertOf(7);
    raw.prepare('INSERT INTO alerts (ts_ns, severity, engine, rule_id, src_ip, dst_ip, body) VALUES (?, 2, ?, ?, ?, ?, ?)').run(old.timestampNs, 'firewall', 'r', '198.18.0.1', '198.18.0.2', JSON.stringify({ ...old, timestampNs: { $bigint: old.timestampNs.toString() } }));
    raw.close();
    const s = open(p);
    try {
      assert.equal(s.pragma('user_version'), SCHEMA_VERSION);
      const [row] = s.alerts.query({ limit: 10 }).alerts;
      assert.deepEqual(row!.alert, alertOf(7));
      assert.equal(s.records.insertBatch([dnsRecord(1, ts(1))]).length, 1);
    } finally {
      s.close();
    }
  });
});
