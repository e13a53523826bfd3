// Every route the real API registers, called with no credential and with each role's key: the
// role each route declares (read back from the OpenAPI document, where the server writes it) is
// the role the server enforces. A route added later is covered without touching this file.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KEYS, routeFixture, type RouteFixture } from '../support/api-fixture.js';

type Need = 'public' | 'viewer' | 'operator' | 'admin';
const RANK = { viewer: 1, operator: 2, admin: 3 } as const;

interface Op {
  method: string;
  path: string;
  need: Need;
}

describe('auth on the real API: every route, every role', () => {
  let fx: RouteFixture;
  let base: string;
  let ops: Op[];

  before(async () => {
    fx = await routeFixture(undefined, { rateLimit: { enabled: false, window_seconds: 60, reads_per_window: 1, writes_per_window: 1 } });
    await fx.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(fx.app.server.address() as AddressInfo).port}`;
    const doc = fx.app.swagger() as { paths: Record<string, Record<string, { 'x-min-role'?: Need }>> };
    ops = [];
    for (const [p, methods] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(methods)) {
        if (!op['x-min-role']) continue;
        // path parameters get a value that exists nowhere: auth runs before the lookup
        ops.push({ method: m.toUpperCase(), path: p.replace(/\{[^}]+\}/g, 'no-such-thing'), need: op['x-min-role'] });
      }
    }
  });
  after(() => fx.close());

  async function call(op: Op, headers: Record<string, string>): Promise<{ status: number; code?: string }> {
    const ac = new AbortController();
    const res = await fetch(base + op.path, {
      method: op.method,
      headers: op.method === 'GET' || op.method === 'DELETE' ? headers : { ...headers, 'content-type': 'application/json' },
      ...(op.method === 'GET' || op.method === 'DELETE' ? {} : { body: '{}' }),
      signal: ac.signal,
    });
    let code: string | undefined;
    if ((res.headers.get('content-type') ?? '').includes('application/json')) {
      code = ((await res.json()) as { error?: { code?: string } }).error?.code;
    }
    // a stream (SSE) stays open: its status is all we need
    ac.abort();
    return { status: res.status, ...(code ? { code } : {}) };
  }

  it('the document lists the routes of every concern, each with a declared role', () => {
    const paths = new Set(ops.map((o) => o.path));
    for (const p of ['/healthz', '/metrics', '/api/v1/status', '/api/v1/firewall/rules', '/api/v1/audit', '/api/v1/config/reload']) {
      assert.ok([...paths].some((x) => x.startsWith(p)), `no ${p} in the OpenAPI document: ${[...paths].join(', ')}`);
    }
    assert.ok(ops.length >= 15, `only ${ops.length} operations documented`);
    assert.ok(ops.some((o) => o.need === 'operator'));
    assert.ok(ops.some((o) => o.need === 'admin'));
  });

  it('no credential: 401 on every non-public route, and public routes answer', async () => {
    for (const op of ops) {
      const r = await call(op, {});
      if (op.need === 'public') assert.ok(r.status !== 401 && r.status !== 403, `${op.method} ${op.path} is public but answered ${r.status}`);
      else assert.deepEqual(r, { status: 401, code: 'AUTHENTICATION_REQUIRED' }, `${op.method} ${op.path}`);
    }
  });

  for (const role of ['viewer', 'operator', 'admin'] as const) {
    it(`${role}: allowed exactly where the declared role is at most ${role}`, async () => {
      for (const op of ops) {
        for (const headers of [{ 'x-api-key': KEYS[role] }, { authorization: `Bearer ${KEYS[role]}` }] as Record<string, string>[]) {
          const r = await call(op, headers);
          const allowed = op.need === 'public' || RANK[role] >= RANK[op.need];
          if (allowed) assert.ok(r.status !== 401 && r.status !== 403, `${role} refused on ${op.method} ${op.path} (needs ${op.need}): ${r.status} ${r.code}`);
          else assert.deepEqual(r, { status: 403, code: 'INSUFFICIENT_ROLE' }, `${role} on ${op.method} ${op.path} (needs ${op.need})`);
        }
      }
    });
  }
});
