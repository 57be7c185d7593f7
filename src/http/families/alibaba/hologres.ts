// Hologres-style instance upgrade status: GET /api/v1/instances/{instanceId}/upgrade/status.
// The instance is a target of the caller's project (the project of the ACS3 access key).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../../domain/errors.ts';
import type { PrecheckReport } from '../../../domain/types.ts';
import { upgradeHistory } from '../../../service/cluster-upgrades.ts';
import type { AppContext } from '../../../service/context.ts';
import { listEvents } from '../../../service/events.ts';
import { getReport } from '../../../service/prechecks.ts';
import { getTarget } from '../../../service/targets.ts';
import { caller, useAcs3Auth } from './acs3-auth.ts';
import { alibabaError } from './errors.ts';
import { presentHologresUpgrade } from './hologres-present.ts';

/** Alibaba request ids are upper-case UUIDs. */
const requestId = (req: FastifyRequest): string => String(req.id).toUpperCase();

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
  useAcs3Auth(app, ctx);

  app.setErrorHandler((err, req, reply: FastifyReply) => {
    const e = alibabaError(err, 'hologres');
    if (e.status >= 500) req.log.error({ err }, 'request failed');
    // Code/Message as Alibaba's gateway sends them, which the SDKs read into their error
    // classes, beside the Hologres envelope fields.
    reply.code(e.status).send({
      RequestId: requestId(req),
      Success: false,
      ErrorCode: e.code,
      ErrorMessage: e.message,
      HttpStatusCode: String(e.status),
      Code: e.code,
      Message: e.message,
    });
  });

  app.get<{ Params: { instanceId: string }; Querystring: { RegionId?: string } }>(
    '/api/v1/instances/:instanceId/upgrade/status',
    { schema: { tags: ['hologres'], params: StatusParams, querystring: StatusQuery } },
    async (req) => {
      const { projectId } = caller(req);
      const { instanceId } = req.params;
      const target = await getTarget(ctx, projectId, instanceId);
      // An instance lives in one region; asking for it in another finds nothing.
      if (req.query.RegionId && req.query.RegionId !== target.region) {
        throw new AppError('TARGET_NOT_FOUND', `instance ${instanceId} does not exist in region ${req.query.RegionId}`);
      }
      const history = await upgradeHistory(ctx, projectId, instanceId);
      const data = await Promise.all(
        history.map(async (u, i) => {
          const report: PrecheckReport | null = u.precheckReportId
            ? await getReport(ctx, projectId, u.precheckReportId).catch(() => null)
            : null;
          const rollbackEvent =
            u.state === 'rolling_back' || u.state === 'rolled_back' || u.errorCode === 'ROLLBACK_FAILED'
              ? (await listEvents(ctx, projectId, { upgradeId: u.id, limit: 1000 })).find((e) => e.type === 'upgrade.rollback')
              : undefined;
          return presentHologresUpgrade(u, target, report, i === 0, rollbackEvent?.createdAt ?? null);
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
