// /api/v1/config: the running config (secrets masked by the control plane) and reload. A
// rejected reload is an error like any other (400, one shape) whose message is the reason; the
// running policy stays, and the full outcome is also in GET /api/v1/status (last_reload).
import type { FastifyPluginAsync } from 'fastify';
import { HttpError, notWired } from './errors.js';
import { actorOf } from '../http/route-kit.js';
import { commonErrors, writeErrors } from './schemas.js';
import type { ApiDeps } from './types.js';

const emptyQuery = { type: 'object', additionalProperties: false, properties: {} } as const;

export const configRoutes: FastifyPluginAsync<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.get(
    '/config',
    {
      schema: {
        summary: 'The running configuration, defaults filled in, secrets masked',
        querystring: emptyQuery,
        response: { 200: { type: 'object', additionalProperties: true }, ...commonErrors },
      },
      config: { minRole: 'viewer' },
    },
    async () => {
      if (!deps.control) throw notWired('the running configuration');
      return deps.control.runningConfig() as Record<string, unknown>;
    },
  );

  app.post(
    '/config/reload',
    {
      schema: {
        summary: 'Re-read the config file and apply it whole, or reject it whole (400 with the reason)',
        querystring: emptyQuery,
        response: { 200: { $ref: 'ReloadOutcome#' }, ...writeErrors },
      },
      config: { minRole: 'operator' },
    },
    async (req) => {
      if (!deps.control) throw notWired('config reload');
      const outcome = await deps.control.reload('api', actorOf(req));
      if (!outcome.ok) throw new HttpError(400, 'RELOAD_REJECTED', outcome.error ?? 'the new configuration was rejected; the running one stays');
      return outcome;
    },
  );
};
