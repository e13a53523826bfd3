// `auth`: who may call the API over TCP. API keys (held and compared as SHA-256 digests in
// constant time) and/or JWT (RS256 or EdDSA, from a public key file or a JWKS URL), each carrying
// a role: viewer (read), operator (change policy), admin (everything). A key is written inline
// (`key`), read from a file (`key_file`) or the environment (`key_env`), or given as its digest
// (`key_sha256`), so the config file need hold no credential. Shape follows the public
// reference (§1.14).
import { defineSection } from '../section.js';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { show } from '../messages.js';
import { secretEnv, secretFile } from '../secret-sources.js';
import { knownSecrets, secret } from '../secrets.js';
import { bool, custom, intIn, keyword, strictObject } from '../zod-helpers.js';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Shorter keys can be guessed; the reference's examples are much longer. */
const MIN_API_KEY_LENGTH = 16;

const role = keyword({ viewer: 'viewer', operator: 'operator', admin: 'admin' });

const keyName = custom((v, fail): string => {
  if (typeof v !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(v)) {
    fail(`expected a key name of 1-64 letters, digits, ".", "_", "@" or "-"; got ${show(v)}`);
  }
  return v as string;
});

/** What is wrong with a key however it was given, or null; never echoes the key. */
function apiKeyProblem(v: string): string | null {
  if (v.length < MIN_API_KEY_LENGTH) return `an API key must be at least ${MIN_API_KEY_LENGTH} characters (this one has ${v.length}); generate one with: openssl rand -hex 32`;
  if (/\s/.test(v)) return 'an API key must not contain white space';
  return null;
}

/** The digest API keys are held and compared as (lower-case hex), e.g. for `key_sha256`:
 * printf %s "$KEY" | sha256sum */
export function apiKeyDigest(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

const apiKey = secret(
  custom((v, fail): string => {
    // never echo the key itself in an error, not even when it is not a string
    if (typeof v !== 'string') fail(`expected the key as a string; got ${typeof v === 'number' ? 'a number' : show(v)}`);
    else {
      const p = apiKeyProblem(v);
      if (p) fail(p);
    }
    return v as string;
  }, { type: 'string', minLength: MIN_API_KEY_LENGTH, pattern: '^\\S+$' }),
);

const sha256Hex = secret(
  custom((v, fail): string => {
    if (typeof v !== 'string' || !/^[0-9a-fA-F]{64}$/.test(v)) fail('expected the SHA-256 digest of the key as 64 hex digits (printf %s "$KEY" | sha256sum)');
    return typeof v === 'string' ? v.toLowerCase() : '';
  }, { type: 'string', pattern: '^[0-9a-fA-F]{64}$' }),
  'digest',
);

const KEY_SOURCES = ['key', 'key_file', 'key_env', 'key_sha256'] as const;

const apiKeyEntry = strictObject(
  {
    name: keyName,
    key: apiKey.optional(),
    key_file: secretFile.optional(),
    key_env: secretEnv.optional(),
    key_sha256: sha256Hex.optional(),
    role: role.default('viewer'),
  },
  { namespaces: 'per-namespace grants are not implemented; the role applies everywhere' },
).transform((e, ctx): { name: string; role: Role; key_sha256: string } => {
  const given = KEY_SOURCES.filter((k) => e[k] !== undefined);
  if (given.length !== 1) {
    ctx.addIssue({ code: 'custom', path: given.length > 1 ? [given[1]!] : [], message: given.length ? `give the key one way: ${given.join(' and ')} are both set` : 'needs the key: one of key, key_file, key_env or key_sha256' });
    return z.NEVER;
  }
  const from = given[0]!;
  if (from === 'key_sha256') return { name: e.name, role: e.role, key_sha256: e.key_sha256! };
  const plain = e[from]!;
  if (from !== 'key') {
    const p = apiKeyProblem(plain);
    if (p) {
      ctx.addIssue({ code: 'custom', path: [from], message: p });
      return z.NEVER;
    }
  }
  const digest = apiKeyDigest(plain);
  knownSecrets.add(digest);
  return { name: e.name, role: e.role, key_sha256: digest };
});

const keyFile = custom((v, fail): string => {
  if (typeof v !== 'string' || !path.isAbsolute(v)) fail(`expected an absolute path to a PEM public key; got ${show(v)}`);
  return v as string;
});

const jwksUrl = custom((v, fail): string => {
  let u: URL | undefined;
  try {
    u = new URL(String(v));
  } catch {
    fail(`expected an http(s) URL; got ${show(v)}`);
    return '';
  }
  const loopback = u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\./.test(u.hostname);
  if (u.protocol === 'https:' || (u.protocol === 'http:' && loopback)) return u.toString();
  fail(`a JWKS URL must use https (plain http only on loopback); got ${show(v)}`);
  return '';
});

const jwtSchema = strictObject(
  {
    algorithm: keyword({ rs256: 'RS256', eddsa: 'EdDSA' }, {
      hs256: 'is a shared-secret algorithm; use RS256 or EdDSA so the agent holds no signing secret',
      none: 'would accept unsigned tokens',
    }).default('RS256'),
    public_key_path: keyFile.optional(),
    jwks_url: jwksUrl.optional(),
    issuer: z.string().min(1).optional(),
    audience: z.string().min(1).optional(),
    jwks_cache_ttl_seconds: intIn(1, 86_400, 'seconds').default(3600),
    /** claim holding the role: a string, or a list whose highest known role wins */
    role_claim: z.string().min(1).default('role'),
  },
  { jwks_refresh_on_unknown_kid: 'an unknown kid always triggers one JWKS refresh (rate-limited)' },
).superRefine((j, ctx) => {
  if ((j.public_key_path === undefined) === (j.jwks_url === undefined)) {
    ctx.addIssue({ code: 'custom', path: [], message: 'set exactly one of public_key_path and jwks_url' });
  }
});

const openEndpoints = strictObject({
  /** /healthz and /readyz */
  healthz: bool().default(true),
  metrics: bool().default(false),
});

export const authSchema = strictObject(
  {
    enabled: bool().default(false),
    api_keys: z.array(apiKeyEntry).default([]),
    jwt: jwtSchema.optional(),
    open_endpoints: openEndpoints.prefault({}),
  },
  {
    oidc: 'use auth.jwt.jwks_url with the provider\'s JWKS',
    api_key_salt: 'keys are held as SHA-256 digests (or given as one with key_sha256); there is no salt to configure',
    metrics_auth_required: 'use auth.open_endpoints.metrics',
  },
).superRefine((a, ctx) => {
  if (a.enabled && a.api_keys.length === 0 && a.jwt === undefined) {
    ctx.addIssue({ code: 'custom', path: ['enabled'], message: 'auth is enabled but no api_keys and no jwt are configured: nobody could call the API' });
  }
  const names = new Map<string, number>();
  const keys = new Map<string, number>();
  a.api_keys.forEach((k, i) => {
    const n = names.get(k.name);
    if (n !== undefined) ctx.addIssue({ code: 'custom', path: ['api_keys', i, 'name'], message: `key name "${k.name}" is already used by api_keys[${n}]` });
    else names.set(k.name, i);
    const d = keys.get(k.key_sha256);
    if (d !== undefined) ctx.addIssue({ code: 'custom', path: ['api_keys', i], message: `this key is the same as api_keys[${d}]'s; every key must be unique so the caller is known` });
    else keys.set(k.key_sha256, i);
  });
});

export type AuthConfig = z.output<typeof authSchema>;
export type ApiKeyConfig = AuthConfig['api_keys'][number];
export type JwtConfig = NonNullable<AuthConfig['jwt']>;

export const authSection = defineSection({
  key: 'auth',
  schema: authSchema,
  reload: 'live',
  description: 'API keys, JWT and roles; a reload swaps them in one step',
});
