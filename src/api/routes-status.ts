// /api/v1/status and /api/v1/programs/:name: what is loaded, where it is attached, how full
// its maps are, and its counters.
import type { FastifyPluginAsync } from 'fastify';
import { HttpError } from './errors.js';
import { programRouteSchema, statusSchema } from './schemas.js';
import { programResponse, statusResponse } from './status.js';
import type { ApiDeps } from './types.js';

export const statusRoutes: FastifyPluginAsync<{ deps: ApiDeps; startedAt: Date }> = async (app, { deps, startedAt }) => {
  app.get('/status', { schema: statusSchema }, async () => {
    return statusResponse(await deps.status(), deps.version, startedAt);
  });

  app.get<{ Params: { name: string } }>('/programs/:name', { schema: programRouteSchema }, async (req) => {
    const s = await deps.status();
    const p = s.programs.find((x) => x.name === req.params.name);
    if (!p) {
      const known = s.programs.map((x) => x.name).join(', ') || 'none';
      throw new HttpError(404, 'PROGRAM_NOT_FOUND', `no program named "${req.params.name}" (configured: ${known})`);
    }
    return programResponse(p);
  });
};
