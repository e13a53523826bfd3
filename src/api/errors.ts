// One error shape for every failure the API returns, including Fastify's own (404, validation,
// bad content type, body too large). Internal errors are logged in full and answered with a
// generic message: no stack or path leaks to clients.
import type { FastifyError, FastifyInstance } from 'fastify';
import { ApplyError, ConflictError, ControlError, NotFoundError, ValidationError } from '../control/types.js';
import { HttpError } from '../http/route-kit.js';
import type { ApiError } from './types.js';

export { HttpError, notWired } from '../http/route-kit.js';

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
  409: 'CONFLICT',
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
function validationMessage(context: string | undefined, issues: AjvIssue[]): string {
  return issues
    .map((i) => {
      const where = `${context ?? 'request'}${i.instancePath ?? ''}`;
      const extra = i.params?.additionalProperty;
      if (i.keyword === 'additionalProperties' && typeof extra === 'string') return `${where}: unknown key "${extra}"`;
      return `${where} ${i.message ?? 'is invalid'}`;
    })
    .join('; ');
}

/** The control plane's typed errors as HTTP: its message already names the key or the rule. */
function controlErrorStatus(err: ControlError): { status: number; code: string } {
  if (err instanceof ValidationError) return { status: 400, code: 'VALIDATION_ERROR' };
  if (err instanceof NotFoundError) return { status: 404, code: 'NOT_FOUND' };
  if (err instanceof ConflictError) return { status: 409, code: 'CONFLICT' };
  if (err instanceof ApplyError) return { status: 500, code: 'APPLY_FAILED' };
  return { status: 500, code: 'CONTROL_ERROR' };
}

/** 503 for a route whose backing component the agent was started without. */

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof HttpError) {
      if (err.statusCode === 429 && err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter));
      return reply.code(err.statusCode).send(apiError(err.code, err.message));
    }
    if (err instanceof ControlError) {
      const { status, code } = controlErrorStatus(err);
      // an apply failure is the kernel refusing a valid change: worth the full error in the log
      if (status >= 500) req.log.error({ err, method: req.method, url: req.url }, 'control plane refused the change');
      return reply.code(status).send(apiError(code, err.message));
    }
    // the store's own refusal of a query (bad cursor, bad IP): the caller's mistake
    if ((err as Error).name === 'StoreQueryError') {
      return reply.code(400).send(apiError('VALIDATION_ERROR', err.message));
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
