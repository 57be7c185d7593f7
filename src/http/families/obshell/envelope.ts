// OBShell's envelope (ob/agent/lib/http/response.go OcsAgentResponse), for answers and errors alike,
// and the translation of any error into it. Used by the family's routes and, for requests no route
// matched (or that Fastify refused before routing), by src/http/error-envelopes.ts.
import { errorInfo } from '../../errors.ts';
import type { ErrorMeta, RenderedError } from '../../error-render.ts';
import { langOf, ObshellError, OBSHELL_ERRORS, type ObshellErrorKey } from './i18n.ts';

export interface ObshellApiError {
  code: number;
  errCode: string;
  message: string;
}

export function obshellEnvelope(
  status: number,
  requestId: string,
  elapsedMs: number,
  data: unknown,
  error?: ObshellApiError,
): Record<string, unknown> {
  return {
    successful: error === undefined,
    timestamp: new Date().toISOString(),
    duration: Math.round(elapsedMs),
    status,
    // OBShell trace ids are 16 hex digits; the request id keeps log lines joinable.
    traceId: requestId.replace(/-/g, '').slice(0, 16),
    // a list is OBShell's IterableData, `{contents: [...]}`, as its SDKs read it
    ...(data !== undefined && data !== null ? { data: Array.isArray(data) ? { contents: data } : data } : {}),
    ...(error ? { error } : {}),
  };
}

/** Errors of the service layer that have an OBShell counterpart. */
const APP_ERRORS: Partial<Record<string, ObshellErrorKey>> = {
  UPGRADE_NOT_FOUND: 'taskNotFound',
  STEP_NOT_FOUND: 'taskNotFound',
  STAGE_NOT_FOUND: 'taskNotFound',
  PRECHECK_NOT_FOUND: 'taskNotFound',
  TARGET_NOT_FOUND: 'notFound',
  PROJECT_NOT_FOUND: 'notFound',
  ROUTE_NOT_FOUND: 'notFound',
  VALIDATION_FAILED: 'badRequest',
  BAD_REQUEST: 'badRequest',
  RATE_LIMITED: 'tooManyRequests',
};

export function renderObshellError(err: unknown, meta: ErrorMeta): RenderedError {
  const lang = langOf(meta.headers['accept-language']);
  if (err instanceof ObshellError) {
    const error = { code: err.def.oldCode, errCode: err.def.code, message: err.messageIn(lang) };
    return { status: err.def.status, body: obshellEnvelope(err.def.status, meta.requestId, meta.elapsedMs, undefined, error) };
  }
  const info = errorInfo(err);
  const key = APP_ERRORS[info.code] ?? (info.status === 404 ? 'notFound' : info.status < 500 ? 'badRequest' : 'unexpected');
  const def = OBSHELL_ERRORS[key];
  const status = info.status >= 500 ? 500 : info.status;
  const error = { code: def.oldCode, errCode: def.code, message: new ObshellError(key, [info.message]).messageIn(lang) };
  return { status, body: obshellEnvelope(status, meta.requestId, meta.elapsedMs, undefined, error) };
}
