// The `ebpfsentinel` binary as a user runs it: --version, config check on good and bad files,
// doctor on this machine, and `run` refusing a bad config (exit 2, file:line:col key) or a
// missing interface (exit 1) without attaching or pinning anything.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AGENT_BIN } from '../../src/demo/agent-process.js';
import { buildGatewayLab, type GatewayLab } from '../../src/lab/gateway.js';
import { run, type RunResult } from '../../src/lab/run.js';
import { REPO_ROOT } from '../../src/version.js';
import { agentPrerequisites, SharedBpffs, xdpState } from './agent-support.js';

const skip = agentPrerequisites();

function cli(args: readonly string[], opts: { ns?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const argv = [process.execPath, AGENT_BIN, ...args];
  return run(opts.ns ? ['ip', 'netns', 'exec', opts.ns, ...argv] : argv, { allowFail: true, timeoutMs: opts.timeoutMs ?? 30_000 }, 'cli test');
}

describe('ebpfsentinel CLI', { skip: skip ?? false }, () => { // process.env.CI: agentPrerequisites() throws instead of skipping
  let dir: string;
  let g: GatewayLab;
  let bpffs: SharedBpffs;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'esn-e2e-cli-'));
    bpffs = SharedBpffs.mount();
    g = await buildGatewayLab();
  });

  after(async () => {
    await g?.destroy();
    bpffs?.unmount();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('--version and -V print the package version', async () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await cli([flag]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), pkg.version);
    }
  });

  test('usage errors exit 2: unknown command, run without --config', async () => {
    const unknown = await cli(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
    const noConfig = await cli(['run']);
    assert.equal(noConfig.code, 2);
    assert.match(noConfig.stderr, /--config/);
  });

  test('config check: the shipped configs are valid (exit 0)', async () => {
    const demo = await cli(['config', 'check', path.join(REPO_ROOT, 'config', 'demo.yaml')]);
    assert.equal(demo.code, 0, demo.stderr);
    assert.match(demo.stdout, /demo\.yaml: valid \(14 firewall rules, default policy drop\)/);
    const example = await cli(['config', 'check', path.join(REPO_ROOT, 'config', 'example.yaml')]);
    assert.equal(example.code, 0, example.stderr);
    assert.match(example.stdout, /valid/);
  });

  const BAD = [
    'agent:',
    '  interfaces: [eth9]',
    '  colour: blue',
    'firewall:',
    '  rules:',
    '    - { id: a, priority: 1, action: allow, protocol: tcp }',
    '    - id: b',
    '      priority: 2',
    '      action: maybe',
    '',
  ].join('\n');

  test('config check: a bad file exits 2 naming file:line:col and the key of every problem', async () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, BAD);
    const r = await cli(['config', 'check', file]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`${file.replace(/[.]/g, '\\.')}:3:3: agent\\.colour: `));
    assert.match(r.stderr, new RegExp(`${file.replace(/[.]/g, '\\.')}:9:7: firewall\\.rules\\[1\\]\\.action: .*"maybe"`));
  });

  test('run: a bad config is refused (exit 2, file:line:col key) and nothing is attached or pinned', async () => {
    const iface = g.gw.outside.ifname;
    const pinRoot = `${bpffs.dir}/bad-config`;
    const file = path.join(dir, 'bad-run.yaml');
    writeFileSync(file, `agent:\n  interfaces: [${iface}]\n  pin_root: ${pinRoot}\nfirewall:\n  default_policy: drop\n  rules:\n    - { id: x, priority: 1, action: deny, dst_port: 70000 }\n`);
    const r = await cli(['run', '--config', file], { ns: g.gw.ns });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`${file.replace(/[.]/g, '\\.')}:7:\\d+: firewall\\.rules\\[0\\]\\.dst_port: `));
    assert.deepEqual(await xdpState(g, 'gw', iface), { flag: null, progLine: null });
    assert.equal(existsSync(pinRoot), false, 'no pin root created');
    // The lab still passes traffic: nothing was left behind that filters.
    assert.deepEqual(await g.lab.ping('client', g.server.ipv4, { count: 1 }), { sent: 1, received: 1 });
  });

  test('run: an interface that does not exist is a start failure (exit 1) that names it; nothing attached', async () => {
    const pinRoot = `${bpffs.dir}/no-iface`;
    const file = path.join(dir, 'no-iface.yaml');
    writeFileSync(file, `agent:\n  interfaces: [${g.gw.outside.ifname}, nosuchif0]\n  pin_root: ${pinRoot}\n  api_socket: ${dir}/no-iface.sock\n  http_port: 0\n  allow_unauthenticated_api: true\nalerting:\n  eve: { path: ${dir}/eve-no-iface.json }\nstorage:\n  path: ${dir}/sentinel.db\n`);
    const r = await cli(['run', '--config', file], { ns: g.gw.ns });
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stderr + r.stdout, /nosuchif0/);
    assert.deepEqual(await xdpState(g, 'gw', g.gw.outside.ifname), { flag: null, progLine: null });
    assert.deepEqual(bpffs.list(pinRoot), [], 'nothing pinned');
  });

  test('doctor: exit 0 on this machine, table and JSON', async () => {
    const r = await cli(['doctor']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /can run/);
    const j = await cli(['doctor', '--json']);
    assert.equal(j.code, 0, j.stderr);
    assert.doesNotThrow(() => JSON.parse(j.stdout), 'doctor --json prints JSON');
  });
});
