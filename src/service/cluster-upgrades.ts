// Target-level views of upgrades, for API families whose calls name a cluster or an instance
// rather than an upgrade (ACK pause/resume/cancel/status, Hologres status).
import { AppError } from '../domain/errors.ts';
import { ACTIVE_UPGRADE_STATES } from '../domain/types.ts';
import type { AppContext } from './app-context.ts';
import { getTarget } from './targets.ts';
import {
  createUpgrade,
  getUpgrade,
  listUpgrades,
  upgradeAction,
  withStages,
  type UpgradeDetail,
  type UpgradeInput,
} from './upgrades.ts';

/** The newest upgrade of a target (any state), or null when it never had one. */
export async function latestUpgradeOf(ctx: AppContext, projectId: string, targetId: string): Promise<UpgradeDetail | null> {
  await getTarget(ctx, projectId, targetId);
  const { items } = await listUpgrades(ctx, projectId, { targetId, limit: 1 });
  return items[0] ? withStages(ctx, items[0]) : null;
}

/** The target's active upgrade (at most one exists); UPGRADE_NOT_FOUND when there is none. */
export async function activeUpgradeOf(ctx: AppContext, projectId: string, targetId: string): Promise<UpgradeDetail> {
  await getTarget(ctx, projectId, targetId);
  const { items } = await listUpgrades(ctx, projectId, { targetId, state: [...ACTIVE_UPGRADE_STATES], limit: 1 });
  if (!items[0]) throw new AppError('UPGRADE_NOT_FOUND', `${targetId} has no upgrade in progress`, { targetId });
  return getUpgrade(ctx, projectId, items[0].id);
}

/** The newest upgrades of a target with their stages and steps, newest first. */
export async function upgradeHistory(ctx: AppContext, projectId: string, targetId: string, limit = 20): Promise<UpgradeDetail[]> {
  await getTarget(ctx, projectId, targetId);
  const { items } = await listUpgrades(ctx, projectId, { targetId, limit });
  return Promise.all(items.map((u) => withStages(ctx, u)));
}

/**
 * Starts an upgrade, or retries the target's failed one when the same version is requested
 * again. APIs without a retry call (ACK) retry by re-issuing the upgrade request; the answer
 * is the same upgrade, so its history, retry count and task id are kept.
 */
export async function startOrRetryUpgrade(
  ctx: AppContext,
  projectId: string,
  input: UpgradeInput & { toVersion: string },
  actor: string,
): Promise<{ upgrade: UpgradeDetail; retried: boolean }> {
  await getTarget(ctx, projectId, input.targetId);
  const { items } = await listUpgrades(ctx, projectId, { targetId: input.targetId, state: ['failed'], limit: 1 });
  const failed = items[0];
  if (failed && failed.toVersion === input.toVersion && failed.mode === input.mode) {
    return { upgrade: await upgradeAction(ctx, projectId, failed.id, 'retry', actor), retried: true };
  }
  return { upgrade: await createUpgrade(ctx, projectId, input, actor), retried: false };
}
