// tc-threatintel end to end: the real agent in the gateway lab with two file feeds — a plain list
// whose addresses are dropped and a STIX bundle whose addresses are alerted — and real UDP
// traffic over veth, IPv4 and IPv6. Drops and alerts show in delivery and in EVE (the indicator's
// id, feed, confidence, STIX name and kill-chain phases under `ebpfsentinel.indicator`, every line
// valid against Suricata's EVE schema). A feed refreshed through the API while traffic flows
// switches at one point per source (never a mix), and a broken feed keeps the indicators it had.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildGatewayLab, type GatewayLab } from '../../src/lab/gateway.js';
import type { EchoServer } from '../../src/lab/traffic.js';
import { agentPrerequisites, readEve, SharedBpffs, startAgent, waitForEve, type RunningAgent } from './agent-support.js';
import { AGENT_YAML, call } from './api-support.js';
import { suricataEveValidator } from '../support/eve-schema.js';

const skip = agentPrerequisites(); // under CI=true a missing piece throws: the test fails, never skips
const PORT = 5002;

const stix = (addrs: readonly string[]): string =>
  JSON.stringify({
    type: 'bundle',
    id: 'bundle--5d0092c5-5f74-4287-9642-33f4c354e56d',
    objects: addrs.map((a, i) => ({
      type: 'indicator',
      spec_version: '2.1',
      id: `indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd${i.toString(16).padStart(2, '0')}`,
      created: '2024-01-01T00:00:00Z',
      modified: '2024-01-01T00:00:00Z',
      name: `watched host ${i}`,
      confidence: 77,
      indicator_types: ['anomalous-activity'],
      kill_chain_phases: [{ kill_chain_name: 'lockheed-martin-cyber-kill-chain', phase_name: 'reconnaissance' }],
      pattern_type: 'stix',
      pattern: `[${a.includes(':') ? 'ipv6' : 'ipv4'}-addr:value = '${a}']`,
      valid_from: '2024-01-01T00:00:00Z',
    })),
  });

describe('e2e: threat-intel feeds enforced by tc-threatintel', { skip: skip ?? false }, () => {
  let g: GatewayLab;
  let bpffs: SharedBpffs;
  let a: RunningAgent | null = null;
  let dir: string;
  let dropFile: string;
  let watchFile: string;
  const servers: EchoServer[] = [];
  let seq = 0;

  const send = async (from: 'client' | 'attacker', fam: 4 | 6): Promise<string> => {
    const tag = `ti-${++seq}-${from}-v${fam}`;
    await g.lab.udpSend(from, fam === 4 ? g.server.ipv4 : g.server.ipv6, PORT, tag, { timeoutMs: 500 });
    return tag;
  };
  const arrived = (fam: 4 | 6, tag: string): boolean => servers.find((s) => s.family === fam)!.received().includes(tag);
  const delivered = async (from: 'client' | 'attacker', fam: 4 | 6): Promise<boolean> => {
    const tag = await send(from, fam);
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      if (arrived(fam, tag)) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  };
  const refresh = async (feed: string) => {
    const r = await call(a!.api.baseUrl, 'operator', 'POST', `/api/v1/threatintel/feeds/refresh?feed=${feed}`);
    assert.equal(r.status, 200, r.text);
    return r.json<{ changed: boolean; applied: boolean; feeds: { id: string; state: string; indicators: number; errors: number; last_error?: string }[] }>();
  };

  before(async () => {
    bpffs = SharedBpffs.mount();
    g = await buildGatewayLab();
    dir = mkdtempSync(path.join(tmpdir(), 'esn-e2e-ti-'));
    dropFile = path.join(dir, 'drop.txt');
    watchFile = path.join(dir, 'watch.json');
    writeFileSync(dropFile, `# attacker\n${g.attacker.ipv4}\n${g.attacker.ipv6}\n`);
    writeFileSync(watchFile, stix([g.client.ipv4, g.client.ipv6]));
    const yaml = `${AGENT_YAML}threatintel:\n  enabled: true\n  feeds:\n    - { id: drops, url: "${dropFile}", default_action: drop, refresh_interval_secs: 3600 }\n    - { id: watch, url: "${watchFile}", format: stix, refresh_interval_secs: 3600 }\n`;
    a = await startAgent(g, yaml, { pinRoot: `${bpffs.dir}/esn-ti`, name: 'threatintel' });
    for (const fam of [4, 6] as const) servers.push(await g.lab.startUdpServer('server', PORT, fam));
  });

  after(async () => {
    if (a) await a.stop();
    await g?.destroy();
    bpffs?.unmount();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('drop feed: the attacker is dropped; alert feed: the client passes with an alert naming the STIX indicator', async () => {
    for (const fam of [4, 6] as const) {
      assert.equal(await delivered('attacker', fam), false, `attacker v${fam} dropped`);
      assert.equal(await delivered('client', fam), true, `client v${fam} delivered`);
    }
    const check = suricataEveValidator();
    const blocked = await waitForEve(a!.evePath, (r) => r.event_type === 'alert' && r.ebpfsentinel.engine === 'threatintel' && r.alert.action === 'blocked', 2);
    const allowed = await waitForEve(a!.evePath, (r) => r.event_type === 'alert' && r.ebpfsentinel.engine === 'threatintel' && r.alert.action === 'allowed', 2);
    for (const fam of [4, 6] as const) {
      const att = fam === 4 ? g.attacker.ipv4 : g.attacker.ipv6;
      const cli = fam === 4 ? g.client.ipv4 : g.client.ipv6;
      const b = blocked.find((r) => r.src_ip === att);
      assert.ok(b, `a blocked alert for ${att}`);
      const bi = (b as unknown as { ebpfsentinel: { indicator: Record<string, unknown> } }).ebpfsentinel.indicator;
      assert.deepEqual({ feed: bi.feed, value: bi.value, side: bi.side, match: bi.match, confidence: bi.confidence }, { feed: 'drops', value: att, side: 'src', match: 'exact', confidence: 100 });
      const w = allowed.find((r) => r.src_ip === cli);
      assert.ok(w, `an allowed alert for ${cli}`);
      const wi = (w as unknown as { ebpfsentinel: { indicator: Record<string, unknown> } }).ebpfsentinel.indicator;
      assert.equal(wi.feed, 'watch');
      assert.equal(wi.confidence, 77);
      assert.match(String(wi.id), /^indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd0[01]$/);
      assert.match(String(wi.name), /^watched host [01]$/);
      assert.deepEqual(wi.kill_chain_phases, [{ kill_chain_name: 'lockheed-martin-cyber-kill-chain', phase_name: 'reconnaissance' }]);
    }
    for (const r of readEve(a!.evePath)) assert.deepEqual(check(r), [], JSON.stringify(r));
  });

  test('a refresh while traffic flows switches each source once: the attacker from dropped to delivered, the client the other way', async () => {
    writeFileSync(dropFile, `${g.client.ipv4}\n${g.client.ipv6}\n`);
    const sent: { from: 'client' | 'attacker'; fam: 4 | 6; tag: string }[] = [];
    let stop = false;
    const traffic = (async () => {
      while (!stop) {
        for (const from of ['attacker', 'client'] as const) for (const fam of [4, 6] as const) sent.push({ from, fam, tag: await send(from, fam) });
      }
    })();
    // a few datagrams of every source and family before the refresh, and a few after
    const rounds = () => Math.min(...(['attacker', 'client'] as const).flatMap((from) => ([4, 6] as const).map((fam) => sent.filter((x) => x.from === from && x.fam === fam).length)));
    const waitRounds = async (n: number) => {
      while (rounds() < n) await new Promise((r) => setTimeout(r, 50));
    };
    await waitRounds(3);
    const r = await refresh('drops');
    assert.equal(r.changed, true);
    assert.equal(r.applied, true);
    await waitRounds(rounds() + 3);
    stop = true;
    await traffic;
    await new Promise((r) => setTimeout(r, 500));
    for (const from of ['attacker', 'client'] as const) {
      for (const fam of [4, 6] as const) {
        const fates = sent.filter((s) => s.from === from && s.fam === fam).map((s) => arrived(fam, s.tag));
        // one switch, in the expected direction: the old set whole, then the new set whole
        const first = fates.indexOf(from === 'attacker');
        assert.ok(first > 0, `${from} v${fam}: a change happened during the traffic (${fates.join(',')})`);
        assert.ok(fates.slice(first).every((f) => f === (from === 'attacker')), `${from} v${fam}: ${fates.join(',')}`);
        assert.ok(fates.slice(0, first).every((f) => f === (from !== 'attacker')), `${from} v${fam}: ${fates.join(',')}`);
      }
    }
  });

  test('a broken feed keeps the indicators it had, and says why', async () => {
    writeFileSync(watchFile, stix([g.attacker.ipv4]).replace('"modified":"2024-01-01T00:00:00Z"', '"modified":"2023-01-01T00:00:00Z"'));
    const r = await refresh('watch');
    assert.equal(r.changed, false);
    const watch = r.feeds.find((f) => f.id === 'watch')!;
    assert.equal(watch.state, 'stale');
    assert.equal(watch.indicators, 2);
    assert.match(watch.last_error!, /indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd00: "modified" \(2023-01-01T00:00:00Z\) is earlier than "created"/);
    const before = readEve(a!.evePath).filter((e) => e.ebpfsentinel.engine === 'threatintel' && e.alert.action === 'allowed').length;
    // the attacker is in no feed now (drops lists the client): delivered, no alert from the broken content
    assert.equal(await delivered('attacker', 4), true);
    // the client is still dropped by `drops` and still named by the old `watch` content? the
    // stronger action wins: dropped
    assert.equal(await delivered('client', 6), false);
    const m = await (await fetch(`${a!.api.baseUrl}/metrics`)).text();
    assert.match(m, /ebpfsentinel_threatintel_feed_fetches_total\{feed="watch",outcome="error"\} 1/);
    assert.match(m, /ebpfsentinel_threatintel_feed_up\{feed="watch"\} 0/);
    assert.equal(readEve(a!.evePath).filter((e) => e.ebpfsentinel.engine === 'threatintel' && e.alert.action === 'allowed' && e.src_ip === g.attacker.ipv4).length, 0);
    assert.ok(before >= 2);
  });
});
