// What a route plugin needs, whoever registers it: the API server's own routes (src/api) and the
// routes an engine brings with it (src/engines/<domain>/routes.ts). The API server knows no
// engine: it registers each engine's plugin under /api/v1 and hands it a way to reach the running
// engine, so HTTP concerns stay out of engines and engine concerns out of src/api.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';

/** Answered as { error: { code, message } } with this status (src/api/errors.ts). */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    /** seconds; sent as Retry-After on a 429 */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** 503: a part of the agent the route needs is not running (e.g. its engine is disabled). */
export function notWired(what: string): HttpError {
  return new HttpError(503, 'SERVICE_UNAVAILABLE', `${what} is not available in this agent`);
}

/** Who is asking, for the audit trail: the principal authentication (src/api/auth) set, or
 * "anonymous" with auth off. */
export function actorOf(req: FastifyRequest): string {
  // null when the server runs without the auth hook (tests of the HTTP layer alone)
  const p = req.principal as FastifyRequest['principal'] | null;
  return p?.name ? p.name : 'anonymous';
}

/** The shared error body, registered once by the server as schema `ApiError`. */
const errorRef = { $ref: 'ApiError#' } as const;
/** The error responses any route can produce (auth and rate limits apply to every route). */
export const commonErrors = { 400: errorRef, 401: errorRef, 403: errorRef, 404: errorRef, 429: errorRef, 500: errorRef, 503: errorRef } as const;
/** ... and a route that takes a body or changes state. */
export const writeErrors = { ...commonErrors, 409: errorRef, 413: errorRef, 415: errorRef } as const;

export interface EngineRouteOptions {
  /** the engine while it runs, undefined while it is stopped (its routes answer 503 then) */
  engine(): unknown;
}

/** An engine's routes: a Fastify plugin registered under /api/v1, its routes declaring their
 * schemas and `config.minRole` like every other route. */
export type EngineRoutes = FastifyPluginAsync<EngineRouteOptions>;
