// The server's own guarantees, over real sockets where they matter: the alert stream's resume
// (no gap, no duplicate across a reconnect during a burst) and its bound on a slow reader; the
// OpenAPI document; per-client read/write rate limits; the body limit; TLS; the loopback
// interlock; request metrics.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exposureRefusal, startApiServer, type RunningApi } from '../../src/api/server.js';
import { AGENT_BIN } from '../../src/demo/agent-process.js';
import { parseConfigText } from '../../src/catalog.js';
import { createLogger } from '../../src/log.js';
import { AgentMetrics } from '../../src/metrics/agent-metrics.js';
import { SseParser, type SseEvent } from '../../src/cli/sse-client.js';
import { alert, CONFIG, KEYS, routeFixture, type RouteFixture } from '../support/api-fixture.js';

const auth = { authorization: `Bearer ${KEYS.viewer}` };

/** A real HTTP connection to the stream; collects events until stopped. */
function openStream(base: string, headers: Record<string, string>, query = ''): {
  events: SseEvent[];
  res: Promise<http.IncomingMessage>;
  ended: Promise<void>;
  stop(): void;
} {
  const events: SseEvent[] = [];
  const parser = new SseParser();
  let req!: http.ClientRequest;
  let endedResolve!: () => void;
  const ended = new Promise<void>((r) => (endedResolve = r));
  const res = new Promise<http.IncomingMessage>((resolve, reject) => {
    req = http.get(`${base}/api/v1/alerts/stream${query}`, { headers: { ...auth, ...headers } }, (r) => {
      r.setEncoding('utf8');
      r.on('data', (c: string) => events.push(...parser.push(c)));
      r.on('end', endedResolve);
      r.on('close', endedResolve);
      resolve(r);
    });
    req.on('error', (e) => {
      endedResolve();
      reject(e);
    });
  });
  return { events, res, ended, stop: () => req.destroy() };
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const alertIds = (evs: SseEvent[]): number[] => evs.filter((e) => e.event === 'alert').map((e) => Number(e.id));

describe('SSE alert stream', () => {
  let f: RouteFixture;
  let api: RunningApi;
  before(async () => {
    f = await routeFixture(CONFIG);
    api = { app: f.app, url: '', port: 0, socketPath: null, close: () => f.app.close() };
    await f.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = f.app.server.address();
    api.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });
  after(() => f.close());

  it('frames: id = store id, event: alert, data = EVE JSON of that alert (IPv4 and IPv6)', async () => {
    const [, last] = f.store.alerts.insertBatch([alert(0), alert(1)]);
    const s = openStream(api.url, { 'last-event-id': String(last!.id - 2) });
    await until(() => alertIds(s.events).length === 2, 'two replayed alerts');
    s.stop();
    const [a4, a6] = s.events.filter((e) => e.event === 'alert');
    const d4 = JSON.parse(a4!.data) as { id: number; event_type: string; src_ip: string; community_id: string };
    const d6 = JSON.parse(a6!.data) as { src_ip: string };
    assert.equal(Number(a4!.id), d4.id);
    assert.equal(d4.event_type, 'alert');
    assert.equal(d4.src_ip, '198.18.0.1');
    assert.match(d4.community_id, /^1:/);
    assert.equal(d6.src_ip, '2001:db8:1::2');
  });

  it('resumes across a reconnect during a burst with no gap and no duplicate', async () => {
    const startId = f.store.alerts.insertBatch([alert(100)])[0]!.id;
    const total = 3000;
    let inserted = 0;
    // the burst: batches committed while clients connect, read, drop and reconnect
    const burst = (async () => {
      while (inserted < total) {
        const n = Math.min(50, total - inserted);
        f.store.alerts.insertBatch(Array.from({ length: n }, (_, k) => alert(inserted + k)));
        inserted += n;
        await new Promise((r) => setImmediate(r));
      }
    })();
    const got: number[] = [];
    let last = startId;
    // three connections, each dropped by the client after some alerts, the last reads to the end
    for (const stopAfter of [400, 900, Infinity]) {
      const s = openStream(api.url, { 'last-event-id': String(last) });
      await s.res;
      await until(() => alertIds(s.events).length >= Math.min(stopAfter, total - got.length) || (stopAfter === Infinity && got.length + alertIds(s.events).length >= total), 'alerts on this connection', 30_000);
      s.stop();
      const ids = alertIds(s.events);
      got.push(...ids);
      last = ids.length ? ids[ids.length - 1]! : last;
    }
    await burst;
    assert.equal(got.length, total, `received ${got.length} of ${total}`);
    assert.equal(new Set(got).size, total, 'no duplicates');
    assert.deepEqual(got, Array.from({ length: total }, (_, i) => startId + 1 + i), 'ids consecutive from the resume point: no gap');
  });

  it('?last_event_id works like the header; a bad Last-Event-ID is a 400 naming it', async () => {
    const id = f.store.alerts.insertBatch([alert(7)])[0]!.id;
    const s = openStream(api.url, {}, `?last_event_id=${id - 1}`);
    await until(() => alertIds(s.events).includes(id), 'the alert after last_event_id');
    s.stop();
    const bad = await f.app.inject({ method: 'GET', url: '/api/v1/alerts/stream', headers: { ...auth, 'last-event-id': 'abc' } });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /Last-Event-ID/);
  });

  it('live-only without Last-Event-ID, with the min_severity filter', async () => {
    const s = openStream(api.url, {}, '?min_severity=critical');
    await s.res;
    await until(() => s.events.length >= 0, 'open');
    await new Promise((r) => setTimeout(r, 50));
    const rows = f.store.alerts.insertBatch(Array.from({ length: 8 }, (_, i) => alert(i)));
    const critical = rows.filter((r) => r.alert.severity === 'critical').map((r) => r.id);
    await until(() => alertIds(s.events).length >= critical.length, 'critical alerts');
    await new Promise((r) => setTimeout(r, 50));
    s.stop();
    assert.deepEqual(alertIds(s.events), critical);
  });
});

describe('SSE keepalive', () => {
  it('sends a keepalive comment every sseKeepaliveMs on an idle stream', async () => {
    const f = await routeFixture(CONFIG, { sseKeepaliveMs: 50 });
    try {
      await f.app.listen({ host: '::1', port: 0 });
      const addr = f.app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      const raw = await new Promise<string>((resolve, reject) => {
        let text = '';
        const req = http.get(`http://[::1]:${port}/api/v1/alerts/stream`, { headers: auth }, (res) => {
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          setTimeout(() => {
            req.destroy();
            resolve(text);
          }, 400);
        });
        req.on('error', reject);
      });
      assert.match(raw, /^retry: 2000$/m);
      assert.ok((raw.match(/^: keepalive$/gm) ?? []).length >= 3, `keepalives in ${JSON.stringify(raw)}`);
    } finally {
      await f.close();
    }
  });
});

describe('SSE slow client', () => {
  it('is cut off with a resume event once its unsent bytes pass the bound, and resumes from there without loss', async () => {
    const f = await routeFixture(CONFIG, { sseMaxBufferedBytes: 64 * 1024 });
    try {
      await f.app.listen({ host: '127.0.0.1', port: 0 });
      const addr = f.app.server.address();
      const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
      const base = f.store.alerts.insertBatch([alert(0)])[0]!.id;
      const s = openStream(url, { 'last-event-id': String(base) });
      const res = await s.res;
      res.pause(); // a reader that stops reading
      await new Promise((r) => setTimeout(r, 50));
      for (let i = 0; i < 60; i++) {
        f.store.alerts.insertBatch(Array.from({ length: 200 }, (_, k) => alert(i * 200 + k)));
        await new Promise((r) => setImmediate(r));
      }
      res.resume();
      await s.ended;
      const resume = s.events.at(-1)!;
      assert.equal(resume.event, 'resume', 'the last event tells the client to resume');
      const info = JSON.parse(resume.data) as { last_event_id: number; reason: string };
      assert.match(info.reason, /too slow/);
      const first = alertIds(s.events);
      assert.ok(first.length < 12_000, `cut off before the end (${first.length})`);
      assert.equal(first.at(-1), info.last_event_id);
      // resuming from the id in the resume event gets the rest, nothing twice
      const rest = openStream(url, { 'last-event-id': String(info.last_event_id) });
      await until(() => first.length + alertIds(rest.events).length >= 12_000, `the rest after resume (cut at ${first.length}, then ${alertIds(rest.events).length})`, 30_000);
      rest.stop();
      const all = [...first, ...alertIds(rest.events)];
      assert.deepEqual(all, Array.from({ length: 12_000 }, (_, i) => base + 1 + i));
      const m = await f.app.inject({ method: 'GET', url: '/metrics', headers: auth });
      assert.match(m.body, /^ebpfsentinel_api_sse_streams_total\{outcome="too_slow"\} 1$/m);
      // streams are requests too, counted when they end
      assert.match(m.body, /^ebpfsentinel_api_requests_total\{route="\/api\/v1\/alerts\/stream",method="GET",status="200"\} [12]$/m);
    } finally {
      await f.close();
    }
  });
});

describe('OpenAPI', () => {
  let f: RouteFixture;
  before(async () => {
    f = await routeFixture();
  });
  after(() => f.close());

  it('lists every route with its schemas and security, and every $ref resolves', async () => {
    const res = await f.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    const doc = res.json() as {
      openapi: string;
      paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown[]; parameters?: { in: string; name: string }[]; requestBody?: unknown; 'x-min-role'?: string }>>;
      components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
    };
    assert.equal(doc.openapi, '3.0.3');
    const ops = Object.entries(doc.paths).flatMap(([p, methods]) => Object.keys(methods).filter((m) => m !== 'parameters').map((m) => `${m.toUpperCase()} ${p}`));
    const expected = [
      'GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /api/v1/status', 'GET /api/v1/programs', 'GET /api/v1/programs/{name}',
      'POST /api/v1/programs/{name}/enable', 'POST /api/v1/programs/{name}/disable', 'GET /api/v1/firewall/rules', 'POST /api/v1/firewall/rules',
      'GET /api/v1/firewall/rules/{id}', 'PUT /api/v1/firewall/rules/{id}', 'DELETE /api/v1/firewall/rules/{id}', 'GET /api/v1/firewall/rules/{id}/history',
      'GET /api/v1/alerts', 'GET /api/v1/alerts/stream', 'GET /api/v1/config', 'POST /api/v1/config/reload', 'GET /api/v1/audit',
    ];
    for (const op of expected) assert.ok(ops.includes(op), `${op} is in the document (has: ${ops.join(', ')})`);
    for (const [p, methods] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(methods)) {
        assert.ok(op.responses && Object.keys(op.responses).some((c) => c.startsWith('2')), `${m} ${p} documents a success response`);
        const isPublic = ['/healthz', '/readyz'].includes(p);
        assert.deepEqual(op.security ?? [], isPublic ? [] : [{ bearer: [] }, { apiKey: [] }], `${m} ${p} security`);
        assert.ok(['public', 'viewer', 'operator', 'admin'].includes(op['x-min-role'] ?? ''), `${m} ${p} states its least role`);
      }
    }
    assert.ok(doc.paths['/api/v1/firewall/rules']!.post!.requestBody, 'POST rules documents its body');
    assert.equal(doc.paths['/api/v1/audit']!.get!['x-min-role'], 'admin');
    assert.equal(doc.paths['/api/v1/firewall/rules']!.post!['x-min-role'], 'operator');
    assert.ok(doc.paths['/api/v1/alerts']!.get!.parameters!.some((x) => x.in === 'query' && x.name === 'min_severity'));
    assert.ok(doc.components.securitySchemes.bearer && doc.components.securitySchemes.apiKey);
    // every $ref points at something that exists
    const text = res.body;
    for (const m of text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) {
      assert.ok(doc.components.schemas[m[1]!], `$ref ${m[1]} resolves`);
    }
    assert.match(text, /#\/components\/schemas\/ApiError/);
  });

  it('serves Swagger UI at /docs without credentials', async () => {
    const res = await f.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /swagger/i);
  });
});

describe('limits', () => {
  it('rate limits reads and writes per client in separate budgets: 429 with Retry-After and the error shape', async () => {
    const f = await routeFixture(CONFIG, { rateLimit: { enabled: true, window_seconds: 60, reads_per_window: 5, writes_per_window: 2 } });
    try {
      const read = () => f.app.inject({ method: 'GET', url: '/api/v1/status', headers: auth, remoteAddress: '198.18.9.1' });
      for (let i = 0; i < 5; i++) assert.equal((await read()).statusCode, 200);
      const limited = await read();
      assert.equal(limited.statusCode, 429);
      assert.ok(Number(limited.headers['retry-after']) >= 1, `Retry-After: ${limited.headers['retry-after']}`);
      assert.match(JSON.parse(limited.body).error.message, /read budget of 5 requests per 60 s/);
      assert.equal(JSON.parse(limited.body).error.code, 'RATE_LIMITED');
      // another client (IPv6) has its own budget; health probes are never limited
      assert.equal((await f.app.inject({ method: 'GET', url: '/api/v1/status', headers: auth, remoteAddress: '2001:db8::9' })).statusCode, 200);
      assert.equal((await f.app.inject({ method: 'GET', url: '/healthz', remoteAddress: '198.18.9.1' })).statusCode, 200);
      // writes are a separate budget: still open after reads ran out
      const write = (i: number) =>
        f.app.inject({ method: 'POST', url: '/api/v1/firewall/rules', headers: { authorization: `Bearer ${KEYS.operator}` }, payload: { id: `rl-${i}`, priority: 500 + i, action: 'log' }, remoteAddress: '198.18.9.1' });
      assert.equal((await write(1)).statusCode, 201);
      assert.equal((await write(2)).statusCode, 201);
      const w3 = await write(3);
      assert.equal(w3.statusCode, 429);
      assert.match(JSON.parse(w3.body).error.message, /write budget of 2/);
      const m = await f.app.inject({ method: 'GET', url: '/metrics', headers: auth, remoteAddress: '198.18.9.2' });
      assert.match(m.body, /^ebpfsentinel_api_rate_limited_total\{class="read"\} 1$/m);
      assert.match(m.body, /^ebpfsentinel_api_rate_limited_total\{class="write"\} 1$/m);
    } finally {
      await f.close();
    }
  });

  it('counts requests before authentication: a client guessing keys is limited like any other', async () => {
    const f = await routeFixture(CONFIG, { rateLimit: { enabled: true, window_seconds: 60, reads_per_window: 3, writes_per_window: 3 } });
    try {
      const guess = (i: number) => f.app.inject({ method: 'GET', url: '/api/v1/status', headers: { authorization: `Bearer guess-${i}-0123456789abcdef` }, remoteAddress: '2001:db8::bad' });
      for (let i = 0; i < 3; i++) assert.equal((await guess(i)).statusCode, 401);
      const limited = await guess(3);
      assert.equal(limited.statusCode, 429);
      assert.equal(JSON.parse(limited.body).error.code, 'RATE_LIMITED');
      // even the right key waits out the window from that address
      assert.equal((await f.app.inject({ method: 'GET', url: '/api/v1/status', headers: auth, remoteAddress: '2001:db8::bad' })).statusCode, 429);
    } finally {
      await f.close();
    }
  });

  it('refuses a body over 64 KiB with 413 before parsing it', async () => {
    const f = await routeFixture();
    try {
      const res = await f.app.inject({
        method: 'POST',
        url: '/api/v1/firewall/rules',
        headers: { authorization: `Bearer ${KEYS.operator}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ id: 'big', priority: 1, action: 'drop', description: 'x'.repeat(70 * 1024) }),
      });
      assert.equal(res.statusCode, 413);
      assert.equal(JSON.parse(res.body).error.code, 'PAYLOAD_TOO_LARGE');
      const list = await f.app.inject({ method: 'GET', url: '/api/v1/firewall/rules?source=api', headers: auth });
      assert.deepEqual(list.json().rules, []);
    } finally {
      await f.close();
    }
  });

  it('counts requests by route template, method and status (no raw URLs as labels)', async () => {
    const f = await routeFixture();
    try {
      await f.app.inject({ method: 'GET', url: '/api/v1/firewall/rules/file-ssh', headers: auth });
      await f.app.inject({ method: 'GET', url: '/api/v1/firewall/rules/nope', headers: auth });
      await f.app.inject({ method: 'GET', url: '/random/probe/123', headers: auth });
      const m = (await f.app.inject({ method: 'GET', url: '/metrics', headers: auth })).body;
      assert.match(m, /^ebpfsentinel_api_requests_total\{route="\/api\/v1\/firewall\/rules\/:id",method="GET",status="200"\} 1$/m);
      assert.match(m, /^ebpfsentinel_api_requests_total\{route="\/api\/v1\/firewall\/rules\/:id",method="GET",status="404"\} 1$/m);
      assert.match(m, /^ebpfsentinel_api_requests_total\{route="unmatched",method="GET",status="404"\} 1$/m);
      assert.doesNotMatch(m, /random\/probe/);
      assert.match(m, /^ebpfsentinel_api_request_duration_seconds_bucket\{le="\+Inf",route="\/api\/v1\/firewall\/rules\/:id",method="GET"\} 2$/m);
    } finally {
      await f.close();
    }
  });
});

describe('TLS and exposure', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'esn-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ], { stdio: 'pipe' });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const deps = () => {
    const metrics = new AgentMetrics({ defaultMetrics: false });
    return {
      status: () => ({ programs: [], events: { received: 0, lost: {} }, config: { path: null, loaded_at: null } }),
      registry: metrics.registry,
      logger: createLogger({ level: 'silent' }),
      version: 'tls-test',
    };
  };

  function get(url: string, ca?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
    const lib = url.startsWith('https:') ? https : http;
    return new Promise((resolve, reject) => {
      lib.get(url, ca ? { ca } : {}, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      }).on('error', reject);
    });
  }

  for (const host of ['127.0.0.1', '::1']) {
    it(`serves HTTPS on ${host} with the configured cert (trusted by its CA), HSTS set; an untrusted client is refused`, async () => {
      const api = await startApiServer(deps(), { bindAddress: host, port: 0, allowUnauthenticated: true, tls: { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') } });
      try {
        assert.match(api.url, /^https:\/\//);
        const ca = readFileSync(path.join(dir, 'cert.pem'));
        const res = await get(`${api.url}/api/v1/status`, ca);
        assert.equal(res.status, 200);
        assert.equal(JSON.parse(res.body).version, 'tls-test');
        assert.equal(res.headers['strict-transport-security'], 'max-age=31536000');
        await assert.rejects(get(`${api.url}/healthz`), /self.signed|certificate/i);
        await assert.rejects(get(api.url.replace('https:', 'http:') + '/healthz'));
      } finally {
        await api.close();
      }
    });
  }

  it('the CLI talks HTTPS with --cacert (exit 0, both output formats) and refuses an untrusted certificate (exit 3)', async () => {
    const api = await startApiServer(deps(), { bindAddress: '127.0.0.1', port: 0, allowUnauthenticated: true, tls: { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') } });
    try {
      // asynchronous: the server under test runs in this process's event loop
      const cli = (...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> =>
        new Promise((resolve) => {
          const c = spawn(process.execPath, [AGENT_BIN, ...args], { env: { ...process.env, EBPFSENTINEL_TOKEN: '', EBPFSENTINEL_CACERT: '' } });
          let stdout = '';
          let stderr = '';
          c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
          c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
          c.on('close', (status) => resolve({ status, stdout, stderr }));
        });
      const ok = await cli('status', '--api', api.url, '--cacert', path.join(dir, 'cert.pem'), '--output', 'json');
      assert.equal(ok.status, 0, ok.stderr);
      assert.equal((JSON.parse(ok.stdout) as { version: string }).version, 'tls-test');
      const table = await cli('status', '--api', api.url, '--cacert', path.join(dir, 'cert.pem'));
      assert.equal(table.status, 0, table.stderr);
      assert.match(table.stdout, /^agent\s+running, version tls-test/m);
      const untrusted = await cli('status', '--api', api.url);
      assert.equal(untrusted.status, 3);
      assert.match(untrusted.stderr, /cannot reach the agent at https:\/\/127\.0\.0\.1:\d+ .*(self.signed|certificate)/i);
      const noFile = await cli('status', '--api', api.url, '--cacert', path.join(dir, 'nope.pem'));
      assert.equal(noFile.status, 2);
      assert.match(noFile.stderr, /--cacert: cannot read .*nope\.pem: ENOENT/);
    } finally {
      await api.close();
    }
  });

  it('names the file it cannot read', async () => {
    await assert.rejects(startApiServer(deps(), { port: 0, allowUnauthenticated: true, tls: { cert: path.join(dir, 'missing.pem'), key: path.join(dir, 'key.pem') } }), /agent\.tls\.cert: cannot read .*missing\.pem: ENOENT/);
  });

  it('refuses TCP without auth, loopback included, unless allowed; the config says the same naming both keys', async () => {
    await assert.rejects(startApiServer(deps(), { bindAddress: '0.0.0.0', port: 0 }), /refusing to listen on 0\.0\.0\.0 \(TCP\) without authentication, which would let other hosts in.*auth\.enabled.*agent\.allow_unauthenticated_api/);
    await assert.rejects(startApiServer(deps(), { bindAddress: '127.0.0.1', port: 0 }), /refusing to listen on 127\.0\.0\.1 \(TCP\) without authentication, which would let every local user in/);
    await assert.rejects(startApiServer(deps(), { bindAddress: '::1', port: 0 }), /refusing to listen on ::1 \(TCP\)/);
    assert.equal(exposureRefusal('::', true, false), null);
    assert.equal(exposureRefusal('::', false, true), null);
    assert.match(exposureRefusal('::1', false, false)!, /refusing/);
    assert.throws(() => parseConfigText('agent:\n  interfaces: [eth1]\n  http_port: 8080\n  bind_address: "::"\n', 'c.yaml'), /agent\.http_port: the API listens on TCP \(:::8080\) only with authentication.*agent\.allow_unauthenticated_api: true to let every host that reaches it call it as admin/);
    assert.throws(() => parseConfigText('agent:\n  interfaces: [eth1]\n  http_port: 8080\n', 'c.yaml'), /agent\.http_port: the API listens on TCP \(127\.0\.0\.1:8080\) only with authentication.*every local user/);
    const withAuth = parseConfigText(`agent:\n  interfaces: [eth1]\n  http_port: 8443\n  bind_address: 198.18.0.1\nauth:\n  enabled: true\n  api_keys: [{ name: a, key: ${KEYS.admin}, role: admin }]\n`, 'c.yaml');
    assert.equal(withAuth.agent.bind_address, '198.18.0.1');
    const optOut = parseConfigText('agent:\n  interfaces: [eth1]\n  http_port: 0\n  allow_unauthenticated_api: true\n', 'c.yaml');
    assert.equal(optOut.agent.http_port, 0);
  });

  it('config: tls needs both files as absolute paths; rate limits are bounded; reference keys get a pointer', () => {
    assert.throws(() => parseConfigText('agent:\n  interfaces: [eth1]\n  tls: { cert: relative.pem, key: /k.pem }\n', 'c.yaml'), /agent\.tls\.cert: expected an absolute path/);
    assert.throws(() => parseConfigText('agent:\n  interfaces: [eth1]\n  tls: { cert: /c.pem }\n', 'c.yaml'), /agent\.tls\.key/);
    assert.throws(() => parseConfigText('agent:\n  interfaces: [eth1]\n  tls: { cert: /c.pem, key: /k.pem }\n', 'c.yaml'), /agent\.tls: applies to the TCP listener, which is off: set agent\.http_port too/);
    assert.throws(() => parseConfigText('agent:\n  interfaces: [eth1]\n  bind_address: "::1"\n', 'c.yaml'), /agent\.bind_address: applies to the TCP listener, which is off/);
    assert.throws(() => parseConfigText('agent:\n  interfaces: [eth1]\n  tls: { enabled: true, cert_path: /c.pem }\n', 'c.yaml'), /use agent\.tls\.cert/);
    assert.throws(() => parseConfigText('agent:\n  interfaces: [eth1]\n  api_rate_limit: { reads_per_window: 0 }\n', 'c.yaml'), /agent\.api_rate_limit\.reads_per_window: expected requests 1-1000000/);
    assert.throws(() => parseConfigText('agent:\n  interfaces: [eth1]\n  api_rate_limit: { write_burst: 5 }\n', 'c.yaml'), /writes_per_window/);
    const c = parseConfigText('agent:\n  interfaces: [eth1]\n  http_port: 8443\n  allow_unauthenticated_api: true\n  tls: { cert: /etc/c.pem, key: /etc/k.pem }\n  api_rate_limit: { writes_per_window: 10 }\n  swagger_ui: false\n', 'c.yaml');
    assert.deepEqual(c.agent.tls, { cert: '/etc/c.pem', key: '/etc/k.pem' });
    assert.deepEqual(c.agent.api_rate_limit, { enabled: true, window_seconds: 60, reads_per_window: 1200, writes_per_window: 10 });
    assert.equal(c.agent.swagger_ui, false);
  });
});
