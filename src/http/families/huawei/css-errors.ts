// CSS error bodies: {error_code, error_msg} with CSS's own codes (API reference, "Error Codes").
// One table from the product's error catalogue to CSS's codes. Deviations from CSS, on purpose:
// CSS.0011 ("another operation is in progress") is sent with 409, not CSS's 202, so that no client
// mistakes a refusal for success; a foreign or unknown project is 404 CSS.0015 (CSS uses 403),
// so existence does not leak.
import type { ErrorCode } from '../../../domain/errors.ts';
import type { ErrorMeta, RenderedError } from '../../error-render.ts';
import { errorInfo } from '../../errors.ts';
import { HuaweiGatewayError } from './huawei-auth.ts';

const CSS_ERRORS: Partial<Record<ErrorCode, { status?: number; code: string }>> = {
  PROJECT_NOT_FOUND: { status: 404, code: 'CSS.0015' },
  TARGET_NOT_FOUND: { status: 404, code: 'CSS.3027' },
  UPGRADE_NOT_FOUND: { status: 404, code: 'CSS.0015' },
  NODE_NOT_FOUND: { status: 404, code: 'CSS.0015' },
  ROUTE_NOT_FOUND: { status: 404, code: 'CSS.0015' },
  VERSION_NOT_FOUND: { status: 400, code: 'CSS.0001' },
  TARGET_BUSY: { status: 409, code: 'CSS.0011' },
  TARGET_HAS_UPGRADES: { status: 409, code: 'CSS.0011' },
  INVALID_STATE: { status: 409, code: 'CSS.0011' },
  ROLLBACK_BLOCKED: { status: 409, code: 'CSS.0011' },
  PRECHECK_FAILED: { status: 409, code: 'CSS.0011' },
  UNAUTHORIZED: { status: 401, code: 'APIG.0301' },
  // Huawei's API gateway answers throttled calls itself, with its own code.
  RATE_LIMITED: { status: 429, code: 'APIGW.0308' },
  FORBIDDEN: { status: 403, code: 'CSS.0032' },
  INTERNAL: { status: 500, code: 'CSS.0005' },
  STORE_NEWER_THAN_CODE: { status: 500, code: 'CSS.0005' },
  PROVISION_FAILED: { status: 500, code: 'CSS.0005' },
};

/** (status, body) of any error in CSS's envelope; client mistakes default to 400 CSS.0001. */
export function cssError(err: unknown): { status: number; body: { error_code: string; error_msg: string } } {
  if (err instanceof HuaweiGatewayError) return { status: err.status, body: { error_code: err.code, error_msg: err.message } };
  const info = errorInfo(err);
  const mapped = CSS_ERRORS[info.code];
  const status = mapped?.status ?? (info.status >= 500 ? 500 : info.status);
  const code = mapped?.code ?? (status >= 500 ? 'CSS.0005' : 'CSS.0001');
  return { status, body: { error_code: code, error_msg: info.message } };
}

/** CSS's error envelope; X-Request-Id is where Huawei's SDKs read a failure's request id. */
export function renderCssError(err: unknown, meta: ErrorMeta): RenderedError {
  const { status, body } = cssError(err);
  return { status, body, headers: { 'X-Request-Id': meta.requestId } };
}
