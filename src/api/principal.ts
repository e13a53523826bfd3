// Who is asking, for the audit trail. Authentication (src/api/auth) sets request.principal; with
// auth off every caller is "anonymous".
import type { FastifyRequest } from 'fastify';

export function actorOf(req: FastifyRequest): string {
  const p = (req as FastifyRequest & { principal?: { name?: unknown } }).principal;
  return typeof p?.name === 'string' && p.name ? p.name : 'anonymous';
}
