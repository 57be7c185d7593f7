// ACK-style cluster upgrade API (cs 2015-12-15): GetUpgradeStatus (JSON or XML), UpgradeCluster,
// Pause/Resume/CancelClusterUpgrade, DescribeTaskInfo and the cluster checks (precheck reports).
// A ClusterId is a target of the caller's project; a task_id is an upgrade id; a check_id is a
// precheck report id (the same id GetUpgradeStatus reports as precheck_report_id).
//
// ACK has no retry call: re-issuing UpgradeCluster with the failed upgrade's next_version
// retries that upgrade and answers its task_id (see startOrRetryUpgrade).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../../../domain/errors.ts';
import type { UpgradeAction } from '../../../engine/operations.ts';
import { activeUpgradeOf, latestUpgradeOf, startOrRetryUpgrade } from '../../../service/cluster-upgrades.ts';
import { readSide, type AppContext } from '../../../service/app-context.ts';
import { listEvents } from '../../../service/events.ts';
import { getReport, listReports, startPrecheck } from '../../../service/prechecks.ts';
import { getTarget } from '../../../service/targets.ts';
import { getUpgrade, upgradeAction } from '../../../service/upgrades.ts';
import { caller, useAcs3Auth } from './acs3-auth.ts';
import { presentCheck, presentTaskInfo, presentUpgradeStatus } from './ack-present.ts';
import { errorHandler } from '../../error-render.ts';
import { alibabaRequestId, renderAckError, wantsXml as acceptsXml, xml } from './errors.ts';

const requestId = (req: FastifyRequest): string => alibabaRequestId(String(req.id));
const actor = (req: FastifyRequest): string => `ack:${caller(req).accessKeyId}`;
const wantsXml = (req: FastifyRequest): boolean => acceptsXml(req.headers);

const Id = { type: 'string', minLength: 1, maxLength: 128 } as const;
const ClusterParams = { type: 'object', properties: { ClusterId: Id }, required: ['ClusterId'] } as const;
const ClusterIdParams = { type: 'object', properties: { cluster_id: Id }, required: ['cluster_id'] } as const;

const UpgradeBody = {
  type: 'object',
  required: ['next_version'],
  properties: {
    next_version: { type: 'string', minLength: 1, maxLength: 64 },
    version: { type: 'string', maxLength: 64 },
    component_name: { type: 'string', maxLength: 64 },
    master_only: { type: 'boolean' },
    rolling_policy: {
      type: 'object',
      properties: { max_parallelism: { type: 'integer', minimum: 1, maximum: 1000 } },
    },
  },
} as const;

interface UpgradeBodyT {
  next_version: string;
  version?: string;
  component_name?: string;
  master_only?: boolean;
  rolling_policy?: { max_parallelism?: number };
}

const CheckBody = {
  type: 'object',
  required: ['type'],
  properties: {
    type: { type: 'string', maxLength: 64 },
    target: { type: 'string', maxLength: 128 },
    options: { type: 'object', additionalProperties: { type: 'string', maxLength: 256 } },
  },
} as const;

/** Check types that are upgrade prechecks; ACK's others (ClusterMigrate, NodePoolUpgrade) are not served. */
const UPGRADE_CHECK_TYPES = new Set(['ClusterUpgrade', 'MasterUpgrade']);

export async function ackFamily(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  const { ctx } = opts;
  // the GET routes read through the read side: they never wait behind the executor's statements
  const rctx = readSide(ctx);
  useAcs3Auth(app, ctx);

  app.setErrorHandler(errorHandler(renderAckError));

  const tags = ['ack'];

  app.get<{ Params: { ClusterId: string } }>(
    '/api/v2/clusters/:ClusterId/upgrade/status',
    { schema: { tags, params: ClusterParams } },
    async (req, reply) => {
      const body = presentUpgradeStatus(await latestUpgradeOf(rctx, caller(req).projectId, req.params.ClusterId));
      if (wantsXml(req)) return reply.type('application/xml').send(xml.build({ GetUpgradeStatusResponse: body }));
      return body;
    },
  );

  app.post<{ Params: { ClusterId: string }; Body: UpgradeBodyT }>(
    '/api/v2/clusters/:ClusterId/upgrade',
    { schema: { tags, params: ClusterParams, body: UpgradeBody } },
    async (req) => {
      const { projectId } = caller(req);
      const clusterId = req.params.ClusterId;
      const b = req.body;
      if (b.version !== undefined && b.version !== '') {
        // ACK's `version` is the version the caller believes the cluster runs.
        const target = await getTarget(ctx, projectId, clusterId);
        if (b.version !== target.version) {
          throw new AppError(
            'VALIDATION_FAILED',
            `version ${b.version} is not the current version of cluster ${clusterId} (${target.version})`,
          );
        }
      }
      const { upgrade } = await startOrRetryUpgrade(
        ctx,
        projectId,
        {
          targetId: clusterId,
          toVersion: b.next_version,
          mode: 'rolling',
          options: {
            masterOnly: b.master_only ?? false,
            ...(b.rolling_policy?.max_parallelism ? { parallelism: b.rolling_policy.max_parallelism } : {}),
          },
        },
        actor(req),
      );
      return { cluster_id: clusterId, request_id: requestId(req), task_id: upgrade.id };
    },
  );

  const actions: [string, UpgradeAction][] = [
    ['pause', 'pause'],
    ['resume', 'resume'],
    ['cancel', 'cancel'],
  ];
  for (const [path, action] of actions) {
    app.post<{ Params: { ClusterId: string } }>(
      `/api/v2/clusters/:ClusterId/upgrade/${path}`,
      { schema: { tags, params: ClusterParams } },
      async (req, reply) => {
        const { projectId } = caller(req);
        const u = await activeUpgradeOf(ctx, projectId, req.params.ClusterId);
        await upgradeAction(ctx, projectId, u.id, action, actor(req));
        // ACK answers these with 202 and no body; the SDK ignores the body.
        return reply.code(202).send({ request_id: requestId(req) });
      },
    );
  }

  app.get<{ Params: { task_id: string } }>(
    '/tasks/:task_id',
    { schema: { tags, params: { type: 'object', properties: { task_id: Id }, required: ['task_id'] } } },
    async (req) => {
      const { projectId } = caller(req);
      const u = await getUpgrade(rctx, projectId, req.params.task_id);
      const [target, events] = await Promise.all([
        getTarget(rctx, projectId, u.targetId),
        listEvents(rctx, projectId, { upgradeId: u.id, limit: 1000 }),
      ]);
      return presentTaskInfo(u, target, events);
    },
  );

  app.post<{ Params: { cluster_id: string }; Body: { type: string; target?: string; options?: Record<string, string> } }>(
    '/clusters/:cluster_id/checks',
    { schema: { tags, params: ClusterIdParams, body: CheckBody } },
    async (req) => {
      const { projectId } = caller(req);
      const { type, options = {} } = req.body;
      if (!UPGRADE_CHECK_TYPES.has(type)) {
        throw new AppError('VALIDATION_FAILED', `check type ${type} is not supported; use ClusterUpgrade or MasterUpgrade`);
      }
      const nextVersion = options.next_version;
      if (!nextVersion) throw new AppError('VALIDATION_FAILED', `options.next_version is required for a ${type} check`);
      const report = await startPrecheck(ctx, projectId, req.params.cluster_id, {
        toVersion: nextVersion,
        mode: 'rolling',
        options: { masterOnly: type === 'MasterUpgrade' },
      });
      return { check_id: report.id, request_id: requestId(req) };
    },
  );

  app.get<{ Params: { cluster_id: string; check_id: string } }>(
    '/clusters/:cluster_id/checks/:check_id',
    {
      schema: {
        tags,
        params: { type: 'object', properties: { cluster_id: Id, check_id: Id }, required: ['cluster_id', 'check_id'] },
      },
    },
    async (req) => {
      const { projectId } = caller(req);
      await getTarget(rctx, projectId, req.params.cluster_id);
      const report = await getReport(rctx, projectId, req.params.check_id);
      if (report.targetId !== req.params.cluster_id) {
        throw new AppError(
          'PRECHECK_NOT_FOUND',
          `check ${req.params.check_id} does not exist on cluster ${req.params.cluster_id}`,
        );
      }
      return presentCheck(report, true);
    },
  );

  app.get<{ Params: { cluster_id: string }; Querystring: { type?: string; target?: string } }>(
    '/clusters/:cluster_id/checks',
    {
      schema: {
        tags,
        params: ClusterIdParams,
        querystring: {
          type: 'object',
          properties: { type: { type: 'string', maxLength: 64 }, target: { type: 'string', maxLength: 128 } },
        },
      },
    },
    async (req) => {
      const { projectId } = caller(req);
      await getTarget(rctx, projectId, req.params.cluster_id);
      // Every report here is an upgrade precheck; other ACK check types have none.
      if (req.query.type && !UPGRADE_CHECK_TYPES.has(req.query.type)) return { checks: [] };
      const reports = await listReports(rctx, projectId, req.params.cluster_id);
      return { checks: reports.map((r) => presentCheck(r, false)) };
    },
  );
}
