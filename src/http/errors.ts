// Maps any error to (status, code, message) once; each API family renders that in its envelope.
// Errors raised by Fastify or its parsers get fixed messages: their own texts quote the URL, the
// content type or a fragment of the body, and an answer never echoes input or parser internals.
import { ERROR_CATALOGUE, isAppError, type ErrorCode } from '../domain/errors.ts';
import type { ErrorMeta, RenderedError } from './error-render.ts';

export interface ErrorInfo {
  status: number;
  code: ErrorCode;
  message: string;
  details: Record<string, unknown>;
}

interface FastifyishError {
  statusCode?: number;
  code?: string;
  name?: string;
  validation?: { instancePath?: string; message?: string; params?: Record<string, unknown> }[];
  validationContext?: string;
}

/** Fastify's own 4xx codes -> the catalogue, with a message that says what to fix. */
const FRAMEWORK: Record<string, [ErrorCode, string]> = {
  FST_ERR_BAD_URL: ['BAD_REQUEST', 'the URL is not valid: fix its percent-encoding'],
  FST_ERR_MAX_PARAM_LENGTH: ['URI_TOO_LONG', 'a path segment is too long'],
  FST_ERR_CTP_BODY_TOO_LARGE: ['PAYLOAD_TOO_LARGE', 'the request body is too large'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['BAD_REQUEST', 'Content-Length does not match the body'],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['BAD_REQUEST', 'the request body is empty but its content type is JSON'],
  FST_ERR_CTP_INVALID_JSON_BODY: ['BAD_REQUEST', 'the request body is not valid JSON'],
  FST_ERR_CTP_INVALID_TYPE: ['UNSUPPORTED_MEDIA_TYPE', 'the Content-Type header is not valid'],
  FST_ERR_CTP_EMPTY_TYPE: ['UNSUPPORTED_MEDIA_TYPE', 'the Content-Type header is empty'],
  FST_ERR_ASYNC_CONSTRAINT: ['BAD_REQUEST', 'the request does not match any endpoint'],
};

const BY_STATUS: Record<number, [ErrorCode, string]> = {
  404: ['ROUTE_NOT_FOUND', 'no such endpoint'],
  408: ['REQUEST_TIMEOUT', 'the request did not arrive in time'],
  413: ['PAYLOAD_TOO_LARGE', 'the request body is too large'],
  414: ['URI_TOO_LONG', 'the URL is too long'],
  415: ['UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json'],
  429: ['RATE_LIMITED', 'too many requests; retry after the time in Retry-After'],
  431: ['HEADERS_TOO_LARGE', 'the request line and headers are too large'],
};

export function errorInfo(err: unknown): ErrorInfo {
  if (isAppError(err)) return { status: err.status, code: err.code, message: err.message, details: err.details };
  const e = err as FastifyishError;
  if (e?.validation) {
    const first = e.validation[0];
    const where = `${e.validationContext ?? 'body'}${first?.instancePath ?? ''}`;
    const extra = first?.params?.additionalProperty ? ` (remove "${String(first.params.additionalProperty)}")` : '';
    const allowed = first?.params?.allowedValues ? ` (one of ${(first.params.allowedValues as unknown[]).join(', ')})` : '';
    return {
      status: 400,
      code: 'VALIDATION_FAILED',
      message: `${where} ${first?.message ?? 'is invalid'}${extra}${allowed}`,
      details: {
        errors: e.validation.map((v) => ({
          path: `${e.validationContext ?? 'body'}${v.instancePath ?? ''}`,
          message: v.message,
        })),
      },
    };
  }
  const framework = FRAMEWORK[e?.code ?? ''];
  if (framework) {
    const [code, message] = framework;
    return { status: ERROR_CATALOGUE[code].status, code, message, details: {} };
  }
  const status = typeof e?.statusCode === 'number' ? e.statusCode : 500;
  // JSON.parse's SyntaxError (secure-json-parse rethrows it with a 400), proto poisoning, ...
  if (status === 400 && e?.name === 'SyntaxError') {
    const poisoned = /forbidden (prototype|constructor) property/.test((err as Error).message ?? '');
    const message = poisoned
      ? 'the request body must not set __proto__ or constructor.prototype'
      : 'the request body is not valid JSON';
    return { status, code: 'BAD_REQUEST', message, details: {} };
  }
  const byStatus = BY_STATUS[status];
  if (byStatus) return { status, code: byStatus[0], message: byStatus[1], details: {} };
  if (status >= 400 && status < 500)
    return { status, code: 'BAD_REQUEST', message: 'the request is not valid; check its body and headers', details: {} };
  return { status: 500, code: 'INTERNAL', message: ERROR_CATALOGUE.INTERNAL.description, details: {} };
}

/** The native API's envelope: {"error": {code, message, details}}. */
export function renderNativeError(err: unknown, meta: ErrorMeta): RenderedError {
  const info = errorInfo(err);
  if (info.status >= 500) {
    // the request id names this request's lines in the server log ("the server log has details")
    const message = `${info.message} (request id ${meta.requestId})`;
    return {
      status: info.status,
      body: { error: { code: info.code, message, details: { ...info.details, requestId: meta.requestId } } },
    };
  }
  return { status: info.status, body: { error: { code: info.code, message: info.message, details: info.details } } };
}
