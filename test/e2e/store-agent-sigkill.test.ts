// Issue 4 §3 on the real agent: alerts survive a restart, and SIGKILL in the middle of a real
// alert burst (denied UDP over v4 and v6 through the gateway lab) loses no alert the agent had
// reported as stored — every id it streamed over SSE (ids are handed out only after commit) is
// in the store after the restart, with the same flow.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SseParser } from '../../src/cli/sse-client.js';
import { buildGatewayLab, type GatewayLab } from '../../src/lab/gateway.js';
import { agentPrerequisites, SharedBpffs, startAgent, type RunningAgent } from './agent-support.js';
import { AGENT_YAML, call, KEYS, udpBurst } from './api-support.js';

const skip = agentPrerequisites(); // under CI=true a missing piece throws: the test fails, never skips

interface StreamedAlert {
  id: number;
  src_ip: string;
  src_port?: number;
}

describe('e2e: stored alerts across SIGKILL and restart of the agent', { skip: skip ?? false }, () => {
  let g: GatewayLab;
  let bpffs: SharedBpffs;
  let dbDir: string;
  let yaml: string;
  const agents: RunningAgent[] = [];

  before(async () => {
    bpffs = SharedBpffs.mount();
    g = await buildGatewayLab();
    dbDir = mkdtempSync(path.join(tmpdir(), 'esn-e2e-store-'));
    // one database for both lives of the agent
    yaml = AGENT_YAML.replace('path: sentinel.db', `path: ${path.join(dbDir, 'sentinel.db')}`);
    assert.notEqual(yaml, AGENT_YAML, 'the shared agent config no longer has storage.path: sentinel.db');
  });

  after(async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    await g?.destroy();
    bpffs?.unmount();
    if (dbDir) rmSync(dbDir, { recursive: true, force: true });
  });

  /** every stored alert through the paginated query, by id */
  async function storedAlerts(base: string): Promise<Map<number, StreamedAlert>> {
    const out = new Map<number, StreamedAlert>();
    let cursor: string | undefined;
    do {
      const r = await call(base, 'viewer', 'GET', `/api/v1/alerts?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(r.status, 200, r.text);
      const page = r.json<{ alerts: StreamedAlert[]; next?: string }>();
      for (const x of page.alerts) out.set(x.id, x);
      cursor = page.next;
    } while (cursor);
    return out;
  }

  test('every alert streamed before SIGKILL is stored after the restart (v4 and v6)', async (t) => {
    const pinRoot = `${bpffs.dir}/esn-store-kill`;
    const first = await startAgent(g, yaml, { pinRoot, name: 'store-kill-1' });
    agents.push(first);
    const streamed = new Map<number, StreamedAlert>();
    const killAt = 200;
    const killed = new Promise<void>((resolve, reject) => {
      const parser = new SseParser();
      const req = http.get(`${first.api.baseUrl}/api/v1/alerts/stream`, { headers: { authorization: `Bearer ${KEYS.viewer}` } }, (res) => {
        assert.equal(res.statusCode, 200);
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          for (const ev of parser.push(c)) {
            if (ev.event !== 'alert' || ev.id === undefined) continue;
            streamed.set(Number(ev.id), JSON.parse(ev.data) as StreamedAlert);
            if (streamed.size === killAt) {
              // mid-burst: the writer has alerts queued and a batch possibly in flight
              process.kill(first.agent.pid, 'SIGKILL');
              resolve();
            }
          }
        });
        res.on('close', () => resolve());
      });
      req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve() : reject(e)));
    });
    const burst = udpBurst(g, 1500, 1); // 3000 denied datagrams, v4 and v6 interleaved
    await killed;
    assert.ok(streamed.size >= killAt, `the stream ended after ${streamed.size} alerts, before the kill`);
    const exit = await first.stop();
    assert.equal(exit.signal, 'SIGKILL', `the agent was not killed mid-burst: ${JSON.stringify(exit)}`);
    await burst;
    agents.pop();

    const second = await startAgent(g, yaml, { pinRoot, name: 'store-kill-2' });
    agents.push(second);
    const stored = await storedAlerts(second.api.baseUrl);
    const missing = [...streamed.keys()].filter((id) => stored.get(id)?.src_ip !== streamed.get(id)!.src_ip || stored.get(id)?.src_port !== streamed.get(id)!.src_port);
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${streamed.size} streamed alerts are missing or differ after SIGKILL and restart`);
    t.diagnostic(`streamed before the kill: ${streamed.size}; stored after the restart: ${stored.size} (committed but not yet streamed: ${stored.size - streamed.size})`);
    const fams = new Set([...streamed.values()].map((x) => x.src_ip));
    assert.ok(fams.has(g.client.ipv4) && fams.has(g.client.ipv6), 'IPv4 and IPv6 alerts both streamed');

    // the restarted agent keeps storing after the ids it found, never reusing one
    const before = Math.max(...stored.keys());
    await udpBurst(g, 20, 5);
    const more = await (async () => {
      for (let i = 0; i < 50; i++) {
        const now = await storedAlerts(second.api.baseUrl);
        const fresh = [...now.keys()].filter((id) => id > before);
        if (fresh.length >= 40) return fresh;
        await new Promise((r) => setTimeout(r, 200));
      }
      return [];
    })();
    assert.ok(more.length >= 40, `the restarted agent stored ${more.length} of 40 new alerts`);
  });
});
