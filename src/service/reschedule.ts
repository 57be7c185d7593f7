// Reschedule (as Cloud SQL's "reschedule maintenance"): move an upgrade that waits to now, to its
// target's next window, or to a given time. Allowed while it is scheduled (not held by its batch)
// or paused because its window closed; "now" then ignores the window (exclusions still apply).
import { AppError } from '../domain/errors.ts';
import type { UpgradeSchedule } from '../domain/types.ts';
import { moveUpgrade } from '../engine/core/writes.ts';
import { toUpgrade } from '../store/mappers.ts';
import { loadTarget } from '../store/targets-repo.ts';
import { changed, type AppContext } from './app-context.ts';
import { getUpgrade, type UpgradeDetail } from './upgrades.ts';

export async function rescheduleUpgrade(
  ctx: AppContext,
  projectId: string,
  id: string,
  schedule: UpgradeSchedule | undefined,
  actor: string,
): Promise<UpgradeDetail> {
  if (!schedule) throw new AppError('VALIDATION_FAILED', 'reschedule needs "schedule": {"kind": "now" | "window" | "at", "at"}');
  const now = ctx.clock.now();
  let notBefore = now.toISOString();
  if (schedule.kind === 'at') {
    const at = Date.parse(schedule.at ?? '');
    if (Number.isNaN(at)) throw new AppError('INVALID_SCHEDULE', 'schedule.at must be an ISO-8601 time');
    if (at < now.getTime() - 60_000) throw new AppError('INVALID_SCHEDULE', 'schedule.at lies in the past');
    notBefore = new Date(at).toISOString();
  }
  await ctx.store.db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('upgrades')
      .selectAll()
      .where('id', '=', id)
      .where('project_id', '=', projectId)
      .$if(ctx.store.caps.supportsSkipLocked, (q) => q.forUpdate())
      .executeTakeFirst();
    if (!row) throw new AppError('UPGRADE_NOT_FOUND', `upgrade ${id} does not exist in project ${projectId}`);
    const u = toUpgrade(row);
    const waiting = (u.state === 'scheduled' && u.hold === null) || (u.state === 'paused' && u.hold === 'window');
    if (!waiting) {
      const why =
        u.hold === 'batch'
          ? `it is held by batch ${u.batchId}; act on the batch instead`
          : `it is ${u.state}; reschedule is allowed while it is scheduled or paused by its window`;
      throw new AppError('INVALID_STATE', `cannot reschedule upgrade ${id}: ${why}`, { state: u.state });
    }
    if (schedule.kind === 'window') {
      const target = await loadTarget(trx, projectId, u.targetId);
      if (!target?.maintenanceWindow) {
        throw new AppError('INVALID_SCHEDULE', `target ${u.targetId} has no maintenance window; set one or schedule at a time`);
      }
    }
    const stored: UpgradeSchedule = schedule.kind === 'at' ? { kind: 'at', at: notBefore } : { kind: schedule.kind };
    // not_before = now: the scheduler applies the new schedule (window, exclusions) on its next pass
    const ok = await moveUpgrade(trx, ctx.clock, 'reschedule', {
      by: 'operator',
      actor,
      u,
      from: u.state,
      to: u.state,
      set: { not_before: notBefore, pending_reason: null, schedule: JSON.stringify(stored) },
      message: `${actor} rescheduled it: ${stored.kind}${stored.at ? ` ${stored.at}` : ''}`,
      data: { schedule: stored },
    });
    if (!ok) throw new AppError('INVALID_STATE', 'the upgrade changed state meanwhile; try again');
  });
  changed(ctx);
  return getUpgrade(ctx, projectId, id);
}
