// One error catalogue: every failure the product reports has a stable code, an HTTP status and a
// short description. API families map these codes onto their own envelopes; a test keeps this
// table and docs/errors.md in sync.

export const ERROR_CATALOGUE = {
  VALIDATION_FAILED: {
    status: 400,
    description: 'The body, path or query does not match the schema; the message names every problem.',
  },
  INVALID_VERSION: { status: 400, description: 'A version string is malformed.' },
  INVALID_WINDOW: { status: 400, description: 'A maintenance window or exclusion is malformed.' },
  INVALID_MODE: { status: 400, description: 'The upgrade mode is unknown or does not suit the target.' },
  AZ_SOURCE_REQUIRED: {
    status: 400,
    description: 'An AZ migration of a target in several zones must name the zone to move (sourceAz).',
  },
  AZ_SOURCE_EMPTY: { status: 400, description: 'The zone named to move (sourceAz) holds no node of the target.' },
  AZ_SAME_ZONE: { status: 400, description: 'An AZ migration names the same zone as source and target.' },
  AZ_ZONE_REDUCTION: { status: 400, description: 'The AZ migration would leave fewer zones; allowZoneReduction accepts that.' },
  INVALID_ACTION: { status: 400, description: 'The upgrade action is unknown.' },
  INVALID_SCHEDULE: { status: 400, description: 'The schedule is malformed or lies in the past.' },
  BAD_REQUEST: { status: 400, description: 'The request is malformed (e.g. the body is not valid JSON).' },
  ROUTE_NOT_FOUND: { status: 404, description: 'No such endpoint.' },
  PAYLOAD_TOO_LARGE: { status: 413, description: 'The request body is too large.' },
  URI_TOO_LONG: { status: 414, description: 'The URL or one of its path segments is too long.' },
  HEADERS_TOO_LARGE: { status: 431, description: 'The request line and headers together are too large.' },
  REQUEST_TIMEOUT: { status: 408, description: 'The request did not arrive in time.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, description: 'The request body has a content type the endpoint does not accept.' },
  UNAUTHORIZED: { status: 401, description: 'No valid credential was presented.' },
  FORBIDDEN: { status: 403, description: 'The credential may not perform this operation.' },
  PROJECT_NOT_FOUND: { status: 404, description: 'No such project (or not visible to this credential).' },
  TARGET_NOT_FOUND: { status: 404, description: 'No such target in this project.' },
  NODE_NOT_FOUND: { status: 404, description: 'No such node in this target.' },
  UPGRADE_NOT_FOUND: { status: 404, description: 'No such upgrade in this project.' },
  BATCH_NOT_FOUND: { status: 404, description: 'No such batch in this project.' },
  STEP_NOT_FOUND: { status: 404, description: 'No such step.' },
  STAGE_NOT_FOUND: { status: 404, description: 'No such stage.' },
  PRECHECK_NOT_FOUND: { status: 404, description: 'No such precheck report in this project.' },
  VERSION_NOT_FOUND: { status: 404, description: 'The version is not in the catalog of this engine.' },
  DRIVER_NOT_FOUND: { status: 400, description: 'No driver of this name is installed.' },
  PROJECT_EXISTS: { status: 409, description: 'A project with this id already exists.' },
  TARGET_EXISTS: { status: 409, description: 'A target with this id already exists in the project.' },
  VERSION_EXISTS: { status: 409, description: 'The catalog already holds this version of the engine.' },
  TARGET_BUSY: { status: 409, description: 'The target already has an active upgrade.' },
  TARGET_HAS_UPGRADES: { status: 409, description: 'The target has an active upgrade and cannot be changed or deleted.' },
  INVALID_STATE: { status: 409, description: 'The action is not allowed in the upgrade\u2019s current state.' },
  UPGRADE_DOWNGRADE: { status: 400, description: 'The requested version is older than the current one.' },
  UPGRADE_SAME_VERSION: { status: 400, description: 'The target already runs the requested version.' },
  UPGRADE_VERSION_DEPRECATED: { status: 400, description: 'The requested version is deprecated.' },
  UPGRADE_NO_ROUTE: { status: 400, description: 'No allowed route leads from the current version to the requested one.' },
  UPGRADE_MODE_NOT_SUPPORTED: { status: 400, description: 'The target or its driver does not support this upgrade mode.' },
  ROLLBACK_BLOCKED: { status: 409, description: 'A completed step cannot be reversed, so the upgrade cannot be rolled back.' },
  PRECHECK_FAILED: { status: 409, description: 'The precheck found blocking problems.' },
  FAULTS_NOT_SUPPORTED: { status: 400, description: 'The target\u2019s driver does not support fault injection.' },
  PROVISION_FAILED: { status: 502, description: 'The driver could not create the target\u2019s resources.' },
  STORE_NEWER_THAN_CODE: { status: 500, description: 'The database was migrated by a newer Liftgate.' },
  DATA_DIR_LOCKED: { status: 500, description: 'Another Liftgate process holds the SQLite data folder (start-up only).' },
  PASSWORD_TOO_WEAK: { status: 400, description: 'The password is too easy to guess; the message says how to improve it.' },
  OBSHELL_PORTS_EXHAUSTED: {
    status: 409,
    description: 'Every port of LIFTGATE_OBSHELL_PORTS serves a cluster or is in use on this host; widen the range.',
  },
  TOKEN_NOT_FOUND: { status: 404, description: 'No such token in this project.' },
  ACCESS_KEY_NOT_FOUND: { status: 404, description: 'No such access key in this project.' },
  ADMIN_TOKEN_NOT_FOUND: { status: 404, description: 'No such admin token.' },
  LAST_ADMIN_TOKEN: { status: 409, description: 'The last admin token that works cannot be revoked; mint another or rotate it.' },
  WEBHOOK_NOT_FOUND: { status: 404, description: 'No such webhook in this project.' },
  WEBHOOK_URL_NOT_ALLOWED: {
    status: 400,
    description: 'The webhook URL is not http(s) or its host is not in LIFTGATE_WEBHOOK_ALLOWED_HOSTS.',
  },
  RATE_LIMITED: { status: 429, description: 'Too many requests.' },
  INTERNAL: { status: 500, description: 'An unexpected error; the server log has details.' },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'AppError';
    this.status = ERROR_CATALOGUE[code].status;
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
