// Prometheus scrape endpoint.
import type { FastifyPluginAsync } from 'fastify';
import { metricsSchema } from './schemas.js';
import type { ApiDeps } from './types.js';

export const metricsRoutes: FastifyPluginAsync<{ deps: ApiDeps }> = async (app, { deps }) => {
  // viewer by default; auth.open_endpoints.metrics opens it to scrapers without credentials
  app.get('/metrics', { schema: metricsSchema, config: { minRole: 'viewer' } }, async (_req, reply) => {
    await deps.refreshMetrics?.();
    const text = await deps.registry.metrics();
    return reply.type(deps.registry.contentType).send(text);
  });
};
