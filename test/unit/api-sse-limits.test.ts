// Concurrent alert streams are bounded per client and in total, over real connections on IPv4
// and IPv6 loopback: past a bound the stream is refused with 429 (TOO_MANY_STREAMS, Retry-After),
// counted by the bound that refused it, and a slot freed by a closed stream is usable again.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { apiOptionsFromAgentConfig } from '../../src/api/server.js';
import { parseConfigText } from '../../src/catalog.js';
import { MetricsSnapshot } from '../../src/demo/prom.js';
import { CONFIG, KEYS, routeFixture, type RouteFixture } from '../support/api-fixture.js';

interface Opened {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Promise<string>;
  close(): void;
}

/** Opens the stream and resolves once the status line is in (the body keeps coming for a 200). */
function open(base: string): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}/api/v1/alerts/stream`, { headers: { authorization: `Bearer ${KEYS.viewer}` } }, (res) => {
      let text = '';
      const body = new Promise<string>((r) => {
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => r(text));
        res.on('close', () => r(text));
      });
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

describe('SSE: concurrent streams are bounded', () => {
  let f: RouteFixture;
  let v4: string;
  let v6: string;
  const opened: Opened[] = [];
  before(async () => {
    f = await routeFixture(CONFIG, { sseMaxStreams: 3, sseMaxStreamsPerClient: 2 });
    // dual-stack: IPv4 clients arrive as ::ffff:127.0.0.1 and count as 127.0.0.1
    await f.app.listen({ host: '::', port: 0 });
    const addr = f.app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    v4 = `http://127.0.0.1:${port}`;
    v6 = `http://[::1]:${port}`;
  });
  after(async () => {
    for (const o of opened) o.close();
    await f.close();
  });

  const metrics = async (): Promise<MetricsSnapshot> => {
    const r = await f.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${KEYS.admin}` } });
    return MetricsSnapshot.parse(r.body);
  };
  const openGauge = async (): Promise<number> => (await metrics()).value('ebpfsentinel_api_sse_streams_open', {});

  it('per client, then in total; 429 names the bound; metrics count each refusal; a freed slot is reused', async () => {
    for (let i = 0; i < 2; i++) {
      const s = await open(v4);
      opened.push(s);
      assert.equal(s.status, 200, `IPv4 stream ${i + 1}`);
    }
    const third = await open(v4);
    assert.equal(third.status, 429);
    assert.equal(third.headers['retry-after'], '5');
    const err = JSON.parse(await third.body) as { error: { code: string; message: string } };
    assert.equal(err.error.code, 'TOO_MANY_STREAMS');
    assert.match(err.error.message, /127\.0\.0\.1 has 2 alert streams open already \(agent\.api_sse\.max_streams_per_client\)/);

    const six = await open(v6);
    opened.push(six);
    assert.equal(six.status, 200, 'another client (IPv6) still gets one');
    const over = await open(v6);
    assert.equal(over.status, 429);
    assert.match(JSON.parse(await over.body).error.message, /at most 3 alert streams at once \(agent\.api_sse\.max_streams\)/);

    let m = await metrics();
    assert.equal(m.value('ebpfsentinel_api_sse_streams_refused_total', { limit: 'per_client' }), 1);
    assert.equal(m.value('ebpfsentinel_api_sse_streams_refused_total', { limit: 'total' }), 1);
    assert.equal(m.value('ebpfsentinel_api_sse_streams_open', {}), 3);

    opened.shift()!.close();
    for (const end = Date.now() + 5000; (await openGauge()) !== 2; ) {
      if (Date.now() > end) assert.fail('the closed stream did not give its slot back');
      await new Promise((r) => setTimeout(r, 20));
    }
    const again = await open(v6);
    opened.push(again);
    assert.equal(again.status, 200, 'the freed slot is usable');
    m = await metrics();
    assert.equal(m.value('ebpfsentinel_api_sse_streams_open', {}), 3);
    assert.equal(m.value('ebpfsentinel_api_sse_streams_total', { outcome: 'client_closed' }), 1);
  });

  it('the bounds are configured by agent.api_sse (defaults 64 and 8) and reach the server options', () => {
    const d = parseConfigText('agent:\n  interfaces: [eth1]\n', 'c.yaml');
    assert.deepEqual(d.agent.api_sse, { max_streams: 64, max_streams_per_client: 8 });
    const c = parseConfigText('agent:\n  interfaces: [eth1]\n  api_sse: { max_streams: 10, max_streams_per_client: 2 }\n', 'c.yaml');
    const o = apiOptionsFromAgentConfig(c.agent);
    assert.equal(o.sseMaxStreams, 10);
    assert.equal(o.sseMaxStreamsPerClient, 2);
    assert.throws(() => parseConfigText('agent:\n  interfaces: [eth1]\n  api_sse: { max_streams: 0 }\n', 'c.yaml'), /agent\.api_sse\.max_streams: expected streams 1-100000; got 0/);
  });
});
