import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApiServer, startApiServer, type RunningApi } from '../../src/api/server.js';
import { readiness, statusResponse } from '../../src/api/status.js';
import type { AgentStatusProvider, ApiDeps } from '../../src/api/types.js';
import type { AgentStatus, ProgramStatus } from '../../src/status/types.js';
import { createLogger, type LineSink } from '../../src/log.js';
import { AgentMetrics } from '../../src/metrics/agent-metrics.js';

/** A real status provider over an in-memory state the test changes between requests. */
class FixtureStatusProvider implements AgentStatusProvider {
  calls = 0;
  failWith: Error | null = null;
  constructor(public state: AgentStatus) {}
  async status(): Promise<AgentStatus> {
    this.calls++;
    if (this.failWith) throw this.failWith;
    return this.state;
  }
}

class LogCollector implements LineSink {
  lines: Record<string, unknown>[] = [];
  write(chunk: string): void {
    for (const l of chunk.split('\n')) if (l) this.lines.push(JSON.parse(l) as Record<string, unknown>);
  }
}

function firewall(over: Partial<ProgramStatus> = {}): ProgramStatus {
  return {
    name: 'xdp-firewall',
    loaded: true,
    attachments: [
      { interface: 'sn-veth4', ifindex: 7, hook: 'xdp', mode: 'native', attached: true },
      { interface: 'sn-veth6', ifindex: 9, hook: 'xdp', mode: 'generic', attached: true },
    ],
    maps: [
      { name: 'fw_rules', type: 'array', max_entries: 8192, entries: 8192 },
      { name: 'fw_lpm_v4', type: 'lpm_trie', max_entries: 262144, entries: 65536 },
      { name: 'fw_lpm_v6', type: 'lpm_trie', max_entries: 262144, entries: 0 },
    ],
    counters: { seen: 1000, passed: 900, dropped: 100, malformed: 2, events: 50, events_lost: 3 },
    ...over,
  };
}

function baseStatus(): AgentStatus {
  return {
    programs: [firewall()],
    events: { received: 47, lost: { ring_full: 1, backpressure: 2 } },
    config: { path: '/etc/ebpfsentinel/config.yaml', loaded_at: new Date('2026-11-26T14:00:00.000Z') },
  };
}

interface Fixture {
  app: FastifyInstance;
  provider: FixtureStatusProvider;
  metrics: AgentMetrics;
  logs: LogCollector;
}

const open: FastifyInstance[] = [];
const running: RunningApi[] = [];
afterEach(async () => {
  for (const a of open.splice(0)) await a.close();
  for (const r of running.splice(0)) await r.close();
});

async function fixture(extra: Partial<ApiDeps> = {}): Promise<Fixture> {
  const provider = new FixtureStatusProvider(baseStatus());
  const metrics = new AgentMetrics({ version: '0.1.0-test', defaultMetrics: false });
  const logs = new LogCollector();
  const app = await buildApiServer({
    status: () => provider.status(),
    registry: metrics.registry,
    refreshMetrics: () => metrics.refresh(),
    logger: createLogger({ level: 'debug', destination: logs }),
    version: '0.1.0-test',
    startedAt: new Date(Date.now() - 5000),
    ...extra,
  });
  open.push(app);
  return { app, provider, metrics, logs };
}

function assertApiError(body: string, code: string): { code: string; message: string } {
  const parsed = JSON.parse(body) as { error: { code: string; message: string } };
  assert.deepEqual(Object.keys(parsed), ['error']);
  assert.deepEqual(Object.keys(parsed.error).sort(), ['code', 'message']);
  assert.equal(parsed.error.code, code);
  assert.ok(parsed.error.message.length > 0);
  return parsed.error;
}

describe('GET /healthz', () => {
  it('answers ok with security headers, without asking the agent', async () => {
    const { app, provider } = await fixture();
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ok' });
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(provider.calls, 0);
  });
});

describe('GET /readyz', () => {
  it('is ready when every configured program is loaded and attached', async () => {
    const { app } = await fixture();
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ready' });
  });

  it('is 503 naming each attachment that is down and why', async () => {
    const { app, provider } = await fixture();
    const fw = firewall();
    fw.attachments[1] = { ...fw.attachments[1]!, attached: false, mode: 'none', error: 'interface not found' };
    provider.state = { ...baseStatus(), programs: [fw, { ...firewall({ name: 'tc-conntrack', loaded: false }) }] };
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 503);
    assert.deepEqual(res.json(), {
      status: 'not_ready',
      reasons: ['xdp-firewall: not attached to sn-veth6 (xdp): interface not found', 'tc-conntrack: not loaded'],
    });
  });

  it('is 503 while starting or stopping', async () => {
    const { app, provider } = await fixture();
    provider.state = { ...baseStatus(), state: 'stopping' };
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 503);
    assert.deepEqual(res.json().reasons, ['agent is stopping']);
  });

  it('is 503 when the status cannot be read, and logs the cause without leaking it', async () => {
    const { app, provider, logs } = await fixture();
    provider.failWith = new Error('secret internal detail /var/lib/x');
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 503);
    assert.deepEqual(res.json(), { status: 'not_ready', reasons: ['agent status unavailable'] });
    assert.doesNotMatch(res.body, /secret/);
    assert.ok(logs.lines.some((l) => l.msg === 'readyz: status provider failed' && JSON.stringify(l.err).includes('secret internal detail')));
  });
});

describe('GET /metrics', () => {
  it('serves the registry as Prometheus text, refreshed at every scrape', async () => {
    const { app, metrics } = await fixture();
    let scrapes = 0;
    metrics.onRefresh(() => {
      scrapes++;
      const n = scrapes * 100;
      metrics.setKernelSnapshot('xdp-firewall', 'sn-veth4', {
        seen: n, passed: n - 10, dropped: 10, malformed: 0, nonIp: 0, bytesSeen: n * 60,
        events: 10, eventsLostFull: 0, eventsLostBackpressure: 0,
      });
    });
    const first = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(first.statusCode, 200);
    assert.match(String(first.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(first.body, /^# TYPE ebpfsentinel_packets_seen_total counter$/m);
    assert.match(first.body, /^ebpfsentinel_packets_seen_total\{program="xdp-firewall",interface="sn-veth4"\} 100$/m);
    const second = await app.inject({ method: 'GET', url: '/metrics' });
    assert.match(second.body, /^ebpfsentinel_packets_seen_total\{program="xdp-firewall",interface="sn-veth4"\} 200$/m);
    assert.match(second.body, /^ebpfsentinel_build_info\{version="0\.1\.0-test"\} 1$/m);
  });
});

describe('GET /api/v1/status', () => {
  it('returns version, uptime, programs with fill ratios, events and config', async () => {
    const { app } = await fixture();
    const res = await app.inject({ method: 'GET', url: '/api/v1/status' });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.version, '0.1.0-test');
    assert.ok(body.uptime_seconds >= 4.9 && body.uptime_seconds < 60, `uptime ${body.uptime_seconds}`);
    assert.equal(body.state, 'running');
    assert.deepEqual(body.events, { received: 47, lost: { ring_full: 1, backpressure: 2 } });
    assert.deepEqual(body.config, { path: '/etc/ebpfsentinel/config.yaml', loaded_at: '2026-11-26T14:00:00.000Z' });
    const [fw] = body.programs;
    assert.equal(fw.name, 'xdp-firewall');
    assert.deepEqual(fw.attachments.map((a: { mode: string }) => a.mode), ['native', 'generic']);
    assert.deepEqual(
      fw.maps.map((m: { name: string; fill_ratio: number }) => [m.name, m.fill_ratio]),
      [['fw_rules', 1], ['fw_lpm_v4', 0.25], ['fw_lpm_v6', 0]],
    );
    assert.deepEqual(fw.counters, { seen: 1000, passed: 900, dropped: 100, malformed: 2, events: 50, events_lost: 3 });
  });

  it('never leaks fields the schema does not declare', async () => {
    const { app, provider } = await fixture();
    const fw = Object.assign(firewall(), { fd: 17, internalHandle: 'x' });
    provider.state = { ...baseStatus(), programs: [fw] };
    const res = await app.inject({ method: 'GET', url: '/api/v1/status' });
    assert.equal(res.statusCode, 200);
    assert.doesNotMatch(res.body, /internalHandle|"fd"/);
  });

  it('rejects unknown query keys by name', async () => {
    const { app } = await fixture();
    const res = await app.inject({ method: 'GET', url: '/api/v1/status?verbose=1' });
    assert.equal(res.statusCode, 400);
    const err = assertApiError(res.body, 'VALIDATION_ERROR');
    assert.match(err.message, /querystring: unknown key "verbose"/);
  });

  it('turns a provider failure into a generic 500 and logs the cause', async () => {
    const { app, provider, logs } = await fixture();
    provider.failWith = new Error('map fd 42 closed');
    const res = await app.inject({ method: 'GET', url: '/api/v1/status' });
    assert.equal(res.statusCode, 500);
    const err = assertApiError(res.body, 'INTERNAL_ERROR');
    assert.doesNotMatch(err.message, /fd 42/);
    assert.ok(logs.lines.some((l) => l.msg === 'API request failed' && JSON.stringify(l.err).includes('map fd 42 closed')));
  });
});

describe('GET /api/v1/programs/:name', () => {
  it('returns one program: enabled, with its status (no control plane: what runs is enabled)', async () => {
    const { app } = await fixture();
    const res = await app.inject({ method: 'GET', url: '/api/v1/programs/xdp-firewall' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().name, 'xdp-firewall');
    assert.equal(res.json().enabled, true);
    assert.equal(res.json().status.maps[1].fill_ratio, 0.25);
  });

  it('is 404 with the known names for an unknown program', async () => {
    const { app } = await fixture();
    const res = await app.inject({ method: 'GET', url: '/api/v1/programs/tc-dns' });
    assert.equal(res.statusCode, 404);
    const err = assertApiError(res.body, 'PROGRAM_NOT_FOUND');
    assert.equal(err.message, 'no program named "tc-dns" (known: xdp-firewall)');
  });

  it('is 400 for a name that cannot be a program', async () => {
    const { app } = await fixture();
    const res = await app.inject({ method: 'GET', url: '/api/v1/programs/Not_A_Program' });
    assert.equal(res.statusCode, 400);
    assert.match(assertApiError(res.body, 'VALIDATION_ERROR').message, /^params\/name must match pattern/);
  });

  it('enable/disable need the control plane: 503 naming what is missing', async () => {
    const { app } = await fixture();
    const res = await app.inject({ method: 'POST', url: '/api/v1/programs/xdp-firewall/disable' });
    assert.equal(res.statusCode, 503);
    assert.equal(assertApiError(res.body, 'SERVICE_UNAVAILABLE').message, 'runtime program control is not available in this agent');
  });
});

describe('errors', () => {
  it('answers unknown routes and methods with the one error shape', async () => {
    const { app } = await fixture();
    const res = await app.inject({ method: 'GET', url: '/api/v1/nothing?x=1' });
    assert.equal(res.statusCode, 404);
    assert.equal(assertApiError(res.body, 'NOT_FOUND').message, 'no route for GET /api/v1/nothing');
    const post = await app.inject({ method: 'DELETE', url: '/healthz' });
    assert.equal(post.statusCode, 404);
    assertApiError(post.body, 'NOT_FOUND');
  });

  it('refuses bodies over 64 KiB before parsing them', async () => {
    const { app } = await fixture();
    const res = await app.inject({
      method: 'POST',
      url: '/healthz',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ pad: 'x'.repeat(70 * 1024) }),
    });
    assert.equal(res.statusCode, 413);
    assertApiError(res.body, 'PAYLOAD_TOO_LARGE');
  });
});

describe('readiness() and statusResponse()', () => {
  it('treats an agent with no state as running and rounds fill ratios', () => {
    const s = baseStatus();
    assert.deepEqual(readiness(s), { ready: true, reasons: [] });
    const r = statusResponse(s, '1.0.0', new Date(1000), new Date(3550));
    assert.equal(r.uptime_seconds, 2.6);
    assert.equal(r.programs[0]!.maps[1]!.fill_ratio, 0.25);
  });
});

describe('startApiServer', () => {
  async function deps(): Promise<ApiDeps> {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    return {
      status: () => baseStatus(),
      registry: metrics.registry,
      logger: createLogger({ level: 'silent' }),
      version: '0.1.0-test',
    };
  }

  it('listens on IPv4 loopback and serves real HTTP', async () => {
    const api = await startApiServer(await deps(), { bindAddress: '127.0.0.1', port: 0, allowUnauthenticated: true });
    running.push(api);
    assert.match(api.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${api.url}/api/v1/status`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { version: string }).version, '0.1.0-test');
  });

  it('listens on IPv6 loopback too', async () => {
    const api = await startApiServer(await deps(), { bindAddress: '::1', port: 0, allowUnauthenticated: true });
    running.push(api);
    assert.match(api.url, /^http:\/\/\[::1\]:\d+$/);
    const res = await fetch(`${api.url}/healthz`);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  it('fails with the address in the message when the port is taken', async () => {
    const first = await startApiServer(await deps(), { bindAddress: '127.0.0.1', port: 0, allowUnauthenticated: true });
    running.push(first);
    await assert.rejects(
      startApiServer(await deps(), { bindAddress: '127.0.0.1', port: first.port!, allowUnauthenticated: true }),
      new RegExp(`API: cannot listen on 127\\.0\\.0\\.1:${first.port}: .*EADDRINUSE`),
    );
  });
});
