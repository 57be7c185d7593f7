// Builds the HTTP server: the native API, the vendor-compatible API families, OpenAPI, health
// and metrics. Each API family is a Fastify plugin with its own error envelope.
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { AppContext } from '../service/context.ts';
import { errorInfo } from './errors.ts';
import { metricsRoutes } from './metrics.ts';
import { nativeRoutes } from './native/routes.ts';

export interface AppOptions {
  logger?: boolean;
  /** extra API families: each registers its own routes and error handler */
  families?: FastifyPluginAsync<{ ctx: AppContext }>[];
}

export async function buildApp(ctx: AppContext, opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger
      ? {
          level: process.env.LOG_LEVEL ?? 'info',
          redact: ['req.headers.authorization', 'req.headers["x-auth-token"]', 'req.headers["x-ocs-header"]'],
        }
      : false,
    bodyLimit: 2 * 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
    genReqId: () => crypto.randomUUID(),
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
      v1.setErrorHandler((err, req, reply) => {
        const info = errorInfo(err);
        if (info.status >= 500) req.log.error({ err }, 'request failed');
        reply.code(info.status).send({ error: { code: info.code, message: info.message, details: info.details } });
      });
      await v1.register(nativeRoutes, { ctx });
    },
    { prefix: '/v1' },
  );

  for (const family of opts.families ?? []) await app.register(family, { ctx });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: { code: 'ROUTE_NOT_FOUND', message: `no endpoint ${req.method} ${req.url.split('?')[0]}` } });
  });
  app.setErrorHandler((err, req, reply) => {
    const info = errorInfo(err);
    if (info.status >= 500) req.log.error({ err }, 'request failed');
    reply.code(info.status).send({ error: { code: info.code, message: info.message, details: info.details } });
  });
  return app;
}
