// Who is asking, for the audit trail. Authentication (src/api/auth) sets request.principal; with
// auth off every caller is "anonymous".
import type { FastifyRequest } from 'fastify';

export function actorOf(req: FastifyRequest): string {
  // null when the server runs without the auth hook (tests of the HTTP layer alone)
  const p = req.principal as FastifyRequest['principal'] | null;
  return p?.name ? p.name : 'anonymous';
}
