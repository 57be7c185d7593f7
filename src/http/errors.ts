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
 * reports a union by the problems of each of its branches plus "must match a schema in anyOf":
 * - a value outside a list (an enum, or a union of constants, which ajv reports as one "must be
 *   equal to constant" per value) is one problem, "must be one of rolling, stop_service, ...";
 * - a union of forms (a weekly or a daily window, an integer or a percentage) keeps the problems
 *   of the form the value comes closest to: of the branches whose type fits, the one with the
 *   fewest problems; when no branch's type fits, "must be integer or string".
 */
export function validationProblems(errors: readonly SchemaProblem[], context: string): { path: string; message: string }[] {
  const dropped = new Set<SchemaProblem>();
  const replaced = new Map<SchemaProblem, string>();
  const pathOf = (e: SchemaProblem) => e.schemaPath ?? '';
  // outermost union first: the branch it keeps may hold unions of its own
  const unions = errors.filter((e) => e.keyword === 'anyOf').sort((x, y) => pathOf(x).length - pathOf(y).length);
  for (const union of unions) {
    if (dropped.has(union)) continue;
    const at = pathOf(union);
    const inside = errors.filter((x) => x !== union && !dropped.has(x) && pathOf(x).startsWith(`${at}/`));
    for (const x of inside) dropped.add(x);
    const values = inside.every((x) => ['const', 'enum', 'type'].includes(x.keyword ?? ''))
      ? inside.flatMap((x) =>
          x.keyword === 'const'
            ? [x.params?.allowedValue]
            : x.keyword === 'enum'
              ? ((x.params?.allowedValues as unknown[]) ?? [])
              : [],
        )
      : [];
    if (values.length) {
      replaced.set(union, `must be one of ${[...new Set(values.map(String))].join(', ')}`);
      continue;
    }
    const branches = new Map<string, SchemaProblem[]>();
    for (const x of inside) {
      const k = pathOf(x)
        .slice(at.length + 1)
        .split('/')[0];
      branches.set(k, [...(branches.get(k) ?? []), x]);
    }
    // a branch whose type the value does not have (nor any form of a union it is)
    const fits = (branch: string): boolean => {
      const atValue = (x: SchemaProblem) => x.instancePath === union.instancePath;
      if (errors.some((x) => atValue(x) && x.keyword === 'type' && pathOf(x) === `${branch}/type`)) return false;
      if (!errors.some((x) => atValue(x) && x.keyword === 'anyOf' && pathOf(x) === `${branch}/anyOf`)) return true;
      const forms = errors.filter((x) => pathOf(x).startsWith(`${branch}/anyOf/`));
      return [
        ...new Set(
          forms.map(
            (x) =>
              pathOf(x)
                .slice(branch.length + 7)
                .split('/')[0],
          ),
        ),
      ].some((k) => fits(`${branch}/anyOf/${k}`));
    };
    // a union inside a branch counts as one problem, however many it lists
    const weight = (list: SchemaProblem[]) =>
      list.filter((x) => !list.some((u) => u.keyword === 'anyOf' && pathOf(x).startsWith(`${pathOf(u)}/`))).length;
    const fitting = [...branches].filter(([k]) => fits(`${at}/${k}`)).sort((x, y) => weight(x[1]) - weight(y[1]));
    if (fitting.length) {
      dropped.add(union);
      for (const x of fitting[0][1]) dropped.delete(x);
    } else {
      const types = [...new Set(inside.map((x) => String(x.params?.type ?? '')).filter(Boolean))];
      replaced.set(union, types.length ? `must be ${types.join(' or ')}` : (union.message ?? 'is invalid'));
    }
  }
  const out: { path: string; message: string }[] = [];
  for (const err of errors) {
    if (dropped.has(err)) continue;
    const path = `${context}${err.instancePath ?? ''}`;
    const message = replaced.get(err);
    if (message) {
      out.push({ path, message });
      continue;
    }
    if (err.keyword === 'enum' && Array.isArray(err.params?.allowedValues)) {
      out.push({ path, message: `must be one of ${err.params.allowedValues.join(', ')}` });
      continue;
    }
    const extra = err.params?.additionalProperty ? ` (remove "${String(err.params.additionalProperty)}")` : '';
    out.push({ path, message: `${err.message ?? 'is invalid'}${extra}` });
  }
  // the same words for the same place once
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
