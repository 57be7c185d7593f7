import { AppError } from '../domain/errors.ts';
import type { MaintenanceExclusion, MaintenanceWindow, Target, TargetKind, TargetNode } from '../domain/types.ts';
import { ACTIVE_UPGRADE_STATES } from '../domain/types.ts';
import { isValidVersion } from '../domain/versions.ts';
import { parseExclusions, parseWindow } from '../domain/window.ts';
import { appendEvent } from '../engine/core/events.ts';
import { now } from '../domain/clock.ts';
import { insertNodes, listTargets as listRows, loadTarget, setLabels, type TargetFilter } from '../store/targets-repo.ts';
import { changed, type AppContext } from './app-context.ts';
import { isUniqueViolation } from './db-errors.ts';
import { getProject } from './projects.ts';

export interface TargetInput {
  id: string;
  name?: string;
  kind: TargetKind;
  engine: string;
  version: string;
  release?: string;
  region?: string;
  driver?: string;
  driverConfig?: Record<string, unknown>;
  maintenanceWindow?: MaintenanceWindow | null;
  maintenanceExclusions?: MaintenanceExclusion[];
  labels?: Record<string, string>;
  nodes?: { name: string; role?: string; zone?: string; version?: string }[];
}

export async function getTarget(ctx: AppContext, projectId: string, id: string): Promise<Target> {
  const t = await loadTarget(ctx.store.db, projectId, id);
  if (!t) throw new AppError('TARGET_NOT_FOUND', `target ${id} does not exist in project ${projectId}`);
  return t;
}

export function listTargets(ctx: AppContext, projectId: string, filter: TargetFilter) {
  return listRows(ctx.store.db, projectId, filter);
}

/** "env=prod" (or a list of them, all of which must hold) as a label filter. */
export function parseLabelSelector(specs: string | string[] | undefined): Record<string, string> | undefined {
  if (specs === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const spec of Array.isArray(specs) ? specs : [specs]) {
    const i = spec.indexOf('=');
    if (i <= 0) throw new AppError('VALIDATION_FAILED', `label filter "${spec}" must be key=value (e.g. env=prod)`);
    out[spec.slice(0, i)] = spec.slice(i + 1);
  }
  return out;
}

export async function createTarget(ctx: AppContext, projectId: string, input: TargetInput, actor: string): Promise<Target> {
  await getProject(ctx, projectId);
  const driverName = input.driver ?? 'sim';
  const driver = ctx.drivers.get(driverName);
  if (!driver) {
    throw new AppError('DRIVER_NOT_FOUND', `no driver named ${driverName}; installed: ${[...ctx.drivers.keys()].join(', ')}`);
  }
  if (!isValidVersion(input.version)) throw new AppError('INVALID_VERSION', `"${input.version}" is not a version`);
  const names = new Set<string>();
  for (const n of input.nodes ?? []) {
    if (names.has(n.name)) throw new AppError('VALIDATION_FAILED', `node name ${n.name} appears twice`);
    names.add(n.name);
    if (n.version !== undefined && !isValidVersion(n.version))
      throw new AppError('INVALID_VERSION', `"${n.version}" is not a version`);
  }
  const window = input.maintenanceWindow ? parseWindow(input.maintenanceWindow) : null;
  const exclusions = parseExclusions(input.maintenanceExclusions ?? []);
  const labels = input.labels ?? {};
  if (await loadTarget(ctx.store.db, projectId, input.id)) {
    throw new AppError('TARGET_EXISTS', `target ${input.id} already exists in project ${projectId}`);
  }
  const ts = now();
  let target: Target = {
    projectId,
    id: input.id,
    name: input.name ?? input.id,
    kind: input.kind,
    engine: input.engine,
    version: input.version,
    release: input.release ?? '',
    region: input.region ?? 'local',
    driver: driverName,
    driverConfig: input.driverConfig ?? {},
    maintenanceWindow: window,
    maintenanceExclusions: exclusions,
    labels,
    nodes: (input.nodes ?? []).map((n): TargetNode => ({
      name: n.name,
      role: n.role ?? 'node',
      zone: n.zone ?? 'zone-a',
      version: n.version ?? input.version,
      health: 'unknown',
    })),
    createdAt: ts,
    updatedAt: ts,
  };
  if (driver.capabilities.provision && driver.provision) {
    try {
      const p = await driver.provision(target);
      target = { ...target, nodes: p.nodes, driverConfig: { ...target.driverConfig, ...p.driverConfig } };
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw new AppError('PROVISION_FAILED', `the ${driverName} driver could not create ${input.id}: ${(err as Error).message}`);
    }
  }
  try {
    await ctx.store.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('targets')
        .values({
          project_id: projectId,
          id: target.id,
          name: target.name,
          kind: target.kind,
          engine: target.engine,
          version: target.version,
          release: target.release,
          region: target.region,
          driver: target.driver,
          driver_config: JSON.stringify(target.driverConfig),
          maintenance_window: window ? JSON.stringify(window) : null,
          maintenance_exclusions: JSON.stringify(exclusions),
          created_at: ts,
          updated_at: ts,
        })
        .execute();
      await insertNodes(trx, projectId, target.id, target.nodes);
      await setLabels(trx, projectId, target.id, labels);
      await appendEvent(trx, {
        projectId,
        targetId: target.id,
        actor,
        type: 'target.created',
        message: `target ${target.id} registered`,
      });
    });
  } catch (err) {
    await driver.destroy?.(target).catch(() => undefined);
    if (isUniqueViolation(err)) throw new AppError('TARGET_EXISTS', `target ${input.id} already exists in project ${projectId}`);
    throw err;
  }
  changed(ctx);
  return getTarget(ctx, projectId, target.id);
}

export interface TargetPatch {
  name?: string;
  region?: string;
  release?: string;
  maintenanceWindow?: MaintenanceWindow | null;
  maintenanceExclusions?: MaintenanceExclusion[];
  /** replaces every label */
  labels?: Record<string, string>;
}

export async function patchTarget(
  ctx: AppContext,
  projectId: string,
  id: string,
  patch: TargetPatch,
  actor: string,
): Promise<Target> {
  await getTarget(ctx, projectId, id);
  const window = patch.maintenanceWindow ? parseWindow(patch.maintenanceWindow) : patch.maintenanceWindow;
  const exclusions = patch.maintenanceExclusions ? parseExclusions(patch.maintenanceExclusions) : undefined;
  await ctx.store.db.transaction().execute(async (trx) => {
    await trx
      .updateTable('targets')
      .set({
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.region !== undefined ? { region: patch.region } : {}),
        ...(patch.release !== undefined ? { release: patch.release } : {}),
        ...(window !== undefined ? { maintenance_window: window ? JSON.stringify(window) : null } : {}),
        ...(exclusions !== undefined ? { maintenance_exclusions: JSON.stringify(exclusions) } : {}),
        updated_at: now(),
      })
      .where('project_id', '=', projectId)
      .where('id', '=', id)
      .execute();
    if (patch.labels !== undefined) await setLabels(trx, projectId, id, patch.labels);
    await appendEvent(trx, {
      projectId,
      targetId: id,
      actor,
      type: 'target.updated',
      message: `target ${id} updated`,
      data: { ...patch },
    });
  });
  changed(ctx);
  return getTarget(ctx, projectId, id);
}

export async function deleteTarget(ctx: AppContext, projectId: string, id: string, actor: string): Promise<void> {
  const target = await getTarget(ctx, projectId, id);
  const active = await ctx.store.db
    .selectFrom('upgrades')
    .select(['id', 'state'])
    .where('project_id', '=', projectId)
    .where('target_id', '=', id)
    .where('state', 'in', [...ACTIVE_UPGRADE_STATES])
    .executeTakeFirst();
  if (active) {
    throw new AppError('TARGET_HAS_UPGRADES', `target ${id} has upgrade ${active.id} in state ${active.state}; cancel it first`, {
      upgradeId: active.id,
    });
  }
  await ctx.drivers.get(target.driver)?.destroy?.(target);
  await ctx.store.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('nodes').where('project_id', '=', projectId).where('target_id', '=', id).execute();
    await setLabels(trx, projectId, id, {});
    await trx.deleteFrom('target_credentials').where('project_id', '=', projectId).where('target_id', '=', id).execute();
    await trx.deleteFrom('obshell_agents').where('project_id', '=', projectId).where('target_id', '=', id).execute();
    await trx.deleteFrom('targets').where('project_id', '=', projectId).where('id', '=', id).execute();
    await appendEvent(trx, { projectId, targetId: id, actor, type: 'target.deleted', message: `target ${id} deleted` });
  });
  changed(ctx);
  // its OBShell agent port, if it had one, closes now on this process (on the others at their next pass)
  void ctx.obshellAgents.sync().catch(() => undefined);
}
