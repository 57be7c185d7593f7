import { AppError } from '../domain/errors.ts';
import type { PrecheckReport, UpgradeMode } from '../domain/types.ts';
import type { PlanOptions } from '../engine/planner.ts';
import { createReport, finishReport, runPrecheck } from '../engine/prechecks.ts';
import { toReport } from '../store/mappers.ts';
import { changed, type AppContext } from './app-context.ts';
import { getTarget } from './targets.ts';
import { azOptions, upgradeRoute } from './upgrades.ts';

/**
 * Starts a precheck of a target against a version and answers the report at once (state
 * "running"); the driver's findings land in it when they are ready. `wait` awaits them.
 */
export async function startPrecheck(
  ctx: AppContext,
  projectId: string,
  targetId: string,
  input: {
    toVersion?: string;
    toEngine?: string;
    mode?: UpgradeMode;
    options?: PlanOptions & Record<string, unknown>;
    wait?: boolean;
  },
): Promise<PrecheckReport> {
  const target = await getTarget(ctx, projectId, targetId);
  const driver = ctx.drivers.get(target.driver);
  if (!driver) throw new AppError('DRIVER_NOT_FOUND', `driver ${target.driver} is not installed`);
  const mode = input.mode ?? 'rolling';
  // Everything a request can get wrong is refused here, before the report row is written.
  const toVersion = mode === 'az_migration' ? (input.toVersion ?? target.version) : input.toVersion;
  if (!toVersion) throw new AppError('VALIDATION_FAILED', 'toVersion is required for a version upgrade');
  if (mode === 'az_migration' && toVersion !== target.version) {
    throw new AppError('INVALID_MODE', 'an az_migration keeps the version; leave toVersion out or equal to the current version');
  }
  const options = azOptions(target, mode, input.options, driver);
  const hops = await upgradeRoute(ctx, target, driver, mode, toVersion, input.options, input.toEngine ?? target.engine);
  const id = await createReport(ctx.store.db, { projectId, targetId, upgradeId: null, toVersion });
  const run = runPrecheck(driver, { target, toVersion, hops, mode, options })
    .then((r) => finishReport(ctx.store.db, id, r))
    .catch((err: unknown) => finishReport(ctx.store.db, id, err instanceof Error ? err : new Error(String(err))))
    .finally(() => changed(ctx));
  if (input.wait) return run;
  void run;
  return getReport(ctx, projectId, id);
}

export async function getReport(ctx: AppContext, projectId: string, id: string): Promise<PrecheckReport> {
  const row = await ctx.store.db
    .selectFrom('precheck_reports')
    .selectAll()
    .where('id', '=', id)
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  if (!row) throw new AppError('PRECHECK_NOT_FOUND', `precheck report ${id} does not exist in project ${projectId}`);
  return toReport(row);
}

export async function listReports(ctx: AppContext, projectId: string, targetId: string): Promise<PrecheckReport[]> {
  const rows = await ctx.store.db
    .selectFrom('precheck_reports')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('target_id', '=', targetId)
    .orderBy('created_at', 'desc')
    .limit(50)
    .execute();
  return rows.map(toReport);
}
