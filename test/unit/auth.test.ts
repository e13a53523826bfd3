import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { Registry } from 'prom-client';
import { installErrorHandlers } from '../../src/api/errors.js';
import { apiAuth, installAuth, roleFromClaim, type AuthConfig, type MinRole } from '../../src/api/auth/index.js';
import { clientKey, FailureThrottle } from '../../src/api/auth/failure-throttle.js';
import { authSchema } from '../../src/config/sections/auth.js';

const root = mkdtempSync(path.join(tmpdir(), 'sentinel-auth-'));
after(() => rmSync(root, { recursive: true, force: true }));

const KEYS = {
  viewer: 'viewer-key-0123456789abcdef',
  operator: 'operator-key-0123456789abcdef',
  admin: 'admin-key-0123456789abcdef',
} as const;

/** The config as the loader would hand it over (defaults filled in by the real schema). */
function authConfig(raw: unknown): AuthConfig {
  return authSchema.parse(raw);
}

const silent = { info: () => {}, warn: () => {} };

/** A real Fastify instance with one route per role, each answering with the principal. */
async function server(cfg: AuthConfig, registry?: Registry): Promise<FastifyInstance> {
  const app = Fastify();
  installErrorHandlers(app);
  await installAuth(app, cfg, { log: silent, ...(registry ? { registry } : {}) });
  const routes: [string, string, MinRole][] = [
    ['GET', '/healthz', 'public'],
    ['GET', '/readyz', 'public'],
    ['GET', '/metrics', 'public'],
    ['GET', '/api/v1/status', 'viewer'],
    ['POST', '/api/v1/firewall/rules', 'operator'],
    ['GET', '/api/v1/audit', 'admin'],
  ];
  for (const [method, url, minRole] of routes) {
    app.route({ method, url, config: { minRole }, handler: async (req) => ({ principal: req.principal }) });
  }
  await app.ready();
  return app;
}

const ROUTES = [
  { method: 'GET', url: '/api/v1/status', need: 'viewer' },
  { method: 'POST', url: '/api/v1/firewall/rules', need: 'operator' },
  { method: 'GET', url: '/api/v1/audit', need: 'admin' },
] as const;
const RANK = { viewer: 1, operator: 2, admin: 3 } as const;

describe('auth: API keys and roles', () => {
  let app: FastifyInstance;
  const registry = new Registry();
  before(async () => {
    app = await server(
      authConfig({
        enabled: true,
        api_keys: [
          { name: 'grafana', key: KEYS.viewer, role: 'viewer' },
          { name: 'ci-bot', key: KEYS.operator, role: 'operator' },
          { name: 'root', key: KEYS.admin, role: 'admin' },
        ],
      }),
      registry,
    );
  });
  after(() => app.close());

  for (const role of ['viewer', 'operator', 'admin'] as const) {
    for (const r of ROUTES) {
      const allowed = RANK[role] >= RANK[r.need];
      it(`${role} key ${allowed ? 'may' : 'may not'} ${r.method} ${r.url} (needs ${r.need}), via Bearer and X-API-Key`, async () => {
        for (const headers of [{ authorization: `Bearer ${KEYS[role]}` }, { 'x-api-key': KEYS[role] }]) {
          const res = await app.inject({ method: r.method, url: r.url, headers });
          if (allowed) {
            assert.equal(res.statusCode, 200, res.body);
            const name = { viewer: 'grafana', operator: 'ci-bot', admin: 'root' }[role];
            assert.deepEqual(res.json(), { principal: { name, role, via: 'api_key' } });
          } else {
            assert.equal(res.statusCode, 403, res.body);
            const body = res.json() as { error: { code: string; message: string } };
            assert.equal(body.error.code, 'INSUFFICIENT_ROLE');
            assert.match(body.error.message, new RegExp(`has role ${role}; ${r.method} ${r.url.replace(/\//g, '\\/')} needs ${r.need}`));
          }
        }
      });
    }
  }

  it('no credential: 401 AUTHENTICATION_REQUIRED with WWW-Authenticate, naming the role needed', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/status' });
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="ebpfsentinel"');
    const body = res.json() as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'AUTHENTICATION_REQUIRED');
    assert.match(body.error.message, /needs the viewer role/);
  });

  it('a wrong key, a wrong scheme, a near-miss key: 401 with error="invalid_token", the key never echoed', async () => {
    for (const headers of [
      { authorization: 'Bearer not-a-known-key-at-all-123' },
      { 'x-api-key': `${KEYS.admin}x` },
      { 'x-api-key': KEYS.admin.slice(0, -1) },
      { authorization: `Basic ${Buffer.from(`u:${KEYS.admin}`).toString('base64')}` },
    ]) {
      const res = await app.inject({ method: 'GET', url: '/api/v1/status', headers });
      assert.equal(res.statusCode, 401, JSON.stringify(headers));
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="ebpfsentinel", error="invalid_token"');
      assert.ok(!res.body.includes(KEYS.admin.slice(0, 10)));
    }
  });

  it('/healthz and /readyz are open by default, /metrics is not (open_endpoints defaults)', async () => {
    assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
    assert.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
    assert.equal((await app.inject({ url: '/metrics' })).statusCode, 401);
    assert.equal((await app.inject({ url: '/metrics', headers: { 'x-api-key': KEYS.viewer } })).statusCode, 200);
    // an unknown route is a plain 404, not an auth question
    assert.equal((await app.inject({ url: '/nope' })).statusCode, 404);
  });

  it('refusals are counted by reason', async () => {
    const text = await registry.metrics();
    assert.match(text, /ebpfsentinel_api_auth_failures_total\{reason="missing_credentials"\} [1-9]/);
    assert.match(text, /ebpfsentinel_api_auth_failures_total\{reason="invalid_credentials"\} [1-9]/);
    assert.match(text, /ebpfsentinel_api_auth_failures_total\{reason="insufficient_role"\} [1-9]/);
  });

  it('compares the presented key with every stored digest through crypto.timingSafeEqual', async () => {
    const spy = mock.method(crypto, 'timingSafeEqual');
    try {
      const ok = await app.inject({ url: '/api/v1/status', headers: { 'x-api-key': KEYS.viewer } });
      assert.equal(ok.statusCode, 200);
      // three keys configured: three comparisons, also when the first one matched
      assert.equal(spy.mock.callCount(), 3);
      for (const c of spy.mock.calls) {
        const [a, b] = c.arguments as [Buffer, Buffer];
        assert.equal(a.length, 32);
        assert.equal(b.length, 32);
      }
      await app.inject({ url: '/api/v1/status', headers: { 'x-api-key': 'x'.repeat(40) } });
      assert.equal(spy.mock.callCount(), 6);
    } finally {
      spy.mock.restore();
    }
  });
});

describe('auth: open_endpoints and disabled auth', () => {
  it('open_endpoints can close /healthz and open /metrics', async () => {
    const app = await server(authConfig({ enabled: true, api_keys: [{ name: 'v', key: KEYS.viewer }], open_endpoints: { healthz: false, metrics: true } }));
    try {
      assert.equal((await app.inject({ url: '/healthz' })).statusCode, 401);
      assert.equal((await app.inject({ url: '/readyz' })).statusCode, 401);
      assert.equal((await app.inject({ url: '/metrics' })).statusCode, 200);
      // role defaults to viewer
      const res = await app.inject({ url: '/healthz', headers: { 'x-api-key': KEYS.viewer } });
      assert.deepEqual(res.json(), { principal: { name: 'v', role: 'viewer', via: 'api_key' } });
    } finally {
      await app.close();
    }
  });

  it('disabled: every caller is "anonymous" with admin rights, and the start is logged as a warning', async () => {
    const warned: string[] = [];
    const app = Fastify();
    await installAuth(app, authConfig({}), { log: { info: () => {}, warn: (_o, m) => warned.push(m ?? '') } });
    app.delete('/api/v1/firewall/rules/:id', { config: { minRole: 'admin' } }, async (req) => ({ principal: req.principal }));
    try {
      const res = await app.inject({ method: 'DELETE', url: '/api/v1/firewall/rules/x' });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { principal: { name: 'anonymous', role: 'admin', via: 'none' } });
      assert.ok(warned.some((m) => /authentication is disabled/.test(m)));
    } finally {
      await app.close();
    }
  });

  it('a route that declares no minRole (or an invalid one) fails at registration', async () => {
    const app = Fastify();
    await installAuth(app, authConfig({}), { log: silent });
    assert.throws(() => app.get('/forgotten', async () => 'x'), /route GET \/forgotten declares no valid config\.minRole/);
    assert.throws(() => app.get('/typo', { config: { minRole: 'root' as MinRole } }, async () => 'x'), /route GET \/typo declares no valid config\.minRole/);
    await app.close();
  });
});

interface Signer {
  sign(claims: Record<string, unknown>, opts?: { alg?: string; exp?: number | null; iss?: string; aud?: string; kid?: string; key?: CryptoKey | Uint8Array }): Promise<string>;
}

function signerFor(key: CryptoKey, alg: string, kid?: string): Signer {
  return {
    async sign(claims, o = {}) {
      let j = new SignJWT(claims).setProtectedHeader({ alg: o.alg ?? alg, ...(o.kid ?? kid ? { kid: o.kid ?? kid } : {}) }).setIssuedAt();
      if (o.exp !== null) j = j.setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 300);
      if (o.iss) j = j.setIssuer(o.iss);
      if (o.aud) j = j.setAudience(o.aud);
      return j.sign(o.key ?? key);
    },
  };
}

async function expectRefused(app: FastifyInstance, token: string, status: 401 | 403, why: RegExp, url = '/api/v1/status'): Promise<void> {
  const res = await app.inject({ url, headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.statusCode, status, res.body);
  assert.match((res.json() as { error: { message: string } }).error.message, why);
}

describe('auth: JWT RS256 from a public key file', () => {
  let app: FastifyInstance;
  let rs: Signer;
  let other: Signer;
  let ed: Signer;
  before(async () => {
    const kp = await generateKeyPair('RS256', { modulusLength: 2048 });
    const file = path.join(root, 'rs256.pem');
    writeFileSync(file, await exportSPKI(kp.publicKey));
    rs = signerFor(kp.privateKey, 'RS256');
    other = signerFor((await generateKeyPair('RS256', { modulusLength: 2048 })).privateKey, 'RS256');
    ed = signerFor((await generateKeyPair('EdDSA', { crv: 'Ed25519' })).privateKey, 'EdDSA');
    app = await server(
      authConfig({
        enabled: true,
        api_keys: [{ name: 'ops', key: KEYS.operator, role: 'operator' }],
        jwt: { algorithm: 'RS256', public_key_path: file, issuer: 'https://idp.example', audience: 'ebpfsentinel' },
      }),
    );
  });
  after(() => app.close());

  const good = { iss: 'https://idp.example', aud: 'ebpfsentinel' };

  it('a valid token gives its sub and role; roles[] picks the highest known role', async () => {
    for (const [claims, role, allowedAudit] of [
      [{ sub: 'alice', role: 'viewer' }, 'viewer', false],
      [{ sub: 'bob', roles: ['viewer', 'operator', 'superuser'] }, 'operator', false],
      [{ sub: 'carol', role: 'ADMIN' }, 'admin', true],
    ] as const) {
      const t = await rs.sign(claims, good);
      const res = await app.inject({ url: '/api/v1/status', headers: { authorization: `Bearer ${t}` } });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { principal: { name: claims.sub, role, via: 'jwt' } });
      assert.equal((await app.inject({ url: '/api/v1/audit', headers: { authorization: `Bearer ${t}` } })).statusCode, allowedAudit ? 200 : 403);
    }
  });

  it('refuses expired, exp-less, wrong-issuer, wrong-audience, foreign-signed and wrong-algorithm tokens', async () => {
    await expectRefused(app, await rs.sign({ sub: 'a', role: 'admin' }, { ...good, exp: Math.floor(Date.now() / 1000) - 1 }), 401, /invalid token: expired/);
    await expectRefused(app, await rs.sign({ sub: 'a', role: 'admin' }, { ...good, exp: null }), 401, /claim "exp" is missing/);
    await expectRefused(app, await rs.sign({ sub: 'a', role: 'admin' }, { ...good, iss: 'https://evil.example' }), 401, /claim "iss" check failed/);
    await expectRefused(app, await rs.sign({ sub: 'a', role: 'admin' }, { ...good, aud: 'someone-else' }), 401, /claim "aud" check failed/);
    await expectRefused(app, await other.sign({ sub: 'a', role: 'admin' }, good), 401, /signature does not verify/);
    await expectRefused(app, await ed.sign({ sub: 'a', role: 'admin' }, good), 401, /algorithm not allowed/);
    const hs = await new SignJWT({ sub: 'a', role: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').setIssuer(good.iss).setAudience(good.aud).sign(crypto.randomBytes(32));
    await expectRefused(app, hs, 401, /algorithm not allowed/);
    // alg "none": header.payload. with an empty signature
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'a', role: 'admin', exp: 9e9 })).toString('base64url')}.`;
    await expectRefused(app, none, 401, /invalid token/);
  });

  it('a valid token without sub is 401; without a known role it is 403', async () => {
    await expectRefused(app, await rs.sign({ role: 'admin' }, good), 401, /no "sub" claim/);
    await expectRefused(app, await rs.sign({ sub: 'dave', role: 'superuser' }, good), 403, /token for "dave" carries no known role/);
    await expectRefused(app, await rs.sign({ sub: 'dave' }, good), 403, /carries no known role/);
  });

  it('API keys keep working beside JWT, as Bearer too', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/firewall/rules', headers: { authorization: `Bearer ${KEYS.operator}` } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { principal: { name: 'ops', role: 'operator', via: 'api_key' } });
  });

  it('refuses at install an RSA key under 2048 bits, a key of the wrong type and a missing file, naming the file', async () => {
    const weak = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' });
    const weakFile = path.join(root, 'weak.pem');
    writeFileSync(weakFile, weak);
    const edFile = path.join(root, 'ed.pem');
    writeFileSync(edFile, crypto.generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
    const cases: [string, string, RegExp][] = [
      [weakFile, 'RS256', /weak\.pem is a 1024-bit RSA key; at least 2048 bits are required/],
      [edFile, 'RS256', /ed\.pem holds a ed25519 key but auth\.jwt\.algorithm is RS256/],
      [weakFile, 'EdDSA', /weak\.pem holds a rsa key but auth\.jwt\.algorithm is EdDSA/],
      [path.join(root, 'missing.pem'), 'RS256', /cannot read .*missing\.pem: ENOENT/],
    ];
    for (const [file, algorithm, why] of cases) {
      await assert.rejects(installAuth(Fastify(), authConfig({ enabled: true, jwt: { algorithm, public_key_path: file } }), { log: silent }), why);
    }
  });
});

describe('auth: JWT EdDSA from a JWKS URL', () => {
  let app: FastifyInstance;
  let jwks: http.Server;
  let fetches = 0;
  let ed: Signer;
  let rogue: Signer;
  before(async () => {
    const kp = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const jwk = { ...(await exportJWK(kp.publicKey)), kid: 'k1', alg: 'EdDSA', use: 'sig' };
    ed = signerFor(kp.privateKey, 'EdDSA', 'k1');
    rogue = signerFor((await generateKeyPair('EdDSA', { crv: 'Ed25519' })).privateKey, 'EdDSA', 'k1');
    jwks = http.createServer((_req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
    app = await server(authConfig({ enabled: true, jwt: { algorithm: 'EdDSA', jwks_url: url, audience: 'ebpfsentinel' } }));
  });
  after(async () => {
    await app.close();
    await new Promise((r) => jwks.close(r));
  });

  it('verifies with the served key, fetching the JWKS once for many requests (cached)', async () => {
    const t = await ed.sign({ sub: 'svc-1', role: 'operator' }, { aud: 'ebpfsentinel' });
    for (let i = 0; i < 3; i++) {
      const res = await app.inject({ method: 'POST', url: '/api/v1/firewall/rules', headers: { authorization: `Bearer ${t}` } });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { principal: { name: 'svc-1', role: 'operator', via: 'jwt' } });
    }
    assert.equal(fetches, 1);
  });

  it('refuses a token signed by another key, an unknown kid, an RS256 token, an expired one', async () => {
    await expectRefused(app, await rogue.sign({ sub: 'x', role: 'admin' }, { aud: 'ebpfsentinel' }), 401, /signature does not verify/);
    await expectRefused(app, await ed.sign({ sub: 'x', role: 'admin' }, { aud: 'ebpfsentinel', kid: 'k2' }), 401, /no matching key in the JWKS/);
    const rsKey = (await generateKeyPair('RS256', { modulusLength: 2048 })).privateKey;
    await expectRefused(app, await signerFor(rsKey, 'RS256', 'k1').sign({ sub: 'x', role: 'admin' }, { aud: 'ebpfsentinel' }), 401, /algorithm not allowed/);
    await expectRefused(app, await ed.sign({ sub: 'x', role: 'admin' }, { aud: 'ebpfsentinel', exp: Math.floor(Date.now() / 1000) - 5 }), 401, /expired/);
    // no API keys configured: a non-JWT bearer is simply unknown
    await expectRefused(app, 'plain-key-0123456789abcdef', 401, /unknown API key/);
  });

  it('a JWKS endpoint that is down answers 503 (the token may be good), not 401', async () => {
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(dead.address() as AddressInfo).port}/jwks`;
    await new Promise((r) => dead.close(r));
    const app2 = Fastify();
    await installAuth(app2, authConfig({ enabled: true, jwt: { algorithm: 'EdDSA', jwks_url: url } }), { log: silent });
    app2.get('/x', { config: { minRole: 'viewer' } }, async () => 'ok');
    try {
      const res = await app2.inject({ url: '/x', headers: { authorization: `Bearer ${await ed.sign({ sub: 's', role: 'viewer' })}` } });
      assert.equal(res.statusCode, 503, res.body);
      const body = res.json() as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'SERVICE_UNAVAILABLE');
      assert.match(body.error.message, /the JWKS endpoint is unavailable \(ECONNREFUSED\)/);
    } finally {
      await app2.close();
    }
  });
});

describe('auth: failed attempts are throttled per client', () => {
  it('after maxFailures bad credentials a client gets 429 with Retry-After, even with a good key; other clients are unaffected', async () => {
    const registry = new Registry();
    const app = Fastify();
    await installAuth(app, authConfig({ enabled: true, api_keys: [{ name: 'v', key: KEYS.viewer }] }), { log: silent, registry, failureThrottle: { maxFailures: 3, windowMs: 60_000, maxClients: 100 } });
    app.get('/x', { config: { minRole: 'viewer' } }, async () => 'ok');
    try {
      const from = (ip: string, key: string) => app.inject({ url: '/x', remoteAddress: ip, headers: { 'x-api-key': key } });
      // no credential at all is not a guess and does not count
      for (let i = 0; i < 5; i++) assert.equal((await app.inject({ url: '/x', remoteAddress: '198.18.0.7' })).statusCode, 401);
      for (let i = 0; i < 3; i++) assert.equal((await from('198.18.0.7', `guess-${i}-0123456789abcdef`)).statusCode, 401);
      const blocked = await from('198.18.0.7', 'guess-9-0123456789abcdef');
      assert.equal(blocked.statusCode, 429);
      assert.equal((blocked.json() as { error: { code: string } }).error.code, 'RATE_LIMITED');
      assert.ok(Number(blocked.headers['retry-after']) > 0 && Number(blocked.headers['retry-after']) <= 60);
      assert.equal((await from('198.18.0.7', KEYS.viewer)).statusCode, 429);
      assert.equal((await from('2001:db8::7', KEYS.viewer)).statusCode, 200);
      // rotating addresses inside one /64 does not reset the budget
      for (let i = 0; i < 3; i++) assert.equal((await from(`2001:db8::${i + 10}`, `guess-${i}-0123456789abcdef`)).statusCode, 401);
      assert.equal((await from('2001:db8::7', KEYS.viewer)).statusCode, 429);
      assert.equal((await from('2001:db8:0:1::7', KEYS.viewer)).statusCode, 200);
      assert.match(await registry.metrics(), /ebpfsentinel_api_auth_failures_total\{reason="throttled"\} 3/);
    } finally {
      await app.close();
    }
  });

  it('keys clients by IPv4 address or IPv6 /64, IPv4-mapped IPv6 as IPv4', () => {
    assert.equal(clientKey('198.18.0.7'), '198.18.0.7');
    assert.equal(clientKey('::ffff:198.18.0.7'), '198.18.0.7');
    assert.equal(clientKey('2001:db8:0:0:1:2:3:4'), '2001:db8::/64');
    assert.equal(clientKey('2001:db8:0:5::1'), '2001:db8:0:5::/64');
  });

  it('a window ends, and memory stays bounded under a spray from many addresses', () => {
    let t = 0;
    const th = new FailureThrottle({ maxFailures: 2, windowMs: 1000, maxClients: 50 }, () => t);
    th.failed('a');
    th.failed('a');
    assert.equal(th.blockedFor('a'), 1);
    t = 999;
    assert.equal(th.blockedFor('a'), 1);
    t = 1000;
    assert.equal(th.blockedFor('a'), 0);
    for (let i = 0; i < 500; i++) th.failed(`198.18.${i >> 8}.${i & 255}`);
    assert.ok(th.tracked <= 50, `tracking ${th.tracked}`);
  });
});

describe('auth: reload', () => {
  it('prepare() builds new settings without touching the running ones; commit swaps them whole; a bad key file is refused and nothing changes', async () => {
    const auth = apiAuth(authConfig({ enabled: true, api_keys: [{ name: 'old', key: KEYS.admin, role: 'admin' }] }), { log: silent });
    const app = Fastify();
    await auth.install(app);
    app.get('/x', { config: { minRole: 'operator' } }, async (req) => req.principal);
    const who = async (key: string): Promise<number> => (await app.inject({ url: '/x', headers: { 'x-api-key': key } })).statusCode;
    try {
      assert.equal(await who(KEYS.admin), 200);
      const commit = await auth.prepare(authConfig({ enabled: true, api_keys: [{ name: 'new', key: KEYS.operator, role: 'operator' }, { name: 'v', key: KEYS.viewer }] }));
      // prepared, not committed: the running keys still rule
      assert.equal(await who(KEYS.admin), 200);
      assert.equal(await who(KEYS.operator), 401);
      commit();
      assert.equal(await who(KEYS.admin), 401, 'a key removed by the reload is revoked');
      assert.equal(await who(KEYS.operator), 200);
      assert.equal(await who(KEYS.viewer), 403);
      await assert.rejects(auth.prepare(authConfig({ enabled: true, jwt: { public_key_path: path.join(root, 'absent.pem') } })), /cannot read .*absent\.pem/);
      assert.equal(await who(KEYS.operator), 200);
      // switching auth off by reload: everyone is anonymous admin again
      (await auth.prepare(authConfig({})))();
      assert.equal(auth.enabled, false);
      assert.equal(await who('anything-at-all-0123456789'), 200);
      assert.equal(await who(KEYS.operator), 200);
      await assert.rejects(auth.install(Fastify()), /already installed/);
    } finally {
      await app.close();
    }
  });
});

describe('auth: role claim mapping', () => {
  it('takes a role string or the highest known role of a list, case-insensitively; anything else is none', () => {
    assert.equal(roleFromClaim('operator'), 'operator');
    assert.equal(roleFromClaim('Admin'), 'admin');
    assert.equal(roleFromClaim(['viewer', 'admin', 'operator']), 'admin');
    assert.equal(roleFromClaim(['guest', 7, 'viewer']), 'viewer');
    assert.equal(roleFromClaim('root'), undefined);
    assert.equal(roleFromClaim(undefined), undefined);
    assert.equal(roleFromClaim({ role: 'admin' }), undefined);
  });
});
