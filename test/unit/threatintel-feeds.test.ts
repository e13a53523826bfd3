// The threat-intel engine's pure parts: the compiler (actions by feed thresholds, one entry per
// address across feeds, what is kept out of the kernel and why), and the feed manager over file
// feeds (a bad fetch keeps the previous indicators and says why; an unchanged file is not read
// again; a change is announced once).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { parseCidr } from '../../src/net/ip.js';
import { ti_action } from '../../src/kernel/contract.gen.js';
import { layouts } from '../../src/kernel/layouts.gen.js';
import { compileIntel } from '../../src/engines/threatintel/compile.js';
import { FeedManager } from '../../src/engines/threatintel/feeds.js';
import { threatintelSchema } from '../../src/engines/threatintel/schema.js';
import type { Indicator } from '../../src/intel/indicator.js';

const ip = (v: string, confidence = 90, id = v): Indicator => ({ value: { type: 'ip', cidr: parseCidr(v) }, id, confidence });
const V = layouts.ti_value.fields;

describe('compileIntel', () => {
  it('one entry per address: the strongest action, then the higher confidence, then the earlier feed', () => {
    const c = compileIntel(
      [
        { policy: { id: 'a', action: 'alert', minConfidence: 0, actionMinConfidence: 0 }, indicators: [ip('198.18.0.1', 99), ip('2001:db8::1', 40), ip('198.18.0.0/24')] },
        { policy: { id: 'd', action: 'drop', minConfidence: 0, actionMinConfidence: 0 }, indicators: [ip('198.18.0.1', 10), ip('2001:db8::1', 90), { value: { type: 'domain', name: 'evil.example' }, id: 'x', confidence: 50 }] },
        { policy: { id: 'd2', action: 'drop', minConfidence: 0, actionMinConfidence: 0 }, indicators: [ip('2001:db8::1', 90)] },
      ],
      Date.now(),
    );
    assert.equal(c.set.v4.count, 1);
    assert.equal(c.set.v6.count, 1);
    assert.equal(c.set.lpm4.count, 1);
    const v4 = c.set.v4.values;
    assert.equal(v4[V.action.offset], ti_action.TI_ACT_DROP);
    assert.equal(c.feeds[v4[V.feed.offset]!], 'd');
    assert.equal(c.refs[v4.readUInt32LE(V.ref.offset)]!.indicator.confidence, 10);
    const v6 = c.set.v6.values;
    assert.equal(c.feeds[v6[V.feed.offset]!], 'd', 'equal action and confidence: the earlier feed');
    assert.deepEqual(c.counts.get('d2')?.merged, 1);
    assert.deepEqual(c.counts.get('a')?.merged, 2);
    assert.deepEqual(c.counts.get('d')?.notInKernel, { domain: 1, url: 0, hash: 0 });
    // the LPM key: prefix length, then the network
    assert.equal(c.set.lpm4.keys.readUInt32LE(0), 24);
    assert.deepEqual([...c.set.lpm4.keys.subarray(4, 8)], [198, 18, 0, 0]);
  });

  it('thresholds: below min_confidence not loaded, below action_min_confidence only alerts, expired left out', () => {
    const c = compileIntel([{ policy: { id: 'q', action: 'quarantine', minConfidence: 30, actionMinConfidence: 70 }, indicators: [ip('198.18.0.1', 20), ip('198.18.0.2', 50), ip('198.18.0.3', 70), { ...ip('198.18.0.4'), validUntil: 1 }] }], 1000);
    const counts = c.counts.get('q')!;
    assert.equal(counts.belowThreshold, 1);
    assert.equal(counts.expired, 1);
    assert.deepEqual(counts.actions, { alert: 1, drop: 0, quarantine: 1 });
    assert.equal(c.set.v4.count, 2);
  });
});

describe('FeedManager over file feeds', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'esn-ti-feeds-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const log = pino({ level: 'silent' });

  it('a bad fetch keeps the previous indicators and shows the error; a good change is announced', async () => {
    const file = path.join(dir, 'stix.json');
    const good = (addr: string) => JSON.stringify({ type: 'bundle', id: 'bundle--00000000-0000-4000-8000-000000000000', objects: [{ type: 'indicator', spec_version: '2.1', id: 'indicator--00000000-0000-4000-8000-000000000001', created: '2024-01-01T00:00:00Z', modified: '2024-01-01T00:00:00Z', pattern_type: 'stix', pattern: `[ipv4-addr:value = '${addr}']`, valid_from: '2024-01-01T00:00:00Z' }] });
    writeFileSync(file, good('198.18.0.1'));
    const changes: string[] = [];
    const outcomes: string[] = [];
    const m = new FeedManager(log, { onChange: (f) => changes.push(f), onFetch: (_f, o) => outcomes.push(o) });
    const ti = threatintelSchema.parse({ enabled: true, feeds: [{ id: 's', url: file, format: 'stix' }] });
    await m.sync(ti, new Map());
    const ips = () => m.indicators('alert')[0]!.indicators.map((i) => (i.value.type === 'ip' ? i.value.cidr.toString() : ''));
    assert.deepEqual(ips(), ['198.18.0.1/32']);
    assert.equal(m.status('alert')[0]!.state, 'ok');

    // a broken object: refused, the previous indicator stays, the status says what is wrong
    writeFileSync(file, good('198.18.0.2').replace('"modified":"2024-01-01T00:00:00Z"', '"modified":"2023-01-01T00:00:00Z"'));
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    assert.equal(await m.refresh('s'), false);
    assert.deepEqual(ips(), ['198.18.0.1/32']);
    const st = m.status('alert')[0]!;
    assert.equal(st.state, 'stale');
    assert.equal(st.errors, 1);
    assert.match(st.last_error!, /indicator--00000000-0000-4000-8000-000000000001: "modified" \(2023-01-01T00:00:00Z\) is earlier than "created"/);

    // the file unchanged since the last good read is not read again
    writeFileSync(file, good('198.18.0.3'));
    utimesSync(file, new Date(), new Date(Date.now() + 10_000));
    assert.equal(await m.refresh('s'), true);
    assert.deepEqual(ips(), ['198.18.0.3/32']);
    assert.equal(await m.refresh('s'), false);
    assert.deepEqual(outcomes, ['changed', 'error', 'changed', 'unchanged']);
    assert.deepEqual(changes, ['s'], 'only the refresh that changed content announced it');
    m.stop();
  });

  it('a feed that never loaded is in status with its error and contributes nothing', async () => {
    const m = new FeedManager(log, { onChange: () => {}, onFetch: () => {} });
    await m.sync(threatintelSchema.parse({ enabled: true, feeds: [{ id: 'gone', url: path.join(dir, 'missing.txt') }] }), new Map());
    assert.deepEqual(m.indicators('alert')[0]!.indicators, []);
    assert.deepEqual({ state: m.status('alert')[0]!.state, err: m.status('alert')[0]!.last_error }, { state: 'error', err: `${path.join(dir, 'missing.txt')}: ENOENT` });
    m.stop();
  });

  it('max_feed_bytes refuses a larger file; max_iocs truncates and counts', async () => {
    const big = path.join(dir, 'big.txt');
    writeFileSync(big, Array.from({ length: 300 }, (_, i) => `198.18.1.${i % 250}`).join('\n'));
    const m = new FeedManager(log, { onChange: () => {}, onFetch: () => {} });
    await m.sync(threatintelSchema.parse({ enabled: true, max_feed_bytes: 1024, feeds: [{ id: 'b', url: big }] }), new Map());
    assert.match(m.status('alert')[0]!.last_error!, /bytes, more than max_feed_bytes \(1024\)/);
    await m.sync(threatintelSchema.parse({ enabled: true, feeds: [{ id: 'b', url: big, max_iocs: 100 }] }), new Map());
    assert.equal(m.status('alert')[0]!.indicators, 100);
    assert.equal(m.status('alert')[0]!.truncated, 200);
    m.stop();
  });
});
