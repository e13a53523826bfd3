// No way in for a local user. The real agent runs with the default API settings (nothing about
// the API in its config: the root-only socket /run/ebpfsentinel/api.sock, no TCP); an
// unprivileged user (nobody, no groups, via setpriv) then tries every write route and the alerts
// (list and stream) with the CLI and with curl, over the socket and over TCP on IPv4 and IPv6
// loopback in the agent's namespace, and is refused every time, while root's CLI, with no flags,
// reaches the agent. Nothing the attempts asked for happened. Then the agent is restarted with
// TCP on (`bind_address: "::"`, auth on, the key in a key_file): the same user without a key gets
// 401 on every protected route over 127.0.0.1 and ::1, and the open endpoints are exactly the
// documented ones.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AgentProcess, AGENT_BIN } from '../../src/demo/agent-process.js';
import { buildGatewayLab, type GatewayLab } from '../../src/lab/gateway.js';
import { run, type RunResult } from '../../src/lab/run.js';
import { REPO_ROOT } from '../../src/version.js';
import { agentPrerequisites, eventually, SharedBpffs } from './agent-support.js';
import { labPrerequisites } from '../support/env.js';

// under CI=true a missing piece throws: the test fails, never skips
const skip = agentPrerequisites() ?? labPrerequisites(['setpriv', 'curl', 'getent']);

const DEFAULT_SOCKET = '/run/ebpfsentinel/api.sock';
const TCP_PORT = 8443;
const KEY = 'local-user-e2e-admin-key-0123456789abcdef';
const NOBODY = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--'];

/** Every route that changes something, and the alert routes. */
const GUARDED: readonly { method: string; path: string; body?: string }[] = [
  { method: 'POST', path: '/api/v1/firewall/rules', body: JSON.stringify({ id: 'nobody-was-here', priority: 999, action: 'allow', src_ip: ['198.18.0.66/32', '2001:db8::66/128'] }) },
  { method: 'PUT', path: '/api/v1/firewall/rules/allow-ssh', body: JSON.stringify({ id: 'allow-ssh', priority: 10, action: 'allow' }) },
  { method: 'DELETE', path: '/api/v1/firewall/rules/allow-ssh' },
  { method: 'POST', path: '/api/v1/programs/xdp-firewall/disable' },
  { method: 'POST', path: '/api/v1/programs/xdp-firewall/enable' },
  { method: 'POST', path: '/api/v1/config/reload' },
  { method: 'GET', path: '/api/v1/alerts' },
  { method: 'GET', path: '/api/v1/alerts/stream' },
];

const POLICY = (extra: string): string => `agent:
  interfaces: [@IFACE@]
  pin_root: @PIN@
${extra}alerting:
  eve: { path: "@DIR@/eve.json" }
storage:
  path: @DIR@/sentinel.db
firewall:
  default_policy: pass
  rules:
    - { id: allow-ssh, priority: 10, action: allow, protocol: tcp, dst_port: 22 }
`;

describe('e2e: an unprivileged local user cannot change policy or read alerts', { skip: skip ?? false }, () => {
  let g: GatewayLab;
  let bpffs: SharedBpffs;
  let dir: string;
  let agent: AgentProcess | undefined;

  const asNobody = (argv: readonly string[], inNs = false): Promise<RunResult> =>
    run([...(inNs ? ['ip', 'netns', 'exec', g.gw.ns] : []), ...NOBODY, ...argv], { allowFail: true, timeoutMs: 30_000 }, 'local-user test');
  /** the CLI as nobody runs it: the checkout's, or a copy nobody can read */
  let cliBin = AGENT_BIN;
  const cli = (args: readonly string[], opts: { nobody?: boolean } = {}): Promise<RunResult> => {
    const argv = [process.execPath, opts.nobody ? cliBin : AGENT_BIN, ...args];
    return opts.nobody ? asNobody(argv) : run(argv, { allowFail: true, timeoutMs: 30_000 }, 'local-user test');
  };
  const rootCurl = (args: readonly string[]): Promise<RunResult> => run(['curl', '-sS', '--max-time', '10', ...args], { allowFail: true, timeoutMs: 20_000 }, 'local-user test');

  async function start(extra: string): Promise<void> {
    // one agent at a time: the previous test's, if it failed before stopping it, goes first
    if (agent) await agent.stop();
    agent = undefined;
    const file = path.join(dir, 'agent.yaml');
    const text = POLICY(extra).replaceAll('@IFACE@', g.gw.outside.ifname).replaceAll('@PIN@', `${bpffs.dir}/esn-localuser`).replaceAll('@DIR@', dir);
    writeFileSync(file, text, { mode: 0o600 });
    agent = AgentProcess.start({ ns: g.gw.ns, configPath: file, logFile: path.join(dir, 'agent.log') });
    await eventually(async () => {
      if (!agent!.running) throw new Error(`the agent exited:\n${agent!.output.slice(-3000)}`);
      const r = await rootCurl(['--unix-socket', DEFAULT_SOCKET, '-o', '/dev/null', '-w', '%{http_code}', 'http://agent/readyz']);
      return r.stdout === '200';
    }, 30_000, 'the agent is ready on its socket');
  }

  before(async () => {
    if (existsSync(DEFAULT_SOCKET)) {
      // a socket that answers belongs to an agent of this host: the test must not touch it
      const live = await run(['curl', '-sS', '--max-time', '2', '--unix-socket', DEFAULT_SOCKET, 'http://agent/healthz'], { allowFail: true }, 'probe');
      assert.notEqual(live.code, 0, `an agent already serves ${DEFAULT_SOCKET} on this host; stop it to run this test`);
    }
    dir = mkdtempSync(path.join(tmpdir(), 'esn-e2e-localuser-'));
    // traversable, so what keeps nobody out of the agent's files below is their own mode
    chmodSync(dir, 0o755);
    // nobody runs the CLI of this checkout, or, when the checkout is not readable to others (a
    // clone under a private directory), the same built files copied where it can read them
    const canRun = async (bin: string): Promise<RunResult> => run([...NOBODY, process.execPath, bin, '--version'], { allowFail: true }, 'probe');
    if ((await canRun(AGENT_BIN)).code !== 0) {
      const copy = path.join(dir, 'cli');
      mkdirSync(copy, { mode: 0o755 });
      await run(['cp', '-a', ...['bin', 'dist', 'node_modules', 'package.json'].map((f) => path.join(REPO_ROOT, f)), copy], { timeoutMs: 120_000 }, 'copy the CLI');
      await run(['chmod', '-R', 'go+rX', copy], {}, 'copy the CLI');
      cliBin = path.join(copy, 'bin', 'ebpfsentinel');
    }
    const probe = await canRun(cliBin);
    assert.equal(probe.code, 0, `the unprivileged user cannot run the CLI (${cliBin}): ${probe.stderr}`);
    bpffs = SharedBpffs.mount();
    g = await buildGatewayLab();
  });

  after(async () => {
    if (agent) await agent.stop();
    await g?.destroy();
    bpffs?.unmount();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('default API settings: root-only socket, no TCP; nobody is refused everywhere; root is not', async () => {
    await start('');
    const st = statSync(DEFAULT_SOCKET);
    assert.ok(st.isSocket());
    assert.equal(st.uid, 0);
    assert.equal(st.mode & 0o777, 0o600, 'the socket is root-only');

    // root: the CLI with no flags reaches the agent (its default is the socket)
    const status = await cli(['status']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^agent\s+running/m);
    const before = await cli(['rules', 'list', '--output', 'json']);
    assert.equal(before.code, 0, before.stderr);

    // nobody, the CLI: every write and the alerts, refused at connect (exit 3), saying why
    for (const args of [
      ['rules', 'add', '--id', 'nobody-was-here', '--priority', '999', '--action', 'pass', '--src-ip', '198.18.0.66/32', '--src-ip', '2001:db8::66/128'],
      ['rules', 'delete', 'allow-ssh'],
      ['programs', 'disable', 'xdp-firewall'],
      ['programs', 'enable', 'xdp-firewall'],
      ['reload'],
      ['alerts'],
      ['alerts', '--follow'],
      ['status'],
    ]) {
      const r = await cli(args, { nobody: true });
      assert.equal(r.code, 3, `nobody: ebpfsentinel ${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /cannot reach the agent at unix:\/run\/ebpfsentinel\/api\.sock .*EACCES.*admits root only/, args.join(' '));
    }

    // nobody, curl: over the socket (permission denied) and over TCP on IPv4 and IPv6 loopback in
    // the agent's own namespace (nothing listens), for every guarded route
    for (const route of GUARDED) {
      const body = route.body ? ['-H', 'content-type: application/json', '--data', route.body] : [];
      const viaSocket = await asNobody(['curl', '-sSv', '--max-time', '5', '-X', route.method, ...body, '--unix-socket', DEFAULT_SOCKET, `http://agent${route.path}`]);
      assert.equal(viaSocket.code, 7, `${route.method} ${route.path} over the socket: curl exit ${viaSocket.code} ${viaSocket.stdout}${viaSocket.stderr}`);
      assert.match(viaSocket.stderr, /Permission denied/, 'connect() refused by the socket file\'s mode');
      for (const base of ['http://127.0.0.1:8080', 'http://[::1]:8080', `http://127.0.0.1:${TCP_PORT}`, `http://[::1]:${TCP_PORT}`]) {
        const viaTcp = await asNobody(['curl', '-sS', '--max-time', '5', '-X', route.method, ...body, `${base}${route.path}`], true);
        assert.equal(viaTcp.code, 7, `${route.method} ${base}${route.path}: curl exit ${viaTcp.code} ${viaTcp.stdout}${viaTcp.stderr}`);
        assert.match(viaTcp.stderr, /Connection refused|Couldn't connect/i);
      }
    }

    // nor do the agent's own files let alerts out: the EVE file and the store are not readable
    for (const f of [path.join(dir, 'eve.json'), path.join(dir, 'sentinel.db')]) {
      assert.ok(existsSync(f), f);
      const r = await asNobody(['cat', f]);
      assert.notEqual(r.code, 0, `nobody read ${f}`);
      assert.match(r.stderr, /Permission denied/);
    }

    // nothing happened: same rules, the firewall still enabled, no audit entry, no reload
    const afterRules = await cli(['rules', 'list', '--output', 'json']);
    assert.equal(afterRules.stdout, before.stdout);
    const programs = await cli(['programs', '--output', 'json']);
    assert.match(programs.stdout, /"name": "xdp-firewall",\s+"enabled": true/);
    const audit = await cli(['audit', '--output', 'json']);
    assert.equal(audit.code, 0, audit.stderr);
    assert.deepEqual((JSON.parse(audit.stdout) as { entries: unknown[] }).entries, []);

    await agent!.stop();
    agent = undefined;
    assert.equal(existsSync(DEFAULT_SOCKET), false, 'the socket is removed when the agent stops');
  });

  test('TCP configured (both families, auth on): without a key nobody gets 401 on every guarded route, over IPv4 and IPv6', async () => {
    const keyFile = path.join(dir, 'admin.key');
    writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
    await start(`  http_port: ${TCP_PORT}\n  bind_address: "::"\nauth:\n  enabled: true\n  api_keys:\n    - { name: ops, role: admin, key_file: ${keyFile} }\n`);
    for (const base of [`http://127.0.0.1:${TCP_PORT}`, `http://[::1]:${TCP_PORT}`]) {
      for (const route of GUARDED) {
        const body = route.body ? ['-H', 'content-type: application/json', '--data', route.body] : [];
        const r = await asNobody(['curl', '-sS', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', '-X', route.method, ...body, `${base}${route.path}`], true);
        assert.equal(r.stdout, '401', `nobody: ${route.method} ${base}${route.path}: ${r.stdout} ${r.stderr}\n${agent?.output.slice(-2000)}`);
      }
      // the open endpoints are the documented ones: /healthz and /readyz; /metrics needs a key
      const code = async (p: string): Promise<string> => (await asNobody(['curl', '-sS', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', `${base}${p}`], true)).stdout;
      assert.equal(await code('/healthz'), '200');
      assert.equal(await code('/readyz'), '200');
      assert.equal(await code('/metrics'), '401');
      // the CLI as nobody, pointed at TCP, without a key: refused by the API (exit 1, 401)
      const viaCli = await asNobody([process.execPath, cliBin, 'rules', 'delete', 'allow-ssh', '--api', base], true);
      assert.equal(viaCli.code, 1, viaCli.stderr);
      assert.match(viaCli.stderr, /AUTHENTICATION_REQUIRED \(HTTP 401\)/);
      // and with the key, the same route works over this family
      const ok = await asNobody(['curl', '-sS', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', '-H', `authorization: Bearer ${KEY}`, `${base}/api/v1/alerts`], true);
      assert.equal(ok.stdout, '200');
    }
    // root's CLI still needs no key: the socket is there too
    const status = await cli(['status']);
    assert.equal(status.code, 0, status.stderr);
    const rules = await cli(['rules', 'list', '--output', 'json']);
    assert.match(rules.stdout, /"allow-ssh"/, 'the file rule is still there');
  });
});
