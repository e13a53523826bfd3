// /api/v1/threatintel: each feed's status (state, indicators by type, what was skipped and why,
// fetch counts, last error, schedule), a refresh on demand (one feed or all), and the domain-name
// indicators (what DNS blocking takes; no kernel program here enforces them).
import { commonErrors, HttpError, notWired, writeErrors, type EngineRoutes } from '../../http/route-kit.js';
import type { ThreatIntelControl } from './engine.js';

const isControl = (e: unknown): e is ThreatIntelControl => typeof (e as ThreatIntelControl | undefined)?.feedStatus === 'function';
const NOT_RUNNING = 'threat intelligence (threatintel.enabled)';

const feedSchema = {
  type: 'object',
  required: ['id', 'url', 'format', 'action', 'state', 'indicators', 'by_type', 'skipped', 'truncated', 'fetches', 'unchanged', 'errors'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    url: { type: 'string' },
    format: { type: 'string' },
    action: { type: 'string' },
    state: { type: 'string', enum: ['ok', 'stale', 'error', 'pending'], description: 'stale: the last fetch failed and the previous indicators apply' },
    indicators: { type: 'integer' },
    by_type: { type: 'object', additionalProperties: { type: 'integer' } },
    skipped: { type: 'object', additionalProperties: { type: 'object', properties: { count: { type: 'integer' }, examples: { type: 'array', items: { type: 'string' } } } } },
    truncated: { type: 'integer' },
    fetches: { type: 'integer' },
    unchanged: { type: 'integer' },
    errors: { type: 'integer' },
    last_error: { type: 'string' },
    last_attempt: { type: 'string' },
    last_success: { type: 'string' },
    last_change: { type: 'string' },
    next_refresh: { type: 'string' },
  },
} as const;

export const threatintelRoutes: EngineRoutes = async (app, { engine }) => {
  const control = (): ThreatIntelControl => {
    const e = engine();
    if (!isControl(e)) throw notWired(NOT_RUNNING);
    return e;
  };

  app.get(
    '/threatintel/feeds',
    {
      schema: { summary: 'Threat-intelligence feeds and their state', response: { 200: { type: 'object', required: ['feeds'], properties: { feeds: { type: 'array', items: feedSchema } } }, ...commonErrors } },
      config: { minRole: 'viewer' },
    },
    async () => ({ feeds: control().feedStatus() }),
  );

  app.post(
    '/threatintel/feeds/refresh',
    {
      schema: {
        summary: 'Fetch one feed (or every feed) now; a change is applied as a new indicator generation',
        querystring: { type: 'object', additionalProperties: false, properties: { feed: { type: 'string', minLength: 1, maxLength: 64 } } },
        response: {
          200: { type: 'object', required: ['changed', 'applied', 'feeds'], properties: { changed: { type: 'boolean' }, applied: { type: 'boolean' }, error: { type: 'string' }, feeds: { type: 'array', items: feedSchema } } },
          ...writeErrors,
        },
      },
      config: { minRole: 'operator' },
    },
    async (req) => {
      const c = control();
      const { feed } = req.query as { feed?: string };
      const r = await c.refreshFeeds(feed);
      if (!r.known) throw new HttpError(404, 'NOT_FOUND', `no feed "${feed}" (feeds: ${c.feedStatus().map((f) => f.id).join(', ') || 'none'})`);
      return { changed: r.changed, applied: r.applied, ...(r.error !== undefined && { error: r.error }), feeds: c.feedStatus() };
    },
  );

  app.get(
    '/threatintel/domains',
    {
      schema: {
        summary: 'Domain-name indicators of every feed (enforced by no kernel program here; DNS blocking takes them)',
        querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 100000, default: 1000 } } },
        response: {
          200: {
            type: 'object',
            required: ['domains', 'total'],
            properties: {
              total: { type: 'integer' },
              domains: { type: 'array', items: { type: 'object', required: ['name', 'feed', 'id', 'confidence'], properties: { name: { type: 'string' }, feed: { type: 'string' }, id: { type: 'string' }, confidence: { type: 'integer' } } } },
            },
          },
          ...commonErrors,
        },
      },
      config: { minRole: 'viewer' },
    },
    async (req) => {
      const { limit } = req.query as { limit: number };
      const all = control().domains();
      return { total: all.length, domains: all.slice(0, limit).map((d) => ({ name: d.name, feed: d.feed, id: d.indicator.id, confidence: d.indicator.confidence })) };
    },
  );
};
