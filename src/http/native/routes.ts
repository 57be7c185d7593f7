// The native REST API under /v1. Handlers translate HTTP to service calls and nothing more.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AppError } from '../../domain/errors.ts';
import type { UpgradeState } from '../../domain/types.ts';
import { SimDriver, TRANSIENT_FAULT_KINDS } from '../../drivers/sim/sim-driver.ts';
import type { UpgradeAction } from '../../engine/operations.ts';
import { listExecutors } from '../../engine/presence.ts';
import { addCatalogVersion, listCatalog, listCatalogAcross } from '../../service/catalog.ts';
import { readSide, type AppContext } from '../../service/app-context.ts';
import { listEvents, prunedThrough } from '../../service/events.ts';
import { getReport, listReports, startPrecheck } from '../../service/prechecks.ts';
import { createProject, getProject, listProjects } from '../../service/projects.ts';
import { createTarget, deleteTarget, getTarget, listTargets, parseLabelSelector, patchTarget } from '../../service/targets.ts';
import { assertRole, requiredRole } from '../../service/roles.ts';
import { actorOf as principalActor, canAccessProject, verifyToken, type Principal } from '../../service/tokens.ts';
import { rescheduleUpgrade } from '../../service/reschedule.ts';
import { createUpgrade, getUpgrade, listUpgrades, upgradeAction } from '../../service/upgrades.ts';
import { adminTokenRoutes } from './admin-token-routes.ts';
import { batchRoutes } from './batch-routes.ts';
import { credentialRoutes } from './credential-routes.ts';
import { upgradeEstimate } from '../../service/upgrade-estimate.ts';
import { estimateRoutes } from './estimate-routes.ts';
import { webhookRoutes } from './webhook-routes.ts';
import { agentAddress, presentUpgrade, presentUpgradeDetail } from './present.ts';
import * as S from './schemas.ts';
import * as T from '../../api/target-shapes.ts';
import * as U from '../../api/upgrade-shapes.ts';
import { EventStreams, streamEvents } from './sse.ts';

/** the fields of a target an operator may change: when its upgrades may run */
const SCHEDULING_FIELDS = new Set(['maintenanceWindow', 'maintenanceExclusions']);

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** a request that only reads: its credential is checked on the read side too */
const isRead = (method: string) => method === 'GET' || method === 'HEAD';

const actorOf = (req: FastifyRequest): string => (req.principal ? principalActor(req.principal) : 'anonymous');

function scope(req: FastifyRequest, projectId: string): void {
  // A credential of another project gets the same answer as a missing project: no existence leak.
  if (!req.principal || !canAccessProject(req.principal, projectId)) {
    throw new AppError('PROJECT_NOT_FOUND', `project ${projectId} does not exist`);
  }
}

function adminOnly(req: FastifyRequest): void {
  if (req.principal?.kind !== 'admin') throw new AppError('FORBIDDEN', 'this operation needs an admin token');
}

const tags = (t: string) => ({ tags: [t], security: [{ bearer: [] }] });
/** the answers of a route: its success shapes (src/api/) and the error envelope for every 4xx and 5xx */
const answers = <R extends Record<number, unknown>>(ok: R) => ({ response: { ...ok, ...S.errorResponses } });

export async function nativeRoutes(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  const { ctx } = opts;
  // GET routes read through the read side: they never wait behind the executor's statements
  const rctx = readSide(ctx);
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const streams = new EventStreams();
  // open event streams would hold the server's close: end them first
  app.addHook('preClose', async () => streams.endAll());

  app.addHook('onRequest', async (req) => {
    const h = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    const principal = m ? await verifyToken(ctx, m[1], { read: isRead(req.method) }) : null;
    if (!principal) {
      throw new AppError('UNAUTHORIZED', m ? 'the bearer token is not valid' : 'send Authorization: Bearer <token>');
    }
    req.principal = principal;
    req.credential = `token:${principal.id}`;
  });
  // One rule for every route: reads need viewer, changes operator, unless the route says more.
  app.addHook('preHandler', async (req) => {
    if (req.principal) assertRole(req.principal.role, requiredRole(req.method, req.routeOptions.config));
  });

  await app.register(estimateRoutes, { ctx });
  await app.register(webhookRoutes, { ctx, scope, actorOf });

  // ---- projects ----
  r.post(
    '/projects',
    { schema: { ...tags('projects'), body: S.ProjectBody, ...answers({ 201: T.ProjectOut }) } },
    async (req, reply) => {
      adminOnly(req);
      reply.code(201);
      return createProject(ctx, req.body);
    },
  );
  r.get('/projects', { schema: { ...tags('projects'), ...answers({ 200: T.ProjectList }) } }, async (req) => {
    const p = req.principal as Principal;
    return { items: await listProjects(rctx, p.kind === 'admin' ? undefined : [p.projectId]) };
  });
  r.get(
    '/projects/:project',
    { schema: { ...tags('projects'), params: S.ProjectParams, ...answers({ 200: T.ProjectOut }) } },
    async (req) => {
      scope(req, req.params.project);
      return getProject(rctx, req.params.project);
    },
  );
  await app.register(credentialRoutes, { ctx });
  await app.register(adminTokenRoutes, { ctx });

  // ---- executors (replicas) ----
  r.get('/executors', { schema: { ...tags('ops'), ...answers({ 200: T.ExecutorList }) } }, async (req) => {
    adminOnly(req);
    return { items: await listExecutors(ctx.store.read) };
  });

  // ---- catalog ----
  r.post(
    '/catalog/:engine/versions',
    { schema: { ...tags('catalog'), params: S.EngineParams, body: S.CatalogBody, ...answers({ 201: T.CatalogVersionOut }) } },
    async (req, reply) => {
      adminOnly(req);
      reply.code(201);
      return addCatalogVersion(ctx, req.params.engine, req.body);
    },
  );
  r.get(
    '/catalog/:engine/versions',
    { schema: { ...tags('catalog'), params: S.EngineParams, ...answers({ 200: T.CatalogList }) } },
    async (req) => ({
      items: await listCatalog(rctx, req.params.engine),
    }),
  );
  r.get(
    '/catalog/versions',
    { schema: { ...tags('catalog'), querystring: S.CatalogAcrossQuery, ...answers({ 200: T.CatalogList }) } },
    async (req) => ({
      items: await listCatalogAcross(rctx, req.query.fromEngine),
    }),
  );

  // ---- targets ----
  r.post(
    '/projects/:project/targets',
    {
      config: { role: 'admin' },
      schema: {
        ...tags('targets'),
        params: S.ProjectParams,
        body: S.TargetBody,
        ...answers({ 201: T.TargetOut }),
      },
    },
    async (req, reply) => {
      scope(req, req.params.project);
      reply.code(201);
      return createTarget(ctx, req.params.project, req.body, actorOf(req));
    },
  );
  r.get(
    '/projects/:project/targets',
    {
      schema: { ...tags('targets'), params: S.ProjectParams, querystring: S.TargetListQuery, ...answers({ 200: T.TargetList }) },
    },
    async (req) => {
      scope(req, req.params.project);
      await getProject(rctx, req.params.project);
      const { label, ...q } = req.query;
      return listTargets(rctx, req.params.project, { ...q, labels: parseLabelSelector(label) });
    },
  );
  r.get(
    '/projects/:project/targets/:target',
    { schema: { ...tags('targets'), params: S.TargetParams, ...answers({ 200: T.TargetDetailOut }) } },
    async (req) => {
      scope(req, req.params.project);
      const t = await getTarget(rctx, req.params.project, req.params.target);
      const port = (await ctx.obshellAgents.portsOf(t.projectId, [t.id])).get(t.id);
      return { ...t, endpoint: endpointOf(t), obshellAgent: port === undefined ? null : agentAddress(req, port) };
    },
  );
  r.patch(
    '/projects/:project/targets/:target',
    {
      // An operator schedules upgrades, so it may move a target's maintenance window and
      // exclusions; everything else about a target stays the admin's (checked below).
      config: { role: 'operator' },
      schema: { ...tags('targets'), params: S.TargetParams, body: S.TargetPatchBody, ...answers({ 200: T.TargetOut }) },
    },
    async (req) => {
      scope(req, req.params.project);
      const other = Object.keys(req.body).filter((k) => !SCHEDULING_FIELDS.has(k));
      if (other.length > 0 && req.principal) assertRole(req.principal.role, 'admin', `changing a target's ${other.join(', ')}`);
      return patchTarget(ctx, req.params.project, req.params.target, req.body, actorOf(req));
    },
  );
  r.delete(
    '/projects/:project/targets/:target',
    { config: { role: 'admin' }, schema: { ...tags('targets'), params: S.TargetParams, ...answers({ 204: Type.Null() }) } },
    async (req, reply) => {
      scope(req, req.params.project);
      await deleteTarget(ctx, req.params.project, req.params.target, actorOf(req));
      reply.code(204);
      return null;
    },
  );
  r.post(
    '/projects/:project/targets/:target/faults',
    { schema: { ...tags('targets'), params: S.TargetParams, body: S.FaultBody, ...answers({ 201: T.FaultOut }) } },
    async (req, reply) => {
      scope(req, req.params.project);
      const t = await getTarget(ctx, req.params.project, req.params.target);
      const driver = ctx.drivers.get(t.driver);
      if (!(driver instanceof SimDriver))
        throw new AppError('FAULTS_NOT_SUPPORTED', `target ${t.id} uses the ${t.driver} driver; faults need the sim driver`);
      if (req.body.node && !t.nodes.some((n) => n.name === req.body.node)) {
        throw new AppError('NODE_NOT_FOUND', `target ${t.id} has no node ${req.body.node}`);
      }
      if (req.body.transient && !TRANSIENT_FAULT_KINDS.includes(req.body.kind)) {
        throw new AppError(
          'VALIDATION_FAILED',
          `a ${req.body.kind} fault cannot be transient: transient applies to kinds ${TRANSIENT_FAULT_KINDS.join(' and ')} (a hang ends in a step timeout, which is never retried)`,
        );
      }
      const regress = req.body.kind === 'regress';
      if (regress !== (req.body.sli !== undefined) || regress !== (req.body.value !== undefined)) {
        throw new AppError(
          'VALIDATION_FAILED',
          regress
            ? 'a regress fault needs "sli" (the indicator) and "value" (what it becomes once the step ran)'
            : `"sli" and "value" belong to a regress fault, not a ${req.body.kind} fault`,
        );
      }
      const id = await driver.addFault(t, {
        node: req.body.node,
        step: req.body.step,
        kind: req.body.kind,
        times: req.body.times ?? 1,
        transient: req.body.transient === true,
        ...(regress ? { sli: req.body.sli, value: req.body.value } : {}),
      });
      reply.code(201);
      return { id, ...req.body, times: req.body.times ?? 1 };
    },
  );

  // ---- prechecks ----
  r.post(
    '/projects/:project/targets/:target/prechecks',
    {
      schema: {
        ...tags('prechecks'),
        params: S.TargetParams,
        body: S.PrecheckBody,
        ...answers({ 201: T.ReportOut, 202: T.ReportOut }),
      },
    },
    async (req, reply) => {
      scope(req, req.params.project);
      const report = await startPrecheck(ctx, req.params.project, req.params.target, req.body);
      reply.code(report.state === 'running' ? 202 : 201);
      return report;
    },
  );
  r.get(
    '/projects/:project/targets/:target/prechecks',
    { schema: { ...tags('prechecks'), params: S.TargetParams, ...answers({ 200: T.ReportList }) } },
    async (req) => {
      scope(req, req.params.project);
      await getTarget(rctx, req.params.project, req.params.target);
      return { items: await listReports(rctx, req.params.project, req.params.target) };
    },
  );
  r.get(
    '/projects/:project/prechecks/:report',
    { schema: { ...tags('prechecks'), params: S.ReportParams, ...answers({ 200: T.ReportOut }) } },
    async (req) => {
      scope(req, req.params.project);
      return getReport(rctx, req.params.project, req.params.report);
    },
  );

  // ---- upgrades ----
  r.post(
    '/projects/:project/upgrades',
    {
      schema: {
        ...tags('upgrades'),
        params: S.ProjectParams,
        body: S.UpgradeBody,
        ...answers({ 202: U.UpgradeDetailOut }),
      },
    },
    async (req, reply) => {
      scope(req, req.params.project);
      const b = req.body;
      const u = await createUpgrade(ctx, req.params.project, { ...b, mode: b.mode ?? 'rolling' }, actorOf(req));
      reply.code(202);
      return { ...presentUpgradeDetail(u, false), estimate: await upgradeEstimate(ctx, u) };
    },
  );
  r.get(
    '/projects/:project/upgrades',
    {
      schema: {
        ...tags('upgrades'),
        params: S.ProjectParams,
        querystring: S.UpgradeListQuery,
        ...answers({ 200: U.UpgradeList }),
      },
    },
    async (req) => {
      scope(req, req.params.project);
      await getProject(rctx, req.params.project);
      const { items, total } = await listUpgrades(rctx, req.params.project, {
        targetId: req.query.target,
        state: req.query.state?.split(',') as UpgradeState[] | undefined,
        limit: req.query.limit,
        offset: req.query.offset,
      });
      return { items: items.map(presentUpgrade), total, limit: req.query.limit ?? 50, offset: req.query.offset ?? 0 };
    },
  );
  r.get(
    '/projects/:project/upgrades/:upgrade',
    { schema: { ...tags('upgrades'), params: S.UpgradeParams, ...answers({ 200: U.UpgradeDetailOut }) } },
    async (req) => {
      scope(req, req.params.project);
      const u = await getUpgrade(rctx, req.params.project, req.params.upgrade);
      return { ...presentUpgradeDetail(u), estimate: await upgradeEstimate(rctx, u) };
    },
  );
  r.post(
    '/projects/:project/upgrades/:upgrade/actions',
    {
      schema: {
        ...tags('upgrades'),
        params: S.UpgradeParams,
        body: S.ActionBody,
        ...answers({ 200: U.UpgradeDetailOut }),
      },
    },
    async (req) => {
      scope(req, req.params.project);
      const { action, schedule } = req.body;
      const u =
        action === 'reschedule'
          ? await rescheduleUpgrade(ctx, req.params.project, req.params.upgrade, schedule, actorOf(req))
          : await upgradeAction(ctx, req.params.project, req.params.upgrade, action as UpgradeAction, actorOf(req));
      return { ...presentUpgradeDetail(u, false), estimate: await upgradeEstimate(ctx, u) };
    },
  );

  // ---- batches (batch-routes.ts) ----
  batchRoutes(app, ctx, { scope, actorOf });

  // ---- events ----
  r.get(
    '/projects/:project/events',
    {
      // with stream=true (or Accept: text/event-stream) it answers a Server-Sent Events stream, which
      // no JSON schema describes (src/http/native/sse.ts says what it sends); the 200 shape is the list
      schema: { ...tags('events'), params: S.ProjectParams, querystring: S.EventsQuery, ...answers({ 200: T.EventList }) },
    },
    async (req, reply) => {
      scope(req, req.params.project);
      await getProject(rctx, req.params.project);
      const q = req.query;
      const wantsStream = q.stream === true || (req.headers.accept ?? '').includes('text/event-stream');
      if (wantsStream) {
        const who = (req.principal as Principal).id;
        return streamEvents(rctx, streams, who, req as FastifyRequest, reply as FastifyReply, req.params.project, q);
      }
      const items = await listEvents(rctx, req.params.project, {
        afterId: q.after,
        // a client following new events with `after` is never handed one past an event still
        // to commit (see src/store/event-horizon.ts)
        upToId: q.after !== undefined && q.order !== 'desc' ? await ctx.store.horizon.upTo() : undefined,
        beforeId: q.before,
        order: q.order,
        upgradeId: q.upgrade,
        targetId: q.target,
        types: q.type?.split(','),
        since: q.since,
        limit: q.limit,
      });
      // history older than the retention may be gone (read after the items, so a pass that ran
      // in between is seen): a list reaching back before the newest deleted event says so
      const pruned = await prunedThrough(rctx, req.params.project);
      return (q.after ?? 0) < pruned ? { items, prunedThrough: pruned } : { items };
    },
  );
}

export function endpointOf(t: {
  nodes: { role: string; host?: string; port?: number }[];
  driverConfig: Record<string, unknown>;
}) {
  const pooler = t.driverConfig.poolerPort;
  if (typeof pooler === 'number') return { host: '127.0.0.1', port: pooler };
  const primary = t.nodes.find((n) => n.role === 'primary' || n.role === 'leader');
  return primary?.host && primary.port ? { host: primary.host, port: primary.port } : null;
}
