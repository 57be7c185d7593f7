// The admin credential's endpoints: admin tokens (list, create, rotate, revoke) and the events of
// no project, where their audit trail goes. Only an admin token (one that reaches every project)
// may call them; a project token of any role is refused with 403 FORBIDDEN before its request is
// read any further.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AppError } from '../../domain/errors.ts';
import {
  createAdminToken,
  listAdminTokens,
  revokeAdminToken,
  rotateAdminToken,
  type NewAdminToken,
  type Rotation,
} from '../../service/admin-tokens.ts';
import type { AppContext } from '../../service/app-context.ts';
import { listEvents, NO_PROJECT, prunedThrough } from '../../service/events.ts';
import type { Principal } from '../../service/tokens.ts';
import * as A from './admin-token-schemas.ts';
import * as O from '../../api/credential-shapes.ts';
import { credentialErrors } from './credential-schemas.ts';

const tags = (t: string) => ({ tags: [t], security: [{ bearer: [] }] });
const admin = { role: 'admin' as const };
// A create or rotate with no body at all means "all defaults".
const emptyBodyIsDefaults = async (req: FastifyRequest) => {
  if (req.body === undefined || req.body === null) req.body = {};
};

export async function adminTokenRoutes(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  const { ctx } = opts;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  // after the native API's authentication (its onRequest hook runs first)
  app.addHook('onRequest', async (req) => {
    if (req.principal && req.principal.kind !== 'admin') {
      throw new AppError('FORBIDDEN', 'admin tokens and their events need an admin token (one that reaches every project)');
    }
  });
  const by = (req: FastifyRequest) => req.principal as Principal;

  r.get(
    '/admin-tokens',
    {
      config: admin,
      schema: {
        ...tags('credentials'),
        summary: 'The admin tokens, without their secrets',
        response: { 200: O.AdminTokenList, ...credentialErrors },
      },
    },
    async () => ({ items: await listAdminTokens(ctx) }),
  );

  r.post(
    '/admin-tokens',
    {
      config: admin,
      preValidation: emptyBodyIsDefaults,
      schema: {
        ...tags('credentials'),
        summary: 'Mint another admin token (its secret is shown once)',
        body: A.AdminTokenBody,
        response: { 201: O.AdminTokenCreatedOut, ...credentialErrors },
      },
    },
    async (req, reply) => {
      reply.code(201);
      return createAdminToken(ctx, (req.body ?? {}) as NewAdminToken, by(req));
    },
  );

  r.post(
    '/admin-tokens/:adminToken/rotate',
    {
      config: admin,
      preValidation: emptyBodyIsDefaults,
      schema: {
        ...tags('credentials'),
        summary: 'Give an admin token a new secret (shown once); the old one stops working at once',
        params: A.AdminTokenParams,
        body: A.RotateBody,
        response: { 200: O.AdminTokenCreatedOut, ...credentialErrors },
      },
    },
    async (req) => rotateAdminToken(ctx, req.params.adminToken, (req.body ?? {}) as Rotation, by(req)),
  );

  r.delete(
    '/admin-tokens/:adminToken',
    {
      config: admin,
      schema: {
        ...tags('credentials'),
        summary: 'Revoke an admin token; refused (409 LAST_ADMIN_TOKEN) for the last one that works',
        params: A.AdminTokenParams,
        response: { 204: Type.Null(), ...credentialErrors },
      },
    },
    async (req, reply) => {
      await revokeAdminToken(ctx, req.params.adminToken, by(req));
      reply.code(204);
      return null;
    },
  );

  r.get(
    '/system/events',
    {
      config: admin,
      schema: {
        ...tags('events'),
        summary: 'The events of no project: the admin credential\u2019s audit trail, newest first',
        querystring: A.SystemEventsQuery,
        response: { 200: O.SystemEventList, ...credentialErrors },
      },
    },
    async (req) => {
      const q = req.query;
      const order = q.order ?? 'desc';
      const events = await listEvents(ctx, NO_PROJECT, {
        afterId: q.after,
        upToId: q.after !== undefined && order === 'asc' ? await ctx.store.horizon.upTo() : undefined,
        beforeId: q.before,
        order,
        types: q.type?.split(','),
        limit: q.limit,
      });
      const items = events.map((e) => ({
        id: e.id,
        type: e.type,
        actor: e.actor,
        ...(e.actorName !== undefined ? { actorName: e.actorName } : {}),
        message: e.message,
        data: e.data,
        createdAt: e.createdAt,
      }));
      const pruned = await prunedThrough(ctx, NO_PROJECT);
      return (q.after ?? 0) < pruned ? { items, prunedThrough: pruned } : { items };
    },
  );
}
