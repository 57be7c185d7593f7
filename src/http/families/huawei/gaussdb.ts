// Huawei GaussDB-style batch minor-version upgrade API (seed 004) and the siblings a client needs:
// single-instance upgrade, version info, maintenance window, task centre (jobs, scheduled jobs).
// Every handler translates onto the service layer. Field sources: docs/api-compat/gaussdb.md.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { isAppError } from '../../../domain/errors.ts';
import type { MaintenanceWindow, Target } from '../../../domain/types.ts';
import { WEEK_DAYS } from '../../../domain/types.ts';
import { minutesFromTo } from '../../../domain/window.ts';
import { createMinorUpgradeBatch, latestMinorVersion } from '../../../service/batches.ts';
import { listCatalog } from '../../../service/catalog.ts';
import type { AppContext } from '../../../service/app-context.ts';
import { cancelScheduledUpgrades, listScheduledUpgrades } from '../../../service/scheduled-jobs.ts';
import { getTarget, patchTarget } from '../../../service/targets.ts';
import { getUpgrade } from '../../../service/upgrades.ts';
import { errorHandler } from '../../error-render.ts';
import { renderGaussError } from './gaussdb-messages.ts';
import { presentDatabaseVersion, presentJob, presentScheduleTask } from './gaussdb-present.ts';
import { callerOf, installHuaweiAuth } from './huawei-auth.ts';
import { GAUSS_UPGRADE_JOB_NAME, statesForGaussStatus } from './state-maps.ts';

const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });
const ProjectParams = Type.Object({ project_id: Id });
const InstanceParams = Type.Object({ project_id: Id, instance_id: Id });
// GaussDB documents delay as a string ("true"/"false"); its SDKs and the seed example also send booleans.
const Delay = Type.Union([Type.Boolean(), Type.Literal('true'), Type.Literal('false')]);
const BatchBody = Type.Object({
  databases_instance_infos: Type.Array(
    Type.Object({ instance_id: Id, current_version: Type.String({ minLength: 1, maxLength: 64 }) }),
    {
      minItems: 1,
      maxItems: 100,
    },
  ),
  delay: Type.Optional(Delay),
});
const SingleBody = Type.Optional(Type.Object({ delay: Type.Optional(Delay) }));
const HHMM = Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$' });
// start_time/end_time as GaussDB documents them (UTC, every day); days, time_zone and exclusions are
// Liftgate extensions that make it a weekly window in a zone and add freeze periods.
const Day = Type.Union(WEEK_DAYS.map((d) => Type.Literal(d)));
const WindowBody = Type.Object({
  start_time: HHMM,
  end_time: HHMM,
  days: Type.Optional(Type.Array(Day, { minItems: 1, maxItems: 7, uniqueItems: true })),
  time_zone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  exclusions: Type.Optional(
    Type.Array(
      Type.Object({
        from: Type.String({ format: 'date-time' }),
        to: Type.String({ format: 'date-time' }),
        reason: Type.Optional(Type.String({ maxLength: 200 })),
      }),
      { maxItems: 100 },
    ),
  ),
});
const JobQuery = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const ScheduledQuery = Type.Object({
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  status: Type.Optional(Type.String({ maxLength: 32 })),
  job_id: Type.Optional(Type.String({ maxLength: 64 })),
  job_name: Type.Optional(Type.String({ maxLength: 128 })),
});
const CancelBody = Type.Object({
  job_ids: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 100 }),
});

const isDelay = (d: boolean | string | undefined): boolean => d === true || d === 'true';

export async function gaussdbRoutes(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  const { ctx } = opts;
  installHuaweiAuth(app, ctx);
  app.setErrorHandler(errorHandler(renderGaussError));
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const tags = { tags: ['huawei-gaussdb'] };

  /** the target of an upgrade, or null when it was deleted since */
  const targetOrNull = async (projectId: string, id: string): Promise<Target | null> => {
    try {
      return await getTarget(ctx, projectId, id);
    } catch (err) {
      if (isAppError(err) && err.code === 'TARGET_NOT_FOUND') return null;
      throw err;
    }
  };

  r.post(
    '/v3/:project_id/instances/database-version/upgrade',
    { schema: { ...tags, params: ProjectParams, body: BatchBody } },
    async (req) => {
      const { projectId, actor } = callerOf(req);
      await createMinorUpgradeBatch(
        ctx,
        projectId,
        {
          items: req.body.databases_instance_infos.map((i) => ({ instanceId: i.instance_id, currentVersion: i.current_version })),
          delay: isDelay(req.body.delay),
          source: 'gaussdb:batch-upgrade',
        },
        actor,
      );
      return { resp: 'success' };
    },
  );

  r.post(
    '/v3/:project_id/instances/:instance_id/db-upgrade',
    { schema: { ...tags, params: InstanceParams, body: SingleBody } },
    async (req) => {
      const { projectId, actor } = callerOf(req);
      await getTarget(ctx, projectId, req.params.instance_id);
      const { upgrades } = await createMinorUpgradeBatch(
        ctx,
        projectId,
        { items: [{ instanceId: req.params.instance_id }], delay: isDelay(req.body?.delay), source: 'gaussdb:db-upgrade' },
        actor,
      );
      return { job_id: upgrades[0]?.id ?? '' };
    },
  );

  r.get(
    '/v3/:project_id/instances/:instance_id/database-version',
    { schema: { ...tags, params: InstanceParams } },
    async (req) => {
      const { projectId } = callerOf(req);
      const target = await getTarget(ctx, projectId, req.params.instance_id);
      return presentDatabaseVersion(
        target,
        latestMinorVersion(target.engine, target.version, await listCatalog(ctx, target.engine)),
      );
    },
  );

  r.put(
    '/v3/:project_id/instances/:instance_id/ops-window',
    // a target's settings: admin, as in the native API
    { config: { role: 'admin' }, schema: { ...tags, params: InstanceParams, body: WindowBody } },
    async (req) => {
      const { projectId, actor } = callerOf(req);
      const b = req.body;
      const weekly = b.days !== undefined || b.time_zone !== undefined;
      const span = minutesFromTo(b.start_time, b.end_time);
      const maintenanceWindow: MaintenanceWindow = weekly
        ? { days: b.days ?? [...WEEK_DAYS], start: b.start_time, durationMinutes: span, timeZone: b.time_zone ?? 'UTC' }
        : { start: b.start_time, end: b.end_time };
      await patchTarget(
        ctx,
        projectId,
        req.params.instance_id,
        { maintenanceWindow, ...(b.exclusions ? { maintenanceExclusions: b.exclusions } : {}) },
        actor,
      );
      return {};
    },
  );

  r.get('/v3/:project_id/jobs', { schema: { ...tags, params: ProjectParams, querystring: JobQuery } }, async (req) => {
    const { projectId } = callerOf(req);
    const u = await getUpgrade(ctx, projectId, req.query.id);
    return presentJob(u, await targetOrNull(projectId, u.targetId));
  });

  r.get(
    '/v3/:project_id/scheduled-jobs',
    { schema: { ...tags, params: ProjectParams, querystring: ScheduledQuery } },
    async (req) => {
      const { projectId } = callerOf(req);
      const q = req.query;
      // Every scheduled job here is an upgrade; another job name matches nothing.
      if (q.job_name && q.job_name !== GAUSS_UPGRADE_JOB_NAME) return { schedules: [], total_count: 0 };
      const { items, total } = await listScheduledUpgrades(ctx, projectId, {
        states: q.status ? statesForGaussStatus(q.status) : undefined,
        upgradeId: q.job_id,
        limit: q.limit ?? 100,
        offset: q.offset ?? 0,
      });
      const schedules = [];
      for (const u of items) schedules.push(presentScheduleTask(u, await targetOrNull(projectId, u.targetId)));
      return { schedules, total_count: total };
    },
  );

  r.delete('/v3/:project_id/scheduled-jobs', { schema: { ...tags, params: ProjectParams, body: CancelBody } }, async (req) => {
    const { projectId, actor } = callerOf(req);
    return { job_ids: await cancelScheduledUpgrades(ctx, projectId, req.body.job_ids, actor) };
  });
}
