// /api/v1/programs: which kernel programs run, and switching one on or off at runtime (the
// control plane starts or stops its engine and records who did it).
import type { FastifyPluginAsync } from 'fastify';
import type { ProgramView } from '../control/types.js';
import { HttpError, notWired } from './errors.js';
import { actorOf } from '../http/route-kit.js';
import { commonErrors, programNameSchema, writeErrors } from './schemas.js';
import { programResponse } from './status.js';
import type { ApiDeps } from './types.js';

const viewRef = { $ref: 'ProgramView#' } as const;
const emptyQuery = { type: 'object', additionalProperties: false, properties: {} } as const;
const params = { type: 'object', required: ['name'], additionalProperties: false, properties: { name: programNameSchema } } as const;

type Params = { Params: { name: string } };

export const programRoutes: FastifyPluginAsync<{ deps: ApiDeps }> = async (app, { deps }) => {
  /** Without a control plane the status is all there is: every running program is enabled. */
  const list = async (): Promise<ProgramView[]> => {
    if (deps.control) return deps.control.programs.list();
    return (await deps.status()).programs.map((p) => ({ name: p.name, enabled: true, status: p }));
  };
  const render = (v: ProgramView): ProgramView => ({ ...v, status: v.status ? programResponse(v.status) : null });

  app.get(
    '/programs',
    {
      schema: {
        summary: 'Every program the agent knows, enabled or not, with its status',
        querystring: emptyQuery,
        response: { 200: { type: 'object', required: ['programs'], properties: { programs: { type: 'array', items: viewRef } } }, ...commonErrors },
      },
      config: { minRole: 'viewer' },
    },
    async () => ({ programs: (await list()).map(render) }),
  );

  app.get<Params>(
    '/programs/:name',
    { schema: { summary: 'One program', params, querystring: emptyQuery, response: { 200: viewRef, ...commonErrors } }, config: { minRole: 'viewer' } },
    async (req) => {
      const all = await list();
      const p = all.find((x) => x.name === req.params.name);
      if (!p) {
        const known = all.map((x) => x.name).join(', ') || 'none';
        throw new HttpError(404, 'PROGRAM_NOT_FOUND', `no program named "${req.params.name}" (known: ${known})`);
      }
      return render(p);
    },
  );

  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    app.post<Params>(
      `/programs/:name/${verb}`,
      {
        schema: {
          summary: `${verb === 'enable' ? 'Start' : 'Stop'} a program at runtime (kept until a reload changes its enabled key)`,
          params,
          querystring: emptyQuery,
          response: { 200: viewRef, ...writeErrors },
        },
        config: { minRole: 'operator' },
      },
      async (req) => {
        if (!deps.control) throw notWired('runtime program control');
        return render(await deps.control.programs.setEnabled(req.params.name, enabled, actorOf(req)));
      },
    );
  }
};
