// /api/v1/alerts: stored alerts by time range, severity, engine, IP and rule, paginated, and
// the live stream over SSE with Last-Event-ID resume (src/api/sse.ts).
import type { FastifyPluginAsync } from 'fastify';
import { toEveRecord } from '../alerts/eve.js';
import { SEVERITIES, type Severity } from '../alerts/model.js';
import type { ApiMetrics } from '../metrics/api-metrics.js';
import { HttpError, notWired } from './errors.js';
import { commonErrors, listQuery, listQueryProperties, type ListQueryString } from './schemas.js';
import { clientKey } from './auth/failure-throttle.js';
import { viaLocalSocket } from './local-socket.js';
import { AlertStream, parseLastEventId, StreamSlots } from './sse.js';
import type { AlertQuery, ApiDeps, ApiOptions } from './types.js';

/** agent.api_sse defaults */
const DEFAULT_SSE_LIMITS = { max_streams: 64, max_streams_per_client: 8 } as const;
const severity = { type: 'string', enum: [...SEVERITIES] } as const;

interface ListQuery extends ListQueryString {
  severity?: string;
  min_severity?: Severity;
  rule_id?: string;
}

interface StreamQuery {
  last_event_id?: number;
  min_severity?: Severity;
  engine?: string;
}

/** "high,critical" → ['high','critical'], each checked. */
function severityList(v: string): Severity[] {
  const out: Severity[] = [];
  for (const s of v.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!(SEVERITIES as readonly string[]).includes(s)) {
      throw new HttpError(400, 'VALIDATION_ERROR', `querystring/severity: unknown severity "${s}" (expected a comma-separated list of ${SEVERITIES.join(', ')})`);
    }
    out.push(s as Severity);
  }
  return out;
}

export const alertRoutes: FastifyPluginAsync<{ deps: ApiDeps; metrics: ApiMetrics; opts: ApiOptions }> = async (app, { deps, metrics, opts }) => {
  app.get(
    '/alerts',
    {
      schema: {
        summary: 'Stored alerts, newest first; follow `next` for the next page',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...listQueryProperties,
            severity: { type: 'string', description: `comma-separated: any of ${SEVERITIES.join(', ')}` },
            min_severity: severity,
            rule_id: { type: 'string', minLength: 1, maxLength: 128 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['alerts', 'total'],
            properties: { alerts: { type: 'array', items: { $ref: 'AlertRecord#' } }, total: { type: 'integer', minimum: 0 }, next: { type: 'string' } },
          },
          ...commonErrors,
        },
      },
      config: { minRole: 'viewer' },
    },
    async (req) => {
      if (!deps.alerts) throw notWired('the alert store');
      const q = req.query as ListQuery;
      const query: AlertQuery = listQuery(q);
      if (q.severity) query.severity = severityList(q.severity);
      if (q.min_severity) query.minSeverity = q.min_severity;
      if (q.rule_id) query.ruleId = q.rule_id;
      const page = deps.alerts.query(query);
      return {
        alerts: page.alerts.map((r) => ({ id: r.id, ...toEveRecord(r.alert) })),
        total: page.total,
        ...(page.next ? { next: page.next } : {}),
      };
    },
  );

  const streams = new Set<AlertStream>();
  const slots = new StreamSlots(opts.sseMaxStreams ?? DEFAULT_SSE_LIMITS.max_streams, opts.sseMaxStreamsPerClient ?? DEFAULT_SSE_LIMITS.max_streams_per_client);
  // open streams would hold the server open forever: end them (with a resume event) first
  app.addHook('preClose', async () => {
    for (const s of [...streams]) s.close();
  });

  app.get(
    '/alerts/stream',
    {
      schema: {
        summary: 'Live alerts as Server-Sent Events (id = store id, event: alert, data: EVE JSON); resume with Last-Event-ID',
        headers: { type: 'object', properties: { 'last-event-id': { type: 'string', maxLength: 40 } } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            last_event_id: { type: 'integer', minimum: 0, description: 'same as the Last-Event-ID header (wins over it)' },
            min_severity: severity,
            engine: { type: 'string', minLength: 1, maxLength: 64 },
          },
        },
        response: {
          200: { type: 'string', description: 'text/event-stream: `id:`, `event: alert`, `data:` lines; `: keepalive` comments; a final `event: resume` when the stream is cut off' },
          ...commonErrors,
        },
      },
      config: { minRole: 'viewer' },
    },
    async (req, reply) => {
      if (!deps.alerts) throw notWired('the alert stream');
      const q = req.query as StreamQuery;
      const header = req.headers['last-event-id'];
      const resume = parseLastEventId(typeof header === 'string' ? header : undefined, q.last_event_id);
      if ('problem' in resume) throw new HttpError(400, 'VALIDATION_ERROR', resume.problem);
      const filter: { minSeverity?: Severity; engine?: string } = {};
      if (q.min_severity) filter.minSeverity = q.min_severity;
      if (q.engine) filter.engine = q.engine;
      const client = viaLocalSocket(req.raw) ? 'local-socket' : clientKey(req.ip);
      const slot = slots.acquire(client);
      if ('refused' in slot) {
        metrics.sseRefusedBy(slot.refused);
        const why = slot.refused === 'total' ? `the agent serves at most ${slots.maxTotal} alert streams at once (agent.api_sse.max_streams)` : `${client === 'local-socket' ? 'the API socket' : req.ip} has ${slots.maxPerClient} alert streams open already (agent.api_sse.max_streams_per_client)`;
        throw new HttpError(429, 'TOO_MANY_STREAMS', `${why}; close one or retry later`, 5);
      }
      metrics.sseOpenNow(slots.size);

      reply.hijack();
      const opened = performance.now();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-content-type-options': 'nosniff',
      });
      res.flushHeaders();
      const stream = new AlertStream(
        res,
        deps.alerts,
        filter,
        resume.id,
        {
          keepaliveMs: opts.sseKeepaliveMs ?? 15_000,
          maxBufferedBytes: opts.sseMaxBufferedBytes ?? 1 << 20,
          maxHeldRows: 10_000,
          replayPage: 500,
        },
        metrics,
        (s) => {
          streams.delete(s);
          slot.release();
          metrics.sseOpenNow(slots.size);
          // a hijacked reply skips onResponse: the stream is counted when it ends
          metrics.request(req.routeOptions.url ?? '/api/v1/alerts/stream', 'GET', 200, (performance.now() - opened) / 1000);
        },
      );
      streams.add(stream);
      await stream.start();
    },
  );
};
