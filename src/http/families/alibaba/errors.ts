// Error codes of the two Alibaba-style families. Liftgate's catalogue codes (src/domain/errors.ts)
// are translated here, in one table, into the vendor's PascalCase/dotted style
// (ErrorClusterNotFound, InvalidParameter, IncorrectUpgradeStatus, ...). Authentication failures
// keep the code verifyAcs3 chose (SignatureDoesNotMatch, InvalidTimeStamp.Expired, ...), which are
// Alibaba's own public codes.
//
// A few statuses differ from the catalogue on purpose: a next_version that is not in the catalog
// is a bad body parameter (400), not a missing resource; a 404 would read as "cluster not found".
import type { IncomingHttpHeaders } from 'node:http';
import { XMLBuilder } from 'fast-xml-parser';
import type { ErrorCode } from '../../../domain/errors.ts';
import type { ErrorMeta, RenderedError } from '../../error-render.ts';
import { errorInfo } from '../../errors.ts';

/** Thrown by the ACS3 hook; carries the verifier's vendor code and status. */
export class Acs3AuthError extends Error {
  constructor(
    readonly vendorCode: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'Acs3AuthError';
  }
}

interface Row {
  ack: string;
  hologres: string;
  /** overrides the catalogue's HTTP status */
  status?: number;
}

const VERSION_ROWS = {
  INVALID_VERSION: { ack: 'InvalidParameter.NextVersion.Malformed', hologres: 'InvalidParameter.Version', status: 400 },
  VERSION_NOT_FOUND: { ack: 'InvalidParameter.NextVersion.NotFound', hologres: 'InvalidParameter.Version', status: 400 },
  UPGRADE_DOWNGRADE: { ack: 'InvalidParameter.NextVersion.Downgrade', hologres: 'InvalidParameter.Version' },
  UPGRADE_SAME_VERSION: { ack: 'InvalidParameter.NextVersion.Same', hologres: 'InvalidParameter.Version' },
  UPGRADE_NO_ROUTE: { ack: 'InvalidParameter.NextVersion.NoRoute', hologres: 'InvalidParameter.Version' },
  UPGRADE_VERSION_DEPRECATED: { ack: 'InvalidParameter.NextVersion.Deprecated', hologres: 'InvalidParameter.Version' },
} satisfies Partial<Record<ErrorCode, Row>>;

export const ALIBABA_ERROR_CODES: Partial<Record<ErrorCode, Row>> = {
  ...VERSION_ROWS,
  VALIDATION_FAILED: { ack: 'InvalidParameter', hologres: 'InvalidParameter' },
  BAD_REQUEST: { ack: 'InvalidParameter', hologres: 'InvalidParameter' },
  INVALID_MODE: { ack: 'InvalidParameter.Mode', hologres: 'InvalidParameter' },
  UPGRADE_MODE_NOT_SUPPORTED: { ack: 'InvalidParameter.Mode', hologres: 'InvalidParameter' },
  INVALID_SCHEDULE: { ack: 'InvalidParameter', hologres: 'InvalidParameter' },
  INVALID_ACTION: { ack: 'InvalidParameter', hologres: 'InvalidParameter' },
  PAYLOAD_TOO_LARGE: { ack: 'InvalidParameter.BodyTooLarge', hologres: 'InvalidParameter' },
  UNSUPPORTED_MEDIA_TYPE: { ack: 'InvalidParameter.ContentType', hologres: 'InvalidParameter' },
  ROUTE_NOT_FOUND: { ack: 'InvalidAction.NotFound', hologres: 'InvalidAction.NotFound' },
  UNAUTHORIZED: { ack: 'InvalidAccessKeyId.NotFound', hologres: 'InvalidAccessKeyId.NotFound' },
  FORBIDDEN: { ack: 'Forbidden.RAM', hologres: 'Forbidden.RAM' },
  PROJECT_NOT_FOUND: { ack: 'ErrorClusterNotFound', hologres: 'InstanceNotFound' },
  TARGET_NOT_FOUND: { ack: 'ErrorClusterNotFound', hologres: 'InstanceNotFound' },
  NODE_NOT_FOUND: { ack: 'ErrorNodeNotFound', hologres: 'InstanceNotFound' },
  UPGRADE_NOT_FOUND: { ack: 'ErrorTaskNotFound', hologres: 'UpgradeNotFound' },
  PRECHECK_NOT_FOUND: { ack: 'ErrorCheckNotFound', hologres: 'UpgradeNotFound' },
  DRIVER_NOT_FOUND: { ack: 'ErrorClusterNotSupported', hologres: 'InstanceNotSupported' },
  TARGET_BUSY: { ack: 'ErrorClusterUpgrading', hologres: 'InstanceUpgrading' },
  TARGET_HAS_UPGRADES: { ack: 'ErrorClusterUpgrading', hologres: 'InstanceUpgrading' },
  INVALID_STATE: { ack: 'IncorrectUpgradeStatus', hologres: 'IncorrectUpgradeStatus' },
  ROLLBACK_BLOCKED: { ack: 'IncorrectUpgradeStatus', hologres: 'IncorrectUpgradeStatus' },
  PRECHECK_FAILED: { ack: 'ErrorPrecheckFailed', hologres: 'PrecheckFailed' },
  RATE_LIMITED: { ack: 'Throttling', hologres: 'Throttling' },
  PROVISION_FAILED: { ack: 'ServiceUnavailable', hologres: 'ServiceUnavailable' },
  INTERNAL: { ack: 'InternalError', hologres: 'InternalError' },
};

export interface VendorError {
  status: number;
  code: string;
  message: string;
}

/** Any error -> (status, vendor code, message) for one of the two families. */
export function alibabaError(err: unknown, family: 'ack' | 'hologres'): VendorError {
  if (err instanceof Acs3AuthError) return { status: err.status, code: err.vendorCode, message: err.message };
  const info = errorInfo(err);
  const row = ALIBABA_ERROR_CODES[info.code];
  if (!row) {
    // Not in the table: PascalCase of the catalogue code keeps it stable and readable.
    const code = info.code
      .toLowerCase()
      .split('_')
      .map((w) => w[0]!.toUpperCase() + w.slice(1))
      .join('');
    return { status: info.status, code, message: info.message };
  }
  return { status: row.status ?? info.status, code: row[family], message: info.message };
}

/** Alibaba request ids are upper-case UUIDs. */
export const alibabaRequestId = (id: string): string => id.toUpperCase();

export const xml = new XMLBuilder({ format: true, indentBy: '    ' });

/** XML only when the client prefers it: the SDKs send Accept: application/json. */
export function wantsXml(headers: IncomingHttpHeaders): boolean {
  const accept = (headers.accept ?? '').toLowerCase();
  const x = Math.max(accept.indexOf('application/xml'), accept.indexOf('text/xml'));
  if (x === -1) return false;
  const j = accept.indexOf('application/json');
  return j === -1 || x < j;
}

/** ACK's error body {code, message, requestId}, in XML when the client asked for it. */
export function renderAckError(err: unknown, meta: ErrorMeta): RenderedError {
  const e = alibabaError(err, 'ack');
  const body = { code: e.code, message: e.message, requestId: alibabaRequestId(meta.requestId) };
  if (wantsXml(meta.headers)) return { status: e.status, body: xml.build({ Error: body }), type: 'application/xml' };
  return { status: e.status, body };
}

/**
 * The Hologres envelope, with Code/Message as Alibaba's gateway sends them, which the SDKs read
 * into their error classes.
 */
export function renderHologresError(err: unknown, meta: ErrorMeta): RenderedError {
  const e = alibabaError(err, 'hologres');
  return {
    status: e.status,
    body: {
      RequestId: alibabaRequestId(meta.requestId),
      Success: false,
      ErrorCode: e.code,
      ErrorMessage: e.message,
      HttpStatusCode: String(e.status),
      Code: e.code,
      Message: e.message,
    },
  };
}
