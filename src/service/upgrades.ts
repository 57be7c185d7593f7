import { randomUUID } from 'node:crypto';
import { AppError } from '../domain/errors.ts';
import type {
  Hop,
  Stage,
  Step,
  Target,
  Upgrade,
  UpgradeHold,
  UpgradeMode,
  UpgradeSchedule,
  UpgradeState,
} from '../domain/types.ts';
import { ACTIVE_UPGRADE_STATES, upgradeRef } from '../domain/types.ts';
import { planCrossEngineRoute, planRoute } from '../domain/versions.ts';
import { applyAction, type UpgradeAction } from '../engine/operations.ts';
import { plan, type PlanInput, type PlannedStage, type PlanOptions } from '../engine/planner.ts';
import { parseAnalysis, type AnalysisCheckBody } from '../domain/analysis.ts';
import { gateAt, pendingReasonOf } from '../engine/windows.ts';
import { insertUpgrade as insertUpgradeRows } from '../engine/core/writes.ts';
import { retryOptionsProblem } from '../engine/core/retry.ts';
import { isoNow } from '../domain/clock.ts';
import { newStepRow, toStage, toStep, toUpgrade } from '../store/mappers.ts';
import { listCatalog } from './catalog.ts';
import { changed, type AppContext } from './app-context.ts';
import { isUniqueViolation } from './db-errors.ts';
import { withActorNames } from './actor-names.ts';
import { loadTarget } from '../store/targets-repo.ts';
import { heldReason } from './batch-view.ts';
import { getTarget } from './targets.ts';
import type { Driver } from '../drivers/driver.ts';
import { NATIVE_AZ_PARAMS, resolveAzMove, type AzParamNames } from '../domain/zones.ts';

export interface UpgradeInput {
  targetId: string;
  /** the engine the upgrade ends on; default the target's (a route may change it: redis -> valkey) */
  toEngine?: string;
  toVersion?: string;
  release?: string;
  mode: UpgradeMode;
  force?: boolean;
  schedule?: UpgradeSchedule;
  options?: PlanOptions & Record<string, unknown>;
  batchId?: string | null;
  /** its wave in the batch; the batch releases it */
  waveIndex?: number;
  pendingReason?: string;
  /** how the calling API spells the az_migration options, so its refusals name them (default: native) */
  azParams?: AzParamNames;
}

interface InitialSchedule {
  state: UpgradeState;
  notBefore: string | null;
  runUntil: string | null;
  hold: UpgradeHold | null;
  reason: string | null;
}

/** Where a new upgrade starts: held by its batch, waiting for its time or window, or ready now. */
function initialSchedule(ctx: AppContext, target: Target, schedule: UpgradeSchedule, hold: UpgradeHold | null): InitialSchedule {
  const at = ctx.clock.now();
  if (schedule.kind === 'at') {
    const t = Date.parse(schedule.at ?? '');
    if (Number.isNaN(t)) throw new AppError('INVALID_SCHEDULE', 'schedule.at must be an ISO-8601 time');
    if (t < at.getTime() - 60_000) throw new AppError('INVALID_SCHEDULE', 'schedule.at lies in the past');
  }
  if (schedule.kind === 'window' && !target.maintenanceWindow) {
    throw new AppError('INVALID_SCHEDULE', `target ${target.id} has no maintenance window; set one or schedule at a time`);
  }
  if (hold) return { state: 'scheduled', notBefore: null, runUntil: null, hold, reason: 'waiting for its batch' };
  if (schedule.kind === 'at') {
    const notBefore = new Date(Date.parse(schedule.at ?? '')).toISOString();
    return { state: 'scheduled', notBefore, runUntil: null, hold: null, reason: `scheduled for ${notBefore}` };
  }
  const g = gateAt({ schedule }, target, at);
  if (g.go && schedule.kind === 'now') return { state: 'ready', notBefore: null, runUntil: g.runUntil, hold: null, reason: null };
  // a window upgrade whose window is open now is due at once (the scheduler starts it)
  return { state: 'scheduled', notBefore: g.notBefore, runUntil: null, hold: null, reason: g.reason };
}

const AZ_OPTIONS = ['sourceAz', 'targetAz', 'allowZoneReduction'] as const;

/**
 * The options of an upgrade with its zones checked: an az_migration's move is resolved (the one
 * zone of a single-zone target stands in for a missing sourceAz, so the upgrade records the zone
 * it moves) and refused when it would collapse zones (src/domain/zones.ts); the zone options of
 * a version upgrade are refused, since it would ignore them.
 */
export function azOptions<O extends PlanOptions>(
  target: Target,
  mode: UpgradeMode,
  options: O | undefined,
  driver: Driver,
  names: AzParamNames = NATIVE_AZ_PARAMS,
): O {
  const given = options ?? ({} as O);
  if (mode !== 'az_migration') {
    const stray = AZ_OPTIONS.filter((k) => given[k] !== undefined);
    if (stray.length > 0) {
      throw new AppError(
        'INVALID_MODE',
        `${stray.map((k) => (k === 'allowZoneReduction' ? names.allowZoneReduction : names[k]) ?? k).join(', ')} belong${stray.length === 1 ? 's' : ''} to an az_migration; a ${mode} upgrade does not move nodes between zones: leave ${stray.length === 1 ? 'it' : 'them'} out or use mode az_migration`,
      );
    }
    return given;
  }
  if (!driver.capabilities.azMigration) {
    throw new AppError('UPGRADE_MODE_NOT_SUPPORTED', `the ${driver.name} driver cannot move nodes between zones`);
  }
  const move = resolveAzMove(target, given, names);
  return { ...given, sourceAz: move.sourceAz };
}

const BLUE_GREEN_OPTIONS = [
  'retentionSeconds',
  'switchoverTimeoutSeconds',
  'maxLagBytes',
  'allowReplicaIdentityFull',
  'maxTransactionSeconds',
] as const;

/**
 * The hops of an upgrade: the catalog's route, refused when the driver cannot take it in this
 * mode (a major PostgreSQL version in place), and one hop for blue_green (the new cluster is
 * built on the last version directly).
 */
export async function upgradeRoute(
  ctx: AppContext,
  target: Target,
  driver: Driver,
  mode: UpgradeMode,
  toVersion: string,
  options: object | undefined,
  toEngine: string = target.engine,
): Promise<Hop[]> {
  if (mode !== 'blue_green') {
    const stray = BLUE_GREEN_OPTIONS.filter((k) => (options as Record<string, unknown> | undefined)?.[k] !== undefined);
    if (stray.length > 0) {
      throw new AppError(
        'INVALID_MODE',
        `${stray.join(', ')} belong${stray.length === 1 ? 's' : ''} to a blue_green upgrade; leave ${stray.length === 1 ? 'it' : 'them'} out of a ${mode} upgrade or use mode blue_green`,
      );
    }
  }
  if (mode === 'az_migration') {
    if (toEngine !== target.engine) throw new AppError('INVALID_MODE', 'an az_migration keeps the engine; leave toEngine out');
    return [];
  }
  if (toEngine !== target.engine) return crossEngineRoute(ctx, target, driver, mode, toVersion, toEngine);
  let hops: Hop[];
  try {
    hops = planRoute({
      engine: target.engine,
      from: target.version,
      to: toVersion,
      catalog: await listCatalog(ctx, target.engine),
    });
  } catch (err) {
    if (err instanceof AppError && err.code === 'UPGRADE_NO_ROUTE' && mode !== 'blue_green' && driver.capabilities.blueGreen) {
      throw new AppError(
        'UPGRADE_NO_ROUTE',
        `${err.message}; a version the ${mode} mode cannot reach may be reached with mode "blue_green"`,
        err.details,
      );
    }
    throw err;
  }
  const refusal = driver.routeRefusal?.(hops, mode, target);
  if (refusal) throw new AppError('UPGRADE_NO_ROUTE', refusal, { from: target.version, to: toVersion, mode, use: 'blue_green' });
  await admit(driver, target, hops);
  if (mode === 'blue_green' && hops.length > 1) {
    const last = hops[hops.length - 1]!;
    return [{ fromVersion: target.version, toVersion: last.toVersion, release: last.release }];
  }
  return hops;
}

/** what the driver says the target cannot take now (binaries missing, an unhealthy cluster): refused before anything is stored */
async function admit(driver: Driver, target: Target, hops: Hop[]): Promise<void> {
  const why = await driver.admission?.(target, hops);
  if (why) throw new AppError('PRECHECK_FAILED', why, { targetId: target.id });
}

/** a route to another engine: the driver must run both, and say whether this mode can take it */
async function crossEngineRoute(
  ctx: AppContext,
  target: Target,
  driver: Driver,
  mode: UpgradeMode,
  toVersion: string,
  toEngine: string,
): Promise<Hop[]> {
  const engines = driver.capabilities.engines ?? [];
  if (!engines.includes(target.engine) || !engines.includes(toEngine)) {
    throw new AppError(
      'UPGRADE_NO_ROUTE',
      `the ${driver.name} driver cannot change a target's engine from ${target.engine} to ${toEngine}${engines.length ? ` (it runs ${engines.join(', ')})` : ''}`,
      { fromEngine: target.engine, toEngine },
    );
  }
  const hops = planCrossEngineRoute({
    fromEngine: target.engine,
    from: target.version,
    toEngine,
    to: toVersion,
    catalog: await listCatalog(ctx, toEngine),
  });
  const refusal = driver.routeRefusal?.(hops, mode, target);
  if (refusal) throw new AppError('UPGRADE_NO_ROUTE', refusal, { fromEngine: target.engine, toEngine, to: toVersion, mode });
  await admit(driver, target, hops);
  return hops;
}

export type UpgradeDetail = Upgrade & {
  num: number;
  stages: (Stage & { steps: Step[] })[];
  pointOfNoReturn: PointOfNoReturn | null;
};

/**
 * The first planned step its driver cannot reverse (StepPolicy.reversible false): once it has run
 * (or while it runs), a rollback is refused. Null when every step can be reversed.
 */
export interface PointOfNoReturn {
  stepId: string;
  name: string;
  node: string | null;
  action: string;
  /** the driver's words for why (StepPolicy.irreversibleBecause) */
  reason: string | null;
  /** the step has started: rollback is no longer offered */
  passed: boolean;
}

export function pointOfNoReturn(driver: Driver | undefined, target: Target | null, steps: Step[]): PointOfNoReturn | null {
  if (!driver) return null;
  for (const s of [...steps].sort((a, b) => a.seq - b.seq)) {
    if (s.action === 'restore') continue;
    const policy = driver.stepPolicy(s.action, target ?? undefined);
    if (policy.reversible) continue;
    return {
      stepId: s.id,
      name: s.name,
      node: s.node,
      action: s.action,
      reason: policy.irreversibleBecause ?? null,
      passed: s.state === 'succeeded' || s.state === 'running',
    };
  }
  return null;
}

export async function createUpgrade(
  ctx: AppContext,
  projectId: string,
  input: UpgradeInput,
  actor: string,
): Promise<UpgradeDetail> {
  const id = await insertUpgrade(ctx, projectId, input, actor);
  changed(ctx);
  return getUpgrade(ctx, projectId, id);
}

/** An upgrade checked and planned, not stored yet (planUpgrade, then storeUpgrade). */
export interface PlannedUpgrade {
  id: string;
  projectId: string;
  input: UpgradeInput;
  actor: string;
  target: Target;
  toVersion: string;
  hops: Hop[];
  stages: PlannedStage[];
  schedule: UpgradeSchedule;
  start: InitialSchedule;
  release: string;
  toEngine: string;
  /** the upgrade's options, an az_migration's zones resolved (azOptions) */
  options: PlanOptions;
}

/**
 * A lone upgrade's bake: options.analysis is judged while it bakes for options.bakeMinutes after
 * its own steps. An upgrade of a batch has none: its wave's bake judges the batch's checks.
 */
function bakeOf(input: UpgradeInput): PlanInput['bake'] {
  if (input.batchId) return undefined;
  const o = input.options ?? {};
  const minutes = o.bakeMinutes as number | undefined;
  if (o.analysis === undefined) {
    if (minutes !== undefined) {
      throw new AppError(
        'VALIDATION_FAILED',
        'options.bakeMinutes is the bake during which options.analysis is judged: give the checks in options.analysis, or leave bakeMinutes out',
      );
    }
    return undefined;
  }
  if (minutes === undefined) {
    throw new AppError(
      'VALIDATION_FAILED',
      'options.analysis is judged while the upgrade bakes after its steps: give options.bakeMinutes (e.g. 30)',
    );
  }
  const checks = parseAnalysis(o.analysis as AnalysisCheckBody[], 'options.analysis');
  if (checks.length === 0) throw new AppError('VALIDATION_FAILED', 'options.analysis is empty; give at least one check');
  return { minutes, checks };
}

/** Plans and stores one upgrade; returns its id (batches create many and read none back). */
export async function insertUpgrade(ctx: AppContext, projectId: string, input: UpgradeInput, actor: string): Promise<string> {
  return storeUpgrade(ctx, await planUpgrade(ctx, projectId, input, actor));
}

/**
 * Checks and plans one upgrade, reading only: every refusal but a busy target (the store's unique
 * index decides that as it stores the upgrade) is decided before anything is written. A batch
 * plans all its upgrades before it stores the first.
 */
export async function planUpgrade(
  ctx: AppContext,
  projectId: string,
  input: UpgradeInput,
  actor: string,
): Promise<PlannedUpgrade> {
  const bake = bakeOf(input);
  const target = await getTarget(ctx, projectId, input.targetId);
  const driver = ctx.drivers.get(target.driver);
  if (!driver) throw new AppError('DRIVER_NOT_FOUND', `driver ${target.driver} is not installed`);
  const toVersion = input.mode === 'az_migration' ? (input.toVersion ?? target.version) : input.toVersion;
  if (!toVersion) throw new AppError('VALIDATION_FAILED', 'toVersion is required for a version upgrade');
  if (input.mode === 'az_migration' && toVersion !== target.version) {
    throw new AppError('INVALID_MODE', 'an az_migration keeps the version; leave toVersion out or equal to the current version');
  }
  const toEngine = input.toEngine ?? target.engine;
  const hops = await upgradeRoute(ctx, target, driver, input.mode, toVersion, input.options, toEngine);
  if (input.release && hops.length > 0 && hops[hops.length - 1].release && input.release !== hops[hops.length - 1].release) {
    throw new AppError(
      'VERSION_NOT_FOUND',
      `${target.engine} ${toVersion} has release ${hops[hops.length - 1].release}, not ${input.release}`,
    );
  }
  const options = azOptions(target, input.mode, input.options, driver, input.azParams);
  const retryProblem = retryOptionsProblem(options as Record<string, unknown>, driver, target);
  if (retryProblem) throw new AppError('VALIDATION_FAILED', retryProblem);
  const stages = plan({ target, hops, mode: input.mode, capabilities: driver.capabilities, options, ...(bake ? { bake } : {}) });
  const schedule = input.schedule ?? { kind: 'now' };
  const start = initialSchedule(ctx, target, schedule, input.batchId ? 'batch' : null);
  const release = hops.length > 0 ? hops[hops.length - 1].release : target.release;
  return {
    id: randomUUID(),
    projectId,
    input,
    actor,
    target,
    toVersion,
    toEngine,
    hops,
    stages,
    schedule,
    start,
    release,
    options,
  };
}

/** Stores a planned upgrade with its stages, steps and event in one transaction; returns its id. */
export async function storeUpgrade(ctx: AppContext, p: PlannedUpgrade): Promise<string> {
  const { id, projectId, input, actor, target, toVersion, toEngine, hops, stages, schedule, start, release, options } = p;
  const ts = isoNow(ctx.clock);
  try {
    await ctx.store.db.transaction().execute(async (trx) => {
      const num =
        ctx.store.caps.name === 'sqlite'
          ? Number(
              (
                await trx
                  .selectFrom('upgrades')
                  .select((eb) => eb.fn.max<number>('num').as('m'))
                  .executeTakeFirst()
              )?.m ?? 0,
            ) + 1
          : undefined;
      let seq = 0;
      const steps = stages.flatMap((s, idx) => {
        const ords = new Map<string, number>();
        return s.steps.map((st) => {
          const ord = ords.get(st.lane) ?? 0;
          ords.set(st.lane, ord + 1);
          return newStepRow({
            id: randomUUID(),
            upgrade_id: id,
            stage_index: idx,
            lane: st.lane,
            ord,
            seq: seq++,
            action: st.action,
            name: st.name,
            description: st.description,
            node: st.node,
            hop: st.hop,
            params: JSON.stringify(st.params),
          });
        });
      });
      await insertUpgradeRows(trx, ctx.clock, {
        upgrade: {
          id,
          ...(num !== undefined ? { num } : {}),
          project_id: projectId,
          target_id: target.id,
          from_version: target.version,
          to_version: toVersion,
          from_engine: target.engine,
          to_engine: toEngine,
          release,
          mode: input.mode,
          state: start.state,
          current_stage: 0,
          stage_count: stages.length,
          hops: JSON.stringify(hops),
          force: input.force ? 1 : 0,
          options: JSON.stringify({ ...options, fromRelease: target.release }),
          schedule: JSON.stringify(schedule),
          not_before: start.notBefore,
          batch_id: input.batchId ?? null,
          wave_index: input.waveIndex ?? null,
          hold: start.hold,
          run_until: start.runUntil,
          pending_reason: input.pendingReason ?? start.reason,
          precheck_report_id: null,
          error: null,
          error_code: null,
          created_by: actor,
          created_at: ts,
          updated_at: ts,
          started_at: null,
          ended_at: null,
          retries: 0,
        },
        stages: stages.map((s, idx) => ({
          upgrade_id: id,
          idx,
          name: s.name,
          description: s.description,
          state: 'pending',
          started_at: null,
          ended_at: null,
        })),
        steps,
        by: { by: 'operator', actor },
        message:
          toEngine === target.engine
            ? `${input.mode} upgrade of ${target.id} from ${target.version} to ${toVersion} requested`
            : `${input.mode} upgrade of ${target.id} from ${target.engine} ${target.version} to ${toEngine} ${toVersion} requested`,
        data: { hops, schedule },
      });
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw await targetBusy(ctx, projectId, target.id);
    throw err;
  }
  return id;
}

/**
 * TARGET_BUSY naming the target (its name and id) and the upgrade that holds it (its reference,
 * state and versions), so the person refused knows which one to wait for or cancel.
 */
async function targetBusy(ctx: AppContext, projectId: string, targetId: string, except?: string): Promise<AppError> {
  const target = await loadTarget(ctx.store.db, projectId, targetId);
  const who = target && target.name !== targetId ? `${target.name} (${targetId})` : targetId;
  let q = ctx.store.db
    .selectFrom('upgrades')
    .select(['id', 'num', 'state', 'from_version', 'to_version'])
    .where('project_id', '=', projectId)
    .where('target_id', '=', targetId)
    .where('state', 'in', [...ACTIVE_UPGRADE_STATES]);
  if (except) q = q.where('id', '!=', except);
  const busy = await q.orderBy('num', 'desc').executeTakeFirst();
  if (!busy) {
    return new AppError('TARGET_BUSY', `target ${who} has another active upgrade; wait for it, or cancel it`, { targetId });
  }
  const ref = upgradeRef(busy.num);
  return new AppError(
    'TARGET_BUSY',
    `target ${who} is busy with upgrade ${ref} (${busy.state}, ${busy.from_version} -> ${busy.to_version}); wait for it, or cancel it`,
    { targetId, upgradeId: busy.id, upgradeRef: ref },
  );
}

export async function getUpgrade(ctx: AppContext, projectId: string, id: string): Promise<UpgradeDetail> {
  const db = ctx.store.db;
  const row = await db
    .selectFrom('upgrades')
    .selectAll()
    .where('id', '=', id)
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  if (!row) throw new AppError('UPGRADE_NOT_FOUND', `upgrade ${id} does not exist in project ${projectId}`);
  const [named] = await withActorNames(ctx.store.db, [toUpgrade(row)], 'createdBy');
  return withStages(ctx, named);
}

export async function getUpgradeByNum(ctx: AppContext, projectId: string | null, num: number): Promise<UpgradeDetail | null> {
  let q = ctx.store.db.selectFrom('upgrades').selectAll().where('num', '=', num);
  if (projectId) q = q.where('project_id', '=', projectId);
  const row = await q.executeTakeFirst();
  return row ? withStages(ctx, toUpgrade(row)) : null;
}

export async function withStages(ctx: AppContext, u: Upgrade & { num: number }): Promise<UpgradeDetail> {
  const db = ctx.store.db;
  u = await withPendingReason(ctx, u);
  const stages = (await db.selectFrom('stages').selectAll().where('upgrade_id', '=', u.id).orderBy('idx').execute()).map(toStage);
  const steps = (await db.selectFrom('steps').selectAll().where('upgrade_id', '=', u.id).orderBy('seq').execute()).map(toStep);
  const target = await loadTarget(db, u.projectId, u.targetId);
  return {
    ...u,
    stages: stages.map((s) => ({ ...s, steps: steps.filter((st) => st.stageIndex === s.index) })),
    pointOfNoReturn: pointOfNoReturn(target ? ctx.drivers.get(target.driver) : undefined, target, steps),
  };
}

export interface UpgradeFilter {
  targetId?: string;
  state?: UpgradeState[];
  batchId?: string;
  limit?: number;
  offset?: number;
}

export async function listUpgrades(ctx: AppContext, projectId: string, f: UpgradeFilter = {}) {
  let q = ctx.store.db.selectFrom('upgrades').where('project_id', '=', projectId);
  if (f.targetId) q = q.where('target_id', '=', f.targetId);
  if (f.state?.length) q = q.where('state', 'in', f.state);
  if (f.batchId) q = q.where('batch_id', '=', f.batchId);
  const total = Number((await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const rows = await q
    .selectAll()
    .orderBy('num', 'desc')
    .limit(f.limit ?? 50)
    .offset(f.offset ?? 0)
    .execute();
  const items = await Promise.all(rows.map((r) => withPendingReason(ctx, toUpgrade(r))));
  return { items: await withActorNames(ctx.store.db, items, 'createdBy'), total };
}

export async function upgradeAction(ctx: AppContext, projectId: string, id: string, action: UpgradeAction, actor: string) {
  try {
    await applyAction(ctx, projectId, id, action, actor);
  } catch (err) {
    if (isUniqueViolation(err)) {
      const u = await ctx.store.db
        .selectFrom('upgrades')
        .select('target_id')
        .where('id', '=', id)
        .where('project_id', '=', projectId)
        .executeTakeFirst();
      throw u ? await targetBusy(ctx, projectId, u.target_id, id) : err;
    }
    throw err;
  }
  changed(ctx);
  return getUpgrade(ctx, projectId, id);
}

/** The upgrade with its pending reason as of now (a window wait's "opens in ..." would go stale). */
export async function withPendingReason<U extends Upgrade>(ctx: AppContext, u: U): Promise<U> {
  if (u.state !== 'scheduled' && u.state !== 'paused') return u;
  if (u.hold === 'batch') return { ...u, pendingReason: await heldReason(ctx, u) };
  const target = await loadTarget(ctx.store.db, u.projectId, u.targetId);
  return { ...u, pendingReason: pendingReasonOf(u, target, ctx.clock.now()) };
}
