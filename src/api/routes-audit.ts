// /api/v1/audit: who changed what, when, with the state before and after. Admin only: entries
// carry rule contents and the names of every API client.
import type { FastifyPluginAsync } from 'fastify';
import { notWired } from './errors.js';
import { commonErrors } from './schemas.js';
import type { ApiDeps, AuditQuery } from './types.js';

const text = { type: 'string', minLength: 1, maxLength: 256 } as const;
const time = { type: 'string', format: 'date-time' } as const;

export const auditRoutes: FastifyPluginAsync<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.get(
    '/audit',
    {
      schema: {
        summary: 'The audit trail, newest first',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            actor: text,
            action: text,
            target: text,
            from: time,
            to: time,
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            offset: { type: 'integer', minimum: 0, default: 0 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['entries', 'total', 'limit', 'offset'],
            properties: {
              entries: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['id', 'at', 'actor', 'action', 'target', 'outcome'],
                  properties: {
                    id: { type: 'integer' },
                    at: { type: 'string' },
                    actor: { type: 'string' },
                    action: { type: 'string' },
                    target: { type: 'string' },
                    outcome: { type: 'string', enum: ['ok', 'rejected'] },
                    before: {},
                    after: {},
                    detail: { type: 'string' },
                  },
                },
              },
              total: { type: 'integer', minimum: 0 },
              limit: { type: 'integer' },
              offset: { type: 'integer' },
            },
          },
          ...commonErrors,
        },
      },
      config: { minRole: 'admin' },
    },
    async (req) => {
      if (!deps.audit) throw notWired('the audit trail');
      const q = req.query as { actor?: string; action?: string; target?: string; from?: string; to?: string; limit: number; offset: number };
      const query: AuditQuery = { limit: q.limit, offset: q.offset };
      if (q.actor) query.actor = q.actor;
      if (q.action) query.action = q.action;
      if (q.target) query.target = q.target;
      if (q.from) query.from = new Date(q.from);
      if (q.to) query.to = new Date(q.to);
      const r = deps.audit.query(query);
      return { entries: r.entries, total: r.total, limit: q.limit, offset: q.offset };
    },
  );
};
