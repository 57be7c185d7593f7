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

/** one problem ajv found (ajv's ErrorObject, as much of it as is read here) */
interface SchemaProblem {
  instancePath?: string;
  schemaPath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

interface FastifyishError {
  statusCode?: number;
  code?: string;
  name?: string;
  validation?: SchemaProblem[];
  validationContext?: string;
}

/**
 * Every problem of a request part, each once, in words that say what to fix. ajv (with allErrors)
 * reports a value outside a union of constants (`mode: "fast"` against rolling | stop_service | ...)
 * as one "must be equal to constant" per allowed value plus "must match a schema in anyOf"; that
 * group becomes one problem, "must be one of rolling, stop_service, ...".
 */
export function validationProblems(errors: readonly SchemaProblem[], context: string): { path: string; message: string }[] {
  const used = new Set<SchemaProblem>();
  const out: { path: string; message: string }[] = [];
  const branchesOf = (anyOf: SchemaProblem) =>
    errors.filter((x) => x !== anyOf && (x.schemaPath ?? '').startsWith(`${anyOf.schemaPath ?? ''}/`));
  // a union of constants: every branch failed on its constant (or on the type beside it)
  const choices = new Map<SchemaProblem, string[]>();
  for (const err of errors) {
    if (err.keyword !== 'anyOf') continue;
    const branches = branchesOf(err);
    if (!branches.length || !branches.every((b) => ['const', 'enum', 'type'].includes(b.keyword ?? ''))) continue;
    const values = branches.flatMap((b) =>
      b.keyword === 'const'
        ? [b.params?.allowedValue]
        : b.keyword === 'enum'
          ? ((b.params?.allowedValues as unknown[]) ?? [])
          : [],
    );
    if (!values.length) continue;
    choices.set(err, [...new Set(values.map(String))]);
    for (const b of branches) used.add(b);
  }
  for (const err of errors) {
    if (used.has(err)) continue;
    const path = `${context}${err.instancePath ?? ''}`;
    const values = choices.get(err);
    if (values) {
      out.push({ path, message: `must be one of ${values.join(', ')}` });
      continue;
    }
    const extra = err.params?.additionalProperty ? ` (remove "${String(err.params.additionalProperty)}")` : '';
    const allowed = err.params?.allowedValues ? ` (one of ${(err.params.allowedValues as unknown[]).join(', ')})` : '';
    out.push({ path, message: `${err.message ?? 'is invalid'}${extra}${allowed}` });
  }
  // the same words for the same place once (a union of two object forms can repeat a problem)
  const seen = new Set<string>();
  return out.filter((p) => {
    const key = `${p.path} ${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
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
    const problems = validationProblems(e.validation, e.validationContext ?? 'body');
    return {
      status: 400,
      code: 'VALIDATION_FAILED',
      message: problems.map((p) => `${p.path} ${p.message}`).join('; '),
      details: { errors: problems },
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
