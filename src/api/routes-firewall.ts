// /api/v1/firewall/rules: the effective rule list (file rules and API rules) and CRUD on API
// rules. Bodies are rules in the config file's shape; the control plane validates them with the
// file's own schema, applies the change atomically to the kernel, and records it in the audit
// trail and the rule's history before it answers.
import type { FastifyPluginAsync } from 'fastify';
import { HttpError, notWired } from './errors.js';
import { actorOf } from '../http/route-kit.js';
import { commonErrors, ruleIdSchema, ruleInputSchema, writeErrors } from './schemas.js';
import type { ApiDeps } from './types.js';

const viewRef = { $ref: 'FirewallRuleView#' } as const;
const emptyQuery = { type: 'object', additionalProperties: false, properties: {} } as const;
const idParams = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: ruleIdSchema } } as const;

type IdParams = { Params: { id: string } };

export const firewallRoutes: FastifyPluginAsync<{ deps: ApiDeps }> = async (app, { deps }) => {
  const control = () => {
    if (!deps.control) throw notWired('the firewall rule API');
    return deps.control.firewallRules;
  };

  app.get(
    '/firewall/rules',
    {
      schema: {
        summary: 'Every firewall rule in evaluation order: file rules and API rules',
        querystring: { type: 'object', additionalProperties: false, properties: { source: { type: 'string', enum: ['file', 'api'] } } },
        response: { 200: { type: 'object', required: ['rules'], properties: { rules: { type: 'array', items: viewRef } } }, ...commonErrors },
      },
      config: { minRole: 'viewer' },
    },
    async (req) => {
      const { source } = req.query as { source?: 'file' | 'api' };
      const rules = control().list();
      return { rules: source ? rules.filter((r) => r.source === source) : rules };
    },
  );

  app.post(
    '/firewall/rules',
    {
      schema: { summary: 'Add a rule (config-file shape); applied before the answer', querystring: emptyQuery, body: ruleInputSchema, response: { 201: viewRef, ...writeErrors } },
      config: { minRole: 'operator' },
    },
    async (req, reply) => {
      const view = await control().create(req.body, actorOf(req));
      return reply.code(201).header('location', `${req.url.split('?')[0]}/${encodeURIComponent(view.id)}`).send(view);
    },
  );

  app.get<IdParams>(
    '/firewall/rules/:id',
    { schema: { summary: 'One rule', params: idParams, querystring: emptyQuery, response: { 200: viewRef, ...commonErrors } }, config: { minRole: 'viewer' } },
    async (req) => {
      const r = control().get(req.params.id);
      if (!r) throw new HttpError(404, 'NOT_FOUND', `no firewall rule with id "${req.params.id}"`);
      return r;
    },
  );

  app.put<IdParams>(
    '/firewall/rules/:id',
    {
      schema: { summary: 'Replace an API rule (the body\'s id, when given, must equal the path\'s)', params: idParams, querystring: emptyQuery, body: ruleInputSchema, response: { 200: viewRef, ...writeErrors } },
      config: { minRole: 'operator' },
    },
    async (req) => control().replace(req.params.id, req.body, actorOf(req)),
  );

  app.delete<IdParams>(
    '/firewall/rules/:id',
    {
      schema: { summary: 'Remove an API rule (file rules are changed in the file)', params: idParams, querystring: emptyQuery, response: { 204: { type: 'null' }, ...writeErrors } },
      config: { minRole: 'operator' },
    },
    async (req, reply) => {
      await control().remove(req.params.id, actorOf(req));
      return reply.code(204).send();
    },
  );

  app.get<IdParams>(
    '/firewall/rules/:id/history',
    {
      schema: {
        summary: 'Every recorded version of a rule, oldest first',
        params: idParams,
        querystring: emptyQuery,
        response: {
          200: {
            type: 'object',
            required: ['id', 'versions'],
            properties: {
              id: { type: 'string' },
              versions: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['version', 'at', 'actor', 'action'],
                  properties: { version: { type: 'integer' }, at: { type: 'string' }, actor: { type: 'string' }, action: { type: 'string' }, before: {}, after: {} },
                },
              },
            },
          },
          ...commonErrors,
        },
      },
      config: { minRole: 'viewer' },
    },
    async (req) => {
      if (!deps.ruleHistory) throw notWired('rule history');
      const versions = deps.ruleHistory.history(req.params.id);
      if (versions.length === 0 && !deps.control?.firewallRules.get(req.params.id)) {
        throw new HttpError(404, 'NOT_FOUND', `no firewall rule with id "${req.params.id}" and no recorded history`);
      }
      return { id: req.params.id, versions };
    },
  );
};
