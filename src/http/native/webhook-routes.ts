// Webhooks of a project: POST/GET /v1/projects/{p}/webhooks, GET/DELETE .../webhooks/{id},
// GET .../webhooks/{id}/deliveries (the delivery log, newest event first).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../service/app-context.ts';
import { createWebhook, deleteWebhook, getWebhook, listDeliveries, listWebhooks } from '../../service/webhooks.ts';
import { EVENT_PATTERN } from '../../webhooks/subscriptions.ts';
import { errorResponses as errors, literalUnion } from '../../api/common.ts';
import { DeliveryList, WebhookList, WebhookOut } from '../../api/credential-shapes.ts';
import { WEBHOOK_DELIVERY_STATES } from '../../domain/types.ts';

const Params = Type.Object({ project: Type.String({ maxLength: 128 }) });
const HookParams = Type.Object({ project: Type.String({ maxLength: 128 }), webhook: Type.String({ maxLength: 128 }) });

const WebhookBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2048, description: 'http(s) URL that receives the POSTs' }),
    events: Type.Array(Type.String({ pattern: EVENT_PATTERN, maxLength: 128 }), {
      minItems: 1,
      maxItems: 64,
      description: 'event types or families: "upgrade.*", "batch.*", "upgrade.succeeded", "*"',
    }),
    secret: Type.Optional(
      Type.String({
        minLength: 16,
        maxLength: 256,
        description: 'HMAC key of the signatures; generated (and shown once) when absent',
      }),
    ),
  },
  { additionalProperties: false },
);

const DeliveriesQuery = Type.Object(
  {
    state: Type.Optional(literalUnion(WEBHOOK_DELIVERY_STATES)),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  },
  { additionalProperties: false },
);

const tags = { tags: ['webhooks'], security: [{ bearer: [] }] };

export interface WebhookRouteOptions {
  ctx: AppContext;
  scope: (req: FastifyRequest, projectId: string) => void;
  actorOf: (req: FastifyRequest) => string;
}

export async function webhookRoutes(app: FastifyInstance, opts: WebhookRouteOptions): Promise<void> {
  const { ctx, scope, actorOf } = opts;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.post(
    '/projects/:project/webhooks',
    { schema: { ...tags, params: Params, body: WebhookBody, response: { 201: WebhookOut, ...errors } } },
    async (req, reply) => {
      scope(req, req.params.project);
      const hook = await createWebhook(ctx, req.params.project, req.body, actorOf(req));
      reply.code(201);
      return hook;
    },
  );
  r.get(
    '/projects/:project/webhooks',
    { schema: { ...tags, params: Params, response: { 200: WebhookList, ...errors } } },
    async (req) => {
      scope(req, req.params.project);
      return { items: await listWebhooks(ctx, req.params.project) };
    },
  );
  r.get(
    '/projects/:project/webhooks/:webhook',
    { schema: { ...tags, params: HookParams, response: { 200: WebhookOut, ...errors } } },
    async (req) => {
      scope(req, req.params.project);
      return getWebhook(ctx, req.params.project, req.params.webhook);
    },
  );
  r.delete(
    '/projects/:project/webhooks/:webhook',
    { schema: { ...tags, params: HookParams, response: { 204: Type.Null(), ...errors } } },
    async (req, reply) => {
      scope(req, req.params.project);
      await deleteWebhook(ctx, req.params.project, req.params.webhook);
      reply.code(204);
      return null;
    },
  );
  r.get(
    '/projects/:project/webhooks/:webhook/deliveries',
    {
      schema: {
        ...tags,
        params: HookParams,
        querystring: DeliveriesQuery,
        response: { 200: DeliveryList, ...errors },
      },
    },
    async (req) => {
      scope(req, req.params.project);
      return listDeliveries(ctx, req.params.project, req.params.webhook, req.query);
    },
  );
}
