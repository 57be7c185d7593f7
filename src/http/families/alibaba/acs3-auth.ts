// ACS3-HMAC-SHA256 authentication for the Alibaba-style families, as a hook installed inside a
// family plugin's encapsulated scope. The signature covers the raw URL and the raw body bytes,
// so this scope replaces Fastify's body parsers with one that keeps the bytes; JSON is parsed
// here only after the request has been verified.
import type { FastifyInstance } from 'fastify';
import { verifyAcs3 } from '../../../auth/acs3.ts';
import { AppError } from '../../../domain/errors.ts';
import type { AppContext } from '../../../service/app-context.ts';
import { lookupAccessKey, storeReplayGuard } from '../../../service/credentials.ts';
import { assertRole, requiredRole, type Role } from '../../../service/roles.ts';
import { Acs3AuthError } from './errors.ts';

export interface AcsCaller {
  projectId: string;
  accessKeyId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** the verified ACS3 caller; set by the Alibaba families' auth hook */
    acs?: AcsCaller;
  }
}

export function useAcs3Auth(app: FastifyInstance, ctx: AppContext): void {
  // The store-backed guard: a nonce seen by any Liftgate replica is refused by all of them.
  const replayGuard = storeReplayGuard(ctx);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  // preValidation: after the body is buffered, before route schemas look at it.
  app.addHook('preValidation', async (req) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    let role: Role = 'viewer';
    const lookupSecret = async (ak: string) => {
      const key = await lookupAccessKey(ctx, ak, { read: req.method === 'GET' || req.method === 'HEAD' });
      if (key) role = key.role;
      return key;
    };
    const result = await verifyAcs3(
      { method: req.method, rawUrl: req.raw.url ?? req.url, headers: req.headers, body: raw },
      { lookupSecret, replayGuard },
    );
    if (!result.ok) throw new Acs3AuthError(result.code, result.message, result.httpStatus);
    // reads need viewer, changes operator (src/service/roles.ts)
    assertRole(role, requiredRole(req.method, req.routeOptions.config));
    req.acs = { projectId: result.projectId, accessKeyId: result.accessKeyId };
    req.credential = `ak:${result.accessKeyId}`;
    if (raw.length === 0) {
      req.body = undefined;
      return;
    }
    try {
      req.body = JSON.parse(raw.toString('utf8')) as unknown;
    } catch {
      throw new AppError('BAD_REQUEST', 'the request body is not valid JSON');
    }
  });
}

/** The verified caller of a request that passed the hook. */
export function caller(req: { acs?: AcsCaller }): AcsCaller {
  if (!req.acs) throw new AppError('UNAUTHORIZED', 'the request is not authenticated');
  return req.acs;
}
