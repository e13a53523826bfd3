// Secrets stay secret. Every secret-bearing field is found from the marks in the config schema
// (a new marked field without a case here fails the first test), and each one, given inline, from
// a file and from the environment, is fed through the real code paths that write things down:
// config load errors, the running-config endpoint, a rejected reload's API answer and status, the
// audit trail in SQLite, and the pino log. None of them may contain the value.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ApiKeyStore } from '../../src/api/auth/api-keys.js';
import { ConfigError } from '../../src/config/index.js';
import { loadConfigFile } from '../../src/catalog.js';
import { configFormat } from '../../src/catalog.js';

const configSecretFields = configFormat.secretFields;
const inlineSecretPaths = configFormat.inlineSecretPaths;
import { apiKeyDigest } from '../../src/config/sections/auth.js';
import { MASK } from '../../src/config/secrets.js';
import { createLogger } from '../../src/log.js';
import { KEYS, routeFixture } from '../support/api-fixture.js';

const dir = mkdtempSync(path.join(tmpdir(), 'esn-secrets-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const HEAD = 'agent:\n  interfaces: [eth1]\n';
let serial = 0;
/** A value nobody would write by accident, different every call. */
const fresh = (): string => `s3cr3t-${process.pid}-${++serial}-${Math.random().toString(36).slice(2, 12)}`;

type Source = 'inline' | 'file' | 'env';
/** How to put `value` into a config for each marked field, from each source it accepts. The
 * keys must be exactly the marked fields. */
const CASES: Record<string, { sources: readonly Source[]; yaml(v: string, from: Source): string }> = {
  'auth.api_keys[].key': {
    sources: ['inline', 'file', 'env'],
    yaml: (v, from) => `auth:\n  enabled: true\n  api_keys:\n    - { name: ops, role: admin, ${from === 'inline' ? `key: "${v}"` : from === 'file' ? `key_file: ${secretFile(v)}` : `key_env: ${secretEnv(v)}`} }\n`,
  },
  'auth.api_keys[].key_sha256': {
    sources: ['inline'],
    yaml: (v) => `auth:\n  enabled: true\n  api_keys:\n    - { name: ops, role: admin, key_sha256: ${apiKeyDigest(v)} }\n`,
  },
  'alerting.routes[].webhook_headers': {
    sources: ['inline', 'file', 'env'],
    yaml: (v, from) => `alerting:\n  routes:\n    - name: soc\n      destination: webhook\n      webhook_url: "http://127.0.0.1:9/hook"\n      ${headerYaml('webhook_headers', v, from)}\n`,
  },
  'threatintel.feeds[].auth_header': {
    sources: ['inline'],
    yaml: (v) => `threatintel:\n  feeds:\n    - { id: f1, url: "https://127.0.0.1:9/feed.txt", auth_header: "${forms('threatintel.feeds[].auth_header', v)[0]}" }\n`,
  },
  'alerting.routes[].otlp_headers': {
    sources: ['inline', 'file', 'env'],
    yaml: (v, from) => `alerting:\n  routes:\n    - name: otel\n      destination: otlp\n      otlp_endpoint: "http://[::1]:9"\n      ${headerYaml('otlp_headers', v, from)}\n`,
  },
};

function headerYaml(key: string, v: string, from: Source): string {
  if (from === 'inline') return `${key}: { X-Api-Token: "${v}" }`;
  if (from === 'file') return `${key}_file: { X-Api-Token: ${secretFile(v)} }`;
  return `${key}_env: { X-Api-Token: ${secretEnv(v)} }`;
}

function secretFile(content: string): string {
  const f = path.join(dir, `secret-${++serial}`);
  writeFileSync(f, `${content}\n`, { mode: 0o600 });
  return f;
}

function secretEnv(value: string): string {
  const name = `ESN_TEST_SECRET_${++serial}`;
  process.env[name] = value;
  return name;
}

function writeConfig(text: string, mode = 0o600): string {
  const f = path.join(dir, `config-${++serial}.yaml`);
  writeFileSync(f, text, { mode });
  chmodSync(f, mode);
  return f;
}

/** The secret in every spelling it could leak in: as given, and for digests the digest. */
function forms(field: string, v: string): string[] {
  if (field.endsWith('auth_header')) return [`X-Feed-Token: ${v}`];
  return field.endsWith('key_sha256') ? [apiKeyDigest(v)] : [v];
}

function assertNoLeak(where: string, text: string, field: string, v: string): void {
  for (const f of forms(field, v)) assert.ok(!text.includes(f), `${field}: the secret leaks through ${where}:\n${text.slice(0, 2000)}`);
}

describe('secrets: every marked field, every output', () => {
  it('the schema marks exactly the fields this test covers', () => {
    assert.deepEqual(configSecretFields().map((f) => f.path).sort(), Object.keys(CASES).sort());
  });

  for (const [field, c] of Object.entries(CASES)) {
    for (const from of c.sources) {
      it(`${field} (${from}): load errors, GET /api/v1/config, reload answer and status, audit trail, log`, async () => {
        const v = fresh();
        const secretYaml = c.yaml(v, from);

        // 1. A load error whose message would quote the value: the same value pasted into a
        // keyword field as well. The message names the key and shows the mask instead.
        const bad = writeConfig(`agent:\n  interfaces: [eth1]\n  log_level: "${forms(field, v)[0]}"\n${secretYaml}`);
        const err = await loadConfigFile(bad).then(
          () => assert.fail('a bad log_level must be refused'),
          (e: unknown) => e as ConfigError,
        );
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /agent\.log_level: expected one of .*; got "\*\*\*"/);
        assertNoLeak('a config load error', `${err.message}\n${JSON.stringify(err.issues)}`, field, v);

        // 2. The running agent: the endpoint, a rejected and an accepted reload, the audit
        // trail and the log, all real.
        const lines: string[] = [];
        const f = await routeFixture(`${HEAD}firewall:\n  rules:\n    - { id: r1, priority: 10, action: deny, src_ip: 198.18.0.1 }\n${secretYaml}`, {}, { logTo: { write: (l: string) => lines.push(l) } });
        try {
          // with an auth field under test, the key (or the key behind the digest) is the admin's
          const headers: Record<string, string> = field.startsWith('auth.') ? { authorization: `Bearer ${v}` } : {};
          const cfg = await f.app.inject({ method: 'GET', url: '/api/v1/config', headers });
          assert.equal(cfg.statusCode, 200, cfg.body);
          assertNoLeak('GET /api/v1/config', cfg.body, field, v);
          assert.ok(cfg.body.includes(MASK), 'the field is shown, masked');
          // the control plane's view directly too (what the route serves)
          const view = JSON.stringify(f.control.runningConfig());
          assertNoLeak('the running-config view', view, field, v);
          assert.ok(view.includes(MASK));

          const cfgFile = path.join(f.dir, 'config.yaml');
          writeFileSync(cfgFile, `agent:\n  interfaces: [eth1]\n  log_level: "${forms(field, v)[0]}"\n${secretYaml}`);
          const rejected = await f.control.reload('api', 'tester');
          assert.equal(rejected.ok, false);
          assert.match(rejected.error ?? '', /agent\.log_level/);
          assertNoLeak('a rejected reload outcome', JSON.stringify(rejected), field, v);
          const rel = await f.app.inject({ method: 'POST', url: '/api/v1/config/reload', headers });
          assert.equal(rel.statusCode, 400, rel.body);
          assert.match(rel.body, /RELOAD_REJECTED/);
          assertNoLeak('POST /api/v1/config/reload', rel.body, field, v);
          const st = await f.app.inject({ method: 'GET', url: '/api/v1/status', headers });
          assert.equal(st.statusCode, 200, st.body);
          assertNoLeak('GET /api/v1/status (last_reload)', st.body, field, v);
          writeFileSync(cfgFile, `${HEAD}firewall:\n  rules:\n    - { id: r2, priority: 10, action: deny, src_ip: "2001:db8::1" }\n${secretYaml}`);
          const ok = await f.control.reload('signal', 'signal:SIGHUP');
          assert.equal(ok.ok, true, ok.error);

          const audit = f.store.audit.query({ limit: 100 });
          assert.ok(audit.entries.some((e) => e.action === 'config.reload' && e.outcome === 'rejected'), 'the rejected reload is in the trail');
          assertNoLeak('the audit trail', JSON.stringify(audit), field, v);

          // the log: what the agent wrote, plus a debug dump of the parsed config and an
          // error carrying the value, through the same logger path
          const log = createLogger({ level: 'debug', destination: { write: (l: string) => lines.push(l) } });
          log.debug({ config: f.config }, 'config as parsed');
          log.error({ err: new Error(`sink refused header ${forms(field, v)[0]}`) }, 'delivery failed');
          const text = createLogger({ level: 'debug', format: 'text', destination: { write: (l: string) => lines.push(l) } });
          text.info({ value: forms(field, v)[0] }, 'text form');
          const all = lines.join('');
          assert.match(all, /config reload rejected/);
          assert.match(all, /delivery failed/);
          assertNoLeak('the log', all, field, v);
        } finally {
          await f.close();
        }
      });
    }
  }
});

describe('secrets: sources, digests and file permissions', () => {
  it('an API key from key, key_file, key_env or key_sha256 authenticates; the store holds only digests', async () => {
    const plain = fresh();
    for (const yaml of [
      `key: "${plain}"`,
      `key_file: ${secretFile(plain)}`,
      `key_env: ${secretEnv(plain)}`,
      `key_sha256: ${apiKeyDigest(plain).toUpperCase()}`,
    ]) {
      const c = await loadConfigFile(writeConfig(`${HEAD}auth:\n  enabled: true\n  api_keys:\n    - { name: ops, role: operator, ${yaml} }\n`));
      assert.deepEqual(c.auth.api_keys, [{ name: 'ops', role: 'operator', key_sha256: apiKeyDigest(plain) }], yaml);
      const store = new ApiKeyStore(c.auth.api_keys);
      assert.deepEqual(store.verify(plain), { name: 'ops', role: 'operator' });
      assert.equal(store.verify(`${plain}x`), undefined);
      assert.equal(store.verify(apiKeyDigest(plain)), undefined, 'the digest is not itself a key');
    }
  });

  it('a key given two ways, a missing source, a short key from a file, an unset variable: each refused at its key', async () => {
    const plain = fresh();
    const problem = async (entry: string): Promise<string> => {
      const e = await loadConfigFile(writeConfig(`${HEAD}auth:\n  api_keys:\n    - { name: ops, ${entry} }\n`)).then(
        () => assert.fail(`${entry} must be refused`),
        (x: unknown) => x as ConfigError,
      );
      return e.message;
    };
    assert.match(await problem(`key: "${plain}", key_env: ${secretEnv(plain)}`), /auth\.api_keys\[0\]\.key_env: give the key one way: key and key_env are both set/);
    assert.match(await problem('role: viewer'), /auth\.api_keys\[0\]: needs the key: one of key, key_file, key_env or key_sha256/);
    assert.match(await problem(`key_file: ${secretFile('short')}`), /auth\.api_keys\[0\]\.key_file: an API key must be at least 16 characters \(this one has 5\)/);
    assert.match(await problem('key_env: ESN_TEST_NEVER_SET'), /auth\.api_keys\[0\]\.key_env: environment variable ESN_TEST_NEVER_SET is not set/);
    assert.match(await problem('key_file: relative/key'), /auth\.api_keys\[0\]\.key_file: expected an absolute path/);
    assert.match(await problem(`key_file: ${path.join(dir, 'no-such-file')}`), /key_file: cannot read .*no-such-file: ENOENT/);
    assert.match(await problem('key_sha256: abc'), /key_sha256: expected the SHA-256 digest of the key as 64 hex digits/);
    const m = await problem('key: 12345678901234567890');
    assert.match(m, /expected the key as a string; got a number/);
    assert.ok(!m.includes('12345678901234567890'), 'a key written as a number is not echoed either');
  });

  it('a header given in two sources is refused, naming both', async () => {
    const e = await loadConfigFile(
      writeConfig(`${HEAD}alerting:\n  routes:\n    - { name: soc, destination: webhook, webhook_url: "http://127.0.0.1:9/", webhook_headers: { Authorization: "Bearer ${fresh()}" }, webhook_headers_env: { authorization: ${secretEnv(fresh())} } }\n`),
    ).then(
      () => assert.fail('refused'),
      (x: unknown) => x as ConfigError,
    );
    assert.match(e.message, /alerting\.routes\[0\]\.webhook_headers_env\.authorization: header "authorization" is also given in webhook_headers/);
  });

  it('a config file holding a credential must be readable by its owner only; digests, files and variables need no such care', async () => {
    const plain = fresh();
    const inline = `${HEAD}auth:\n  enabled: true\n  api_keys:\n    - { name: ops, key: "${plain}" }\n`;
    for (const mode of [0o644, 0o640, 0o604]) {
      const f = writeConfig(inline, mode);
      await assert.rejects(loadConfigFile(f), (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, new RegExp(`${f.replace(/[.]/g, '\\.')}: holds secrets \\(auth\\.api_keys\\[0\\]\\.key\\) but .* is readable by group or others \\(mode 0${mode.toString(8)}\\); make it readable by its owner only: chmod 600 `));
        assert.ok(!e.message.includes(plain));
        return true;
      });
    }
    const ok = await loadConfigFile(writeConfig(inline, 0o600));
    assert.deepEqual(inlineSecretPaths(ok), ['auth.api_keys[0].key']);
    await loadConfigFile(writeConfig(inline, 0o400));
    const headers = `${HEAD}alerting:\n  routes:\n    - { name: soc, destination: webhook, webhook_url: "http://127.0.0.1:9/", webhook_headers: { X-Token: "${fresh()}" } }\n`;
    await assert.rejects(loadConfigFile(writeConfig(headers, 0o644)), /holds secrets \(alerting\.routes\[0\]\.webhook_headers\.X-Token\)/);
    // nothing secret in the file: world-readable is fine
    await loadConfigFile(writeConfig(`${HEAD}auth:\n  enabled: true\n  api_keys:\n    - { name: a, key_sha256: ${apiKeyDigest(plain)} }\n    - { name: b, key_env: ${secretEnv(fresh())} }\n    - { name: c, key_file: ${secretFile(fresh())} }\n`, 0o644));
    await loadConfigFile(writeConfig(HEAD, 0o644));
    // the secret file itself is held to the same rule
    const loose = path.join(dir, 'loose-key');
    writeFileSync(loose, fresh(), { mode: 0o644 });
    chmodSync(loose, 0o644);
    await assert.rejects(loadConfigFile(writeConfig(`${HEAD}auth:\n  api_keys:\n    - { name: a, key_file: ${loose} }\n`, 0o644)), new RegExp(`auth\\.api_keys\\[0\\]\\.key_file: ${loose}.* is readable by group or others \\(mode 0644\\); .*chmod 600 ${loose}`));
  });

  it('a reload of a file that became readable by others is refused whole; the running config and keys stay', async () => {
    const f = await routeFixture();
    try {
      const file = path.join(f.dir, 'config.yaml');
      const before = JSON.stringify(f.control.runningConfig());
      chmodSync(file, 0o644);
      const r = await f.control.reload('signal', 'signal:SIGHUP');
      assert.equal(r.ok, false);
      assert.match(r.error ?? '', /holds secrets \(auth\.api_keys\[0\]\.key, auth\.api_keys\[1\]\.key, auth\.api_keys\[2\]\.key\) but .* is readable by group or others \(mode 0644\); make it readable by its owner only: chmod 600 /);
      assert.equal(JSON.stringify(f.control.runningConfig()), before);
      const still = await f.app.inject({ method: 'GET', url: '/api/v1/status', headers: { authorization: `Bearer ${KEYS.viewer}` } });
      assert.equal(still.statusCode, 200, 'the running keys still work');
      chmodSync(file, 0o600);
      assert.equal((await f.control.reload('signal', 'signal:SIGHUP')).ok, true);
    } finally {
      await f.close();
    }
  });
});
