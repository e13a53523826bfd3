// /api/v1/status: what is loaded, where it is attached, how full its maps are, its counters,
// and the outcome of the last reload.
import type { FastifyPluginAsync } from 'fastify';
import { statusSchema } from './schemas.js';
import { statusResponse } from './status.js';
import type { ApiDeps } from './types.js';

export const statusRoutes: FastifyPluginAsync<{ deps: ApiDeps; startedAt: Date }> = async (app, { deps, startedAt }) => {
  app.get('/status', { schema: statusSchema, config: { minRole: 'viewer' } }, async () => {
    const body = statusResponse(await deps.status(), deps.version, startedAt);
    const last = deps.control?.lastReload() ?? null;
    return { ...body, last_reload: last };
  });
};
