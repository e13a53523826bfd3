// The API's Unix socket, over real sockets: created owner-only (0600, or 0660 for a group) in a
// directory nobody else can write, served as admin without keys while the TCP listener of the
// same server demands them, a stale socket replaced and a live one refused, removed on close; and
// the CLI reaching it by --socket and EBPFSENTINEL_SOCKET.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { apiAuth } from '../../src/api/auth/index.js';
import { startApiServer, type RunningApi } from '../../src/api/server.js';
import type { ApiDeps } from '../../src/api/types.js';
import { authSchema } from '../../src/config/sections/auth.js';
import { AGENT_BIN } from '../../src/demo/agent-process.js';
import { createLogger } from '../../src/log.js';
import { AgentMetrics } from '../../src/metrics/agent-metrics.js';
import { KEYS } from '../support/api-fixture.js';

const dir = mkdtempSync(path.join(tmpdir(), 'esn-sock-'));
const running: RunningApi[] = [];
after(async () => {
  for (const a of running) await a.close();
  rmSync(dir, { recursive: true, force: true });
});

function deps(authOn = true): ApiDeps {
  const metrics = new AgentMetrics({ defaultMetrics: false });
  const log = createLogger({ level: 'silent' });
  return {
    status: () => ({ programs: [], events: { received: 0, lost: {} }, config: { path: null, loaded_at: null } }),
    registry: metrics.registry,
    logger: log,
    version: 'sock-test',
    auth: apiAuth(authSchema.parse(authOn ? { enabled: true, api_keys: [{ name: 'v', key: KEYS.viewer, role: 'viewer' }] } : {}), { log }),
  };
}

function overSocket(socketPath: string, method: string, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: p }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

let n = 0;
const sockIn = (sub: string): string => path.join(dir, `${sub}-${++n}`, 'api.sock');

describe('API socket', () => {
  it('is a socket of mode 0600 in a directory created 0700; served as admin without keys while TCP needs one', async () => {
    const socketPath = sockIn('a');
    const api = await startApiServer(deps(), { socketPath, bindAddress: '127.0.0.1', port: 0 });
    running.push(api);
    const st = statSync(socketPath);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, process.geteuid!());
    assert.equal(statSync(path.dirname(socketPath)).mode & 0o777, 0o700);
    assert.equal(api.socketPath, socketPath);
    assert.match(api.url, /^http:\/\/127\.0\.0\.1:\d+$/);

    const viaSocket = await overSocket(socketPath, 'GET', '/api/v1/status');
    assert.equal(viaSocket.status, 200, viaSocket.body);
    // an operator route passes authentication on the socket (503: no control plane wired here)
    const reload = await overSocket(socketPath, 'POST', '/api/v1/config/reload');
    assert.equal(reload.status, 503, reload.body);
    const audit = await overSocket(socketPath, 'GET', '/api/v1/audit');
    assert.equal(audit.status, 503, `admin-only route passes too: ${audit.body}`);

    for (const host of ['127.0.0.1']) {
      const anon = await fetch(`http://${host}:${api.port}/api/v1/status`);
      assert.equal(anon.status, 401, 'TCP needs a key');
      const viewer = await fetch(`http://${host}:${api.port}/api/v1/status`, { headers: { authorization: `Bearer ${KEYS.viewer}` } });
      assert.equal(viewer.status, 200);
      const write = await fetch(`http://${host}:${api.port}/api/v1/config/reload`, { method: 'POST', headers: { authorization: `Bearer ${KEYS.viewer}` } });
      assert.equal(write.status, 403, 'a viewer key cannot write over TCP');
    }
    await api.close();
    running.pop();
    assert.equal(existsSync(socketPath), false, 'the socket file is removed on close');
  });

  it('a group gets 0660 and owns the directory; a socket alone (no TCP) needs no auth settings at all', async () => {
    const socketPath = sockIn('g');
    const gid = process.getegid!();
    const api = await startApiServer(deps(false), { socketPath, socketGroup: gid });
    running.push(api);
    const st = statSync(socketPath);
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.gid, gid);
    assert.equal(statSync(path.dirname(socketPath)).mode & 0o777, 0o750);
    assert.equal(api.port, null);
    assert.equal(api.url, `unix:${socketPath}`);
    assert.equal((await overSocket(socketPath, 'GET', '/healthz')).status, 200);
    await assert.rejects(startApiServer(deps(false), { socketPath: sockIn('g'), socketGroup: 'no-such-group-esn' }), /agent\.api_socket_group: no group "no-such-group-esn"/);
  });

  it('a stale socket is replaced, a live one refused, a non-socket refused, a directory others can write refused', async () => {
    const socketPath = sockIn('s');
    mkdirSync(path.dirname(socketPath), { mode: 0o700 });
    // a socket left behind by a process that died: bound, then its listener closed without unlink
    const stale = net.createServer();
    await new Promise<void>((r) => stale.listen(socketPath, r));
    // keep the file, drop the listener: rename away (closing would remove it), close, rename back
    const keep = `${socketPath}.keep`;
    renameSync(socketPath, keep);
    await new Promise<void>((r) => stale.close(() => r()));
    renameSync(keep, socketPath);
    assert.ok(statSync(socketPath).isSocket(), 'a dead socket file is there');
    const api = await startApiServer(deps(false), { socketPath });
    running.push(api);
    assert.equal((await overSocket(socketPath, 'GET', '/healthz')).status, 200);

    await assert.rejects(startApiServer(deps(false), { socketPath }), /another process serves .*api\.sock \(another agent\?\); give this instance its own agent\.api_socket/);

    const plain = sockIn('f');
    mkdirSync(path.dirname(plain), { mode: 0o700 });
    writeFileSync(plain, 'not a socket');
    await assert.rejects(startApiServer(deps(false), { socketPath: plain }), /exists and is not a socket/);
    unlinkSync(plain);

    const open = sockIn('w');
    mkdirSync(path.dirname(open));
    chmodSync(path.dirname(open), 0o777);
    await assert.rejects(startApiServer(deps(false), { socketPath: open }), /is writable by group or others \(mode 777\), so anyone could replace the socket: chmod go-w/);
  });

  it('the CLI reaches it by --socket and EBPFSENTINEL_SOCKET, and says what is wrong when it cannot', async () => {
    const socketPath = sockIn('c');
    const api = await startApiServer(deps(), { socketPath });
    running.push(api);
    const cli = (args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        const c = spawn(process.execPath, [AGENT_BIN, ...args], { env: { ...process.env, EBPFSENTINEL_API: '', EBPFSENTINEL_SOCKET: '', EBPFSENTINEL_TOKEN: '', ...env } });
        let stdout = '';
        let stderr = '';
        c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        c.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const flag = await cli(['status', '--socket', socketPath, '--output', 'json']);
    assert.equal(flag.code, 0, flag.stderr);
    assert.equal((JSON.parse(flag.stdout) as { version: string }).version, 'sock-test');
    const env = await cli(['status'], { EBPFSENTINEL_SOCKET: socketPath });
    assert.equal(env.code, 0, env.stderr);
    assert.match(env.stdout, /version sock-test/);
    const missing = await cli(['status', '--socket', path.join(dir, 'nope.sock')]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /cannot reach the agent at unix:.*nope\.sock .*ENOENT.*is the agent running\?/);
    const both = await cli(['status', '--socket', socketPath, '--api', 'http://127.0.0.1:9']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--socket and --api name two ways to the agent/);
  });
});
