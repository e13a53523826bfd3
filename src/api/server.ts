// The agent's HTTP API (Fastify 5). Each concern is an encapsulated plugin; the root owns only
// what is common: the error shape, the shared error schema, security headers and access logs.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { installErrorHandlers } from './errors.js';
import { healthRoutes } from './routes-health.js';
import { metricsRoutes } from './routes-metrics.js';
import { statusRoutes } from './routes-status.js';
import { errorSchema } from './schemas.js';
import type { ApiDeps } from './types.js';

export const DEFAULT_BIND_ADDRESS = '127.0.0.1';
export const DEFAULT_HTTP_PORT = 8080;
/** No route takes a large body; anything bigger is refused before it is parsed. */
export const BODY_LIMIT = 64 * 1024;

export async function buildApiServer(deps: ApiDeps): Promise<FastifyInstance> {
  // typed as Fastify's logger interface so the instance keeps the default generics
  const log: FastifyBaseLogger = deps.logger.child({ component: 'api' });
  const app = Fastify({
    loggerInstance: log,
    // per-request lines come from our onResponse hook at debug level, not at info
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    return503OnClosing: true,
    ajv: {
      // unknown keys are errors, not silently dropped: a typo must not look like success
      customOptions: { removeAdditional: false, allErrors: true },
    },
  });

  installErrorHandlers(app);
  app.addSchema(errorSchema);

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('cache-control', 'no-store');
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    req.log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });

  const startedAt = deps.startedAt ?? new Date();
  await app.register(healthRoutes, { deps });
  await app.register(metricsRoutes, { deps });
  await app.register(statusRoutes, { deps, startedAt, prefix: '/api/v1' });
  await app.ready();
  return app;
}

export interface ListenOptions {
  /** default 127.0.0.1: the API is local unless the operator says otherwise */
  bindAddress?: string;
  /** default 8080; 0 picks a free port (tests) */
  port?: number;
}

export interface RunningApi {
  app: FastifyInstance;
  /** e.g. "http://127.0.0.1:8080" (IPv6 addresses in brackets) */
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startApiServer(deps: ApiDeps, opts: ListenOptions = {}): Promise<RunningApi> {
  const host = opts.bindAddress ?? DEFAULT_BIND_ADDRESS;
  const port = opts.port ?? DEFAULT_HTTP_PORT;
  const app = await buildApiServer(deps);
  try {
    await app.listen({ host, port });
  } catch (err) {
    await app.close();
    throw new Error(`API: cannot listen on ${host}:${port}: ${(err as Error).message}`, { cause: err });
  }
  const addr = app.server.address();
  const boundPort = typeof addr === 'object' && addr ? addr.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { app, url: `http://${shownHost}:${boundPort}`, port: boundPort, close: () => app.close() };
}
