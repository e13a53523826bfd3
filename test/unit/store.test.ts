import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import BetterSqlite3 from 'better-sqlite3';
import { Registry } from 'prom-client';
import { namingProblems } from '../support/metric-naming.js';
import { parseConfigText } from '../../src/catalog.js';
import type { Alert, Severity } from '../../src/alerts/model.js';
import { SCHEMA_VERSION } from '../../src/store/migrations.js';
import { registerStoreMetrics, Store, StoreOpenError, StoreQueryError, storeOptions, type StoredAlert } from '../../src/store/index.js';

const root = mkdtempSync(path.join(tmpdir(), 'sentinel-store-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const dbPath = (): string => path.join(root, `db${++n}`, 'sentinel.db');

// recent, so the default retention (30 days) keeps them
const T0 = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

function alert(i: number, over: Partial<Alert> = {}, flow: Partial<Alert['flow']> = {}): Alert {
  return {
    kind: 'alert',
    timestampNs: BigInt(T0 + i * 1000) * 1_000_000n + 123n,
    severity: 'medium',
    engine: 'firewall',
    program: 'xdp-firewall',
    ruleId: `r${i % 3}`,
    ruleName: `rule ${i % 3}`,
    signatureId: 1000 + (i % 3),
    action: 'blocked',
    reason: 'rule',
    flow: { srcIp: `198.18.0.${(i % 200) + 1}`, dstIp: '198.19.0.1', proto: 6, srcPort: 40000 + i, dstPort: 443, ...flow },
    ...over,
  };
}

const ids = (rows: readonly StoredAlert[]): number[] => rows.map((r) => r.id);

describe('Store: file, pragmas, schema', () => {
  it('creates the parent directory 0700, runs in WAL with synchronous NORMAL by default and FULL on request', () => {
    const p = dbPath();
    const s = Store.open({ path: p, pruneIntervalMs: 0 });
    try {
      assert.equal(statSync(path.dirname(p)).mode & 0o777, 0o700);
      assert.equal(statSync(p).mode & 0o777, 0o600);
      assert.equal(s.pragma('journal_mode'), 'wal');
      assert.equal(s.pragma('synchronous'), 1); // NORMAL
      assert.equal(s.pragma('user_version'), SCHEMA_VERSION);
    } finally {
      s.close();
    }
    const f = Store.open({ path: p, synchronous: 'full', pruneIntervalMs: 0 });
    try {
      assert.equal(f.pragma('synchronous'), 2); // FULL
    } finally {
      f.close();
    }
  });

  it('refuses a database written by a newer schema, naming the file and both versions', () => {
    const p = dbPath();
    Store.open({ path: p, pruneIntervalMs: 0 }).close();
    const raw = new BetterSqlite3(p);
    raw.pragma('user_version = 99');
    raw.close();
    assert.throws(() => Store.open({ path: p, pruneIntervalMs: 0 }), (e: unknown) => {
      assert.ok(e instanceof StoreOpenError);
      assert.match(e.message, /sentinel\.db/);
      assert.match(e.message, new RegExp(`version 99 is newer than this agent understands \\(${SCHEMA_VERSION}\\)`));
      return true;
    });
  });

  it('brings a version-2 database (before the block list) up to date, keeping its rows', () => {
    const p = dbPath();
    const s = Store.open({ path: p, pruneIntervalMs: 0 });
    s.audit.record({ actor: 'ops', action: 'config.reload', target: 'config', outcome: 'ok' });
    s.close();
    const raw = new BetterSqlite3(p);
    raw.exec('DROP TABLE blocklist');
    raw.pragma('user_version = 2');
    raw.close();
    const again = Store.open({ path: p, pruneIntervalMs: 0 });
    try {
      assert.equal(again.pragma('user_version'), SCHEMA_VERSION);
      assert.equal(again.audit.query({ limit: 10 }).total, 1);
      again.blocklist.put({ owner: 'api:ops', cidr: '198.18.0.0/24', direction: 'src', reason: 'r', createdMs: 1, updatedMs: 1, expiresMs: null });
      assert.deepEqual(again.blocklist.load().map((h) => h.cidr), ['198.18.0.0/24']);
    } finally {
      again.close();
    }
  });

  it('names the path when the file cannot be created', () => {
    const p = path.join(root, 'blocker');
    Store.open({ path: path.join(p, 'x.db'), pruneIntervalMs: 0 }).close();
    // a file where a directory is needed
    assert.throws(() => Store.open({ path: path.join(p, 'x.db', 'y.db'), pruneIntervalMs: 0 }), /storage: cannot open .*x\.db\/y\.db/);
  });
});

describe('Store: alerts', () => {
  it('insertBatch returns increasing ids, keeps the whole alert (bigint timestamp, mitre, vlan) and survives a reopen', () => {
    const p = dbPath();
    const s = Store.open({ path: p, pruneIntervalMs: 0 });
    const a = alert(1, { vlan: [42, 7], mitre: { techniqueId: 'T1190', tactic: 'initial-access' }, communityId: '1:abc=' });
    const b = alert(2, {}, { srcIp: '2001:db8::1', dstIp: '2001:db8::2', proto: 58, srcPort: undefined, dstPort: undefined, icmpType: 128, icmpCode: 0 });
    const rows = s.alerts.insertBatch([a, b]);
    assert.equal(rows.length, 2);
    assert.ok(rows[1]!.id > rows[0]!.id);
    s.close();
    const r = Store.open({ path: p, pruneIntervalMs: 0 });
    try {
      assert.equal(r.alerts.count(), 2);
      const got = r.alerts.after(0, 10);
      assert.deepEqual(ids(got), ids(rows));
      assert.equal(got[0]!.alert.timestampNs, a.timestampNs);
      assert.equal(typeof got[0]!.alert.timestampNs, 'bigint');
      assert.deepEqual(got[0]!.alert, a);
      assert.deepEqual(r.alerts.get(rows[0]!.id), { id: rows[0]!.id, alert: a });
      assert.equal(r.alerts.get(rows[1]!.id + 1), undefined);
      assert.deepEqual(got[1]!.alert.flow, JSON.parse(JSON.stringify(b.flow)));
    } finally {
      r.close();
    }
  });

  it('a batch with one bad alert stores nothing of it (one transaction)', () => {
    const s = Store.open({ path: dbPath(), pruneIntervalMs: 0 });
    try {
      const bad = alert(2, { severity: 'extreme' as Severity });
      assert.throws(() => s.alerts.insertBatch([alert(1), bad, alert(3)]), /unknown severity "extreme"/);
      assert.equal(s.alerts.count(), 0);
      // the next batch still works and ids continue
      assert.equal(s.alerts.insertBatch([alert(4)]).length, 1);
    } finally {
      s.close();
    }
  });

  it('query filters by time range, severity, minSeverity, engine, rule and IP (either side, v4 and v6, canonical form)', () => {
    const s = Store.open({ path: dbPath(), pruneIntervalMs: 0 });
    try {
      const sev: Severity[] = ['low', 'medium', 'high', 'critical'];
      const batch: Alert[] = [];
      for (let i = 0; i < 40; i++) {
        const v6 = i % 2 === 1;
        batch.push(
          alert(i, { severity: sev[i % 4]!, engine: i % 5 === 0 ? 'ids' : 'firewall' }, v6 ? { srcIp: `2001:db8::${(i % 4) + 1}`, dstIp: '2001:db8:0:0:1::a' } : {}),
        );
      }
      const stored = s.alerts.insertBatch(batch);
      const expect = (pred: (a: Alert) => boolean): number[] => stored.filter((r) => pred(r.alert)).map((r) => r.id).reverse();
      const q = (filter: Parameters<typeof s.alerts.query>[0]): number[] => {
        const page = s.alerts.query(filter);
        assert.equal(page.total, page.alerts.length, 'one page holds every match here');
        return ids(page.alerts);
      };
      const ms = (i: number): Date => new Date(T0 + i * 1000);
      assert.deepEqual(q({ from: ms(10), to: ms(20), limit: 100 }), expect((a) => a.timestampNs >= BigInt(T0 + 10_000) * 1_000_000n && a.timestampNs < BigInt(T0 + 20_000) * 1_000_000n));
      assert.equal(q({ from: ms(10), to: ms(20), limit: 100 }).length, 10);
      assert.deepEqual(q({ severity: ['low', 'critical'], limit: 100 }), expect((a) => a.severity === 'low' || a.severity === 'critical'));
      assert.deepEqual(q({ minSeverity: 'high', limit: 100 }), expect((a) => a.severity === 'high' || a.severity === 'critical'));
      assert.deepEqual(q({ engine: 'ids', limit: 100 }), expect((a) => a.engine === 'ids'));
      assert.equal(q({ engine: 'ids', limit: 100 }).length, 8);
      assert.deepEqual(q({ ruleId: 'r1', limit: 100 }), expect((a) => a.ruleId === 'r1'));
      // v4 on the source side
      assert.deepEqual(q({ ip: '198.18.0.3', limit: 100 }), expect((a) => a.flow!.srcIp === '198.18.0.3'));
      assert.equal(q({ ip: '198.18.0.3', limit: 100 }).length, 1);
      // v4 on the destination side: every v4 alert
      assert.equal(q({ ip: '198.19.0.1', limit: 100 }).length, 20);
      // v6 written in a non-canonical form matches both sides
      assert.deepEqual(q({ ip: '2001:DB8:0::2', limit: 100 }), expect((a) => a.flow!.srcIp === '2001:db8::2'));
      assert.equal(q({ ip: '2001:db8::1:0:0:a', limit: 100 }).length, 20);
      // combined
      assert.deepEqual(q({ ip: '2001:db8::1:0:0:a', minSeverity: 'critical', engine: 'firewall', limit: 100 }), expect((a) => a.flow!.dstIp === '2001:db8:0:0:1::a' && a.severity === 'critical' && a.engine === 'firewall'));
      assert.deepEqual(q({ engine: 'nosuch', limit: 100 }), []);
    } finally {
      s.close();
    }
  });

  it('cursor pagination walks every match once, newest first, even while new alerts arrive', () => {
    const s = Store.open({ path: dbPath(), pruneIntervalMs: 0 });
    try {
      const all = s.alerts.insertBatch(Array.from({ length: 95 }, (_, i) => alert(i)));
      const want = ids(all).reverse();
      const seen: number[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = s.alerts.query({ limit: 10, ...(cursor ? { cursor } : {}) });
        assert.ok(page.alerts.length <= 10);
        seen.push(...ids(page.alerts));
        cursor = page.next;
        pages++;
        // inserts between pages must not shift the walk
        if (pages === 3) s.alerts.insertBatch([alert(500), alert(501)]);
      } while (cursor);
      assert.equal(pages, 10);
      assert.deepEqual(seen, want);
      // offset paging, and total counts every match
      const p2 = s.alerts.query({ limit: 10, offset: 10 });
      assert.equal(p2.total, 97);
      assert.equal(p2.alerts.length, 10);
      assert.equal(p2.alerts[0]!.id, want[8]); // two newer rows arrived at the top
      assert.equal(s.alerts.query({ limit: 10, offset: 97 }).alerts.length, 0);
    } finally {
      s.close();
    }
  });

  it('rejects a forged cursor, a bad limit or offset and an unknown severity with StoreQueryError', () => {
    const s = Store.open({ path: dbPath(), pruneIntervalMs: 0 });
    try {
      assert.throws(() => s.alerts.query({ limit: 10, cursor: 'abc' }), (e: unknown) => e instanceof StoreQueryError && /cursor "abc" is not one this API handed out/.test(e.message));
      assert.throws(() => s.alerts.query({ limit: 0 }), /limit must be an integer 1-1000; got 0/);
      assert.throws(() => s.alerts.query({ limit: 1001 }), /limit must be an integer 1-1000/);
      assert.throws(() => s.alerts.query({ limit: 5, offset: -1 }), /offset must be a non-negative integer/);
      assert.throws(() => s.alerts.query({ limit: 5, minSeverity: 'urgent' as Severity }), /unknown severity "urgent"/);
      assert.throws(() => s.alerts.query({ limit: 5, ip: '198.18.0.300' }), (e: unknown) => e instanceof StoreQueryError && /ip filter: "198\.18\.0\.300" is not a valid IPv4 address/.test(e.message));
      assert.throws(() => s.alerts.query({ limit: 5, ip: '2001:db8:::1' }), /ip filter: "2001:db8:::1" is not a valid IPv6 address/);
    } finally {
      s.close();
    }
  });

  it('after(id) returns what a client that saw id missed, oldest first, bounded by limit', () => {
    const s = Store.open({ path: dbPath(), pruneIntervalMs: 0 });
    try {
      const rows = s.alerts.insertBatch(Array.from({ length: 30 }, (_, i) => alert(i)));
      assert.deepEqual(ids(s.alerts.after(rows[9]!.id, 5)), ids(rows.slice(10, 15)));
      assert.deepEqual(ids(s.alerts.after(rows[29]!.id, 5)), []);
      assert.deepEqual(ids(s.alerts.after(0, 1000)), ids(rows));
    } finally {
      s.close();
    }
  });
});

describe('Store: alert writer (enqueue)', () => {
  it('flushes a partial batch within the interval and tells onStored only after commit', async () => {
    const s = Store.open({ path: dbPath(), pruneIntervalMs: 0, flushIntervalMs: 20 });
    try {
      const heard: StoredAlert[][] = [];
      s.alerts.onStored((rows) => {
        // the rows are already readable: committed
        assert.deepEqual(ids(s.alerts.after(rows[0]!.id - 1, rows.length)), ids(rows));
        heard.push(rows);
      });
      for (let i = 0; i < 7; i++) assert.equal(s.enqueue(alert(i)), true);
      assert.equal(s.alerts.count(), 0, 'enqueue does not write synchronously');
      assert.equal(s.stats().alertsQueued, 7);
      await waitFor(() => heard.length > 0);
      assert.equal(heard.length, 1);
      assert.equal(heard[0]!.length, 7);
      assert.equal(s.stats().alertsStored, 7);
      assert.equal(s.stats().alertsQueued, 0);
    } finally {
      s.close();
    }
  });

  it('a burst is written in batches of batchSize without waiting for the interval, yielding to the event loop between batches', async () => {
    const s = Store.open({ path: dbPath(), pruneIntervalMs: 0, batchSize: 100, flushIntervalMs: 60_000 });
    try {
      const order: string[] = [];
      s.alerts.onStored((rows) => order.push(`batch:${rows.length}`));
      for (let i = 0; i < 250; i++) s.enqueue(alert(i));
      setImmediate(() => order.push('other work'));
      assert.equal(s.alerts.count(), 0, 'nothing is written inside enqueue');
      await waitFor(() => s.alerts.count() === 200);
      // other callbacks ran between the two transactions: a backlog never holds the loop
      assert.deepEqual(order, ['batch:100', 'other work', 'batch:100']);
      // the remainder waits for the (long) interval, or for flush()
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(s.stats().alertsQueued, 50);
      assert.equal(s.alerts.flush().length, 50);
      assert.equal(s.alerts.count(), 250);
    } finally {
      s.close();
    }
  });

  it('drops and counts alerts beyond maxQueue; a failing batch is counted as failed, not stored', async () => {
    const lines: string[] = [];
    const log = { info: () => {}, warn: () => {}, error: (_o: object, m?: string) => lines.push(m ?? '') };
    const s = Store.open({ path: dbPath(), pruneIntervalMs: 0, maxQueue: 5, batchSize: 1000, flushIntervalMs: 60_000, log });
    try {
      for (let i = 0; i < 8; i++) s.enqueue(alert(i));
      assert.equal(s.stats().alertsDropped, 3);
      s.alerts.flush();
      assert.equal(s.stats().alertsStored, 5);
      s.enqueue(alert(9, { severity: 'bogus' as Severity }));
      s.enqueue(alert(10));
      s.alerts.flush();
      assert.equal(s.stats().alertsFailed, 2);
      assert.equal(s.stats().alertsStored, 5);
      assert.ok(lines.some((l) => /alert batch not written/.test(l)));
    } finally {
      s.close();
    }
  });

  it('close() writes what is still queued', () => {
    const p = dbPath();
    const s = Store.open({ path: p, pruneIntervalMs: 0, flushIntervalMs: 60_000 });
    for (let i = 0; i < 3; i++) s.enqueue(alert(i));
    s.close();
    const r = Store.open({ path: p, pruneIntervalMs: 0 });
    try {
      assert.equal(r.alerts.count(), 3);
    } finally {
      r.close();
    }
  });
});

describe('Store: retention', () => {
  it('removes alerts older than alerts_max_age_days and beyond alerts_max_count, keeping the newest, and counts it', () => {
    const now = new Date(T0 + 100 * 86_400_000);
    const s = Store.open({ path: dbPath(), pruneIntervalMs: 0, retention: { alerts_max_age_days: 30, alerts_max_count: 50 } });
    try {
      const day = (d: number): bigint => BigInt(now.getTime() - d * 86_400_000) * 1_000_000n;
      const old = s.alerts.insertBatch(Array.from({ length: 10 }, (_, i) => alert(i, { timestampNs: day(31) })));
      const fresh = s.alerts.insertBatch(Array.from({ length: 60 }, (_, i) => alert(i, { timestampNs: day(1) })));
      const r = s.prune(now);
      assert.equal(r.alerts, 10 + 10);
      assert.equal(s.alerts.count(), 50);
      const left = ids(s.alerts.after(0, 1000));
      assert.deepEqual(left, ids(fresh.slice(10)));
      assert.ok(!left.includes(old[0]!.id));
      assert.equal(s.stats().pruned.alerts, 20);
      assert.ok(s.stats().pruneRuns >= 1);
      assert.deepEqual(s.prune(now), { alerts: 0, records: 0, audit: 0, ruleVersions: 0 });
    } finally {
      s.close();
    }
  });

  it('bounds the audit trail by count and rule history per rule, keeping the newest versions', () => {
    const s = Store.open({ path: dbPath(), pruneIntervalMs: 0, retention: { audit_max_count: 3, rule_history_max_versions: 2 } });
    try {
      for (let i = 0; i < 5; i++) s.audit.record({ actor: 'a', action: 'x', target: `t${i}`, outcome: 'ok' });
      for (let v = 0; v < 4; v++) s.rules.put({ id: 'r1', action: 'drop', priority: v }, 'alice');
      s.rules.put({ id: 'r2', action: 'pass' }, 'bob');
      const r = s.prune();
      assert.deepEqual(r, { alerts: 0, records: 0, audit: 2, ruleVersions: 2 });
      assert.deepEqual(s.audit.query({ limit: 10 }).entries.map((e) => e.target), ['t4', 't3', 't2']);
      assert.deepEqual(s.rules.history('r1').map((v) => v.version), [3, 4]);
      assert.equal(s.rules.history('r2').length, 1);
      // numbering continues past pruned versions
      s.rules.delete('r1', 'alice');
      assert.deepEqual(s.rules.history('r1').map((v) => [v.version, v.action]), [[3, 'updated'], [4, 'updated'], [5, 'deleted']]);
    } finally {
      s.close();
    }
  });

  it('runs by itself every pruneIntervalMs', async () => {
    const s = Store.open({ path: dbPath(), pruneIntervalMs: 30, retention: { alerts_max_count: 2 } });
    try {
      const runs = s.stats().pruneRuns; // one at open
      assert.equal(runs, 1);
      s.alerts.insertBatch(Array.from({ length: 5 }, (_, i) => alert(i)));
      await waitFor(() => s.alerts.count() === 2);
      assert.ok(s.stats().pruneRuns > runs);
      assert.equal(s.stats().pruned.alerts, 3);
    } finally {
      s.close();
    }
  });
});

describe('Store: audit trail', () => {
  it('records actor, action, target, before/after and outcome; queries filter and page newest first', () => {
    const s = Store.open({ path: dbPath(), pruneIntervalMs: 0 });
    try {
      const e = s.audit.record({ actor: 'alice', action: 'rule.put', target: 'firewall/rules/r1', before: { a: 1 }, after: { a: 2, n: 5n }, outcome: 'ok' });
      assert.equal(e.id, 1);
      assert.match(e.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      s.audit.record({ actor: 'bob', action: 'rule.put', target: 'firewall/rules/r2', outcome: 'rejected', detail: 'priority 5 is taken' });
      s.audit.record({ actor: 'alice', action: 'config.reload', target: 'config', outcome: 'ok' });
      const all = s.audit.query({ limit: 10 });
      assert.equal(all.total, 3);
      assert.deepEqual(all.entries.map((x) => x.actor), ['alice', 'bob', 'alice']);
      assert.deepEqual(all.entries[2]!.before, { a: 1 });
      assert.deepEqual(all.entries[2]!.after, { a: 2, n: 5n });
      assert.equal(all.entries[1]!.outcome, 'rejected');
      assert.equal(all.entries[1]!.detail, 'priority 5 is taken');
      assert.equal(all.entries[1]!.before, undefined);
      assert.deepEqual(s.audit.query({ actor: 'alice', limit: 10 }).entries.map((x) => x.action), ['config.reload', 'rule.put']);
      assert.equal(s.audit.query({ action: 'rule.put', limit: 1 }).total, 2);
      assert.equal(s.audit.query({ action: 'rule.put', limit: 1 }).entries.length, 1);
      assert.equal(s.audit.query({ action: 'rule.put', limit: 1, offset: 1 }).entries[0]!.actor, 'alice');
      assert.equal(s.audit.query({ target: 'config', limit: 5 }).total, 1);
      assert.equal(s.audit.query({ from: new Date(Date.now() + 60_000), limit: 5 }).total, 0);
      assert.equal(s.audit.query({ to: new Date(Date.now() + 60_000), limit: 5 }).total, 3);
      assert.throws(() => s.audit.record({ actor: 'x', action: 'y', target: 'z', outcome: 'maybe' as 'ok' }), /outcome must be "ok" or "rejected"/);
    } finally {
      s.close();
    }
  });
});

describe('Store: API rules', () => {
  it('put creates then updates with before/after; delete returns before; history is versioned; all of it survives a reopen', () => {
    const p = dbPath();
    const s = Store.open({ path: p, pruneIntervalMs: 0 });
    const v1 = { id: 'block-ssh', priority: 10, action: 'drop', protocol: 'tcp', dst_port: 22, src_ip: ['198.18.0.0/15', '2001:db8::/32'] };
    const v2 = { ...v1, action: 'reject' };
    assert.deepEqual(s.rules.put(v1, 'alice'), { after: v1 });
    assert.deepEqual(s.rules.put(v2, 'bob'), { before: v1, after: v2 });
    s.rules.put({ id: 'allow-dns', priority: 5, action: 'pass' }, 'alice');
    s.close();

    const r = Store.open({ path: p, pruneIntervalMs: 0 });
    try {
      assert.deepEqual(r.rules.list().map((x) => [x.id, x.version, x.actor]), [['block-ssh', 2, 'bob'], ['allow-dns', 1, 'alice']]);
      assert.deepEqual(r.rules.get('block-ssh')!.rule, v2);
      assert.equal(r.rules.get('nope'), undefined);
      assert.deepEqual(r.rules.delete('block-ssh', 'carol'), { before: v2 });
      assert.equal(r.rules.delete('block-ssh', 'carol'), null);
      assert.equal(r.rules.get('block-ssh'), undefined);
      const h = r.rules.history('block-ssh');
      assert.deepEqual(h.map((v) => [v.version, v.action, v.actor]), [[1, 'created', 'alice'], [2, 'updated', 'bob'], [3, 'deleted', 'carol']]);
      assert.deepEqual(h[1]!.before, v1);
      assert.deepEqual(h[1]!.after, v2);
      assert.equal(h[0]!.before, undefined);
      assert.equal(h[2]!.after, undefined);
      // re-created: numbering continues
      r.rules.put(v1, 'dave');
      assert.equal(r.rules.get('block-ssh')!.version, 4);
      assert.equal(r.rules.history('block-ssh')[3]!.action, 'created');
      assert.throws(() => r.rules.put({ priority: 1 }, 'x'), /needs a non-empty string "id"/);
    } finally {
      r.close();
    }
  });
});

describe('Store: config and metrics', () => {
  it('storeOptions maps the storage section (retention in days and seconds) onto the store', () => {
    const cfg = parseConfigText(
      `agent:\n  interfaces: [eth1]\nstorage:\n  path: ${dbPath()}\n  synchronous: full\n  retention: { alerts_max_count: 4, rule_history_max_versions: 7, interval_seconds: 30 }\n`,
      'config.yaml',
    );
    const opts = storeOptions(cfg.storage);
    assert.equal(opts.pruneIntervalMs, 30_000);
    const s = Store.open(opts);
    try {
      assert.equal(s.pragma('synchronous'), 2);
      assert.deepEqual(s.retention, { alerts_max_age_days: 30, alerts_max_count: 4, records_max_age_days: 7, records_max_count: 1_000_000, audit_max_age_days: 365, audit_max_count: 1_000_000, rule_history_max_versions: 7 });
    } finally {
      s.close();
    }
  });

  it('exports stored/failed/dropped, queue, audit, retention and size; names pass promtool and our rules', async () => {
    const s = Store.open({ path: dbPath(), pruneIntervalMs: 0, maxQueue: 2, flushIntervalMs: 60_000, retention: { alerts_max_count: 1 } });
    const registry = new Registry();
    registerStoreMetrics(registry, s);
    try {
      s.alerts.insertBatch([alert(1), alert(2)]);
      s.enqueue(alert(3));
      s.enqueue(alert(4));
      s.enqueue(alert(5));
      s.audit.record({ actor: 'a', action: 'b', target: 'c', outcome: 'ok' });
      s.prune();
      const text = await registry.metrics();
      const value = (series: string): number => {
        const line = text.split('\n').find((l) => l.startsWith(`${series} `));
        assert.ok(line, `no ${series} in\n${text}`);
        return Number(line.split(' ')[1]);
      };
      assert.equal(value('ebpfsentinel_store_alerts_total{outcome="stored"}'), 2);
      assert.equal(value('ebpfsentinel_store_alerts_total{outcome="dropped"}'), 1);
      assert.equal(value('ebpfsentinel_store_alerts_total{outcome="failed"}'), 0);
      assert.equal(value('ebpfsentinel_store_alerts_queued'), 2);
      assert.equal(value('ebpfsentinel_store_audit_records_total'), 1);
      assert.equal(value('ebpfsentinel_store_retention_runs_total{outcome="ok"}'), 2);
      assert.equal(value('ebpfsentinel_store_rows_pruned_total{table="alerts"}'), 1);
      assert.ok(value('ebpfsentinel_store_size_bytes') > 4096);
      assert.deepEqual(namingProblems(text), []);
      execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    } finally {
      s.close();
    }
  });
});

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
