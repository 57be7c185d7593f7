// The native batch API under /v1/projects/{project}/batches. Handlers translate HTTP to service
// calls and nothing more; the caller's scope is checked as on every native route.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { batchAction, createBatch, previewBatch } from '../../service/batch-actions.ts';
import { getBatch, listBatches } from '../../service/batch-view.ts';
import { readSide, type AppContext } from '../../service/app-context.ts';
import { listUpgrades } from '../../service/upgrades.ts';
import { BatchActionBody, BatchBody, BatchListQuery, BatchParams } from './batch-schemas.ts';
import { presentUpgrade } from './present.ts';
import { errorResponses, ProjectParams } from './schemas.ts';
import { BatchList, BatchOut, BatchPreviewOut } from '../../api/batch-shapes.ts';
import { UpgradeList } from '../../api/upgrade-shapes.ts';

export interface RouteHelpers {
  scope(req: FastifyRequest, projectId: string): void;
  actorOf(req: FastifyRequest): string;
}

export function batchRoutes(app: FastifyInstance, ctx: AppContext, h: RouteHelpers): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  // GET routes read through the read side: they never wait behind the executor's statements
  const rctx = readSide(ctx);
  const tags = { tags: ['batches'], security: [{ bearer: [] }] };
  const answers = <R extends Record<number, unknown>>(ok: R) => ({ response: { ...ok, ...errorResponses } });

  r.post(
    '/projects/:project/batches',
    { schema: { ...tags, params: ProjectParams, body: BatchBody, ...answers({ 201: BatchOut }) } },
    async (req, reply) => {
      h.scope(req, req.params.project);
      const b = await createBatch(ctx, req.params.project, req.body, h.actorOf(req));
      reply.code(201);
      return b;
    },
  );
  // the same validation and planning as the create, answered without writing anything
  r.post(
    '/projects/:project/batches/preview',
    { schema: { ...tags, params: ProjectParams, body: BatchBody, ...answers({ 200: BatchPreviewOut }) } },
    async (req) => {
      h.scope(req, req.params.project);
      return previewBatch(ctx, req.params.project, req.body, h.actorOf(req));
    },
  );
  r.get(
    '/projects/:project/batches',
    { schema: { ...tags, params: ProjectParams, querystring: BatchListQuery, ...answers({ 200: BatchList }) } },
    async (req) => {
      h.scope(req, req.params.project);
      const { items, total } = await listBatches(rctx, req.params.project, req.query);
      return { items, total, limit: req.query.limit ?? 50, offset: req.query.offset ?? 0 };
    },
  );
  r.get(
    '/projects/:project/batches/:batch',
    { schema: { ...tags, params: BatchParams, ...answers({ 200: BatchOut }) } },
    async (req) => {
      h.scope(req, req.params.project);
      return getBatch(rctx, req.params.project, req.params.batch);
    },
  );
  r.get(
    '/projects/:project/batches/:batch/upgrades',
    { schema: { ...tags, params: BatchParams, querystring: BatchListQuery, ...answers({ 200: UpgradeList }) } },
    async (req) => {
      h.scope(req, req.params.project);
      await getBatch(rctx, req.params.project, req.params.batch);
      const { items, total } = await listUpgrades(rctx, req.params.project, {
        batchId: req.params.batch,
        limit: req.query.limit,
        offset: req.query.offset,
      });
      return { items: items.map(presentUpgrade), total, limit: req.query.limit ?? 50, offset: req.query.offset ?? 0 };
    },
  );
  r.post(
    '/projects/:project/batches/:batch/actions',
    { schema: { ...tags, params: BatchParams, body: BatchActionBody, ...answers({ 200: BatchOut }) } },
    async (req) => {
      h.scope(req, req.params.project);
      return batchAction(ctx, req.params.project, req.params.batch, req.body.action, h.actorOf(req));
    },
  );
}
