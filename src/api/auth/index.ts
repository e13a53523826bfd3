// Authentication and role enforcement for the API, installed once on the root Fastify instance.
// Every route states the least role it needs (`config: { minRole }`); a route without one is a
// registration error, so none can be forgotten. Requests are authenticated by API key or JWT,
// and refused with 401 (no or bad credential, with WWW-Authenticate) or 403 (role too low).
// With auth disabled every caller is "anonymous" with admin rights, and says so in the log.
// A caller on the API's Unix socket is authenticated by the kernel (the socket file's mode lets
// only root, or the socket's group, connect) and is served as admin whatever these settings.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import type { AuthConfig } from '../../config/sections/auth.js';
import { apiError } from '../errors.js';
import { viaLocalSocket } from '../local-socket.js';
import { ApiKeyStore } from './api-keys.js';
import { credentialOf } from './credentials.js';
import { clientKey, DEFAULT_THROTTLE, FailureThrottle, type ThrottleOptions } from './failure-throttle.js';
import { loadJwtKey, verifyJwt, type JwtKey } from './jwt.js';
import { AuthFailure, MIN_ROLE_VALUES, ROLE_RANK, type MinRole, type Principal } from './types.js';

export type { AuthConfig } from '../../config/sections/auth.js';
export type { MinRole, Principal } from './types.js';
export { roleFromClaim } from './jwt.js';

export interface AuthLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface InstallAuthOptions {
  log: AuthLog;
  /** when given, refusals are counted as ebpfsentinel_api_auth_failures_total{reason} */
  registry?: Registry;
  /** failed authentications allowed per client address before 429 (default 30 per minute) */
  failureThrottle?: ThrottleOptions;
}

const ANONYMOUS: Readonly<Principal> = Object.freeze({ name: 'anonymous', role: 'admin', via: 'none' });
/** whoever connected to the API socket: root or a member of its group */
const LOCAL_SOCKET: Readonly<Principal> = Object.freeze({ name: 'local-socket', role: 'admin', via: 'socket' });
/** who calls a public route while auth is on: nobody in particular, and no rights */
const PUBLIC_CALLER: Readonly<Principal> = Object.freeze({ name: 'anonymous', role: 'viewer', via: 'none' });

/** Which open_endpoints switch makes which URLs public. */
const OPEN_ENDPOINT_URLS: Readonly<Record<keyof AuthConfig['open_endpoints'], readonly string[]>> = {
  healthz: ['/healthz', '/readyz'],
  metrics: ['/metrics'],
};

const REALM = 'Bearer realm="ebpfsentinel"';

export type AuthFailureReason = 'missing_credentials' | 'invalid_credentials' | 'insufficient_role' | 'throttled' | 'key_source_unavailable';

/** Everything a request is checked against, built whole from one AuthConfig so a reload swaps
 * it in one assignment: a request sees the old settings or the new ones, never a mix. */
interface AuthState {
  cfg: AuthConfig;
  keys: ApiKeyStore;
  jwtKey: JwtKey | undefined;
  forcedPublic: Set<string>;
  forcedPrivate: Set<string>;
}

/** Reads the key file / sets up the JWKS client; throws (naming the key) when it cannot. */
async function buildState(cfg: AuthConfig): Promise<AuthState> {
  const forcedPublic = new Set<string>();
  const forcedPrivate = new Set<string>();
  for (const [k, urls] of Object.entries(OPEN_ENDPOINT_URLS) as [keyof AuthConfig['open_endpoints'], readonly string[]][]) {
    for (const u of urls) (cfg.open_endpoints[k] ? forcedPublic : forcedPrivate).add(u);
  }
  return {
    // the keys live in the store alone (as digests; the config never held them in plain)
    cfg: { ...cfg, api_keys: [] },
    keys: new ApiKeyStore(cfg.enabled ? cfg.api_keys : []),
    jwtKey: cfg.enabled && cfg.jwt ? await loadJwtKey(cfg.jwt) : undefined,
    forcedPublic,
    forcedPrivate,
  };
}

function announce(log: AuthLog, s: AuthState, what: string): void {
  if (!s.cfg.enabled) log.warn({ auth: 'disabled' }, `API authentication is disabled${what === 'reloaded' ? ' (by a reload)' : ''}: the API socket admits root only, but a TCP listener (agent.http_port with allow_unauthenticated_api) serves every caller as "anonymous" with admin rights`);
  else log.info({ api_keys: s.keys.size, jwt: s.cfg.jwt ? (s.cfg.jwt.jwks_url ? 'jwks_url' : 'public_key_path') : 'off', open_endpoints: s.cfg.open_endpoints }, `API authentication ${what}`);
}

/** Authentication for one API server whose settings can change while it runs (config reload).
 * `install` once on the root instance; `prepare(next)` checks and builds new settings without
 * touching the running ones and returns the commit that swaps them in. */
export interface ApiAuthenticator {
  /** whether the settings in force require authentication (for the loopback interlock) */
  readonly enabled: boolean;
  install(app: FastifyInstance): Promise<void>;
  prepare(next: AuthConfig): Promise<() => void>;
}

export function apiAuth(cfg: AuthConfig, opts: InstallAuthOptions): ApiAuthenticator {
  let state: AuthState | undefined;
  let installed = false;
  return {
    get enabled() {
      return (state?.cfg ?? cfg).enabled;
    },
    async install(app) {
      if (installed) throw new Error('API authentication is already installed on a server');
      installed = true;
      state = await buildState(cfg);
      announce(opts.log, state, 'enabled');
      attachHooks(app, () => state as AuthState, opts);
    },
    async prepare(next) {
      const built = await buildState(next);
      return () => {
        state = built;
        announce(opts.log, built, 'reloaded');
      };
    },
  };
}

/** One-shot form: authentication with fixed settings. */
export async function installAuth(app: FastifyInstance, cfg: AuthConfig, opts: InstallAuthOptions): Promise<void> {
  await apiAuth(cfg, opts).install(app);
}

function attachHooks(app: FastifyInstance, current: () => AuthState, opts: InstallAuthOptions): void {
  const failures = opts.registry ? failureCounter(opts.registry) : undefined;
  const throttle = new FailureThrottle(opts.failureThrottle ?? DEFAULT_THROTTLE);

  app.decorateRequest('principal', null as unknown as Principal);

  app.addHook('onRoute', (route) => {
    const declared = route.config?.minRole;
    if (declared === undefined || !MIN_ROLE_VALUES.includes(declared)) {
      throw new Error(`route ${String(route.method)} ${route.url} declares no valid config.minRole (one of ${MIN_ROLE_VALUES.join(', ')}); every route must say who may call it`);
    }
  });

  const refuse = (req: FastifyRequest, reply: FastifyReply, status: 401 | 403, reason: AuthFailureReason, message: string, tokenGiven: boolean): FastifyReply => {
    failures?.inc({ reason });
    req.log.info({ method: req.method, url: req.url, reason, ip: req.ip }, `API request refused: ${message}`);
    if (status === 401) reply.header('www-authenticate', tokenGiven ? `${REALM}, error="invalid_token"` : REALM);
    return reply.code(status).send(apiError(status === 401 ? 'AUTHENTICATION_REQUIRED' : 'INSUFFICIENT_ROLE', message));
  };

  app.addHook('onRequest', async (req, reply) => {
    const { cfg, keys, jwtKey, forcedPublic, forcedPrivate } = current();
    if (viaLocalSocket(req.raw)) {
      req.principal = LOCAL_SOCKET;
      req.log = req.log.child({ actor: LOCAL_SOCKET.name });
      return;
    }
    if (!cfg.enabled) {
      req.principal = ANONYMOUS;
      req.log = req.log.child({ actor: ANONYMOUS.name });
      return;
    }
    const url = req.routeOptions.url;
    // no route matched: the 404 handler answers, nothing to protect
    if (url === undefined) {
      req.principal = PUBLIC_CALLER;
      return;
    }
    const need = effectiveRole(url, req.routeOptions.config.minRole, forcedPublic, forcedPrivate);
    if (need === 'public') {
      req.principal = PUBLIC_CALLER;
      return;
    }
    const client = clientKey(req.ip);
    const wait = throttle.blockedFor(client);
    if (wait > 0) {
      failures?.inc({ reason: 'throttled' });
      req.log.warn({ method: req.method, url: req.url, ip: req.ip }, 'API request refused: too many failed authentications from this client');
      reply.header('retry-after', String(wait));
      return reply.code(429).send(apiError('RATE_LIMITED', `too many failed authentication attempts from ${req.ip}; retry in ${wait} s`));
    }
    let principal: Principal | { name: string; role: undefined; via: 'jwt' };
    try {
      const cred = credentialOf(req.headers);
      if (cred === undefined) return refuse(req, reply, 401, 'missing_credentials', `${req.method} ${url} needs the ${need} role: send "Authorization: Bearer <token>" or "X-API-Key: <key>"`, false);
      principal = await authenticate(cred, keys, jwtKey, cfg);
    } catch (err) {
      if (err instanceof AuthFailure) {
        if (err.keySourceDown) {
          // the caller's token may well be good: this is ours to fix, and theirs to retry
          failures?.inc({ reason: 'key_source_unavailable' });
          req.log.warn({ jwks_url: cfg.jwt?.jwks_url }, `API authentication: ${err.message}`);
          return reply.code(503).send(apiError('SERVICE_UNAVAILABLE', err.message));
        }
        throttle.failed(client);
        return refuse(req, reply, 401, 'invalid_credentials', err.message, true);
      }
      throw err;
    }
    if (principal.role === undefined) {
      return refuse(req, reply, 403, 'insufficient_role', `token for "${principal.name}" carries no known role (${cfg.jwt?.role_claim ?? 'role'} claim: viewer, operator or admin); ${req.method} ${url} needs ${need}`, false);
    }
    if (ROLE_RANK[principal.role] < ROLE_RANK[need]) {
      return refuse(req, reply, 403, 'insufficient_role', `"${principal.name}" has role ${principal.role}; ${req.method} ${url} needs ${need}`, false);
    }
    req.principal = principal as Principal;
    req.log = req.log.child({ actor: principal.name, role: principal.role, via: principal.via });
    return;
  });
}

function effectiveRole(url: string, declared: MinRole | undefined, forcedPublic: Set<string>, forcedPrivate: Set<string>): MinRole {
  if (forcedPublic.has(url)) return 'public';
  // an open endpoint switched off needs a caller, the least role that is one
  if (forcedPrivate.has(url) && (declared === undefined || declared === 'public')) return 'viewer';
  // onRoute guarantees a declaration; a HEAD twin of a GET route carries the same config
  return declared ?? 'admin';
}

async function authenticate(
  cred: NonNullable<ReturnType<typeof credentialOf>>,
  keys: ApiKeyStore,
  jwtKey: JwtKey | undefined,
  cfg: AuthConfig,
): Promise<Principal | { name: string; role: undefined; via: 'jwt' }> {
  if (cred.kind === 'bearer' && cred.looksLikeJwt && jwtKey && cfg.jwt) {
    let jwtError: AuthFailure;
    try {
      const id = await verifyJwt(cred.value, jwtKey, cfg.jwt);
      return id.role === undefined ? { name: id.name, role: undefined, via: 'jwt' } : { name: id.name, role: id.role, via: 'jwt' };
    } catch (err) {
      if (!(err instanceof AuthFailure)) throw err;
      jwtError = err;
    }
    // not a token we accept: it may still be an API key that happens to have the same shape
    const k = keys.verify(cred.value);
    if (k) return { ...k, via: 'api_key' };
    throw jwtError;
  }
  const k = keys.verify(cred.value);
  if (k) return { ...k, via: 'api_key' };
  throw new AuthFailure(cred.kind === 'bearer' && cred.looksLikeJwt && !jwtKey ? 'JWT is not configured (auth.jwt) and no API key matches' : 'unknown API key');
}

function failureCounter(registry: Registry): Counter<'reason'> {
  const name = 'ebpfsentinel_api_auth_failures_total';
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<'reason'>;
  return new Counter({ name, help: 'API requests refused by authentication, by reason', labelNames: ['reason'], registers: [registry] });
}
