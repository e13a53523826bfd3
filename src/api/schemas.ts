// JSON Schemas of every route's input and output. Fastify validates input against them and
// serializes output through them (fields not in a schema never leak out); docs/api.md
// describes the same shapes.
import { ATTACH_MODES, HOOKS } from './types.js';

export const errorSchema = {
  $id: 'ApiError',
  type: 'object',
  required: ['error'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: false,
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
  },
} as const;

const errorRef = { $ref: 'ApiError#' } as const;

/** The error responses any route can produce. */
export const commonErrors = { 400: errorRef, 404: errorRef, 500: errorRef } as const;

const emptyQuery = { type: 'object', additionalProperties: false, properties: {} } as const;

export const healthzSchema = {
  querystring: emptyQuery,
  response: {
    200: {
      type: 'object',
      required: ['status'],
      properties: { status: { type: 'string', enum: ['ok'] } },
    },
    ...commonErrors,
  },
} as const;

export const readyzSchema = {
  querystring: emptyQuery,
  response: {
    200: {
      type: 'object',
      required: ['status'],
      properties: { status: { type: 'string', enum: ['ready'] } },
    },
    503: {
      type: 'object',
      required: ['status', 'reasons'],
      properties: {
        status: { type: 'string', enum: ['not_ready'] },
        reasons: { type: 'array', items: { type: 'string' } },
      },
    },
    ...commonErrors,
  },
} as const;

export const metricsSchema = {
  querystring: emptyQuery,
  response: { 200: { type: 'string' }, ...commonErrors },
} as const;

const count = { type: 'integer', minimum: 0 } as const;

const attachmentSchema = {
  type: 'object',
  required: ['interface', 'ifindex', 'hook', 'mode', 'attached'],
  properties: {
    interface: { type: 'string' },
    ifindex: count,
    hook: { type: 'string', enum: [...HOOKS] },
    mode: { type: 'string', enum: [...ATTACH_MODES] },
    attached: { type: 'boolean' },
    error: { type: 'string' },
  },
} as const;

const mapSchema = {
  type: 'object',
  required: ['name', 'type', 'max_entries', 'entries', 'fill_ratio'],
  properties: {
    name: { type: 'string' },
    type: { type: 'string' },
    max_entries: count,
    entries: count,
    fill_ratio: { type: 'number', minimum: 0 },
  },
} as const;

export const programSchema = {
  type: 'object',
  required: ['name', 'loaded', 'attachments', 'maps', 'counters'],
  properties: {
    name: { type: 'string' },
    loaded: { type: 'boolean' },
    attachments: { type: 'array', items: attachmentSchema },
    maps: { type: 'array', items: mapSchema },
    counters: {
      type: 'object',
      required: ['seen', 'passed', 'dropped', 'malformed', 'events', 'events_lost'],
      properties: {
        seen: count,
        passed: count,
        dropped: count,
        malformed: count,
        events: count,
        events_lost: count,
      },
    },
  },
} as const;

export const statusSchema = {
  querystring: emptyQuery,
  response: {
    200: {
      type: 'object',
      required: ['version', 'uptime_seconds', 'state', 'programs', 'events', 'config'],
      properties: {
        version: { type: 'string' },
        uptime_seconds: { type: 'number', minimum: 0 },
        state: { type: 'string', enum: ['starting', 'running', 'stopping'] },
        programs: { type: 'array', items: programSchema },
        events: {
          type: 'object',
          required: ['received', 'lost'],
          properties: {
            received: count,
            lost: { type: 'object', additionalProperties: count },
          },
        },
        config: {
          type: 'object',
          required: ['path', 'loaded_at'],
          properties: {
            path: { type: ['string', 'null'] },
            loaded_at: { type: ['string', 'null'], format: 'date-time' },
          },
        },
      },
    },
    ...commonErrors,
  },
} as const;

export const programParamsSchema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,63}$' } },
} as const;

export const programRouteSchema = {
  params: programParamsSchema,
  querystring: emptyQuery,
  response: { 200: programSchema, ...commonErrors },
} as const;
