// Builds the HTTP server: the native API, the vendor-compatible API families, OpenAPI, health
// and metrics. Each API family is a Fastify plugin with its own error envelope.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type RouteOptions } from 'fastify';
import { AjvCompiler } from '@fastify/ajv-compiler';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { AppContext } from '../service/app-context.ts';
import { consoleRoutes } from './console.ts';
import { AppError } from '../domain/errors.ts';
import { clientErrorHandler, errorHandlerByPath } from './error-envelopes.ts';
import { errorHandler } from './error-render.ts';
import { renderNativeError } from './errors.ts';
import { installInputGuards } from './input-guards.ts';
import { installRateLimits, rateLimitSettingsFromEnv, type RateLimitSettings } from './rate-limits.ts';
import { metricsRoutes } from './metrics.ts';
import { AgentServers, agentPortOf } from './obshell-agent-servers.ts';
import { nativeRoutes } from './native/routes.ts';

export interface AppOptions {
  /** structured request logs (pino JSON on stdout): true for `info`, or a level */
  logger?: boolean | string;
  /** where log lines go (default stdout); tests read them */
  logStream?: { write(line: string): void };
  /** extra API families: each registers its own routes and error handler */
  families?: FastifyPluginAsync<{ ctx: AppContext }>[];
  /** folder of the built web console (default dist/console) */
  consoleDir?: string;
  /** defaults to the LIFTGATE_RATE_LIMIT* settings of the environment */
  rateLimits?: RateLimitSettings;
  /** sees every route as it is added, before it is built (a test checks each route's answers against its schema) */
  onRoute?: (route: RouteOptions) => void;
}

export async function buildApp(ctx: AppContext, opts: AppOptions = {}): Promise<FastifyInstance> {
  // the request handler, kept so that the OBShell agents' ports are served by this same app
  let handle: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
  const app = Fastify({
    serverFactory: (handler) => {
      handle = handler;
      return http.createServer(handler);
    },
    logger: opts.logger
      ? {
          level: typeof opts.logger === 'string' ? opts.logger : 'info',
          ...(opts.logStream ? { stream: opts.logStream } : {}),
          // credentials never reach the log (docs/SECURITY.md)
          redact: [
            'req.headers.authorization',
            'req.headers["x-auth-token"]',
            'req.headers["x-ocs-header"]',
            'req.headers["x-security-token"]',
            'req.headers["x-acs-security-token"]',
          ],
        }
      : false,
    bodyLimit: 2 * 1024 * 1024,
    // Longer path segments than any id of any family get a 414 in the family's envelope.
    routerOptions: { maxParamLength: 256 },
    genReqId: () => crypto.randomUUID(),
    frameworkErrors: (err, req, reply) => errorHandlerByPath(err, req, reply),
    clientErrorHandler,
  });
  if (opts.onRoute) app.addHook('onRoute', opts.onRoute);
  // Paths, query strings and headers arrive as text, so their schemas coerce ("50" -> 50); bodies
  // are typed JSON and are never coerced: {"id": 1e400} is a number, not the project "Infinity".
  // allErrors: a bad request is answered once with every problem it has (src/http/errors.ts).
  const compilers = AjvCompiler();
  const base = { removeAdditional: false, useDefaults: true, allErrors: true } as const;
  const coercing = compilers({}, { customOptions: { ...base, coerceTypes: 'array' } });
  const strict = compilers({}, { customOptions: { ...base, coerceTypes: false } });
  app.setValidatorCompiler((route) => (route.httpPart === 'body' ? strict : coercing)(route));
  // Before any route: a route takes the error handler its scope has when it is added, so the root
  // routes (health, metrics) answer in the native envelope too, not in Fastify's default one.
  app.setErrorHandler(errorHandlerByPath);
  // Rate limits first: a refused request costs no credential lookup and no input check.
  await installRateLimits(app, ctx.store, opts.rateLimits ?? rateLimitSettingsFromEnv());
  installInputGuards(app);
  // An empty body with a JSON content type (e.g. a DELETE from a client that always sends the
  // header) is no body, not a parse error.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (body === '') done(null, undefined);
    else void json(req, body as string, done);
  });

  // Every answer names its request id, the key to its lines in the server log.
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  // An OBShell agent's port serves that family's routes and nothing else (the native API, the
  // other families and the console answer on the main port only).
  app.addHook('onRequest', async (req, reply) => {
    if (agentPortOf(req.raw) !== undefined && !req.routeOptions.config?.obshellAgent) {
      // answered here, in OBShell's envelope (a route's own handler would use its family's); written
      // as it is, not by the route's response schema, which describes its own family's envelope
      reply.serializer((payload) => JSON.stringify(payload));
      errorHandlerByPath(new AppError('ROUTE_NOT_FOUND', `no endpoint answers ${req.method} at this path`), req, reply);
      return reply;
    }
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Liftgate API',
        version: '0.1.0',
        description: 'Plan, run and control safe version upgrades of database and cluster fleets.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/healthz', { schema: { tags: ['ops'] } }, async () => {
    await ctx.store.db.selectFrom('projects').select('id').limit(1).execute();
    return { status: 'ok', store: ctx.store.caps.name };
  });
  await app.register(metricsRoutes, { ctx });

  await app.register(
    async (v1) => {
      v1.setErrorHandler(errorHandler(renderNativeError));
      await v1.register(nativeRoutes, { ctx });
    },
    { prefix: '/v1' },
  );

  for (const family of opts.families ?? []) await app.register(family, { ctx });
  await app.register(consoleRoutes, { dir: opts.consoleDir });

  // No route: the family the path prefix names answers, in its envelope (the path is not echoed).
  app.setNotFoundHandler((req, reply) => {
    errorHandlerByPath(new AppError('ROUTE_NOT_FOUND', `no endpoint answers ${req.method} at this path`), req, reply);
  });

  // Each OBShell cluster's agent port, listened on once the app is ready, closed with it.
  const agents = new AgentServers(
    () => {
      if (!handle) throw new Error('the HTTP server was not created');
      return handle;
    },
    ctx.obshellAgents.settings.host,
    (err, socket) => clientErrorHandler(err, socket, 'obshell'),
  );
  app.addHook('onReady', async () => {
    await ctx.obshellAgents.attach(agents);
  });
  app.addHook('onClose', async () => ctx.obshellAgents.detach(agents));
  return app;
}
