// EVE file sink with size rotation, stdout sink, reopen after logrotate: real files, real
// streams; every alert accounted for across rotations.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createAlertPipeline, prepareAlertingReload } from '../../src/alerts/build.js';
import { toEveLine } from '../../src/alerts/eve-line.js';
import type { Alert } from '../../src/alerts/model.js';
import { RotatingFile } from '../../src/alerts/rotating-file.js';
import { alertingSchema } from '../../src/alerts/section.js';
import { createLogger } from '../../src/log.js';

const T0_NS = BigInt(Date.UTC(2026, 10, 26, 14, 0, 0)) * 1_000_000n;

function alert(i: number, severity: Alert['severity'] = 'high'): Alert {
  return {
    kind: 'alert',
    timestampNs: T0_NS + BigInt(i) * 1000n,
    severity,
    engine: 'firewall',
    program: 'xdp-firewall',
    ruleId: 'r',
    ruleName: 'rule',
    signatureId: i,
    action: 'blocked',
    reason: 'rule',
    flow:
      i % 2
        ? { srcIp: '2001:db8:1::10', dstIp: '2001:db8:2::20', proto: 6, srcPort: 40000, dstPort: 22 }
        : { srcIp: '198.18.101.100', dstIp: '198.18.102.200', proto: 6, srcPort: 40000, dstPort: 22 },
  };
}

/** Files oldest first (eve.json.N .. eve.json); checks the rotation rule between neighbours:
 * each rotated file is within max and rotated only because the next line did not fit. */
async function rotationChain(dir: string, max: number): Promise<string[]> {
  const names = (await readdir(dir)).map((n) => ({ n, k: n === 'eve.json' ? 0 : Number(n.split('.').pop()) })).sort((a, b) => b.k - a.k).map((x) => x.n);
  for (let i = 0; i < names.length; i++) {
    const f = path.join(dir, names[i]!);
    const size = (await stat(f)).size;
    assert.ok(size <= max, `${names[i]} (${size} bytes) is within max_size ${max}`);
    const next = names[i + 1];
    if (next) {
      const firstNext = (await readFile(path.join(dir, next), 'utf8')).split('\n')[0]!;
      assert.ok(size + Buffer.byteLength(firstNext) + 1 > max, `${names[i]} was rotated only when the next line did not fit`);
    }
  }
  return names;
}

async function lines(file: string): Promise<{ alert: { signature_id: number }; src_ip: string }[]> {
  const t = await readFile(file, 'utf8');
  assert.ok(t === '' || t.endsWith('\n'), `${file} ends with a whole line`);
  return t.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { alert: { signature_id: number }; src_ip: string });
}

describe('EVE file sink', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sn-eve-rot-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('rotates by size: eve.json, eve.json.1 .. .N, oldest deleted, no line split, nothing lost among the kept files', async () => {
    const file = path.join(dir, 'a', 'eve.json');
    const lineBytes = Buffer.byteLength(toEveLine(alert(100)));
    const MAX = lineBytes * 10; // about ten lines per file
    const KEEP = 3;
    const registry = new Registry();
    const cfg = alertingSchema.parse({ eve: { path: file, max_size: MAX, keep: KEEP } });
    const p = await createAlertPipeline(cfg, { registry });
    const N = 100;
    for (let i = 100; i < 100 + N; i++) {
      p.push(alert(i));
      if (i % 7 === 0) await p.flush(); // several batches of different sizes
    }
    await p.close();
    const names = await rotationChain(path.dirname(file), MAX);
    assert.deepEqual(names, ['eve.json.3', 'eve.json.2', 'eve.json.1', 'eve.json']);
    const ids: number[] = [];
    for (const n of names) ids.push(...(await lines(path.join(path.dirname(file), n))).map((l) => l.alert.signature_id));
    // the kept files hold the newest alerts, in order, without gaps
    const first = ids[0]!;
    assert.deepEqual(ids, Array.from({ length: ids.length }, (_, k) => first + k));
    assert.equal(ids.at(-1), 100 + N - 1);
    assert.ok(ids.length > 3 * 8 && ids.length < N, `${ids.length} lines kept: three rotated files plus the current one`);
  });

  it('keeps everything across rotation when keep covers it; v4 and v6 lines', async () => {
    const file = path.join(dir, 'b', 'eve.json');
    const MAX = Buffer.byteLength(toEveLine(alert(100))) * 4;
    const cfg = alertingSchema.parse({ eve: { path: file, max_size: MAX, keep: 100 } });
    const p = await createAlertPipeline(cfg, { registry: new Registry() });
    for (let i = 100; i < 140; i++) p.push(alert(i));
    await p.close();
    const names = await rotationChain(path.dirname(file), MAX);
    assert.ok(names.length >= 8, `${names.length} files for 40 lines of about a quarter of max_size`);
    const all: { alert: { signature_id: number }; src_ip: string }[] = [];
    for (const n of names) all.push(...(await lines(path.join(path.dirname(file), n))));
    assert.deepEqual(all.map((l) => l.alert.signature_id), Array.from({ length: 40 }, (_, k) => 100 + k));
    assert.ok(all.some((l) => l.src_ip === '2001:db8:1::10') && all.some((l) => l.src_ip === '198.18.101.100'));
  });

  it('appends to an existing file and counts its size toward rotation', async () => {
    const file = path.join(dir, 'c', 'eve.json');
    const one = Buffer.byteLength(toEveLine(alert(10)));
    let f = await RotatingFile.open(file, { maxBytes: one * 3, keep: 1 });
    await f.appendLines([toEveLine(alert(10)), toEveLine(alert(12))]);
    await f.close();
    f = await RotatingFile.open(file, { maxBytes: one * 3, keep: 1 });
    assert.equal(f.bytes, one * 2);
    await f.appendLines([toEveLine(alert(14)), toEveLine(alert(16))]);
    await f.close();
    assert.deepEqual((await lines(`${file}.1`)).map((l) => l.alert.signature_id), [10, 12, 14]);
    assert.deepEqual((await lines(file)).map((l) => l.alert.signature_id), [16]);
    assert.equal(f.rotated, 1);
    // a line longer than max_size gets a file of its own rather than being split or lost
    f = await RotatingFile.open(path.join(dir, 'c2', 'eve.json'), { maxBytes: 10, keep: 2 });
    await f.appendLines([toEveLine(alert(20)), toEveLine(alert(22))]);
    await f.close();
    assert.deepEqual((await lines(path.join(dir, 'c2', 'eve.json.1'))).map((l) => l.alert.signature_id), [20]);
    assert.deepEqual((await lines(path.join(dir, 'c2', 'eve.json'))).map((l) => l.alert.signature_id), [22]);
    await assert.rejects(RotatingFile.open(path.join(dir, 'x'), { maxBytes: -1, keep: 1 }), /max size must be an integer number of bytes >= 0, got -1/);
  });

  it('reopen() after logrotate moved the file: old lines stay in the moved file, new ones in a fresh file', async () => {
    const file = path.join(dir, 'd', 'eve.json');
    const cfg = alertingSchema.parse({ eve: { path: file, max_size: 0 } });
    const p = await createAlertPipeline(cfg, { registry: new Registry() });
    p.push(alert(1));
    await p.flush();
    await rename(file, `${file}.rotated`);
    p.push(alert(2));
    await p.flush();
    await p.reopen();
    p.push(alert(3));
    await p.close();
    assert.deepEqual((await lines(`${file}.rotated`)).map((l) => l.alert.signature_id), [1, 2]);
    assert.deepEqual((await lines(file)).map((l) => l.alert.signature_id), [3]);
  });

  it('a burst larger than the queue: the overflow is dropped and counted, the rest written in order, push() never waits', async () => {
    const file = path.join(dir, 'e', 'eve.json');
    const registry = new Registry();
    const log: Record<string, unknown>[] = [];
    const logger = createLogger({ destination: { write: (c: string) => c.split('\n').filter(Boolean).forEach((l) => log.push(JSON.parse(l) as Record<string, unknown>)) } });
    const cfg = alertingSchema.parse({ eve: { path: file, queue_size: 8 } });
    const p = await createAlertPipeline(cfg, { registry, logger });
    const N = 50;
    for (let i = 100; i < 100 + N; i++) p.push(alert(i)); // one synchronous burst: the writer cannot run in between
    const st = p.stats().sinks.find((s) => s.name === 'eve-file')!;
    assert.equal(st.queued, 8);
    assert.equal(st.dropped.queue_full, N - 8);
    await p.close();
    assert.deepEqual((await lines(file)).map((l) => l.alert.signature_id), Array.from({ length: 8 }, (_, k) => 100 + k));
    const text = await registry.metrics();
    assert.match(text, /^ebpfsentinel_alert_sink_dropped_total\{sink="eve-file",reason="queue_full"\} 42$/m);
    assert.match(text, /^ebpfsentinel_alert_sink_deliveries_total\{sink="eve-file"\} 8$/m);
    assert.ok(log.some((r) => r.msg === 'records dropped by sink' && r.sink === 'eve-file' && r.reason === 'queue_full' && (r.kinds as Record<string, number>).alert! > 0), 'the loss is logged');
  });

  it('write errors are counted per sink (a full disk: /dev/full), not retried forever', async () => {
    const registry = new Registry();
    const cfg = alertingSchema.parse({ eve: { path: '/dev/full', max_size: 0 } });
    const p = await createAlertPipeline(cfg, { registry });
    p.push(alert(1));
    p.push(alert(2));
    await p.close();
    const st = p.stats().sinks.find((s) => s.name === 'eve-file')!;
    assert.deepEqual(st.dropped, { write_error: 2 });
    assert.deepEqual(st.failures, { disk_full: 1 });
  });

  it('refuses a path it cannot open, naming it', async () => {
    const cfg = alertingSchema.parse({ eve: { path: '/proc/version/eve.json' } });
    await assert.rejects(createAlertPipeline(cfg, { registry: new Registry() }), /EVE alert file \/proc\/version\/eve\.json: cannot open for appending/);
  });
});

describe('reload', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sn-eve-reload-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('swaps sinks and suppression at once: pending counts reported, subscribers kept, counters continue; a bad new config changes nothing', async () => {
    const registry = new Registry();
    const first = path.join(dir, 'one', 'eve.json');
    const second = path.join(dir, 'two', 'eve.json');
    const p = await createAlertPipeline(alertingSchema.parse({ dedup_window_secs: 3600, dedup_keys: ['rule_id'], eve: { path: first } }), { registry });
    const seen: Alert[] = [];
    p.subscribe((a) => seen.push(a), { name: 'store', kinds: ['alert'] });
    p.push(alert(100));
    p.push(alert(101)); // suppressed (same rule)
    p.push(alert(102)); // suppressed
    await p.flush();

    // a new config whose file cannot be opened is refused before anything changes
    await assert.rejects(prepareAlertingReload(p, alertingSchema.parse({ eve: { path: '/proc/version/eve.json' } }), {}), /cannot open for appending/);
    p.push(alert(103)); // still deduped by the running config
    await p.flush();
    assert.equal(seen.length, 1);

    const r = await prepareAlertingReload(p, alertingSchema.parse({ eve: { path: second } }), {});
    await r.commit();
    p.push(alert(104));
    p.push(alert(105)); // no dedup any more
    await p.close();
    const one = await lines(first);
    const two = await lines(second);
    assert.deepEqual(one.map((l) => l.alert.signature_id), [100, 103], 'first alert, then the summary of the 3 suppressed (the last one repeated)');
    assert.equal((one[1] as unknown as { ebpfsentinel: { suppressed: number; summary: boolean } }).ebpfsentinel.suppressed, 3);
    assert.deepEqual(two.map((l) => l.alert.signature_id), [104, 105]);
    assert.deepEqual(seen.map((a) => a.signatureId), [100, 103, 104, 105], 'the subscriber saw everything across the reload');
    assert.match(await registry.metrics(), /^ebpfsentinel_alert_sink_deliveries_total\{sink="eve-file"\} 4$/m);
  });
});

describe('stdout sink', () => {
  it('writes EVE lines to the stream for the alerts its route takes', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString('utf8')));
    const cfg = alertingSchema.parse({ eve: { enabled: false }, stdout: { enabled: true, min_severity: 'high' } });
    const p = await createAlertPipeline(cfg, { registry: new Registry(), stdout: out });
    for (let i = 0; i < 6; i++) p.push(alert(i, i % 3 === 0 ? 'low' : 'high'));
    await p.close();
    const recs = text.trim().split('\n').map((l) => JSON.parse(l) as { alert: { signature_id: number; severity: number }; src_ip: string });
    assert.deepEqual(recs.map((r) => r.alert.signature_id), [1, 2, 4, 5]);
    assert.ok(recs.every((r) => r.alert.severity === 1));
    assert.deepEqual([...new Set(recs.map((r) => r.src_ip))].sort(), ['198.18.101.100', '2001:db8:1::10']);
  });
});
