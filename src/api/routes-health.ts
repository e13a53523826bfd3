// Liveness and readiness, for process supervisors and load balancers: no auth, no body.
import type { FastifyPluginAsync } from 'fastify';
import { healthzSchema, readyzSchema } from './schemas.js';
import { readiness } from './status.js';
import type { ApiDeps } from './types.js';

export const healthRoutes: FastifyPluginAsync<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.get('/healthz', { schema: healthzSchema, config: { minRole: 'public' } }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', { schema: readyzSchema, config: { minRole: 'public' } }, async (req, reply) => {
    let r;
    try {
      r = readiness(await deps.status());
    } catch (err) {
      // not knowing the state is not being ready; the error goes to the log, not the client
      req.log.error({ err }, 'readyz: status provider failed');
      return reply.code(503).send({ status: 'not_ready' as const, reasons: ['agent status unavailable'] });
    }
    if (r.ready) return { status: 'ready' as const };
    return reply.code(503).send({ status: 'not_ready' as const, reasons: r.reasons });
  });
};
