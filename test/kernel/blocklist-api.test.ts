// /api/v1/blocklist over the real service (its kernel tries created from blocklist.bpf.o, the
// SQLite store, the audit trail) behind the real API server with authentication: roles, the
// schemas (unknown keys, bad values), list filters and paging, renewals, removal of one owner's
// hold, the bound (409), 503 without the service, and the OpenAPI document.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BlocklistKernel } from '../../src/blocklist/kernel.js';
import { blocklistRoutes } from '../../src/blocklist/routes.js';
import { BlocklistService } from '../../src/blocklist/service.js';
import type { BlockView } from '../../src/blocklist/types.js';
import { ensureBpffsSync, removePinTree } from '../../src/kernel/bpffs.js';
import { KEYS, routeFixture, type RouteFixture } from '../support/api-fixture.js';
import { FIREWALL_OBJECT, firewallSkipReason } from '../support/firewall-harness.js';

const skip = firewallSkipReason();
const MAX = 8;

describe('/api/v1/blocklist', { skip }, () => {
  const pinDir = `/sys/fs/bpf/sn-bl-api-${process.pid}/maps`;
  let f: RouteFixture;
  let service: BlocklistService | null = null;

  type Res = { status: number; body: Record<string, unknown> };
  const req = async (role: keyof typeof KEYS, method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown): Promise<Res> => {
    const r = await f.app.inject({ method, url, headers: { authorization: `Bearer ${KEYS[role]}` }, ...(payload !== undefined ? { payload: payload as object } : {}) });
    return { status: r.statusCode, body: r.body ? (JSON.parse(r.body) as Record<string, unknown>) : {} };
  };
  const message = (r: Res): string => (r.body.error as { message: string }).message;
  const cidrs = (r: Res): string[] => (r.body.entries as BlockView[]).map((e) => `${e.direction} ${e.cidr}`);

  before(async () => {
    ensureBpffsSync(pinDir);
    f = await routeFixture(undefined, {}, { engineRoutes: [{ program: 'blocklist', routes: blocklistRoutes, engine: () => service }] });
    service = new BlocklistService({ target: BlocklistKernel.create(path.dirname(FIREWALL_OBJECT), pinDir), repo: f.store.blocklist, audit: f.store.audit, maxEntries: MAX, sampleEvery: 1 });
    service.start();
  });

  after(async () => {
    service?.close();
    await f?.close();
    removePinTree(path.dirname(pinDir));
  });

  it('operators add in their own name (201, then 200 renewing); viewers may only read', async () => {
    const denied = await req('viewer', 'POST', '/api/v1/blocklist', { cidr: '198.18.0.66', reason: 'scan' });
    assert.equal(denied.status, 403);
    const first = await req('operator', 'POST', '/api/v1/blocklist', { cidr: '198.18.0.66', reason: 'scan', ttl_secs: 600 });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const entry = first.body.entry as BlockView;
    assert.equal(entry.cidr, '198.18.0.66/32');
    assert.deepEqual(entry.owners.map((o) => [o.owner, o.reason]), [['api:ops-operator', 'scan']]);
    assert.equal(first.body.created, true);
    const again = await req('operator', 'POST', '/api/v1/blocklist', { cidr: '198.18.0.66/32', reason: 'scan, confirmed', ttl_secs: null });
    assert.equal(again.status, 200);
    assert.equal(again.body.created, false);
    assert.equal((again.body.entry as BlockView).expires_at, null, 'renewed without a ttl: until removed');
    assert.equal((again.body.entry as BlockView).id, entry.id);
    const audit = f.store.audit.query({ action: 'blocklist.add', limit: 10 });
    assert.deepEqual(audit.entries.map((a) => [a.actor, a.outcome, a.target]).reverse(), [
      ['ops-operator', 'ok', '198.18.0.66 src'],
      ['ops-operator', 'ok', '198.18.0.66/32 src'],
    ]);
  });

  it('lists with filters and paging; entries of engines show beside the API', async () => {
    service!.add('tc-threatintel', { cidr: '2001:db8:bad::/48', reason: 'feed' });
    service!.add('tc-threatintel', { cidr: '198.18.7.0/24', direction: 'dst', reason: 'feed' });
    await req('operator', 'POST', '/api/v1/blocklist', { cidr: '2001:db8::66', direction: 'dst', reason: 'exfil' });
    const all = await req('viewer', 'GET', '/api/v1/blocklist');
    assert.equal(all.status, 200);
    assert.deepEqual(cidrs(all), ['src 198.18.0.66/32', 'src 2001:db8:bad::/48', 'dst 198.18.7.0/24', 'dst 2001:db8::66/128']);
    assert.equal(all.body.total, 4);
    assert.equal(all.body.enforced, true);
    assert.deepEqual(cidrs(await req('viewer', 'GET', '/api/v1/blocklist?family=6')), ['src 2001:db8:bad::/48', 'dst 2001:db8::66/128']);
    assert.deepEqual(cidrs(await req('viewer', 'GET', '/api/v1/blocklist?direction=dst&owner=tc-threatintel')), ['dst 198.18.7.0/24']);
    assert.deepEqual(cidrs(await req('viewer', 'GET', '/api/v1/blocklist?match=198.18.7.9')), ['dst 198.18.7.0/24']);
    assert.deepEqual(cidrs(await req('viewer', 'GET', '/api/v1/blocklist?match=2001:db8:bad:1::/64')), ['src 2001:db8:bad::/48']);
    const page = await req('viewer', 'GET', '/api/v1/blocklist?limit=2&offset=1');
    assert.deepEqual(cidrs(page), ['src 2001:db8:bad::/48', 'dst 198.18.7.0/24']);
    assert.equal(page.body.total, 4, 'total counts every match, not the page');
  });

  it('bad requests are 400 naming what is wrong', async () => {
    const cases: [string, 'GET' | 'POST' | 'DELETE', unknown, RegExp][] = [
      ['/api/v1/blocklist', 'POST', { cidr: '198.18.0.66/24', reason: 'x' }, /host bits set past \/24; did you mean 198\.18\.0\.0\/24/],
      ['/api/v1/blocklist', 'POST', { cidr: '198.18.0.1', reason: 'x', ttl_secs: 0 }, /ttl_secs/],
      ['/api/v1/blocklist', 'POST', { cidr: '198.18.0.1' }, /reason/],
      ['/api/v1/blocklist', 'POST', { cidr: '198.18.0.1', reason: 'x', owner: 'someone-else' }, /owner/],
      ['/api/v1/blocklist', 'POST', { cidr: '198.18.0.1', reason: 'x', direction: 'both' }, /direction/],
      ['/api/v1/blocklist?family=5', 'GET', undefined, /family/],
      ['/api/v1/blocklist?colour=red', 'GET', undefined, /colour/],
      ['/api/v1/blocklist?match=nope', 'GET', undefined, /match/],
      ['/api/v1/blocklist', 'DELETE', undefined, /cidr/],
    ];
    for (const [url, method, body, msg] of cases) {
      const r = await req('operator', method, url, body);
      assert.equal(r.status, 400, `${method} ${url} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
      assert.match(message(r), msg);
    }
    assert.equal((await req('viewer', 'GET', '/api/v1/blocklist')).body.total, 4, 'nothing changed');
  });

  it("DELETE removes the API's holds, or one owner's; 404 names who holds it", async () => {
    const engineOnly = await req('operator', 'DELETE', '/api/v1/blocklist?cidr=2001:db8:bad::/48');
    assert.equal(engineOnly.status, 404);
    assert.match(message(engineOnly), /held by tc-threatintel: name one with owner=/);
    const byOwner = await req('operator', 'DELETE', '/api/v1/blocklist?cidr=2001:db8:bad::/48&owner=tc-threatintel');
    assert.equal(byOwner.status, 200, JSON.stringify(byOwner.body));
    assert.equal(byOwner.body.remaining, null);
    assert.deepEqual((byOwner.body.removed as { owner: string }[]).map((o) => o.owner), ['tc-threatintel']);

    service!.add('tc-threatintel', { cidr: '198.18.0.66', reason: 'feed too' });
    const shared = await req('operator', 'DELETE', '/api/v1/blocklist?cidr=198.18.0.66');
    assert.equal(shared.status, 200);
    assert.deepEqual((shared.body.remaining as BlockView).owners.map((o) => o.owner), ['tc-threatintel'], 'still held by the engine');
    assert.equal((await req('viewer', 'GET', '/api/v1/blocklist?match=198.18.0.66')).body.total, 1);
  });

  it('a full list answers 409 BLOCKLIST_FULL and counts it', async () => {
    const held = service!.status().entries;
    for (let i = held; i < MAX; i++) assert.equal((await req('operator', 'POST', '/api/v1/blocklist', { cidr: `198.18.9.${i}`, reason: 'fill' })).status, 201);
    const full = await req('operator', 'POST', '/api/v1/blocklist', { cidr: '198.18.9.200', reason: 'one more' });
    assert.equal(full.status, 409);
    assert.equal((full.body.error as { code: string }).code, 'BLOCKLIST_FULL');
    assert.match(message(full), /blocklist\.max_entries 8/);
    assert.equal(service!.status().refused.full, 1);
    const rejected = f.store.audit.query({ action: 'blocklist.add', limit: 1 }).entries[0]!;
    assert.deepEqual([rejected.outcome, rejected.target], ['rejected', '198.18.9.200 src']);
  });

  it('a reload may not set the bound below the holds present', () => {
    assert.throws(() => service!.prepareLimits({ maxEntries: MAX - 1, sampleEvery: 1 }), /blocklist\.max_entries: 7 is below the 8 entries held now/);
    const change = service!.prepareLimits({ maxEntries: MAX + 1, sampleEvery: 1 });
    assert.ok(change);
    change.commit();
    assert.equal(service!.status().max_entries, MAX + 1);
  });

  it('is in the OpenAPI document, and answers 503 without the service', async () => {
    const doc = JSON.parse((await f.app.inject({ method: 'GET', url: '/openapi.json' })).body) as { paths: Record<string, Record<string, unknown>> };
    assert.deepEqual(Object.keys(doc.paths['/api/v1/blocklist'] ?? {}).sort(), ['delete', 'get', 'post']);
    const s = service;
    service = null;
    try {
      assert.equal((await req('viewer', 'GET', '/api/v1/blocklist')).status, 503);
    } finally {
      service = s;
    }
  });
});
