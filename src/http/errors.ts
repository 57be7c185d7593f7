// Maps any error to (status, code, message) once; each API family renders that in its envelope.
import { ERROR_CATALOGUE, isAppError, type ErrorCode } from '../domain/errors.ts';

export interface ErrorInfo {
  status: number;
  code: ErrorCode;
  message: string;
  details: Record<string, unknown>;
}

interface FastifyishError {
  statusCode?: number;
  code?: string;
  message?: string;
  validation?: { instancePath?: string; message?: string; params?: Record<string, unknown> }[];
  validationContext?: string;
}

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
  const status = typeof e?.statusCode === 'number' ? e.statusCode : 500;
  if (status === 413) return { status, code: 'PAYLOAD_TOO_LARGE', message: 'the request body is too large', details: {} };
  if (status === 415)
    return { status, code: 'UNSUPPORTED_MEDIA_TYPE', message: e.message ?? 'unsupported content type', details: {} };
  if (status === 404) return { status, code: 'ROUTE_NOT_FOUND', message: e.message ?? 'no such endpoint', details: {} };
  if (status === 429) return { status, code: 'RATE_LIMITED', message: e.message ?? 'too many requests', details: {} };
  if (status >= 400 && status < 500) return { status, code: 'BAD_REQUEST', message: e.message ?? 'bad request', details: {} };
  return { status: 500, code: 'INTERNAL', message: ERROR_CATALOGUE.INTERNAL.description, details: {} };
}
