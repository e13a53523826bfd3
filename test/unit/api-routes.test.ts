// The v1 routes over real components: the live control plane (with no kernel engines: the
// policy path, validation, conflicts, audit and history are all its own), the SQLite store,
// and authentication with API keys for each role, all behind one Fastify instance.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NonAlertRecord } from '../../src/alerts/records.js';
import { alert, CONFIG, KEYS, routeFixture, type RouteFixture } from '../support/api-fixture.js';
import { suricataEveValidator } from '../support/eve-schema.js';
import { oneOfEach } from '../support/records.js';

const as = (role: keyof typeof KEYS): Record<string, string> => ({ authorization: `Bearer ${KEYS[role]}` });

function apiError(body: string, code: string): string {
  const parsed = JSON.parse(body) as { error: { code: string; message: string } };
  assert.deepEqual(Object.keys(parsed.error).sort(), ['code', 'message']);
  assert.equal(parsed.error.code, code, body);
  return parsed.error.message;
}

const V4_RULE = { id: 'api-block-v4', priority: 100, action: 'drop', protocol: 'udp', dst_port: 53, src_ip: ['198.18.5.0/24'] };
const V6_RULE = { id: 'api-block-v6', priority: 101, action: 'drop', protocol: 'tcp', dst_port: '8000-8100', src_ip: ['2001:db8:5::/48'] };

describe('firewall rules CRUD', () => {
  let f: RouteFixture;
  before(async () => {
    f = await routeFixture();
  });
  after(() => f.close());

  it('lists the file rule, creates v4 and v6 API rules (201 + Location), reads, replaces and deletes them', async () => {
    const list0 = await f.app.inject({ method: 'GET', url: '/api/v1/firewall/rules', headers: as('viewer') });
    assert.equal(list0.statusCode, 200);
    assert.deepEqual(list0.json().rules.map((r: { id: string; source: string }) => [r.id, r.source]), [['file-ssh', 'file']]);

    for (const rule of [V4_RULE, V6_RULE]) {
      const res = await f.app.inject({ method: 'POST', url: '/api/v1/firewall/rules', headers: as('operator'), payload: rule });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.headers.location, `/api/v1/firewall/rules/${rule.id}`);
      assert.equal(res.json().source, 'api');
      assert.equal(res.json().actor, 'ops-operator');
    }
    const one = await f.app.inject({ method: 'GET', url: '/api/v1/firewall/rules/api-block-v6', headers: as('viewer') });
    assert.equal(one.statusCode, 200);
    assert.deepEqual(one.json().rule.src_ip, ['2001:db8:5::/48']);

    const apiOnly = await f.app.inject({ method: 'GET', url: '/api/v1/firewall/rules?source=api', headers: as('viewer') });
    assert.deepEqual(apiOnly.json().rules.map((r: { id: string }) => r.id), ['api-block-v4', 'api-block-v6']);

    const put = await f.app.inject({ method: 'PUT', url: '/api/v1/firewall/rules/api-block-v4', headers: as('operator'), payload: { ...V4_RULE, action: 'log' } });
    assert.equal(put.statusCode, 200, put.body);
    assert.equal(put.json().rule.action, 'log');

    const del = await f.app.inject({ method: 'DELETE', url: '/api/v1/firewall/rules/api-block-v4', headers: as('operator') });
    assert.equal(del.statusCode, 204);
    assert.equal(del.body, '');
    const gone = await f.app.inject({ method: 'GET', url: '/api/v1/firewall/rules/api-block-v4', headers: as('viewer') });
    assert.equal(gone.statusCode, 404);
    apiError(gone.body, 'NOT_FOUND');
    const delAgain = await f.app.inject({ method: 'DELETE', url: '/api/v1/firewall/rules/api-block-v4', headers: as('operator') });
    assert.equal(delAgain.statusCode, 404);
  });

  it('names the bad key (400), refuses duplicates and file rules (409)', async () => {
    const bad = await f.app.inject({ method: 'POST', url: '/api/v1/firewall/rules', headers: as('operator'), payload: { id: 'x1', priority: 200, action: 'drop', dst_port: 99999, protocol: 'tcp' } });
    assert.equal(bad.statusCode, 400);
    assert.match(apiError(bad.body, 'VALIDATION_ERROR'), /dst_port/);
    const unknown = await f.app.inject({ method: 'POST', url: '/api/v1/firewall/rules', headers: as('operator'), payload: { id: 'x2', priority: 201, action: 'drop', colour: 'red' } });
    assert.equal(unknown.statusCode, 400);
    assert.match(apiError(unknown.body, 'VALIDATION_ERROR'), /colour/);

    const dup = await f.app.inject({ method: 'POST', url: '/api/v1/firewall/rules', headers: as('operator'), payload: V6_RULE });
    assert.equal(dup.statusCode, 409);
    apiError(dup.body, 'CONFLICT');
    const fileRule = await f.app.inject({ method: 'DELETE', url: '/api/v1/firewall/rules/file-ssh', headers: as('operator') });
    assert.equal(fileRule.statusCode, 409);
    assert.match(apiError(fileRule.body, 'CONFLICT'), /config file/);
    const badId = await f.app.inject({ method: 'GET', url: '/api/v1/firewall/rules/has%20space', headers: as('viewer') });
    assert.equal(badId.statusCode, 400);
  });

  it('keeps each version in the rule history and each change in the audit trail with its actor', async () => {
    await f.app.inject({ method: 'POST', url: '/api/v1/firewall/rules', headers: as('admin'), payload: { ...V4_RULE, id: 'hist', priority: 300 } });
    await f.app.inject({ method: 'PUT', url: '/api/v1/firewall/rules/hist', headers: as('operator'), payload: { ...V4_RULE, id: 'hist', priority: 300, action: 'log' } });
    const h = await f.app.inject({ method: 'GET', url: '/api/v1/firewall/rules/hist/history', headers: as('viewer') });
    assert.equal(h.statusCode, 200, h.body);
    const versions = h.json().versions as { version: number; actor: string; action: string; after: { action: string } }[];
    assert.deepEqual(versions.map((v) => [v.version, v.actor, v.action, v.after.action]), [
      [1, 'ops-admin', 'created', 'drop'],
      [2, 'ops-operator', 'updated', 'log'],
    ]);
    const none = await f.app.inject({ method: 'GET', url: '/api/v1/firewall/rules/never-was/history', headers: as('viewer') });
    assert.equal(none.statusCode, 404);

    const audit = await f.app.inject({ method: 'GET', url: '/api/v1/audit?target=hist', headers: as('admin') });
    assert.equal(audit.statusCode, 200, audit.body);
    const entries = audit.json().entries as { actor: string; action: string; outcome: string; before?: { action: string }; after?: { action: string } }[];
    assert.deepEqual(entries.map((e) => [e.actor, e.action, e.outcome]), [
      ['ops-operator', 'firewall.rule.replace', 'ok'],
      ['ops-admin', 'firewall.rule.create', 'ok'],
    ]);
    assert.equal(entries[0]!.before?.action, 'drop');
    assert.equal(entries[0]!.after?.action, 'log');
    const byActor = await f.app.inject({ method: 'GET', url: '/api/v1/audit?actor=ops-admin&limit=1', headers: as('admin') });
    assert.equal(byActor.json().entries.length, 1);
    assert.ok(byActor.json().total >= 1);
  });
});

describe('roles: each role\'s allowed and refused routes', () => {
  let f: RouteFixture;
  before(async () => {
    f = await routeFixture();
  });
  after(() => f.close());

  // [method, url, body, least role]
  const routes: [string, string, unknown, 'public' | 'viewer' | 'operator' | 'admin'][] = [
    ['GET', '/healthz', undefined, 'public'],
    ['GET', '/openapi.json', undefined, 'public'],
    ['GET', '/metrics', undefined, 'viewer'],
    ['GET', '/api/v1/status', undefined, 'viewer'],
    ['GET', '/api/v1/programs', undefined, 'viewer'],
    ['GET', '/api/v1/firewall/rules', undefined, 'viewer'],
    ['GET', '/api/v1/firewall/rules/file-ssh', undefined, 'viewer'],
    ['GET', '/api/v1/alerts', undefined, 'viewer'],
    ['GET', '/api/v1/records/dns', undefined, 'viewer'],
    ['GET', '/api/v1/records/flow', undefined, 'viewer'],
    ['GET', '/api/v1/records/anomaly', undefined, 'viewer'],
    ['GET', '/api/v1/records/dlp', undefined, 'viewer'],
    ['GET', '/api/v1/config', undefined, 'viewer'],
    ['POST', '/api/v1/firewall/rules', { id: 'role-probe', priority: 900, action: 'log' }, 'operator'],
    ['PUT', '/api/v1/firewall/rules/role-probe', { id: 'role-probe', priority: 900, action: 'drop' }, 'operator'],
    ['DELETE', '/api/v1/firewall/rules/role-probe', undefined, 'operator'],
    ['POST', '/api/v1/config/reload', undefined, 'operator'],
    ['GET', '/api/v1/audit', undefined, 'admin'],
  ];
  const rank = { public: 0, viewer: 1, operator: 2, admin: 3 } as const;

  for (const role of ['none', 'viewer', 'operator', 'admin'] as const) {
    it(`${role}: allowed exactly where its rank reaches the route's`, async () => {
      const have = role === 'none' ? 0 : rank[role];
      for (const [method, url, body, need] of routes) {
        const headers = role === 'none' ? {} : as(role);
        const res = await f.app.inject({ method: method as 'GET', url, headers, ...(body ? { payload: body as object } : {}) });
        if (have >= rank[need]) {
          assert.ok(res.statusCode < 400, `${role} ${method} ${url}: expected allowed, got ${res.statusCode} ${res.body}`);
        } else if (role === 'none') {
          assert.equal(res.statusCode, 401, `${method} ${url}`);
          apiError(res.body, 'AUTHENTICATION_REQUIRED');
          assert.match(String(res.headers['www-authenticate']), /^Bearer/);
        } else {
          assert.equal(res.statusCode, 403, `${role} ${method} ${url}`);
          assert.match(apiError(res.body, 'INSUFFICIENT_ROLE'), new RegExp(`needs ${need}`));
        }
      }
    });
  }

  it('accepts the key as X-API-Key too, and refuses an unknown key with 401', async () => {
    const ok = await f.app.inject({ method: 'GET', url: '/api/v1/status', headers: { 'x-api-key': KEYS.viewer } });
    assert.equal(ok.statusCode, 200);
    const bad = await f.app.inject({ method: 'GET', url: '/api/v1/status', headers: { authorization: 'Bearer not-a-key-0123456789' } });
    assert.equal(bad.statusCode, 401);
  });
});

describe('reload and running config', () => {
  let f: RouteFixture;
  before(async () => {
    f = await routeFixture();
  });
  after(() => f.close());

  it('a valid file reloads (200 outcome); a broken one is 400 naming file:line and key, and the running config stays', async () => {
    const ok = await f.app.inject({ method: 'POST', url: '/api/v1/config/reload', headers: as('operator') });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.json().ok, true);
    assert.equal(ok.json().actor, 'ops-operator');
    assert.equal(ok.json().trigger, 'api');

    writeFileSync(path.join(f.dir, 'config.yaml'), CONFIG.replace('dst_port: 22', 'dst_port: 70000'));
    const bad = await f.app.inject({ method: 'POST', url: '/api/v1/config/reload', headers: as('operator') });
    assert.equal(bad.statusCode, 400);
    assert.match(apiError(bad.body, 'RELOAD_REJECTED'), /config\.yaml:\d+:\d+: firewall\.rules\[0\]\.dst_port/);

    const st = await f.app.inject({ method: 'GET', url: '/api/v1/status', headers: as('viewer') });
    assert.equal(st.json().last_reload.ok, false);
    const cfg = await f.app.inject({ method: 'GET', url: '/api/v1/config', headers: as('viewer') });
    assert.equal(cfg.statusCode, 200);
    assert.deepEqual(cfg.json().firewall.rules[0].dst_port, { lo: 22, hi: 22 });
    // API keys never leave the agent
    assert.doesNotMatch(cfg.body, new RegExp(KEYS.admin));
  });
});

describe('alerts query', () => {
  let f: RouteFixture;
  before(async () => {
    f = await routeFixture();
    f.store.alerts.insertBatch(Array.from({ length: 40 }, (_, i) => alert(i)));
  });
  after(() => f.close());

  const get = (q: string) => f.app.inject({ method: 'GET', url: `/api/v1/alerts${q}`, headers: as('viewer') });

  it('pages newest first with a cursor, no row twice, all rows once', async () => {
    const seen: number[] = [];
    let next: string | undefined;
    let pages = 0;
    do {
      const res = await get(`?limit=15${next ? `&cursor=${encodeURIComponent(next)}` : ''}`);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json() as { alerts: { id: number; event_type: string }[]; total: number; next?: string };
      assert.equal(body.total, 40);
      seen.push(...body.alerts.map((a) => a.id));
      next = body.next;
      pages++;
    } while (next);
    assert.equal(pages, 3);
    assert.deepEqual(seen, [...seen].sort((a, b) => b - a));
    assert.equal(new Set(seen).size, 40);
  });

  it('filters by IPv4 and IPv6 address, severity list, min_severity, rule and time, as EVE records', async () => {
    const v4 = (await get('?ip=198.18.0.3')).json();
    assert.deepEqual(v4.alerts.map((a: { src_ip: string }) => a.src_ip), ['198.18.0.3']);
    assert.equal(v4.alerts[0].event_type, 'alert');
    assert.equal(v4.alerts[0].proto, 'TCP');
    const v6 = (await get('?ip=2001:db8:1::2')).json();
    assert.deepEqual(v6.alerts.map((a: { src_ip: string }) => a.src_ip), ['2001:db8:1::2']);
    const sev = (await get('?severity=high,critical&limit=1000')).json();
    assert.equal(sev.total, 20);
    const min = (await get('?min_severity=critical')).json();
    assert.equal(min.total, 10);
    assert.ok(min.alerts.every((a: { ebpfsentinel: { severity: string } }) => a.ebpfsentinel.severity === 'critical'));
    const rule = (await get('?rule_id=file-ssh')).json();
    assert.equal(rule.total, 14);
    const from = new Date(Date.UTC(2026, 10, 26, 14, 0, 0) + 30).toISOString();
    assert.equal((await get(`?from=${from}`)).json().total, 10);
  });

  it('refuses bad queries by name: limit over 1000, unknown severity, unknown key, bad cursor', async () => {
    assert.match(apiError((await get('?limit=1001')).body, 'VALIDATION_ERROR'), /limit/);
    assert.match(apiError((await get('?severity=urgent')).body, 'VALIDATION_ERROR'), /urgent/);
    assert.match(apiError((await get('?colour=red')).body, 'VALIDATION_ERROR'), /colour/);
    assert.equal((await get('?cursor=garbage')).statusCode, 400);
  });
});

describe('records query (dns, flow, anomaly, dlp)', () => {
  let f: RouteFixture;
  const T = BigInt(Date.UTC(2026, 10, 26, 14, 0, 0)) * 1_000_000n;
  before(async () => {
    f = await routeFixture();
    const batch: NonAlertRecord[] = [];
    for (let i = 0; i < 30; i++) batch.push(...oneOfEach(i, T + BigInt(i) * 1_000_000n));
    f.store.records.insertBatch(batch);
  });
  after(() => f.close());

  const get = (kind: string, q = '') => f.app.inject({ method: 'GET', url: `/api/v1/records/${kind}${q}`, headers: as('viewer') });
  const check = suricataEveValidator();

  it('each kind pages newest first with a cursor, every row once, each an EVE record of that kind (valid against Suricata\'s schema) with its store id', async () => {
    for (const kind of ['dns', 'flow', 'anomaly', 'dlp']) {
      const seen: number[] = [];
      let next: string | undefined;
      do {
        const res = await get(kind, `?limit=7${next ? `&cursor=${encodeURIComponent(next)}` : ''}`);
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json() as { records: ({ id: number; event_type: string } & Record<string, unknown>)[]; total: number; next?: string };
        assert.equal(body.total, 30);
        for (const r of body.records) {
          assert.equal(r.event_type, kind);
          const { id, ...eve } = r;
          assert.ok(Number.isInteger(id) && id > 0);
          assert.deepEqual(check(eve), [], JSON.stringify(eve));
        }
        seen.push(...body.records.map((r) => r.id));
        next = body.next;
      } while (next);
      assert.deepEqual(seen, [...seen].sort((a, b) => b - a));
      assert.equal(new Set(seen).size, 30, kind);
    }
  });

  it('filters by IPv4 and IPv6 address, time, engine and each kind\'s own key', async () => {
    const v4 = (await get('dns', '?ip=198.18.1.5')).json();
    assert.deepEqual(v4.records.map((r: { src_ip: string }) => r.src_ip), ['198.18.1.5']);
    assert.equal(v4.records[0].dns.queries[0].rrname, 'host4.example.com');
    const v6 = (await get('flow', '?ip=2001:db8:1:0:0:0:0:4')).json();
    assert.deepEqual(v6.records.map((r: { src_ip: string; ip_v: number }) => [r.src_ip, r.ip_v]), [['2001:db8:1::4', 6]]);
    assert.equal((await get('dns', '?rrname=HOST7.example.com.')).json().total, 1);
    assert.equal((await get('dns', `?rrname=${encodeURIComponent('*.example.com')}`)).json().total, 30);
    assert.equal((await get('dlp', '?detector=credit_card')).json().total, 10);
    const pid = (await get('dlp', '?pid=1001&detector=aws_access_key')).json();
    assert.equal(pid.total, 10);
    assert.ok(pid.records.every((r: { ebpfsentinel: { process: { pid: number } } }) => r.ebpfsentinel.process.pid === 1001));
    assert.equal((await get('anomaly', '?event=ipv6.trunc_pkt')).json().total, 15);
    assert.equal((await get('anomaly', '?engine=scrub&limit=1')).json().total, 30);
    assert.equal((await get('flow', '?engine=dns')).json().total, 0);
    const from = new Date(Date.UTC(2026, 10, 26, 14, 0, 0) + 20).toISOString();
    assert.equal((await get('flow', `?from=${from}`)).json().total, 10);
  });

  it('refuses bad queries by name: another kind\'s filter, an unknown kind, limit over 1000, a bad address, another kind\'s cursor', async () => {
    assert.match(apiError((await get('flow', '?rrname=x')).body, 'VALIDATION_ERROR'), /rrname/);
    assert.match(apiError((await get('dns', '?pid=1')).body, 'VALIDATION_ERROR'), /pid/);
    assert.equal((await get('netflow')).statusCode, 404);
    assert.match(apiError((await get('dns', '?limit=1001')).body, 'VALIDATION_ERROR'), /limit/);
    assert.match(apiError((await get('dns', '?ip=198.18.1')).body, 'VALIDATION_ERROR'), /ip filter/);
    const cursor = (await get('dns', '?limit=1')).json().next as string;
    assert.equal((await get('flow', `?cursor=${encodeURIComponent(cursor)}`)).statusCode, 400);
  });
});
