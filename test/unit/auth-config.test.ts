// The `auth` and `storage` sections through the real loader: defaults, and every refusal naming
// file, line and key.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, formatIssue } from '../../src/config/index.js';
import { parseConfigText } from '../../src/catalog.js';

const HEAD = 'agent:\n  interfaces: [eth1]\n';

function problems(text: string): string[] {
  try {
    parseConfigText(HEAD + text, 'config.yaml');
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.issues.map(formatIssue);
  }
  assert.fail('the config was accepted');
}

function hasProblem(text: string, re: RegExp): string[] {
  const p = problems(text);
  assert.ok(p.some((x) => re.test(x)), `no problem matches ${re}:\n${p.join('\n')}`);
  return p;
}

describe('config: auth', () => {
  it('defaults: disabled, no keys, /healthz open and /metrics closed', () => {
    const c = parseConfigText(HEAD, 'config.yaml');
    assert.deepEqual(c.auth, { enabled: false, api_keys: [], open_endpoints: { healthz: true, metrics: false } });
  });

  it('accepts the reference shape; role defaults to viewer; jwt defaults filled in', () => {
    const c = parseConfigText(
      `${HEAD}auth:
  enabled: true
  api_keys:
    - { name: ci-bot, key: 0123456789abcdef0123, role: operator }
    - { name: grafana, key: fedcba9876543210fedc }
  jwt: { algorithm: eddsa, jwks_url: "https://idp.example/.well-known/jwks.json", issuer: "https://idp.example", audience: ebpfsentinel-agent }
`,
      'config.yaml',
    );
    assert.equal(c.auth.api_keys[1]!.role, 'viewer');
    assert.equal(c.auth.jwt!.algorithm, 'EdDSA');
    assert.equal(c.auth.jwt!.jwks_cache_ttl_seconds, 3600);
    assert.equal(c.auth.jwt!.role_claim, 'role');
  });

  it('a key shorter than 16 characters is refused at its line, without echoing it', () => {
    const p = hasProblem(`auth:\n  enabled: true\n  api_keys:\n    - { name: a, key: short-secret }\n`, /^config\.yaml:6:\d+: auth\.api_keys\[0\]\.key: an API key must be at least 16 characters \(this one has 12\)/);
    assert.ok(p.every((x) => !x.includes('short-secret')));
  });

  it('duplicate names or keys, enabled without any credential, and unknown roles are refused', () => {
    hasProblem(`auth:\n  api_keys:\n    - { name: a, key: 0123456789abcdef0 }\n    - { name: a, key: 0123456789abcdef1 }\n`, /auth\.api_keys\[1\]\.name: key name "a" is already used by api_keys\[0\]/);
    hasProblem(`auth:\n  api_keys:\n    - { name: a, key: 0123456789abcdef0 }\n    - { name: b, key: 0123456789abcdef0 }\n`, /auth\.api_keys\[1\]: this key is the same as api_keys\[0\]'s/);
    hasProblem(`auth:\n  enabled: true\n`, /auth\.enabled: auth is enabled but no api_keys and no jwt are configured/);
    hasProblem(`auth:\n  api_keys:\n    - { name: a, key: 0123456789abcdef0, role: root }\n`, /auth\.api_keys\[0\]\.role: expected one of viewer \| operator \| admin; got "root"/);
  });

  it('jwt: exactly one key source, absolute key path, https JWKS (http only on loopback), no shared-secret algorithms', () => {
    hasProblem(`auth:\n  jwt: { algorithm: RS256 }\n`, /auth\.jwt: set exactly one of public_key_path and jwks_url/);
    hasProblem(`auth:\n  jwt: { public_key_path: /k.pem, jwks_url: "https://x.example/j" }\n`, /auth\.jwt: set exactly one of public_key_path and jwks_url/);
    hasProblem(`auth:\n  jwt: { public_key_path: k.pem }\n`, /auth\.jwt\.public_key_path: expected an absolute path/);
    hasProblem(`auth:\n  jwt: { jwks_url: "http://idp.example/jwks" }\n`, /auth\.jwt\.jwks_url: a JWKS URL must use https \(plain http only on loopback\)/);
    hasProblem(`auth:\n  jwt: { algorithm: HS256, public_key_path: /k.pem }\n`, /auth\.jwt\.algorithm: "HS256" is a shared-secret algorithm/);
    const ok = parseConfigText(`${HEAD}auth:\n  jwt: { jwks_url: "http://127.0.0.1:9000/jwks" }\n`, 'config.yaml');
    assert.equal(ok.auth.jwt!.jwks_url, 'http://127.0.0.1:9000/jwks');
  });

  it('unknown and not-yet-supported keys are named', () => {
    hasProblem(`auth:\n  enabeld: true\n`, /auth\.enabeld: unknown key "enabeld"; did you mean "enabled"\?/);
    hasProblem(`auth:\n  oidc: {}\n`, /auth\.oidc: `oidc` is not supported by this version/);
    hasProblem(`auth:\n  open_endpoints: { docs: true }\n`, /auth\.open_endpoints\.docs: unknown key "docs"/);
  });
});

describe('config: storage', () => {
  it('defaults: /var/lib/ebpfsentinel/sentinel.db, synchronous normal, bounded retention', () => {
    const c = parseConfigText(HEAD, 'config.yaml');
    assert.equal(c.storage.path, '/var/lib/ebpfsentinel/sentinel.db');
    assert.equal(c.storage.synchronous, 'normal');
    assert.deepEqual(c.storage.retention, {
      alerts_max_age_days: 30,
      alerts_max_count: 1_000_000,
      records_max_age_days: 7,
      records_max_count: 1_000_000,
      audit_max_age_days: 365,
      audit_max_count: 1_000_000,
      rule_history_max_versions: 100,
      interval_seconds: 600,
    });
  });

  it('refuses synchronous off, a directory path, negative or fractional retention, unknown keys', () => {
    hasProblem(`storage:\n  synchronous: "off"\n`, /storage\.synchronous: "off" could lose alerts already reported as stored/);
    hasProblem(`storage:\n  path: /var/lib/x/\n`, /storage\.path: "\/var\/lib\/x\/" names a directory/);
    hasProblem(`storage:\n  retention: { alerts_max_age_days: -1 }\n`, /storage\.retention\.alerts_max_age_days: expected days \(0 = no age limit\) 0-36500; got -1/);
    hasProblem(`storage:\n  retention: { alerts_max_count: 1.5 }\n`, /storage\.retention\.alerts_max_count: expected rows/);
    hasProblem(`storage:\n  retention: { interval_seconds: 1 }\n`, /storage\.retention\.interval_seconds: expected seconds 10-86400/);
    hasProblem(`storage:\n  retension: {}\n`, /storage\.retension: unknown key "retension"; did you mean "retention"\?/);
    hasProblem(`audit:\n  enabled: true\n`, /audit: `audit` is not supported by this version \(the audit trail lives in the storage database/);
  });
});
