// The native batch API: create a batch from its fixed shape, and the operator actions on it.
//
//   pause    scheduled|running|baking|awaiting_approval -> paused: nothing new starts; released
//            upgrades that have not started are held again, running ones pause (their running
//            steps finish)
//   resume   paused -> the state it was paused in; upgrades it paused continue
//   cancel   any unfinished state -> cancelled; every unfinished upgrade is cancelled
//   retry    halted|failed (or running with failed targets) -> running; failed upgrades retried,
//            targets found unhealthy after a bake, or failed by an analysis check, are checked
//            again at the next bake
//   approve  awaiting_approval -> running; the gated wave starts
import { randomUUID } from 'node:crypto';
import { mergeChecks, parseAnalysis, type AnalysisCheckBody } from '../domain/analysis.ts';
import { planBatch, type Amount, type BatchPlan, type WaveSpec } from '../domain/batch-plan.ts';
import type { Clock } from '../domain/clock.ts';
import { AppError } from '../domain/errors.ts';
import type { BatchAction, BatchState, Target, UpgradeMode, UpgradeSchedule, UpgradeState, WaveState } from '../domain/types.ts';
import { ACTIVE_UPGRADE_STATES, BATCH_ACTIONS } from '../domain/types.ts';
import { cancelWaves, clearHealthFailures, moveBatch, moveWave } from '../engine/core/batches.ts';
import { BATCH_ACTION_FROM } from '../engine/core/table.ts';
import { applyAction } from '../engine/operations.ts';
import type { Db } from '../store/schema.ts';
import { moveUpgrade, updateUpgrade } from '../engine/core/writes.ts';
import { advance } from '../engine/core/progress.ts';
import type { RetryOptions } from '../engine/core/retry.ts';
import { listTargets, loadTarget } from '../store/targets-repo.ts';
import { getBatch, loadBatch, type BatchView } from './batch-view.ts';
import { changed, coreEnv, type AppContext } from './app-context.ts';
import { createBatchRecord, wakeBatchScheduler } from './fleet-batches.ts';
import { planUpgrade } from './upgrades.ts';

export interface BatchRequest {
  name: string;
  selector?: { engine?: string; version?: string; labels?: Record<string, string> };
  targetIds?: string[];
  toVersion: string;
  mode?: UpgradeMode;
  schedule?: UpgradeSchedule;
  waves: WaveSpec[];
  failureThreshold?: { targets: Amount };
  /** options every upgrade of the batch gets (options.retry, onFailure, analysis) */
  upgradeOptions?: { retry?: RetryOptions; onFailure?: 'stop' | 'rollback'; analysis?: AnalysisCheckBody[] };
}

export { BATCH_ACTIONS, type BatchAction };

async function resolveTargets(ctx: AppContext, projectId: string, req: BatchRequest): Promise<Target[]> {
  const db = ctx.store.db;
  if ((req.selector === undefined) === (req.targetIds === undefined)) {
    throw new AppError('VALIDATION_FAILED', 'give either selector or targetIds, not both and not neither');
  }
  if (req.targetIds) {
    const seen = new Set<string>();
    const missing: string[] = [];
    const out: Target[] = [];
    for (const id of req.targetIds) {
      if (seen.has(id)) throw new AppError('VALIDATION_FAILED', `targetIds lists ${id} twice`);
      seen.add(id);
      const t = await loadTarget(db, projectId, id);
      if (t) out.push(t);
      else missing.push(id);
    }
    if (missing.length > 0) {
      throw new AppError('TARGET_NOT_FOUND', `targets not found in project ${projectId}: ${missing.join(', ')}`, { missing });
    }
    return out;
  }
  const sel = req.selector ?? {};
  if (!sel.engine && !sel.version && !sel.labels) throw new AppError('VALIDATION_FAILED', 'the selector selects nothing');
  const out: Target[] = [];
  for (let offset = 0; ; offset += 500) {
    const page = await listTargets(db, projectId, { ...sel, limit: 500, offset });
    out.push(...page.items);
    if (page.items.length < 500) break;
  }
  if (out.length === 0) throw new AppError('VALIDATION_FAILED', 'the selector matches no target');
  return out;
}

/** What a batch request would do: its targets, its schedule and its waves; refused as createBatch refuses it. */
interface PlannedRequest {
  targets: Target[];
  schedule: UpgradeSchedule;
  plan: BatchPlan;
}

/**
 * Validates a batch request and plans its waves, writing nothing: createBatch then writes it,
 * and the preview (POST .../batches/preview) shows it, so both refuse the same requests alike.
 */
async function planRequest(ctx: AppContext, projectId: string, req: BatchRequest): Promise<PlannedRequest> {
  if (req.mode === 'az_migration') {
    // which zone moves where is a question about one target's layout (docs/az-migration.md)
    throw new AppError(
      'UPGRADE_MODE_NOT_SUPPORTED',
      'a batch cannot move zones: start an az_migration per target (POST .../upgrades with options.sourceAz and options.targetAz)',
    );
  }
  const schedule = req.schedule ?? { kind: 'now' };
  if (schedule.kind === 'at') {
    const at = Date.parse(schedule.at ?? '');
    if (Number.isNaN(at)) throw new AppError('INVALID_SCHEDULE', 'schedule.at must be an ISO-8601 time');
    if (at < ctx.clock.now().getTime() - 60_000) throw new AppError('INVALID_SCHEDULE', 'schedule.at lies in the past');
  }
  const targets = await resolveTargets(ctx, projectId, req);
  // every problem at once, before anything is created
  const problems: string[] = [];
  const busy = await ctx.store.db
    .selectFrom('upgrades')
    .select(['target_id', 'id'])
    .where('project_id', '=', projectId)
    .where('state', 'in', [...ACTIVE_UPGRADE_STATES])
    .execute();
  const busyOf = new Map(busy.map((r) => [r.target_id, r.id]));
  for (const t of targets) {
    if (busyOf.has(t.id)) problems.push(`${t.id} has upgrade ${busyOf.get(t.id)} in progress`);
    else if (schedule.kind === 'window' && !t.maintenanceWindow) problems.push(`${t.id} has no maintenance window`);
  }
  if (problems.length > 0) {
    throw new AppError('VALIDATION_FAILED', `the batch was refused: ${problems.join('; ')}`, { problems });
  }
  const plan = planBatch(
    targets.map((t) => t.id),
    req.waves,
    req.failureThreshold?.targets,
  );
  // the batch's own checks (upgradeOptions.analysis) are judged in the bake of every wave that bakes
  const batchChecks = parseAnalysis(req.upgradeOptions?.analysis, 'upgradeOptions.analysis');
  if (batchChecks.length > 0) {
    if (!plan.waves.some((w) => w.bakeSeconds > 0)) {
      throw new AppError(
        'VALIDATION_FAILED',
        'upgradeOptions.analysis is judged while a wave bakes, and no wave has "bakeMinutes"; give the waves to judge a bake',
      );
    }
    for (const w of plan.waves) if (w.bakeSeconds > 0) w.analysis = mergeChecks(w.analysis ?? [], batchChecks);
  }
  return { targets, schedule, plan };
}

export async function createBatch(ctx: AppContext, projectId: string, req: BatchRequest, actor: string): Promise<BatchView> {
  const { targets, schedule, plan } = await planRequest(ctx, projectId, req);
  const { batchId } = await createBatchRecord(
    ctx,
    projectId,
    {
      name: req.name,
      kind: 'rollout',
      source: 'native',
      request: req,
      items: targets.map((target) => ({ target, toVersion: req.toVersion })),
      mode: req.mode ?? 'rolling',
      schedule,
      plan,
      ...(req.upgradeOptions ? { upgradeOptions: req.upgradeOptions } : {}),
    },
    actor,
  );
  return getBatch(ctx, projectId, batchId);
}

const runState = (stage: number): UpgradeState => (stage === 0 ? 'prechecking' : 'running');

export async function batchAction(
  ctx: AppContext,
  projectId: string,
  id: string,
  action: BatchAction,
  actor: string,
): Promise<BatchView> {
  const b = await loadBatch(ctx, projectId, id);
  const state = b.state as BatchState;
  const at = ctx.clock.now().toISOString();
  const base = { projectId, id, by: 'operator' as const, actor, at };
  const cur = b.current_wave ?? 0;
  const allowed = BATCH_ACTION_FROM[action];
  if (!allowed.includes(state)) {
    throw new AppError(
      'INVALID_STATE',
      `cannot ${action} a batch that is ${state}; ${action} is allowed when it is ${allowed.join(' or ')}`,
      { state, action, allowed },
    );
  }
  const raced = () => new AppError('INVALID_STATE', 'the batch changed state meanwhile; try again');
  const db = ctx.store.db;
  // the current wave's state, read in the action's transaction (a wave write is guarded on it)
  const waveState = async (trx: Db): Promise<{ state: WaveState; name: string } | undefined> => {
    const w = await trx
      .selectFrom('batch_waves')
      .select(['state', 'name'])
      .where('batch_id', '=', id)
      .where('idx', '=', cur)
      .executeTakeFirst();
    return w ? { state: w.state as WaveState, name: w.name } : undefined;
  };
  const wave = { projectId, batchId: id, idx: cur, by: 'operator' as const, actor, at };
  switch (action) {
    case 'pause': {
      await db.transaction().execute(async (trx) => {
        const ok = await moveBatch(trx, 'pause', {
          ...base,
          from: state,
          to: 'paused',
          message: `${actor} paused the batch`,
          // the reason shown is the operator's pause (an analysis pause writes its own)
          set: { paused_from: state, pending_reason: null },
        });
        if (!ok) throw raced();
        if (state !== 'scheduled') {
          const w = await waveState(trx);
          if (w && !(await moveWave(trx, 'pause', { ...wave, name: w.name, from: w.state, to: 'paused' }))) throw raced();
        }
        await holdUpgrades(trx, ctx.clock, id, actor);
      });
      break;
    }
    case 'resume': {
      const back = (b.paused_from ?? 'running') as BatchState;
      const bakeUntil =
        back === 'baking'
          ? (
              await db
                .selectFrom('batch_waves')
                .select('bake_until')
                .where('batch_id', '=', id)
                .where('idx', '=', cur)
                .executeTakeFirst()
            )?.bake_until
          : null;
      await db.transaction().execute(async (trx) => {
        const ok = await moveBatch(trx, 'resume', {
          ...base,
          from: 'paused',
          to: back,
          message: `${actor} resumed the batch`,
          set: { paused_from: null, pending_reason: bakeUntil ? `baking until ${bakeUntil}` : null },
        });
        if (!ok) throw raced();
        if (back !== 'scheduled') {
          const w = await waveState(trx);
          if (w && !(await moveWave(trx, 'resume', { ...wave, name: w.name, from: 'paused', to: back as WaveState })))
            throw raced();
        }
        const paused = await trx
          .selectFrom('upgrades')
          .selectAll()
          .where('batch_id', '=', id)
          .where('state', '=', 'paused')
          .where('hold', '=', 'batch')
          .execute();
        for (const u of paused) {
          const to = runState(u.current_stage);
          if (
            await moveUpgrade(trx, ctx.clock, 'resume', {
              by: 'operator',
              actor,
              u: { id: u.id, projectId, targetId: u.target_id },
              from: 'paused',
              to,
              hold: 'batch',
              set: { hold: null, pending_reason: null },
              message: `${actor} resumed the batch`,
            })
          ) {
            await advance(trx, coreEnv(ctx), u.id, 'operator');
          }
        }
      });
      break;
    }
    case 'approve': {
      await db.transaction().execute(async (trx) => {
        const ok = await moveBatch(trx, 'approve', {
          ...base,
          from: 'awaiting_approval',
          to: 'running',
          message: `${actor} approved wave ${cur + 1}`,
          set: { pending_reason: null },
          data: { wave: cur },
        });
        if (!ok) throw raced();
        const w = await waveState(trx);
        const started =
          w &&
          (await moveWave(trx, 'approve', {
            ...wave,
            name: w.name,
            from: 'awaiting_approval',
            to: 'running',
            set: { started_at: at, approved_by: actor },
          }));
        if (!started) throw raced();
      });
      break;
    }
    case 'cancel': {
      await db.transaction().execute(async (trx) => {
        const ok = await moveBatch(trx, 'cancel', {
          ...base,
          from: state,
          to: 'cancelled',
          message: `${actor} cancelled the batch`,
        });
        if (!ok) throw raced();
        await cancelWaves(trx, { projectId, batchId: id, by: 'operator', actor, at });
      });
      break;
    }
    case 'retry': {
      const failed = await db
        .selectFrom('upgrades')
        .select('id')
        .where('batch_id', '=', id)
        .where('state', '=', 'failed')
        .execute();
      const unhealthy = await db
        .selectFrom('batch_waves')
        .select('idx')
        .where('batch_id', '=', id)
        .where((eb) => eb.or([eb('health_failures', '!=', '[]'), eb('analysis_failures', '!=', '[]')]))
        .execute();
      if (failed.length === 0 && unhealthy.length === 0)
        throw new AppError('INVALID_STATE', 'the batch has no failed target to retry');
      // every failed upgrade is retried, or none is: one that refuses (its rollback failed) rolls
      // back the others with it, so the refused request leaves the batch as it was
      await db.transaction().execute(async (trx) => {
        for (const u of failed) await applyAction(ctx, projectId, u.id, 'retry', actor, 'operator', trx);
        await clearHealthFailures(trx, id);
        const ended = state === 'halted' || state === 'failed';
        const ok = await moveBatch(trx, 'retry', {
          ...base,
          from: state,
          to: ended ? 'running' : state,
          message: `${actor} retried ${failed.length} failed target(s)`,
          set: ended ? { pending_reason: null, ended_at: null } : {},
          data: { retried: failed.length, unhealthy: unhealthy.length },
        });
        if (!ok) throw raced();
        if (ended) {
          const w = await waveState(trx);
          const again =
            w &&
            w.state !== 'running' &&
            (await moveWave(trx, 'retry', { ...wave, name: w.name, from: w.state, to: 'running', set: { ended_at: null } }));
          if (w && w.state !== 'running' && !again) throw raced();
        }
      });
      for (const u of failed) ctx.executor.touch(u.id);
      break;
    }
  }
  await wakeBatchScheduler(ctx);
  changed(ctx);
  return getBatch(ctx, projectId, id);
}

/** Pause: released upgrades that have not started are held again; running ones pause. */
async function holdUpgrades(trx: Db, clock: Clock, batchId: string, actor: string): Promise<void> {
  const rows = await trx
    .selectFrom('upgrades')
    .selectAll()
    .where('batch_id', '=', batchId)
    .where('state', 'in', ['scheduled', 'ready', 'prechecking', 'running', 'paused'])
    .execute();
  for (const u of rows) {
    if (u.hold === 'batch') continue;
    // an operator's own pause stays theirs; one paused by its window is held by the batch too
    if (u.state === 'paused' && u.hold !== 'window') continue;
    if (u.state === 'paused') {
      await updateUpgrade(trx, clock, u.id, ['paused'], { hold: 'batch' }, 'window');
      continue;
    }
    const from = u.state as UpgradeState;
    const held = from === 'scheduled' || from === 'ready';
    await moveUpgrade(trx, clock, held ? 'hold' : 'pause', {
      by: 'operator',
      actor,
      u: { id: u.id, projectId: u.project_id, targetId: u.target_id },
      from,
      to: held ? 'scheduled' : 'paused',
      set: { hold: 'batch', not_before: null, pending_reason: null },
      message: `${actor} paused its batch`,
    });
  }
}

export interface BatchPreview {
  name: string;
  toVersion: string;
  mode: UpgradeMode;
  schedule: UpgradeSchedule;
  targets: number;
  failureLimit: number;
  waves: {
    index: number;
    name: string;
    maxConcurrency: number;
    bakeMinutes: number;
    approval: boolean;
    targets: { id: string; name: string; engine: string; version: string }[];
  }[];
}

/** The batch a request would create, wave by wave with the targets each takes; nothing is written. */
export async function previewBatch(ctx: AppContext, projectId: string, req: BatchRequest, actor: string): Promise<BatchPreview> {
  const { targets, schedule, plan } = await planRequest(ctx, projectId, req);
  // each target's upgrade planned as creating the batch plans it (a version it cannot reach is
  // refused here too), and dropped
  const probe = randomUUID();
  for (const [i, w] of plan.waves.entries()) {
    for (const targetId of w.targetIds) {
      await planUpgrade(
        ctx,
        projectId,
        {
          targetId,
          toVersion: req.toVersion,
          mode: req.mode ?? 'rolling',
          schedule: schedule.kind === 'window' ? { kind: 'window' } : { kind: 'now' },
          batchId: probe,
          waveIndex: i,
          ...(req.upgradeOptions ? { options: { ...req.upgradeOptions } } : {}),
        },
        actor,
      );
    }
  }
  const byId = new Map(targets.map((t) => [t.id, t]));
  return {
    name: req.name,
    toVersion: req.toVersion,
    mode: req.mode ?? 'rolling',
    schedule,
    targets: targets.length,
    failureLimit: plan.failureLimit,
    waves: plan.waves.map((w, index) => ({
      index,
      name: w.name,
      maxConcurrency: w.maxConcurrency,
      bakeMinutes: w.bakeSeconds / 60,
      approval: w.approval,
      targets: w.targetIds.map((id) => {
        const t = byId.get(id)!;
        return { id, name: t.name || id, engine: t.engine, version: t.version };
      }),
    })),
  };
}
