// `ebpfsentinel demo` end to end, as `make demo` runs it: exit 0, per-rule numbers that agree
// with the alerts the agent wrote, nothing left behind; and with --keep/DEMO_KEEP=1, the API
// reachable from the host until Ctrl-C, which stops the agent cleanly and removes the lab.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfigFile } from '../../src/catalog.js';
import { AGENT_BIN } from '../../src/demo/agent-process.js';
import { spawnTracked } from '../../src/demo/child.js';
import { tcpListen } from '../../src/config/sections/agent.js';
import { DEMO_POLICY, writeDemoConfig } from '../../src/demo/config.js';
import { MetricsSnapshot, PromParseError } from '../../src/demo/prom.js';
import { demoSteps, serverPorts } from '../../src/demo/scenario.js';
import { listLabResources } from '../../src/lab/netns.js';
import { agentPrerequisites, readEve } from './agent-support.js';

// The demo's pure parts first: they need no root and run everywhere.
describe('demo building blocks', () => {
  test('the derived config changes only the environment: same rules, aliases and default policy as config/demo.yaml', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'esn-demo-cfg-'));
    try {
      const shipped = await loadConfigFile(DEMO_POLICY);
      const d = await writeDemoConfig({ outPath: path.join(dir, 'demo.yaml'), iface: 'esnabcdgwout', pinRoot: '/sys/fs/bpf/ebpfsentinel-demo-esnabcd', evePath: path.join(dir, 'eve.json'), dbPath: path.join(dir, 'sentinel.db'), apiSocket: path.join(dir, 'api.sock'), httpPort: 8080 });
      assert.deepEqual(d.config.agent.interfaces, ['esnabcdgwout']);
      assert.equal(d.config.agent.pin_root, '/sys/fs/bpf/ebpfsentinel-demo-esnabcd');
      assert.equal(d.config.agent.http_port, 8080);
      assert.equal(d.config.alerting.eve.path, path.join(dir, 'eve.json'));
      assert.deepEqual(tcpListen(d.config.agent), { host: '127.0.0.1', port: 8080 }, 'TCP stays on the lab namespace\'s loopback');
      assert.equal(d.config.agent.api_socket, path.join(dir, 'api.sock'), 'the run\'s own socket, never the host default');
      assert.deepEqual(d.config.firewall.rules, shipped.firewall.rules);
      assert.equal(d.config.firewall.default_policy, shipped.firewall.default_policy);
      assert.equal(d.config.firewall.mode, shipped.firewall.mode);
      // The block list file was found from the new location and read whole.
      assert.deepEqual(d.config.resolved.firewall.aliases, shipped.resolved.firewall.aliases);
      assert.ok(path.isAbsolute(d.config.firewall.aliases.blocklist!.file!));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('every step names a rule of the policy (or the default policy), both families each', async () => {
    const shipped = await loadConfigFile(DEMO_POLICY);
    const ids = new Set(shipped.firewall.rules.map((r) => r.id));
    const steps = demoSteps();
    for (const s of steps) assert.ok(s.rule === 'default-policy' || ids.has(s.rule), `${s.service}: rule ${s.rule}`);
    const key = (s: (typeof steps)[number]): string => `${s.from}/${s.kind}/${s.port ?? ''}`;
    for (const k of new Set(steps.map(key))) {
      assert.deepEqual(steps.filter((s) => key(s) === k).map((s) => s.family).sort(), [4, 6], k);
    }
    assert.ok(steps.some((s) => s.expect === 'delivered') && steps.some((s) => s.expect === 'blocked'));
    assert.deepEqual(serverPorts(steps), [
      { proto: 'tcp', port: 22 }, { proto: 'tcp', port: 23 }, { proto: 'tcp', port: 25 }, { proto: 'udp', port: 53 },
      { proto: 'tcp', port: 80 }, { proto: 'tcp', port: 443 }, { proto: 'udp', port: 5000 },
    ]);
  });

  test('metrics text: labels with escapes, NaN as prom-client writes it, lookups by label subset', () => {
    const m = MetricsSnapshot.parse([
      '# HELP x_total a counter',
      '# TYPE x_total counter',
      'x_total{rule_id="web",program="xdp-firewall"} 12',
      'x_total{rule_id="we\\\\b\\"q\\"",program="xdp-firewall"} 3',
      'lag_seconds Nan',
      'big 1.5e+21',
      '',
    ].join('\n'));
    assert.equal(m.get('x_total', { rule_id: 'web' }), 12);
    assert.equal(m.get('x_total', { rule_id: 'we\\b"q"' }), 3);
    assert.equal(m.sum('x_total', { program: 'xdp-firewall' }), 15);
    assert.throws(() => m.get('x_total'), /matches 2 samples/);
    assert.ok(Number.isNaN(m.get('lag_seconds')));
    assert.equal(m.get('big'), 1.5e21);
    assert.equal(m.value('absent_total'), 0);
    assert.throws(() => MetricsSnapshot.parse('x_total{rule_id="web" 1'), PromParseError);
    assert.throws(() => MetricsSnapshot.parse('x_total twelve'), PromParseError);
  });
});

const skip = agentPrerequisites();

interface RuleRow {
  id: string;
  action: string;
  packets: number;
  bytes: string;
}

function parseRuleTable(out: string): RuleRow[] {
  const start = out.indexOf('Firewall rules (counted by the agent');
  assert.ok(start >= 0, 'rule table printed');
  const lines = out.slice(start).split('\n').slice(3);
  const rows: RuleRow[] = [];
  for (const l of lines) {
    const m = /^ {2}(\S+(?: policy\))?)\s+(\S+)\s+(\d+)\s+(\S+)$/.exec(l);
    if (!m) break;
    rows.push({ id: m[1]!, action: m[2]!, packets: Number(m[3]), bytes: m[4]! });
  }
  return rows;
}

/** pids of processes whose command line mentions `needle` (ours: the run directory). */
function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function startDemo(args: string[], env: Record<string, string> = {}) {
  return spawnTracked([process.execPath, AGENT_BIN, 'demo', ...args], 'demo', { env }).process;
}

describe('ebpfsentinel demo', { skip: skip ?? false }, () => { // process.env.CI: agentPrerequisites() throws instead of skipping
  test('runs to completion: exit 0, numbers agree with the alerts, everything torn down', async () => {
    const demo = startDemo([]);
    const exit = await Promise.race([demo.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 150_000).unref())]);
    if (exit === 'timeout') await demo.stop('SIGINT', 20_000);
    const out = demo.stdout;
    assert.deepEqual(exit, { code: 0, signal: null }, `demo output:\n${out}\n${demo.stderr}`);
    assert.match(out, /Demo OK/);
    assert.match(out, /xdp-firewall on \S+ \(xdp native\)/);
    assert.doesNotMatch(out, /^ {2}BAD /m);

    // Every attempt line says what happened, both families for each.
    const attempts = out.split('\n').filter((l) => /^ {2}(ok |ok\?|BAD) /.test(l));
    assert.ok(attempts.length >= 20, `${attempts.length} traffic lines`);
    assert.equal(attempts.filter((l) => / IPv4 /.test(l)).length, attempts.filter((l) => / IPv6 /.test(l)).length);

    const rows = parseRuleTable(out);
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const id of ['blocklist', 'ping-server-v4', 'ping-server-v6', 'web', 'web-tls', 'dns', 'ssh-client', 'telnet', 'udp-test-log', '(default policy)']) {
      assert.ok((byId.get(id)?.packets ?? 0) > 0, `${id} counted packets: ${JSON.stringify(byId.get(id))}`);
    }

    const eveMatch = /Alerts \((\d+) EVE lines in (\S+)\)/.exec(out);
    assert.ok(eveMatch, 'alerts header with the EVE path');
    const eve = readEve(eveMatch[2]!);
    assert.equal(eve.length, Number(eveMatch[1]));
    // Drop and log rules alert once per packet: the table and the file must agree exactly.
    const eveCount = (id: string): number => eve.filter((r) => r.ebpfsentinel.rule_id === id).length;
    for (const id of ['blocklist', 'telnet', 'udp-test-log']) assert.equal(eveCount(id), byId.get(id)!.packets, `${id}: table vs EVE`);
    assert.equal(eveCount('default-policy'), byId.get('(default policy)')!.packets, 'default policy: table vs EVE');
    assert.equal(eveCount('web'), 0, 'allowed traffic is not alerted');

    // Teardown: lab namespaces gone, no process of this run left.
    const prefix = /lab {13}(esn[0-9a-z]{4}):/.exec(out)?.[1];
    assert.ok(prefix, 'lab prefix printed');
    assert.deepEqual(await listLabResources(prefix), { namespaces: [], links: [] });
    const runDir = /run directory {3}(\S+)/.exec(out)?.[1];
    assert.ok(runDir && existsSync(`${runDir}/agent.log`), 'run directory kept with the agent log');
    assert.match(readFileSync(`${runDir}/agent.log`, 'utf8'), /stopped/);
    assert.deepEqual(processesMentioning(runDir), []);
  });

  test('fails (exit 1) and says which attempts broke the policy when the agent lets denied traffic through; still tears down', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'esn-demo-bad-'));
    try {
      // The shipped policy with telnet allowed: the demo expects telnet to be blocked.
      const text = readFileSync(DEMO_POLICY, 'utf8').replace('{ id: telnet, priority: 70, action: deny,', '{ id: telnet, priority: 70, action: allow,');
      assert.match(text, /id: telnet, priority: 70, action: allow/);
      writeFileSync(path.join(dir, 'lax.yaml'), text.replace('file: demo-blocklist.txt', `file: ${path.join(path.dirname(DEMO_POLICY), 'demo-blocklist.txt')}`));
      const demo = startDemo([], { EBPFSENTINEL_DEMO_POLICY: path.join(dir, 'lax.yaml') });
      const exit = await demo.exited;
      const out = demo.stdout;
      assert.deepEqual(exit, { code: 1, signal: null }, out + demo.stderr);
      assert.match(out, /^ {2}BAD client +IPv4 TCP 23 \(telnet\).*DELIVERED \(expected blocked\)/m);
      assert.match(out, /^ {2}BAD client +IPv6 TCP 23 \(telnet\).*DELIVERED \(expected blocked\)/m);
      assert.match(out, /DEMO FAILED\n {2}- client tcp 23 IPv4 was delivered, expected blocked\n {2}- client tcp 23 IPv6 was delivered, expected blocked\n/);
      assert.match(out, /agent exited 0/);
      const prefix = /lab {13}(esn[0-9a-z]{4}):/.exec(out)?.[1];
      assert.deepEqual(await listLabResources(prefix!), { namespaces: [], links: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('DEMO_KEEP=1: API reachable from the host (another port when 8080 is taken) until Ctrl-C, which stops the agent (exit 0) and removes the lab', async () => {
    // Hold 127.0.0.1:8080 so the demo has to fall back (if something else holds it, same thing).
    const blocker = createServer();
    await new Promise<void>((resolve) => {
      blocker.once('error', () => resolve());
      blocker.listen(8080, '127.0.0.1', () => resolve());
    });
    const demo = startDemo([], { DEMO_KEEP: '1' });
    try {
      await demo.waitFor(/Press Ctrl-C/, 150_000);
    } catch (e) {
      await demo.stop('SIGINT', 20_000);
      throw e;
    } finally {
      blocker.close();
    }
    const url = /API {13}(http:\/\/127\.0\.0\.1:\d+)/.exec(demo.stdout)?.[1];
    assert.ok(url, `API URL printed:\n${demo.stdout}`);
    assert.notEqual(new URL(url).port, '8080');
    assert.match(demo.stdout, /port 8080 is taken on this host; using \d+/);
    const st = (await (await fetch(`${url}/api/v1/status`)).json()) as { state: string; programs: Array<{ attachments: Array<{ mode: string; attached: boolean }> }> };
    assert.equal(st.state, 'running');
    assert.equal(st.programs[0]?.attachments[0]?.mode, 'native');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /ebpfsentinel_firewall_rule_hits_total\{rule_id="web"\} [1-9]/);
    const agentPid = Number(/agent {11}pid (\d+)/.exec(demo.stdout)?.[1]);
    assert.ok(agentPid > 0);
    assert.match(readlinkSync(`/proc/${agentPid}/exe`), /node/);

    process.kill(demo.pid, 'SIGINT');
    const exit = await demo.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, demo.stdout + demo.stderr);
    assert.match(demo.stdout, /SIGINT: stopping the agent/);
    assert.match(demo.stdout, /agent exited 0/);
    assert.equal(existsSync(`/proc/${agentPid}`), false, 'agent process gone');
    const prefix = /lab {13}(esn[0-9a-z]{4}):/.exec(demo.stdout)?.[1];
    assert.deepEqual(await listLabResources(prefix!), { namespaces: [], links: [] });
    await assert.rejects(fetch(`${url}/healthz`), 'the forwarder is gone');
  });
});
