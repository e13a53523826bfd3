// Firewall rules added through the REST API, end to end: the real agent in the gateway lab, a
// rule posted in the config-file shape is enforced in the kernel for IPv4 and IPv6, clashes with
// file rules are refused (409) and bad rules name their key (400), the rule survives a reload of
// the file and a restart of the agent (it lives in the SQLite store), the audit trail and the
// rule history record who did what, and deleting it lets the traffic through again.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildGatewayLab, type GatewayLab } from '../../src/lab/gateway.js';
import type { EchoServer } from '../../src/lab/traffic.js';
import { agentPrerequisites, SharedBpffs, startAgent, type RunningAgent } from './agent-support.js';

const skip = agentPrerequisites();

const policy = (dbPath: string, extra = ''): string => `
agent:
  interfaces: [@IFACE@]
  pin_root: @PIN@
  http_port: @PORT@
  allow_unauthenticated_api: true
  metrics_interval_ms: 200
storage:
  path: ${dbPath}
alerting:
  eve: { path: "@EVE@" }
firewall:
  default_policy: drop
  rules:
    - { id: nd-ns, priority: 10, action: allow, protocol: icmpv6, icmp_type: 135 }
    - { id: nd-na, priority: 11, action: allow, protocol: icmpv6, icmp_type: 136 }
    - { id: udp-5001, priority: 30, action: allow, protocol: udp, dst_port: 5001 }
    - { id: udp-5000, priority: 50, action: allow, protocol: udp, dst_port: 5000 }
${extra}`;

const API_RULE = { id: 'api-deny-5000', priority: 40, action: 'deny', protocol: 'udp', dst_port: 5000, src_ip: ['198.18.0.10', '2001:db8::10'], description: 'added by the e2e test' };

describe('e2e: firewall rules from the API', { skip: skip ?? false }, () => { // process.env.CI: agentPrerequisites() throws instead of skipping
  let g: GatewayLab;
  let bpffs: SharedBpffs;
  let a: RunningAgent | null = null;
  let stateDir: string;
  const servers: EchoServer[] = [];
  const addr = (fam: 4 | 6): string => (fam === 4 ? g.server.ipv4 : g.server.ipv6);
  let seq = 0;

  const delivered = async (port: number, fam: 4 | 6): Promise<boolean> => {
    const tag = `probe-${++seq}-${port}-v${fam}`;
    await g.lab.udpSend('client', addr(fam), port, tag, { timeoutMs: 500 });
    const srv = servers.find((s) => s.port === port && s.family === fam)!;
    const end = Date.now() + 2500;
    while (Date.now() < end) {
      if (srv.received().includes(tag)) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  };
  const fate = async (port: number): Promise<[boolean, boolean]> => [await delivered(port, 4), await delivered(port, 6)];

  const call = async (method: string, p: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> | null }> => {
    const r = await fetch(`${a!.api.baseUrl}${p}`, { method, ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) });
    const text = await r.text();
    return { status: r.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : null };
  };
  const errorMessage = (j: Record<string, unknown> | null): string => ((j?.error as { message?: string } | undefined)?.message ?? '');

  before(async () => {
    bpffs = SharedBpffs.mount();
    g = await buildGatewayLab();
    stateDir = mkdtempSync(path.join(tmpdir(), 'esn-e2e-apirules-'));
    a = await startAgent(g, policy(path.join(stateDir, 'sentinel.db')), { pinRoot: `${bpffs.dir}/esn-apirules`, name: 'apirules' });
    for (const fam of [4, 6] as const) {
      servers.push(await g.lab.startUdpServer('server', 5000, fam));
      servers.push(await g.lab.startUdpServer('server', 5001, fam));
    }
  });

  after(async () => {
    if (a) await a.stop();
    await g?.destroy();
    bpffs?.unmount();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  test('a posted rule is enforced for IPv4 and IPv6 between the file rules, by priority', async () => {
    assert.deepEqual(await fate(5000), [true, true], 'the file allows 5000');
    const r = await call('POST', '/api/v1/firewall/rules', API_RULE);
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal(r.json?.source, 'api');
    assert.deepEqual(await fate(5000), [false, false], 'the API rule (priority 40) drops 5000 before the file rule (50) allows it');
    assert.deepEqual(await fate(5001), [true, true], 'other traffic is untouched');
    const list = await call('GET', '/api/v1/firewall/rules');
    const rules = (list.json?.rules as { id: string; source: string }[]).map((x) => `${x.source}:${x.id}`);
    assert.deepEqual(rules, ['file:nd-ns', 'file:nd-na', 'file:udp-5001', 'api:api-deny-5000', 'file:udp-5000']);
  });

  test('clashes with file rules are 409, bad rules are 400 naming the key; nothing changes', async () => {
    const sameId = await call('POST', '/api/v1/firewall/rules', { ...API_RULE, id: 'udp-5001', priority: 45 });
    assert.equal(sameId.status, 409, JSON.stringify(sameId.json));
    const samePrio = await call('POST', '/api/v1/firewall/rules', { ...API_RULE, id: 'other', priority: 30 });
    assert.equal(samePrio.status, 409);
    assert.match(errorMessage(samePrio.json), /priority 30/);
    const fileRule = await call('DELETE', '/api/v1/firewall/rules/udp-5001');
    assert.equal(fileRule.status, 409);
    const badPort = await call('POST', '/api/v1/firewall/rules', { id: 'bad', priority: 60, action: 'deny', protocol: 'icmp', dst_port: 80 });
    assert.equal(badPort.status, 400, JSON.stringify(badPort.json));
    assert.match(errorMessage(badPort.json), /dst_port/);
    assert.deepEqual(await fate(5001), [true, true]);
    assert.deepEqual(await fate(5000), [false, false]);
  });

  test('the rule survives a reload of the file and a restart of the agent', async () => {
    writeFileSync(a!.configPath, policy(path.join(stateDir, 'sentinel.db'), '    - { id: udp-5003, priority: 60, action: allow, protocol: udp, dst_port: 5003 }\n').replaceAll('@IFACE@', g.gw.outside.ifname).replaceAll('@PIN@', a!.pinRoot).replaceAll('@EVE@', a!.evePath).replaceAll('@PORT@', '8080'));
    const rl = await call('POST', '/api/v1/config/reload');
    assert.equal(rl.status, 200, JSON.stringify(rl.json));
    assert.deepEqual(await fate(5000), [false, false], 'still enforced after the reload');

    const exit = await a!.stop();
    assert.equal(exit.code, 0);
    a = null;
    a = await startAgent(g, policy(path.join(stateDir, 'sentinel.db')), { pinRoot: `${bpffs.dir}/esn-apirules`, name: 'apirules2' });
    const got = await call('GET', `/api/v1/firewall/rules/${API_RULE.id}`);
    assert.equal(got.status, 200);
    assert.equal(got.json?.source, 'api');
    assert.deepEqual((got.json?.rule as { src_ip: string[] }).src_ip, API_RULE.src_ip);
    assert.deepEqual(await fate(5000), [false, false], 'enforced from the store at start, before any API call');
  });

  test('delete lets the traffic through; audit trail and history say who did what', async () => {
    const del = await call('DELETE', `/api/v1/firewall/rules/${API_RULE.id}`);
    assert.equal(del.status, 204);
    assert.deepEqual(await fate(5000), [true, true]);
    assert.equal((await call('DELETE', `/api/v1/firewall/rules/${API_RULE.id}`)).status, 404);

    const hist = await call('GET', `/api/v1/firewall/rules/${API_RULE.id}/history`);
    assert.equal(hist.status, 200, JSON.stringify(hist.json));
    const versions = hist.json?.versions as { action: string; actor: string }[];
    assert.deepEqual(versions.map((v) => v.action), ['created', 'deleted']);
    const audit = await call('GET', '/api/v1/audit?limit=100');
    assert.equal(audit.status, 200, JSON.stringify(audit.json));
    const entries = (audit.json?.entries as { action: string; target: string; outcome: string; actor: string }[]).filter((e) => e.target === API_RULE.id || e.action === 'config.reload');
    const seen = entries.map((e) => `${e.action}:${e.outcome}`);
    for (const want of ['firewall.rule.create:ok', 'firewall.rule.delete:ok', 'config.reload:ok']) assert.ok(seen.includes(want), `${want} in ${seen.join(', ')}`);
    assert.ok(entries.every((e) => e.actor.length > 0));
  });
});
