// The agent's HTTP API (Fastify 5). The root instance owns what every route shares, in this
// order: the error shape, route roles, the OpenAPI generator, authentication, per-client rate
// limits, security headers and request metrics; each concern's routes are an encapsulated
// plugin registered after that. It is served on a root-only Unix socket (always) and on TCP
// only when a port is configured, and then only with authentication (or an explicit opt-out).
import { readFileSync } from 'node:fs';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Server as HttpsServer } from 'node:https';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyHttpsOptions, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { isLoopbackBind } from '../config/sections/agent.js';
import { ApiMetrics, UNMATCHED_ROUTE } from '../metrics/api-metrics.js';
import { HttpError, installErrorHandlers } from './errors.js';
import { listenLocalSocket, viaLocalSocket, type LocalSocketListener } from './local-socket.js';
import { installRouteRoles } from './roles.js';
import { alertRoutes } from './routes-alerts.js';
import { recordRoutes } from './routes-records.js';
import { auditRoutes } from './routes-audit.js';
import { configRoutes } from './routes-config.js';
import { firewallRoutes } from './routes-firewall.js';
import { healthRoutes } from './routes-health.js';
import { metricsRoutes } from './routes-metrics.js';
import { programRoutes } from './routes-programs.js';
import { statusRoutes } from './routes-status.js';
import { SHARED_SCHEMAS } from './schemas.js';
import type { ApiDeps, ApiOptions } from './types.js';

const DEFAULT_BIND_ADDRESS = '127.0.0.1';
/** The largest body a route takes is one firewall rule; anything bigger is refused before it
 * is parsed. */
const BODY_LIMIT = 64 * 1024;
const DEFAULT_RATE_LIMIT = { enabled: true, window_seconds: 60, reads_per_window: 1200, writes_per_window: 120 } as const;

/** Probes from supervisors must never be refused for being frequent: a 429 on /healthz would
 * get a healthy agent restarted. */
const RATE_EXEMPT = new Set(['/healthz', '/readyz']);

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`agent.tls.${what}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

function isWrite(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
}

export async function buildApiServer(deps: ApiDeps, opts: ApiOptions = {}): Promise<FastifyInstance> {
  // typed as Fastify's logger interface so the instance keeps the default generics
  const log: FastifyBaseLogger = deps.logger.child({ component: 'api' });
  const base: FastifyServerOptions = {
    loggerInstance: log,
    // per-request lines come from our onResponse hook at debug level, not at info
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    return503OnClosing: true,
    ajv: {
      // unknown keys are errors, not silently dropped: a typo must not look like success
      customOptions: { removeAdditional: false, allErrors: true },
    },
  };
  // the https overload has its own server generics; the routes only need the common surface
  const app = (
    opts.tls
      ? Fastify({ ...(base as FastifyHttpsOptions<HttpsServer>), https: { cert: readPem(opts.tls.cert, 'cert'), key: readPem(opts.tls.key, 'key') } })
      : Fastify(base)
  ) as unknown as FastifyInstance;

  installErrorHandlers(app);
  for (const s of SHARED_SCHEMAS) app.addSchema(s);
  installRouteRoles(app);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'ebpfsentinel agent API',
        version: deps.version,
        description: 'Status, programs, firewall rules, alerts (query and SSE stream), config reload and the audit trail. Roles: viewer reads, operator changes rules, programs and reloads, admin also reads the audit trail.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'an API key or a JWT' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      },
    },
    refResolver: {
      // shared schemas keep their $id as the component name ("ApiError", not "def-0")
      buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  });

  const metrics = ApiMetrics.for(deps.registry);
  const limits = opts.rateLimit ?? DEFAULT_RATE_LIMIT;
  if (limits.enabled) {
    await app.register(rateLimit, {
      // not per route: one instance-level hook added before authentication, so a client
      // guessing keys spends its budget like any other (route-level hooks would run after auth)
      global: false,
      timeWindow: limits.window_seconds * 1000,
      // reads and writes are separate budgets of the same client
      keyGenerator: (req) => `${isWrite(req.method) ? 'w' : 'r'}|${req.ip}`,
      max: (_req, key) => (key.startsWith('w|') ? limits.writes_per_window : limits.reads_per_window),
      // the socket's callers are the host's administrators; budgets are for network clients
      allowList: (req) => viaLocalSocket(req.raw) || RATE_EXEMPT.has(req.url.split('?')[0] ?? ''),
      onExceeded: (req) => metrics.rateLimited(isWrite(req.method) ? 'write' : 'read'),
      errorResponseBuilder: (req, ctx) => {
        const cls = isWrite(req.method) ? 'write' : 'read';
        const retry = Math.max(1, Math.ceil(ctx.ttl / 1000));
        return new HttpError(429, 'RATE_LIMITED', `${cls} budget of ${ctx.max} requests per ${limits.window_seconds} s exhausted for ${req.ip}; retry in ${retry} s`, retry);
      },
    });
    app.addHook('onRequest', app.rateLimit());
  }

  if (deps.auth) await deps.auth.install(app);

  const https = opts.tls !== undefined;
  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    // Swagger UI sets its own policy for its pages; everything else is data, never a document
    if (!req.url.startsWith('/docs')) reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
    if (https && !viaLocalSocket(req.raw)) reply.header('strict-transport-security', 'max-age=31536000');
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = reply.statusCode === 404 && !req.routeOptions.url ? UNMATCHED_ROUTE : (req.routeOptions.url ?? UNMATCHED_ROUTE);
    metrics.request(route, req.method, reply.statusCode, reply.elapsedTime / 1000);
    req.log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });

  const startedAt = deps.startedAt ?? new Date();
  await app.register(healthRoutes, { deps });
  await app.register(metricsRoutes, { deps });
  await app.register(statusRoutes, { deps, startedAt, prefix: '/api/v1' });
  await app.register(programRoutes, { deps, prefix: '/api/v1' });
  await app.register(firewallRoutes, { deps, prefix: '/api/v1' });
  await app.register(alertRoutes, { deps, metrics, opts, prefix: '/api/v1' });
  await app.register(recordRoutes, { deps, prefix: '/api/v1' });
  await app.register(configRoutes, { deps, prefix: '/api/v1' });
  await app.register(auditRoutes, { deps, prefix: '/api/v1' });
  for (const r of deps.engineRoutes ?? []) await app.register(r.routes, { engine: r.engine, prefix: '/api/v1' });

  app.get('/openapi.json', { schema: { hide: true }, config: { minRole: 'public' } }, async () => app.swagger());
  if (opts.swaggerUi ?? true) {
    await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  }
  await app.ready();
  return app;
}

/** @deprecated name kept for callers written before ApiOptions; same fields. */
export type ListenOptions = ApiOptions;

export interface RunningApi {
  app: FastifyInstance;
  /** the TCP base URL, e.g. "http://127.0.0.1:8080" or "https://[::1]:8443"; without TCP,
   * "unix:<socket path>" */
  url: string;
  /** the bound TCP port; null without TCP */
  port: number | null;
  /** the API socket; null when started without one (tests of the TCP path) */
  socketPath: string | null;
  close(): Promise<void>;
}

/** The TCP interlock, checked again here so no caller can bypass the config's check. */
export function exposureRefusal(host: string, authEnabled: boolean, allowUnauthenticated: boolean): string | null {
  if (authEnabled || allowUnauthenticated) return null;
  const who = isLoopbackBind(host) ? 'every local user' : 'other hosts';
  return `API: refusing to listen on ${host} (TCP) without authentication, which would let ${who} in as admin: set auth.enabled: true or agent.allow_unauthenticated_api: true`;
}

export async function startApiServer(deps: ApiDeps, opts: ApiOptions = {}): Promise<RunningApi> {
  const tcp = opts.port !== undefined ? { host: opts.bindAddress ?? DEFAULT_BIND_ADDRESS, port: opts.port } : null;
  if (!tcp && opts.socketPath === undefined) throw new Error('API: nothing to listen on: give a socket path or a TCP port');
  if (tcp) {
    const refusal = exposureRefusal(tcp.host, deps.auth?.enabled === true, opts.allowUnauthenticated === true);
    if (refusal) throw new Error(refusal);
  }
  const app = await buildApiServer(deps, opts);
  let local: LocalSocketListener | null = null;
  try {
    if (opts.socketPath !== undefined) local = await listenLocalSocket(app, { path: opts.socketPath, ...(opts.socketGroup !== undefined ? { group: opts.socketGroup } : {}) });
    if (tcp) {
      try {
        await app.listen({ host: tcp.host, port: tcp.port });
      } catch (err) {
        throw new Error(`API: cannot listen on ${tcp.host}:${tcp.port}: ${(err as Error).message}`, { cause: err });
      }
    }
  } catch (err) {
    await local?.close();
    await app.close();
    throw err;
  }
  let url = `unix:${local?.path ?? ''}`;
  let boundPort: number | null = null;
  if (tcp) {
    const addr = app.server.address();
    boundPort = typeof addr === 'object' && addr ? addr.port : tcp.port;
    const shownHost = tcp.host.includes(':') ? `[${tcp.host}]` : tcp.host;
    url = `${opts.tls ? 'https' : 'http'}://${shownHost}:${boundPort}`;
  }
  return {
    app,
    url,
    port: boundPort,
    socketPath: local?.path ?? null,
    close: async () => {
      // no new socket connections; open streams get their closing event from app.close()
      local?.stopAccepting();
      await app.close();
      await local?.close();
    },
  };
}

/** ApiOptions from the validated `agent` section, so the composition root passes one value. */
export function apiOptionsFromAgentConfig(agent: {
  api_socket: string;
  api_socket_group?: string | number | undefined;
  bind_address?: string | undefined;
  http_port?: number | undefined;
  tls?: { cert: string; key: string } | undefined;
  api_rate_limit: NonNullable<ApiOptions['rateLimit']>;
  api_sse: { max_streams: number; max_streams_per_client: number };
  swagger_ui: boolean;
  allow_unauthenticated_api: boolean;
}): ApiOptions {
  return {
    socketPath: agent.api_socket,
    ...(agent.api_socket_group !== undefined ? { socketGroup: agent.api_socket_group } : {}),
    ...(agent.http_port !== undefined ? { port: agent.http_port, bindAddress: agent.bind_address ?? DEFAULT_BIND_ADDRESS } : {}),
    ...(agent.tls ? { tls: agent.tls } : {}),
    rateLimit: agent.api_rate_limit,
    sseMaxStreams: agent.api_sse.max_streams,
    sseMaxStreamsPerClient: agent.api_sse.max_streams_per_client,
    swaggerUi: agent.swagger_ui,
    allowUnauthenticated: agent.allow_unauthenticated_api,
  };
}
