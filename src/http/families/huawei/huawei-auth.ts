// Authentication shared by the Huawei-style families (CSS, GaussDB), as Huawei's API gateway does it:
// - `X-Auth-Token`: a project token issued by POST /v1/projects/{p}/tokens (Huawei's IAM token);
// - `Authorization: SDK-HMAC-SHA256 ...` with X-Sdk-Date: an access key (AK/SK) of the project.
// The {project_id} in the path must be the credential's project; otherwise the family answers as
// if the resource did not exist (404), so a credential never learns about other projects.
//
// The signature covers the raw URL and raw body bytes, so the plugin's scope parses every body as
// a Buffer; the preValidation hook verifies, then replaces req.body with the parsed JSON so route
// schemas validate the real payload afterwards (authentication always runs before validation).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HUAWEI_AUTH_ERROR_CODE, verifyHuaweiSdkHmac } from '../../../auth/huawei-sdk-hmac.ts';
import { ReplayGuardFullError, type ReplayGuard } from '../../../auth/replay-guard.ts';
import { AppError } from '../../../domain/errors.ts';
import type { AppContext } from '../../../service/app-context.ts';
import { lookupAccessKey, storeReplayGuard } from '../../../service/credentials.ts';
import { assertRole, requiredRole, type Role } from '../../../service/roles.ts';
import { actorOf, verifyToken } from '../../../service/tokens.ts';

/** A failure of the gateway layer, rendered as-is ({error_code, error_msg}) by each family. */
export class HuaweiGatewayError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HuaweiGatewayError';
  }
}

export interface HuaweiCaller {
  projectId: string;
  /** who did it, for the event log: the access key id or the token id (never the secret) */
  actor: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    huaweiCaller?: HuaweiCaller;
  }
}

// SDK-HMAC-SHA256 has no nonce: the replay key is (AK, signature), and a client that sends the same
// request twice within one second (X-Sdk-Date has seconds) signs it identically. Clients poll
// GET endpoints (upgrade/detail, jobs) faster than that, and a replayed read changes nothing, so
// reads are exempt; every state-changing request (POST, PUT, DELETE, PATCH) is checked.
const READS_ARE_NOT_REPLAYS: ReplayGuard = { claim: async () => true };
const isRead = (method: string): boolean => method === 'GET' || method === 'HEAD';

const iamFail = (detail: string) =>
  new HuaweiGatewayError(401, HUAWEI_AUTH_ERROR_CODE, `Incorrect IAM authentication information: ${detail}`);

async function authenticate(
  ctx: AppContext,
  guard: ReplayGuard,
  req: FastifyRequest,
  body: Buffer,
): Promise<HuaweiCaller & { admin: boolean; role: Role }> {
  const token = req.headers['x-auth-token'];
  if (typeof token === 'string' && token !== '') {
    const p = await verifyToken(ctx, token);
    if (!p) throw iamFail('decrypt token fail');
    if (p.kind === 'admin') return { projectId: '', actor: actorOf(p), admin: true, role: p.role };
    return { projectId: p.projectId, actor: actorOf(p), admin: false, role: p.role };
  }
  let role: Role = 'viewer';
  const lookupSecret = async (ak: string) => {
    const key = await lookupAccessKey(ctx, ak);
    if (key) role = key.role;
    return key;
  };
  let result;
  try {
    result = await verifyHuaweiSdkHmac(
      { method: req.method, rawUrl: req.raw.url ?? req.url, headers: req.headers, body },
      { lookupSecret, replayGuard: isRead(req.method) ? READS_ARE_NOT_REPLAYS : guard },
    );
  } catch (err) {
    // Fail closed, but as "try later", not as a server fault.
    if (err instanceof ReplayGuardFullError)
      throw new HuaweiGatewayError(503, 'APIG.0201', 'Backend unavailable: too many recent requests');
    throw err;
  }
  if (!result.ok) throw new HuaweiGatewayError(result.httpStatus, result.code, result.message);
  return { projectId: result.projectId, actor: `ak:${result.accessKeyId}`, admin: false, role };
}

/**
 * Installs the raw-body parser and the authentication hook in the calling plugin's scope.
 * `projectParam` names the path parameter that carries the project id.
 */
export function installHuaweiAuth(app: FastifyInstance, ctx: AppContext, projectParam = 'project_id'): void {
  const guard = storeReplayGuard(ctx);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.addHook('onRequest', async (req, reply) => {
    // Huawei SDKs read the request id of a failure from this header.
    reply.header('X-Request-Id', req.id);
  });
  app.addHook('preValidation', async (req) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const caller = await authenticate(ctx, guard, req, raw);
    const pathProject = (req.params as Record<string, string | undefined>)[projectParam] ?? '';
    if (!caller.admin && caller.projectId !== pathProject) {
      throw new AppError('PROJECT_NOT_FOUND', `project ${pathProject} does not exist`);
    }
    // reads need viewer, changes operator, a route may ask for more (e.g. admin for a target's settings)
    assertRole(caller.role, requiredRole(req.method, req.routeOptions.config));
    req.huaweiCaller = { projectId: pathProject, actor: caller.actor };
    req.credential = caller.actor;
    if (raw.length === 0) {
      req.body = undefined;
      return;
    }
    try {
      req.body = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new AppError('BAD_REQUEST', 'the request body is not valid JSON');
    }
  });
}

/** The authenticated caller of a request (the hook guarantees it on every route of the scope). */
export function callerOf(req: FastifyRequest): HuaweiCaller {
  if (!req.huaweiCaller)
    throw new HuaweiGatewayError(401, HUAWEI_AUTH_ERROR_CODE, 'Incorrect IAM authentication information: not authenticated');
  return req.huaweiCaller;
}
