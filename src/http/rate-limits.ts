// Rate limits on every API family (@fastify/rate-limit), three of them:
// - per client address, on every request, before anything else runs;
// - per credential, on every authenticated request, once the family's hook has verified it;
// - per client address for failed authentications, far stricter, checked before a request's
//   credential is looked up (OBShell's costs a password hash), always counted in the database so
//   every replica sees the failures the others saw.
// A refused request gets RATE_LIMITED, which each family renders in its own envelope and status
// (Alibaba `Throttling`, Huawei `APIGW.0308`, OBShell `Common.TooManyRequests`, native
// `RATE_LIMITED`, all 429), with Retry-After. Settings and defaults: docs/settings.md, docs/SECURITY.md.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, isAppError } from '../domain/errors.ts';
import { setting } from '../domain/settings.ts';
import { DatabaseRateLimitStore } from '../store/rate-limit-store.ts';
import type { Store } from '../store/open.ts';
import { Acs3AuthError } from './families/alibaba/errors.ts';
import { HuaweiGatewayError } from './families/huawei/huawei-auth.ts';
import { ObshellError } from './families/obshell/i18n.ts';

export interface Limit {
  max: number;
  windowMs: number;
}

export interface RateLimitSettings {
  enabled: boolean;
  perAddress: Limit;
  perCredential: Limit;
  failedAuth: Limit;
  /** where the per-address and per-credential counters live; failed authentications are always in the database */
  store: 'memory' | 'database';
}

/** The defaults (src/domain/settings.ts). */
export const DEFAULT_RATE_LIMITS: RateLimitSettings = rateLimitSettingsFromEnv({});

/** The settings from the environment (src/domain/settings.ts, docs/settings.md); anything unset keeps its default. */
export function rateLimitSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): RateLimitSettings {
  return {
    enabled: setting('LIFTGATE_RATE_LIMITS', env),
    perAddress: setting('LIFTGATE_RATE_LIMIT_ADDRESS', env),
    perCredential: setting('LIFTGATE_RATE_LIMIT_CREDENTIAL', env),
    failedAuth: setting('LIFTGATE_RATE_LIMIT_FAILED_AUTH', env),
    store: setting('LIFTGATE_RATE_LIMIT_STORE', env),
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** who the request authenticated as (`token:<id>`, `ak:<id>`, `obshell:<target>`); set by each family's auth */
    credential?: string;
  }
}

/** A refused authentication of any family (a wrong, missing, forged, expired or replayed credential). */
export function isAuthFailure(err: unknown): boolean {
  if (err instanceof Acs3AuthError) return true;
  if (err instanceof HuaweiGatewayError) return err.status === 401 || err.status === 403;
  if (err instanceof ObshellError) return err.def.status === 401 || err.def.code === 'Request.Header.NotFound';
  return isAppError(err) && err.code === 'UNAUTHORIZED';
}

type Limiter = (
  req: FastifyRequest,
  opts?: { increment?: boolean },
) => Promise<{
  isAllowed: boolean;
  isExceeded?: boolean;
  max?: number;
  ttlInSeconds?: number;
  remaining?: number;
}>;

function refuse(reply: FastifyReply, max: number, ttlSeconds: number, what: string): never {
  const retryAfter = Math.max(1, ttlSeconds);
  reply.header('retry-after', String(retryAfter));
  reply.header('x-ratelimit-limit', String(max));
  reply.header('x-ratelimit-remaining', '0');
  reply.header('x-ratelimit-reset', String(retryAfter));
  throw new AppError('RATE_LIMITED', `too many ${what}; retry after ${retryAfter} s`);
}

/** Installs the three limits on the root instance, before any route or family is registered. */
export async function installRateLimits(app: FastifyInstance, store: Store, settings: RateLimitSettings): Promise<void> {
  app.decorateRequest('credential', undefined);
  if (!settings.enabled) return;
  const db = store.db;
  class SharedStore extends DatabaseRateLimitStore {
    constructor() {
      super(db);
    }
  }

  // Each set of limiters gets its own plugin instance (so its own store) inside a throwaway scope;
  // the hooks that use them are added to the root instance, so they cover every family.
  const limiters = async (shared: boolean, defs: Record<string, { limit: Limit; key: (req: FastifyRequest) => string }>) => {
    const out: Record<string, Limiter> = {};
    await app.register(async (scope) => {
      await scope.register(rateLimit, { global: false, ...(shared ? { store: SharedStore } : {}) });
      for (const [name, d] of Object.entries(defs)) {
        out[name] = scope.createRateLimit({ max: d.limit.max, timeWindow: d.limit.windowMs, keyGenerator: d.key }) as Limiter;
      }
    });
    return out;
  };

  const general = await limiters(settings.store === 'database', {
    address: { limit: settings.perAddress, key: (req) => `addr:${req.ip}` },
    credential: { limit: settings.perCredential, key: (req) => `cred:${req.credential ?? ''}` },
  });
  const failures = await limiters(true, { failedAuth: { limit: settings.failedAuth, key: (req) => `authfail:${req.ip}` } });
  const address = general.address!;
  const credential = general.credential!;
  const failedAuth = failures.failedAuth!;

  app.addHook('onRequest', async (req, reply) => {
    const a = await address(req);
    if (a.isExceeded) refuse(reply, a.max ?? settings.perAddress.max, a.ttlInSeconds ?? 1, 'requests from this address');
    // A read, not a hit: only failures count (onError below).
    const f = await failedAuth(req, { increment: false });
    if (f.remaining === 0) {
      refuse(reply, settings.failedAuth.max, f.ttlInSeconds ?? 1, 'failed authentications from this address');
    }
  });
  app.addHook('onError', async (req, _reply, err) => {
    if (isAuthFailure(err)) await failedAuth(req);
  });
  // Route-level preHandler: runs after every scope's hooks, so after each family's authentication.
  app.addHook('onRoute', (route) => {
    const hook = async (req: FastifyRequest, reply: FastifyReply) => {
      if (!req.credential) return;
      const c = await credential(req);
      if (c.isExceeded) refuse(reply, c.max ?? settings.perCredential.max, c.ttlInSeconds ?? 1, 'requests with this credential');
    };
    const existing = route.preHandler;
    route.preHandler = existing === undefined ? [hook] : Array.isArray(existing) ? [...existing, hook] : [existing, hook];
  });
}
