// tc-threatintel through BPF_PROG_TEST_RUN, driven by its kernel face as the agent drives it:
// IPv4 and IPv6 addresses and networks matched as source and destination, the strongest action
// winning, bloom-filter false positives confirmed away and counted, a generation swap that
// replaces the whole set (what only the old set named stops matching), a refused swap that
// leaves the old set enforcing, and the filler that builds a generation's bloom filters.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RingReader } from '../../src/kernel/ring.js';
import { parseCidr } from '../../src/net/ip.js';
import { compileIntel, type FeedAction, type FeedIndicators } from '../../src/engines/threatintel/compile.js';
import { decodeThreatIntelEvent, emptyThreatIntelEvent, threatIntelAlert, type ThreatIntelEventRecord } from '../../src/engines/threatintel/events.js';
import { GenerationError, THREATINTEL_OBJECT_FILE, ThreatIntelKernel, TI_ENTRY, TI_RING, type TiCounters } from '../../src/engines/threatintel/kernel.js';
import { ti_action } from '../../src/kernel/contract.gen.js';
import type { Indicator } from '../../src/intel/indicator.js';
import { REPO_ROOT } from '../../src/version.js';
import { tcpFrame, udpFrame } from '../support/frames.js';
import { IN_CI } from '../support/env.js';

const OBJECT = path.join(REPO_ROOT, 'build', 'bpf', THREATINTEL_OBJECT_FILE);
const TCX_NEXT = 0xffffffff;
const TCX_DROP = 2;
const TC_ACT_REDIRECT = 7;
/** test-run without a ctx runs on the loopback device of the caller's netns */
const LO = 1;

function skip(): string | false {
  if (IN_CI) return false;
  if (process.getuid?.() !== 0) return 'kernel tests need root';
  if (!existsSync(OBJECT)) return `${OBJECT} is not built (make bpf)`;
  return false;
}

function ind(value: string, id = value, confidence = 90, extra: Partial<Indicator> = {}): Indicator {
  return { value: { type: 'ip', cidr: parseCidr(value) }, id, confidence, ...extra };
}
function feed(id: string, action: FeedAction, indicators: Indicator[], minConfidence = 0, actionMinConfidence = 0): FeedIndicators {
  return { policy: { id, action, minConfidence, actionMinConfidence }, indicators };
}

describe('tc-threatintel (test run)', { skip: skip() }, () => {
  let k: ThreatIntelKernel;
  let ring: RingReader;
  const events: ThreatIntelEventRecord[] = [];
  let genId = 0;

  before(() => {
    k = ThreatIntelKernel.load(OBJECT);
    ring = new RingReader([k.obj.mapFd(TI_RING)], (buf, off, len) => {
      const e = emptyThreatIntelEvent();
      assert.ok(decodeThreatIntelEvent(buf, off, len, e), 'every record decodes');
      e.src = Buffer.from(e.src);
      e.dst = Buffer.from(e.dst);
      events.push(e);
    });
  });
  after(() => {
    ring?.close();
    k?.close();
  });

  const run = (frame: Buffer): { ret: number; events: ThreatIntelEventRecord[]; delta: Partial<TiCounters> } => {
    const before = k.readCounters().get(LO);
    events.length = 0;
    const ret = k.obj.program(TI_ENTRY).testRun({ data: frame }).retval >>> 0;
    ring.consume();
    const after = k.readCounters().get(LO)!;
    const delta: Partial<TiCounters> = {};
    for (const [s, v] of Object.entries(after) as [keyof TiCounters, bigint][]) {
      const d = v - (before?.[s] ?? 0n);
      if (d !== 0n && s !== 'seen' && s !== 'bytes_seen') delta[s] = d;
    }
    return { ret, events: [...events], delta };
  };
  const swap = async (feeds: FeedIndicators[], bloomHeadroom?: number) => {
    const c = compileIntel(feeds, Date.now());
    await k.swap(++genId, c.set, bloomHeadroom === undefined ? {} : { bloomHeadroom });
    return c;
  };

  it('passes everything while disabled, and while enabled with no generation loaded', () => {
    const f = tcpFrame({ src: '198.18.0.1', dst: '198.18.0.2', sport: 1000, dport: 80 });
    k.writeConfig({ enabled: false, quarantineIfindex: 0, quarantineVlan: 0 });
    assert.deepEqual(run(f), { ret: TCX_NEXT, events: [], delta: { passed: 1n } });
    k.writeConfig({ enabled: true, quarantineIfindex: LO, quarantineVlan: 666 });
    assert.deepEqual(run(f), { ret: TCX_NEXT, events: [], delta: { passed: 1n, no_set: 1n } });
  });

  it('IPv4 and IPv6 addresses and networks match as source and destination, with the feed action', async () => {
    const compiled = await swap([
      feed('drops', 'drop', [ind('198.18.0.66', 'indicator--a', 95, { name: 'C2 server', killChain: [{ kill_chain_name: 'lockheed-martin-cyber-kill-chain', phase_name: 'command-and-control' }] }), ind('2001:db8::66'), ind('198.19.128.0/17'), ind('2001:db8:bad::/48')]),
      feed('watch', 'alert', [ind('198.18.0.77'), ind('2001:db8::77')]),
    ]);
    const cases: [Buffer, number, string, 'src' | 'dst', 'exact' | 'cidr'][] = [
      [tcpFrame({ src: '198.18.0.66', dst: '198.18.0.2', sport: 1000, dport: 80 }), TCX_DROP, '198.18.0.66', 'src', 'exact'],
      [udpFrame({ src: '198.18.0.2', dst: '198.18.0.66', sport: 1000, dport: 53 }), TCX_DROP, '198.18.0.66', 'dst', 'exact'],
      [tcpFrame({ src: '2001:db8::2', dst: '2001:db8::66', sport: 1000, dport: 443 }), TCX_DROP, '2001:db8::66', 'dst', 'exact'],
      [tcpFrame({ src: '198.19.200.1', dst: '198.18.0.2', sport: 1000, dport: 80 }), TCX_DROP, '198.19.128.0/17', 'src', 'cidr'],
      [udpFrame({ src: '2001:db8:bad:1::9', dst: '2001:db8::2', sport: 5, dport: 6 }), TCX_DROP, '2001:db8:bad::/48', 'src', 'cidr'],
      [tcpFrame({ src: '198.18.0.77', dst: '198.18.0.2', sport: 1000, dport: 80 }), TCX_NEXT, '198.18.0.77', 'src', 'exact'],
      [tcpFrame({ src: '2001:db8::2', dst: '2001:db8::77', sport: 1000, dport: 80 }), TCX_NEXT, '2001:db8::77', 'dst', 'exact'],
    ];
    for (const [frame, ret, value, side, match] of cases) {
      const r = run(frame);
      assert.equal(r.ret, ret, value);
      assert.equal(r.events.length, 1, value);
      const a = threatIntelAlert(r.events[0]!, { generation: (g) => (g === genId ? compiled : undefined), interfaceName: () => 'lo', toWallNs: (n) => n });
      assert.ok(a);
      assert.equal(a.indicator?.value, value);
      assert.equal(a.indicator?.side, side);
      assert.equal(a.indicator?.match, match);
      assert.equal(a.action, ret === TCX_DROP ? 'blocked' : 'allowed');
      assert.equal(r.delta.matched, 1n);
      assert.equal(r.delta[ret === TCX_DROP ? 'dropped' : 'alerted'], 1n);
    }
    const c2 = threatIntelAlert(run(tcpFrame({ src: '198.18.0.66', dst: '198.18.0.2', sport: 1, dport: 2 })).events[0]!, { generation: () => compiled, interfaceName: () => undefined, toWallNs: (n) => n });
    assert.deepEqual({ id: c2?.indicator?.id, feed: c2?.indicator?.feed, confidence: c2?.indicator?.confidence, name: c2?.indicator?.name, kc: c2?.indicator?.killChainPhases }, { id: 'indicator--a', feed: 'drops', confidence: 95, name: 'C2 server', kc: [{ killChainName: 'lockheed-martin-cyber-kill-chain', phaseName: 'command-and-control' }] });
    // neither address listed: one bloom check per address at most, no event
    const clean = run(tcpFrame({ src: '198.18.0.3', dst: '198.18.0.4', sport: 1, dport: 2 }));
    assert.equal(clean.ret, TCX_NEXT);
    assert.deepEqual(clean.events, []);
  });

  it('the strongest action of source and destination wins; thresholds lower an action or leave an indicator out', async () => {
    await swap([feed('a', 'alert', [ind('198.18.1.1')]), feed('d', 'drop', [ind('198.18.1.2', 'x', 50), ind('198.18.1.3', 'y', 10), ind('198.18.1.4', 'z', 80)], 20, 60)]);
    const r = run(tcpFrame({ src: '198.18.1.1', dst: '198.18.1.4', sport: 1, dport: 2 }));
    assert.equal(r.ret, TCX_DROP);
    assert.equal(r.events[0]!.side, 2);
    assert.equal(run(tcpFrame({ src: '198.18.1.2', dst: '198.18.0.9', sport: 1, dport: 2 })).ret, TCX_NEXT, 'confidence 50 < 60: alert only');
    assert.equal(run(tcpFrame({ src: '198.18.1.2', dst: '198.18.0.9', sport: 1, dport: 2 })).events[0]!.action, ti_action.TI_ACT_ALERT);
    assert.deepEqual(run(tcpFrame({ src: '198.18.1.3', dst: '198.18.0.9', sport: 1, dport: 2 })).events, [], 'confidence 10 < 20: not loaded');
  });

  it('quarantine pushes the VLAN tag and redirects; with no quarantine interface it drops and counts', async () => {
    await swap([feed('q', 'quarantine', [ind('198.18.2.1'), ind('2001:db8::21')])]);
    for (const src of ['198.18.2.1', '2001:db8::21']) {
      const dst = src.includes(':') ? '2001:db8::2' : '198.18.0.2';
      k.writeConfig({ enabled: true, quarantineIfindex: LO, quarantineVlan: 666 });
      const r = run(tcpFrame({ src, dst, sport: 1, dport: 2 }));
      assert.equal(r.ret, TC_ACT_REDIRECT);
      assert.equal(r.delta.quarantined, 1n);
      assert.equal(r.events[0]!.action, ti_action.TI_ACT_QUARANTINE);
      k.writeConfig({ enabled: true, quarantineIfindex: 0, quarantineVlan: 666 });
      const f = run(tcpFrame({ src, dst, sport: 1, dport: 2 }));
      assert.equal(f.ret, TCX_DROP);
      assert.equal(f.delta.quarantine_failed, 1n);
      assert.equal(f.events[0]!.action, ti_action.TI_ACT_DROP);
    }
    k.writeConfig({ enabled: true, quarantineIfindex: LO, quarantineVlan: 666 });
  });

  it('bloom hits the hash set does not hold are false positives: counted, and no verdict changes', async () => {
    // bloom filters sized for a twentieth of their addresses: nearly every bit is set, so
    // nearly every other address is a false positive the hash set must turn away
    const members: Indicator[] = [];
    for (let i = 0; i < 200; i++) members.push(ind(`198.18.3.${i}`), ind(`2001:db8::3:${i.toString(16)}`));
    await swap([feed('many', 'drop', members)], 0.05);
    let fp = 0n;
    let hits = 0n;
    for (let i = 0; i < 400; i++) {
      const v4 = i % 2 === 0;
      const src = v4 ? `198.19.${(i >> 8) & 255}.${i & 255}` : `2001:db8:1::${i.toString(16)}`;
      const r = run(udpFrame({ src, dst: v4 ? '198.18.0.2' : '2001:db8::2', sport: 1, dport: 2 }));
      assert.equal(r.ret, TCX_NEXT, src);
      assert.deepEqual(r.events, []);
      fp += r.delta.bloom_false_positive ?? 0n;
      hits += r.delta.bloom_hit ?? 0n;
      assert.equal(r.delta.matched, undefined);
    }
    assert.ok(fp > 300n, `overfilled bloom filters give false positives (${fp} of 400)`);
    assert.equal(hits, fp, 'every bloom hit of an unlisted address was a false positive');
    assert.equal(run(udpFrame({ src: '198.18.3.1', dst: '198.18.0.2', sport: 1, dport: 2 })).ret, TCX_DROP);
  });

  it('a swap replaces the whole set: addresses only the old one named stop matching', async () => {
    await swap([feed('f', 'drop', [ind('198.18.4.1'), ind('2001:db8::41'), ind('198.18.44.0/24')])]);
    assert.equal(run(udpFrame({ src: '198.18.4.1', dst: '198.18.0.2', sport: 1, dport: 2 })).ret, TCX_DROP);
    const before = k.activeGeneration();
    await swap([feed('f', 'drop', [ind('198.18.4.2'), ind('2001:db8::42')])]);
    const now = k.activeGeneration();
    assert.equal(now.slot, before.slot ^ 1);
    assert.equal(now.id, before.id + 1);
    for (const [src, ret] of [['198.18.4.1', TCX_NEXT], ['2001:db8::41', TCX_NEXT], ['198.18.44.9', TCX_NEXT], ['198.18.4.2', TCX_DROP], ['2001:db8::42', TCX_DROP]] as const) {
      const r = run(udpFrame({ src, dst: src.includes(':') ? '2001:db8::2' : '198.18.0.2', sport: 1, dport: 2 }));
      assert.equal(r.ret, ret, src);
      if (ret === TCX_DROP) assert.equal(r.events[0]!.genId, now.id, 'events name the generation that matched');
    }
    await k.releaseInactive();
    assert.equal(run(udpFrame({ src: '198.18.4.2', dst: '198.18.0.2', sport: 1, dport: 2 })).ret, TCX_DROP, 'releasing the old slot leaves the active one');
  });

  it('a refused swap leaves the old generation enforcing', async () => {
    await swap([feed('f', 'drop', [ind('198.18.5.1')])]);
    const active = k.activeGeneration();
    const good = compileIntel([feed('f', 'drop', [ind('198.18.5.2')])], Date.now()).set;
    // values of the wrong size: the batch update is refused
    const broken = { ...good, v4: { ...good.v4, values: good.v4.values.subarray(0, 3) } };
    await assert.rejects(k.swap(++genId, broken), GenerationError);
    assert.deepEqual(k.activeGeneration(), active);
    assert.equal(run(udpFrame({ src: '198.18.5.1', dst: '198.18.0.2', sport: 1, dport: 2 })).ret, TCX_DROP);
    assert.equal(run(udpFrame({ src: '198.18.5.2', dst: '198.18.0.2', sport: 1, dport: 2 })).ret, TCX_NEXT);
  });

  it('a generation of 100,000 addresses: every one matches, each found through the bloom filter', async () => {
    const inds: Indicator[] = [];
    for (let i = 0; i < 50_000; i++) inds.push(ind(`198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`));
    for (let i = 0; i < 50_000; i++) inds.push(ind(`2001:db8:5::${i.toString(16)}`));
    await swap([feed('big', 'drop', inds)]);
    for (const i of [0, 1, 255, 256, 49_999]) {
      assert.equal(run(udpFrame({ src: `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, dst: '198.19.255.255', sport: 1, dport: 2 })).ret, TCX_DROP, `v4 ${i}`);
      const r = run(udpFrame({ src: `2001:db8:5::${i.toString(16)}`, dst: '2001:db8::2', sport: 1, dport: 2 }));
      assert.equal(r.ret, TCX_DROP, `v6 ${i}`);
      assert.equal(r.delta.bloom_hit, 1n);
    }
  });
});
