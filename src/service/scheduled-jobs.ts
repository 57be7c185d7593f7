// Upgrade queries the Huawei-style families need beyond listUpgrades: a target's upgrades of some
// modes (CSS lists version upgrades and AZ moves separately), the upgrades that were scheduled for
// later (GaussDB's "scheduled jobs"), and cancelling several scheduled upgrades after checking all.
import { AppError } from '../domain/errors.ts';
import type { UpgradeMode, UpgradeState } from '../domain/types.ts';
import { toUpgrade } from '../store/mappers.ts';
import { applyAction } from '../engine/operations.ts';
import { changed, type AppContext } from './app-context.ts';
import { withStages, type UpgradeDetail } from './upgrades.ts';

export interface ModeFilter {
  targetId: string;
  modes: UpgradeMode[];
  limit: number;
  offset: number;
}

/** A target's upgrades of the given modes, newest first, with their stages and steps. */
export async function listUpgradesOfModes(
  ctx: AppContext,
  projectId: string,
  f: ModeFilter,
): Promise<{ items: UpgradeDetail[]; total: number }> {
  const q = ctx.store.db
    .selectFrom('upgrades')
    .where('project_id', '=', projectId)
    .where('target_id', '=', f.targetId)
    .where('mode', 'in', f.modes);
  const total = Number((await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const rows = await q.selectAll().orderBy('num', 'desc').limit(f.limit).offset(f.offset).execute();
  const items: UpgradeDetail[] = [];
  for (const r of rows) items.push(await withStages(ctx, toUpgrade(r)));
  return { items, total };
}

export interface ScheduledFilter {
  states?: UpgradeState[];
  upgradeId?: string;
  limit: number;
  offset: number;
}

// The schedule column holds JSON; only the 'now' kind is written without a delay.
const DELAYED = ['%"kind":"window"%', '%"kind":"at"%'];

/** Upgrades that were asked to wait (maintenance window or a given time), newest first. */
export async function listScheduledUpgrades(ctx: AppContext, projectId: string, f: ScheduledFilter) {
  let q = ctx.store.db
    .selectFrom('upgrades')
    .where('project_id', '=', projectId)
    .where((eb) => eb.or(DELAYED.map((p) => eb('schedule', 'like', p))));
  if (f.states) q = q.where('state', 'in', f.states.length ? f.states : ['']);
  if (f.upgradeId) q = q.where('id', '=', f.upgradeId);
  const total = Number((await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const rows = await q.selectAll().orderBy('num', 'desc').limit(f.limit).offset(f.offset).execute();
  return { items: rows.map(toUpgrade), total };
}

/**
 * Cancels upgrades that are still waiting for their time. Every id is checked first; when any is
 * unknown or no longer waiting, nothing is cancelled and the error names each bad id. The cancels
 * are one transaction: a job that ended between the check and its cancel refuses them all.
 */
export async function cancelScheduledUpgrades(
  ctx: AppContext,
  projectId: string,
  ids: string[],
  actor: string,
): Promise<string[]> {
  const unique = [...new Set(ids)];
  const rows = unique.length
    ? await ctx.store.db
        .selectFrom('upgrades')
        .select(['id', 'state'])
        .where('project_id', '=', projectId)
        .where('id', 'in', unique)
        .execute()
    : [];
  const byId = new Map(rows.map((r) => [r.id, r.state]));
  const bad = unique
    .filter((id) => byId.get(id) !== 'scheduled')
    .map((id) => ({ id, reason: byId.has(id) ? `is ${byId.get(id)}, not scheduled` : 'does not exist' }));
  if (bad.length > 0) {
    throw new AppError('INVALID_STATE', `cannot cancel: ${bad.map((b) => `${b.id} ${b.reason}`).join('; ')}`, { jobs: bad });
  }
  // all or none: a job that ended since the check refuses its cancel, and the ones cancelled
  // before it in this request are rolled back with it
  await ctx.store.db.transaction().execute(async (trx) => {
    for (const id of unique) await applyAction(ctx, projectId, id, 'cancel', actor, 'operator', trx);
  });
  for (const id of unique) ctx.executor.touch(id);
  changed(ctx);
  return unique;
}
