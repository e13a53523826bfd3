// `auth`: who may call the API. API keys (compared as hashes in constant time) and/or JWT
// (RS256 or EdDSA, from a public key file or a JWKS URL), each carrying a role: viewer (read),
// operator (change policy), admin (everything). Shape follows the public reference (§1.14).
import path from 'node:path';
import { z } from 'zod';
import { show } from '../messages.js';
import { bool, custom, intIn, keyword, strictObject } from '../zod-helpers.js';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Shorter keys can be guessed; the reference's examples are much longer. */
export const MIN_API_KEY_LENGTH = 16;

const role = keyword({ viewer: 'viewer', operator: 'operator', admin: 'admin' });

const keyName = custom((v, fail): string => {
  if (typeof v !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(v)) {
    fail(`expected a key name of 1-64 letters, digits, ".", "_", "@" or "-"; got ${show(v)}`);
  }
  return v as string;
});

const apiKey = custom((v, fail): string => {
  if (typeof v !== 'string') fail(`expected the key as a string; got ${show(v)}`);
  else if (v.length < MIN_API_KEY_LENGTH) fail(`an API key must be at least ${MIN_API_KEY_LENGTH} characters (this one has ${v.length}); generate one with: openssl rand -hex 32`);
  else if (/\s/.test(v)) fail('an API key must not contain white space');
  // never echo the key itself in an error
  return v as string;
});

const apiKeyEntry = strictObject(
  {
    name: keyName,
    key: apiKey,
    role: role.default('viewer'),
  },
  { namespaces: 'per-namespace grants are not implemented; the role applies everywhere' },
);

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
    api_key_salt: 'keys are hashed with a random per-process key; no salt to configure',
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
    const d = keys.get(k.key);
    if (d !== undefined) ctx.addIssue({ code: 'custom', path: ['api_keys', i, 'key'], message: `this key is the same as api_keys[${d}].key; every key must be unique so the caller is known` });
    else keys.set(k.key, i);
  });
});

export type AuthConfig = z.output<typeof authSchema>;
export type ApiKeyConfig = AuthConfig['api_keys'][number];
export type JwtConfig = NonNullable<AuthConfig['jwt']>;
