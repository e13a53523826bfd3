// One error shape for every failure the API returns, including Fastify's own (404, validation,
// bad content type, body too large). Internal errors are logged in full and answered with a
// generic message: no stack or path leaks to clients.
import type { FastifyError, FastifyInstance } from 'fastify';
import type { ApiError } from './types.js';

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function apiError(code: string, message: string): ApiError {
  return { error: { code, message } };
}

const CODES_BY_STATUS: Record<number, string> = {
  400: 'VALIDATION_ERROR',
  401: 'AUTHENTICATION_REQUIRED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  503: 'SERVICE_UNAVAILABLE',
};

interface AjvIssue {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

/** "querystring/foo must be integer", naming the unknown key for additionalProperties. */
export function validationMessage(context: string | undefined, issues: AjvIssue[]): string {
  return issues
    .map((i) => {
      const where = `${context ?? 'request'}${i.instancePath ?? ''}`;
      const extra = i.params?.additionalProperty;
      if (i.keyword === 'additionalProperties' && typeof extra === 'string') return `${where}: unknown key "${extra}"`;
      return `${where} ${i.message ?? 'is invalid'}`;
    })
    .join('; ');
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof HttpError) {
      return reply.code(err.statusCode).send(apiError(err.code, err.message));
    }
    if (err.validation) {
      return reply.code(400).send(apiError('VALIDATION_ERROR', validationMessage(err.validationContext, err.validation)));
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return reply.code(status).send(apiError(CODES_BY_STATUS[status] ?? 'BAD_REQUEST', err.message));
    }
    req.log.error({ err, method: req.method, url: req.url }, 'API request failed');
    return reply.code(500).send(apiError('INTERNAL_ERROR', 'internal error; see the agent log'));
  });
  app.setNotFoundHandler((req, reply) => {
    return reply.code(404).send(apiError('NOT_FOUND', `no route for ${req.method} ${req.url.split('?')[0]}`));
  });
}
