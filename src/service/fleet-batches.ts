// Batches: one request that upgrades many targets in waves (the native API), or all at once (the
// GaussDB-style batch, one kind of batch). Creating a batch creates every target's upgrade at
// once, held by the batch (state `scheduled`, hold `batch`), so the whole plan is visible from
// the start; the batch scheduler (src/engine/batch-scheduler.ts) releases them wave by wave.
//
// All or nothing: every upgrade is checked and planned first, so a refused batch (a version the
// catalog lacks, a target already on it, ...) is refused before anything is written. Then the
// batch row is written in state `creating`, its upgrades are created held, and one transaction
// moves it to `scheduled`. If storing an upgrade still fails (a concurrent request made its target
// busy since the check, or the process died), the held ones are deleted (none ever ran) and the
// batch is recorded as cancelled with the reason.
import { randomUUID } from 'node:crypto';
import type { BatchPlan } from '../domain/batch-plan.ts';
import { AppError } from '../domain/errors.ts';
import type { Target, UpgradeMode, UpgradeSchedule } from '../domain/types.ts';
import { housekeepBatches, type BatchDeps } from '../engine/batch-scheduler.ts';
import { createBatchRows, moveBatch } from '../engine/core/batches.ts';
import { applyAction } from '../engine/operations.ts';
import { appendEvent } from '../engine/core/events.ts';
import { deleteUnstartedUpgrades } from '../engine/core/writes.ts';
import { changed, coreEnv, type AppContext } from './app-context.ts';
import { planUpgrade, storeUpgrade, type PlannedUpgrade } from './upgrades.ts';

export interface BatchItem {
  target: Target;
  toVersion: string;
}

export interface NewBatch {
  name: string;
  /** 'rollout' (native waves) or 'gaussdb' */
  kind: string;
  /** which API asked */
  source: string;
  /** the request as given (kept with the batch) */
  request: unknown;
  items: BatchItem[];
  mode: UpgradeMode;
  schedule: UpgradeSchedule;
  plan: BatchPlan;
  /** options every upgrade gets (options.retry); none: each upgrade's defaults */
  upgradeOptions?: Record<string, unknown>;
}

export function batchDeps(ctx: AppContext): BatchDeps {
  return {
    store: ctx.store,
    drivers: ctx.drivers,
    clock: ctx.clock,
    act: async (projectId, upgradeId, action) => {
      await applyAction(ctx, projectId, upgradeId, action, 'scheduler', 'scheduler');
    },
    core: coreEnv(ctx),
    touch: (id) => ctx.executor.touch(id),
  };
}

/**
 * One pass of the batch scheduler over every active batch. It runs through the housekeeping
 * runner (`ctx.housekeeping.every`), so only the replica leading housekeeping runs it; what it
 * released is promoted by the executor's next pass over scheduled upgrades.
 */
export async function runBatchScheduler(ctx: AppContext): Promise<boolean> {
  const moved = await housekeepBatches(batchDeps(ctx));
  if (moved) changed(ctx);
  return moved;
}

/** The name of the batch scheduler's housekeeping task. */
export const BATCH_SCHEDULER_TASK = 'batch-scheduler';

/**
 * A batch changed here (created, approved, resumed...): the scheduler looks at once, not at its
 * next period, and the caller answers after that pass (on the leader; elsewhere at once).
 */
export function wakeBatchScheduler(ctx: AppContext): Promise<void> {
  return ctx.housekeeping.wake(BATCH_SCHEDULER_TASK);
}

/** Creates the batch, its waves and every upgrade (held); returns the batch id and the upgrade ids. */
export async function createBatchRecord(
  ctx: AppContext,
  projectId: string,
  nb: NewBatch,
  actor: string,
): Promise<{ batchId: string; upgradeIds: string[] }> {
  const batchId = randomUUID();
  const db = ctx.store.db;
  const at = ctx.clock.now().toISOString();
  const waveOf = new Map<string, number>();
  nb.plan.waves.forEach((w, i) => w.targetIds.forEach((t) => waveOf.set(t, i)));
  const upgradeSchedule: UpgradeSchedule = nb.schedule.kind === 'window' ? { kind: 'window' } : { kind: 'now' };
  // every refusal is decided before the first write
  const planned: PlannedUpgrade[] = [];
  for (const item of nb.items) {
    planned.push(
      await planUpgrade(
        ctx,
        projectId,
        {
          targetId: item.target.id,
          toVersion: item.toVersion,
          mode: nb.mode,
          schedule: upgradeSchedule,
          batchId,
          waveIndex: waveOf.get(item.target.id) ?? 0,
          ...(nb.upgradeOptions ? { options: { ...nb.upgradeOptions } } : {}),
        },
        actor,
      ),
    );
  }
  await db.transaction().execute(async (trx) => {
    await createBatchRows(trx, {
      by: 'operator',
      actor,
      at,
      message: `batch ${nb.name}: ${nb.items.length} target(s) in ${nb.plan.waves.length} wave(s) from ${nb.source}`,
      batch: {
        id: batchId,
        project_id: projectId,
        source: nb.source,
        request: JSON.stringify(nb.request),
        name: nb.name,
        kind: nb.kind,
        spec: JSON.stringify({ mode: nb.mode, toVersions: [...new Set(nb.items.map((i) => i.toVersion))] }),
        schedule: JSON.stringify(nb.schedule),
        not_before: nb.schedule.kind === 'at' ? new Date(Date.parse(nb.schedule.at ?? '')).toISOString() : null,
        paused_from: null,
        pending_reason: null,
        ended_at: null,
        current_wave: null,
        failure_limit: nb.plan.failureLimit,
        target_count: nb.items.length,
      },
      waves: nb.plan.waves.map((w) => ({
        name: w.name,
        target_count: w.targetIds.length,
        max_concurrency: w.maxConcurrency,
        bake_seconds: w.bakeSeconds,
        approval: w.approval ? 1 : 0,
        analysis: JSON.stringify(w.analysis ?? []),
      })),
    });
  });
  const created: string[] = [];
  try {
    for (const p of planned) created.push(await storeUpgrade(ctx, p));
  } catch (err) {
    await discard(ctx, projectId, batchId, created, actor, err);
    throw err;
  }
  await db.transaction().execute(async (trx) => {
    const ok = await moveBatch(trx, 'created', {
      projectId,
      id: batchId,
      from: 'creating',
      to: 'scheduled',
      by: 'operator',
      actor,
      at: ctx.clock.now().toISOString(),
      message: `batch ${nb.name}: ${created.length} upgrade(s) in ${nb.plan.waves.length} wave(s) from ${nb.source}`,
      data: { upgrades: created.length, waves: nb.plan.waves.length },
    });
    if (!ok) throw new AppError('INVALID_STATE', `batch ${batchId} changed state while it was being created`);
  });
  // an immediate batch releases its first wave now, not at the scheduler's next period
  await wakeBatchScheduler(ctx);
  changed(ctx);
  return { batchId, upgradeIds: created };
}

/** Removes the held upgrades of a batch that could not be created whole; none of them ever ran. */
async function discard(ctx: AppContext, projectId: string, batchId: string, ids: string[], actor: string, cause: unknown) {
  await ctx.store.db.transaction().execute(async (trx) => {
    await deleteUnstartedUpgrades(trx, ids);
    const at = ctx.clock.now().toISOString();
    await moveBatch(trx, 'discard', {
      projectId,
      id: batchId,
      from: 'creating',
      to: 'cancelled',
      by: 'operator',
      actor,
      at,
      message: `batch not created: ${cause instanceof Error ? cause.message : String(cause)}`,
      set: { ended_at: at },
      data: { discarded: ids.length },
    });
    await appendEvent(
      trx,
      {
        projectId,
        actor,
        type: 'batch.rolled_back',
        message: `batch not created; ${ids.length} held upgrade(s) discarded`,
        data: { batchId, discarded: ids },
      },
      ctx.clock,
    );
  });
}
