// Hologres-style instance upgrade status: GET /api/v1/instances/{instanceId}/upgrade/status.
// The instance is a target of the caller's project (the project of the ACS3 access key).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../../../domain/errors.ts';
import type { PrecheckReport, StepAction } from '../../../domain/types.ts';
import { upgradeHistory } from '../../../service/cluster-upgrades.ts';
import { readSide, type AppContext } from '../../../service/app-context.ts';
import { listEvents } from '../../../service/events.ts';
import { getReport } from '../../../service/prechecks.ts';
import { getTarget } from '../../../service/targets.ts';
import { caller, useAcs3Auth } from './acs3-auth.ts';
import { errorHandler } from '../../error-render.ts';
import { alibabaRequestId, renderHologresError } from './errors.ts';
import { presentHologresUpgrade } from './hologres-present.ts';
import { HOLOGRES_STEP_GROUP } from './state-maps.ts';

const requestId = (req: FastifyRequest): string => alibabaRequestId(String(req.id));

const StatusParams = {
  type: 'object',
  properties: { instanceId: { type: 'string', minLength: 1, maxLength: 128 } },
  required: ['instanceId'],
} as const;
const StatusQuery = {
  type: 'object',
  properties: { RegionId: { type: 'string', maxLength: 64 } },
} as const;

export async function hologresFamily(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  const { ctx } = opts;
  // the status route reads through the read side: it never waits behind the executor's statements
  const rctx = readSide(ctx);
  useAcs3Auth(app, ctx);

  app.setErrorHandler(errorHandler(renderHologresError));

  app.get<{ Params: { instanceId: string }; Querystring: { RegionId?: string } }>(
    '/api/v1/instances/:instanceId/upgrade/status',
    { schema: { tags: ['hologres'], params: StatusParams, querystring: StatusQuery } },
    async (req) => {
      const { projectId } = caller(req);
      const { instanceId } = req.params;
      const target = await getTarget(rctx, projectId, instanceId);
      // An instance lives in one region; asking for it in another finds nothing.
      if (req.query.RegionId && req.query.RegionId !== target.region) {
        throw new AppError('TARGET_NOT_FOUND', `instance ${instanceId} does not exist in region ${req.query.RegionId}`);
      }
      const history = await upgradeHistory(rctx, projectId, instanceId);
      const data = await Promise.all(
        history.map(async (u, i) => {
          const report: PrecheckReport | null = u.precheckReportId
            ? await getReport(rctx, projectId, u.precheckReportId).catch(() => null)
            : null;
          const rollbackEvent =
            u.state === 'rolling_back' || u.state === 'rolled_back' || u.errorCode === 'ROLLBACK_FAILED'
              ? (await listEvents(rctx, projectId, { upgradeId: u.id, limit: 1000 })).find((e) => e.type === 'upgrade.rollback')
              : undefined;
          const modelled = await ctx.estimates.phases(u, target, (action) => HOLOGRES_STEP_GROUP[action as StepAction]);
          return presentHologresUpgrade(u, target, report, i === 0, rollbackEvent?.createdAt ?? null, modelled);
        }),
      );
      return {
        RequestId: requestId(req),
        Data: data,
        Success: true,
        ErrorCode: '',
        ErrorMessage: '',
        HttpStatusCode: '200',
      };
    },
  );
}
