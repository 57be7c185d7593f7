// Huawei CSS-style cluster upgrade API (seed 001): upgrade/detail and the siblings a client needs to
// drive a whole upgrade. Paths, fields and enums follow the CSS API reference; every handler is a
// translation onto the service layer. Field sources: docs/api-compat/css.md.
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AppError } from '../../../domain/errors.ts';
import type { UpgradeMode } from '../../../domain/types.ts';
import type { AzParamNames } from '../../../domain/zones.ts';
import { compareVersions, upgradeCandidates } from '../../../domain/versions.ts';
import { findCatalogVersion, listCatalog } from '../../../service/catalog.ts';
import type { AppContext } from '../../../service/app-context.ts';
import { listUpgradesOfModes } from '../../../service/scheduled-jobs.ts';
import { getTarget } from '../../../service/targets.ts';
import { createUpgrade, getUpgrade, upgradeAction } from '../../../service/upgrades.ts';
import { errorHandler } from '../../error-render.ts';
import { renderCssError } from './css-errors.ts';
import { datastoreVersionOf, imageInfo, presentUpgradeDetail } from './css-present.ts';
import { callerOf, installHuaweiAuth } from './huawei-auth.ts';

const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });
const ClusterParams = Type.Object({ project_id: Id, cluster_id: Id });
const Int = (min: number, max: number) => Type.Integer({ minimum: min, maximum: max });

const DetailQuery = Type.Object({
  start: Type.Optional(Int(0, 100000)),
  offset: Type.Optional(Int(0, 100000)),
  limit: Type.Optional(Int(1, 1000)),
  action_mode: Type.Optional(Type.Union([Type.Literal('UPGRADING'), Type.Literal('AZ_MIGRATION')])),
});
const UpgradeTypeParams = Type.Object({ project_id: Id, cluster_id: Id, upgrade_type: Type.String({ maxLength: 32 }) });
const ImagesQuery = Type.Object({ offset: Type.Optional(Int(0, 100000)), limit: Type.Optional(Int(1, 1000)) });
const InstTypeParams = Type.Object({ project_id: Id, cluster_id: Id, inst_type: Type.String({ maxLength: 32 }) });
const UpgradeBody = Type.Object(
  {
    target_image_id: Type.String({ minLength: 1, maxLength: 128 }),
    upgrade_type: Type.Union([Type.Literal('same'), Type.Literal('cross'), Type.Literal('cross-engine')]),
    indices_backup_check: Type.Boolean(),
    agency: Type.String({ minLength: 1, maxLength: 64 }),
    cluster_load_check: Type.Optional(Type.Boolean()),
    batch_size: Type.Optional(Int(1, 1000)),
  },
  { additionalProperties: false },
);
const RetryParams = Type.Object({ project_id: Id, cluster_id: Id, action_id: Id });
const RetryQuery = Type.Object({ retry_mode: Type.Optional(Type.Literal('abort')) });
const AzBody = Type.Object(
  {
    source_az: Type.String({ minLength: 1, maxLength: 64 }),
    target_az: Type.String({ minLength: 1, maxLength: 128 }),
    migrate_type: Type.Union([Type.Literal('multi_az_change'), Type.Literal('az_migrate')]),
    agency: Type.String({ minLength: 1, maxLength: 64 }),
    indices_backup_check: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
/** CSS's names for the AZ options; CSS has no way to accept a move that leaves fewer zones */
const CSS_AZ_PARAMS: AzParamNames = { sourceAz: 'source_az', targetAz: 'target_az', allowZoneReduction: null };
const INST_TYPES = ['all', 'ess', 'ess-cold', 'ess-client', 'ess-master'];

const MODES: Record<'UPGRADING' | 'AZ_MIGRATION', UpgradeMode[]> = {
  UPGRADING: ['rolling', 'stop_service'],
  AZ_MIGRATION: ['az_migration'],
};

export async function cssRoutes(app: FastifyInstance, opts: { ctx: AppContext }): Promise<void> {
  const { ctx } = opts;
  installHuaweiAuth(app, ctx);
  app.setErrorHandler(errorHandler(renderCssError));
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const tags = { tags: ['huawei-css'] };

  r.get(
    '/v1.0/:project_id/clusters/:cluster_id/upgrade/detail',
    { schema: { ...tags, params: ClusterParams, querystring: DetailQuery } },
    async (req) => {
      const { projectId } = callerOf(req);
      const target = await getTarget(ctx, projectId, req.params.cluster_id);
      // CSS counts from 1 (start/offset "greater than 0"); 0 is read as 1.
      const first = Math.max(1, req.query.start ?? req.query.offset ?? 1);
      const { items, total } = await listUpgradesOfModes(ctx, projectId, {
        targetId: target.id,
        modes: MODES[req.query.action_mode ?? 'UPGRADING'],
        limit: req.query.limit ?? 10,
        offset: first - 1,
      });
      const detailList = [];
      for (const u of items) {
        const image = u.mode === 'az_migration' ? null : await findCatalogVersion(ctx, target.engine, { version: u.toVersion });
        detailList.push(presentUpgradeDetail(u, target, image));
      }
      return { totalSize: total, detailList };
    },
  );

  r.get(
    '/v1.0/:project_id/clusters/:cluster_id/target/:upgrade_type/images',
    { schema: { ...tags, params: UpgradeTypeParams, querystring: ImagesQuery } },
    async (req) => {
      const { projectId } = callerOf(req);
      const type = req.params.upgrade_type;
      if (!['same', 'cross', 'cross-engine', 'crossEngine'].includes(type)) {
        throw new AppError('VALIDATION_FAILED', `upgrade_type must be same, cross or cross-engine, not ${type}`);
      }
      const target = await getTarget(ctx, projectId, req.params.cluster_id);
      const line = datastoreVersionOf(target.version);
      // Cross-engine upgrades (Elasticsearch to OpenSearch) are not offered: the list is empty, as CSS answers today.
      const images = upgradeCandidates(target.engine, target.version, await listCatalog(ctx, target.engine)).filter((v) =>
        type === 'same'
          ? datastoreVersionOf(v.version) === line
          : type === 'cross'
            ? compareVersions(datastoreVersionOf(v.version), line) > 0
            : false,
      );
      const offset = req.query.offset ?? 0;
      return {
        needUploadUpgradePlugin: false,
        imageInfoList: images.slice(offset, offset + (req.query.limit ?? 10)).map(imageInfo),
        totalSize: images.length,
      };
    },
  );

  r.post(
    '/v1.0/:project_id/clusters/:cluster_id/inst-type/:inst_type/image/upgrade',
    { schema: { ...tags, params: InstTypeParams, body: UpgradeBody } },
    async (req) => {
      const { projectId, actor } = callerOf(req);
      if (req.params.inst_type !== 'all')
        throw new AppError(
          'VALIDATION_FAILED',
          `inst_type must be all (only whole clusters are upgraded), not ${req.params.inst_type}`,
        );
      const b = req.body;
      if (b.upgrade_type === 'cross-engine')
        throw new AppError('UPGRADE_MODE_NOT_SUPPORTED', 'cross-engine upgrades are not supported');
      const target = await getTarget(ctx, projectId, req.params.cluster_id);
      const image = await findCatalogVersion(ctx, target.engine, { imageId: b.target_image_id });
      if (!image)
        throw new AppError('VALIDATION_FAILED', `target_image_id ${b.target_image_id} is not an image of ${target.engine}`);
      const same = datastoreVersionOf(image.version) === datastoreVersionOf(target.version);
      if (same !== (b.upgrade_type === 'same')) {
        throw new AppError(
          'VALIDATION_FAILED',
          `image ${b.target_image_id} is engine version ${datastoreVersionOf(image.version)} and the cluster runs ${datastoreVersionOf(target.version)}: that is a ${same ? 'same' : 'cross'} upgrade, not ${b.upgrade_type}`,
        );
      }
      await createUpgrade(
        ctx,
        projectId,
        {
          targetId: target.id,
          toVersion: image.version,
          mode: 'rolling',
          options: {
            ...(b.batch_size ? { parallelism: b.batch_size } : {}),
            agency: b.agency,
            upgradeType: b.upgrade_type,
            indicesBackupCheck: b.indices_backup_check,
            clusterLoadCheck: b.cluster_load_check ?? true,
          },
        },
        actor,
      );
      // CSS answers 200 with no fields; the task shows up in upgrade/detail.
      return {};
    },
  );

  r.put(
    '/v1.0/:project_id/clusters/:cluster_id/upgrade/:action_id/retry',
    { schema: { ...tags, params: RetryParams, querystring: RetryQuery } },
    async (req) => {
      const { projectId, actor } = callerOf(req);
      await getTarget(ctx, projectId, req.params.cluster_id);
      const u = await getUpgrade(ctx, projectId, req.params.action_id);
      if (u.targetId !== req.params.cluster_id)
        throw new AppError('UPGRADE_NOT_FOUND', `task ${req.params.action_id} is not a task of cluster ${req.params.cluster_id}`);
      // retry_mode=abort ends the task and its effect: the engine cancels what has not run yet.
      await upgradeAction(ctx, projectId, u.id, req.query.retry_mode === 'abort' ? 'cancel' : 'retry', actor);
      return {};
    },
  );

  r.post(
    '/v1.0/:project_id/clusters/:cluster_id/inst-type/:inst_type/azmigrate',
    { schema: { ...tags, params: InstTypeParams, body: AzBody } },
    async (req) => {
      const { projectId, actor } = callerOf(req);
      if (!INST_TYPES.includes(req.params.inst_type))
        throw new AppError('VALIDATION_FAILED', `inst_type must be one of ${INST_TYPES.join(', ')}`);
      const b = req.body;
      if (b.target_az.includes(',')) {
        throw new AppError(
          'UPGRADE_MODE_NOT_SUPPORTED',
          'moving nodes to several availability zones at once is not supported; name one target_az',
        );
      }
      const target = await getTarget(ctx, projectId, req.params.cluster_id);
      await createUpgrade(
        ctx,
        projectId,
        {
          targetId: target.id,
          mode: 'az_migration',
          options: {
            sourceAz: b.source_az,
            targetAz: b.target_az,
            agency: b.agency,
            instType: req.params.inst_type,
            migrateType: b.migrate_type,
          },
          azParams: CSS_AZ_PARAMS,
        },
        actor,
      );
      return {};
    },
  );
}
