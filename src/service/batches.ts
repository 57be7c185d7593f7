// Batches: one request that upgrades many targets (GaussDB's batch minor-version upgrade).
//
// All or nothing. Every instance is checked first and every problem is reported at once. Then the
// upgrades are created "held" (scheduled at the end of time, so the executor cannot touch them)
// and released together in ONE transaction that gives each its real schedule. If creating one
// fails, the held ones are deleted before anything ran. A crash between the two phases leaves the
// batch in state 'creating' with held upgrades that never start; they can be cancelled.
import { randomUUID } from 'node:crypto';
import { AppError } from '../domain/errors.ts';
import type { CatalogVersion, Target, UpgradeSchedule } from '../domain/types.ts';
import { ACTIVE_UPGRADE_STATES } from '../domain/types.ts';
import { upgradeCandidates } from '../domain/versions.ts';
import { nextWindowStart } from '../domain/window.ts';
import { appendEvent, now, transitionUpgrade } from '../engine/transitions.ts';
import { loadTarget } from '../store/targets-repo.ts';
import { listCatalog } from './catalog.ts';
import { changed, type AppContext } from './context.ts';
import { createUpgrade, getUpgrade, type UpgradeDetail } from './upgrades.ts';

const HOLD_UNTIL = '9999-12-31T00:00:00.000Z';

/** major line of a version: its first two dot-separated parts ("2.0.48.231200" -> "2.0") */
const majorOf = (v: string): string => v.split('.').slice(0, 2).join('.');

/** The newest non-deprecated catalog version of the same major line reachable from `from`. */
export function latestMinorVersion(engine: string, from: string, catalog: CatalogVersion[]): CatalogVersion | null {
  return upgradeCandidates(engine, from, catalog).find((v) => majorOf(v.version) === majorOf(from)) ?? null;
}

export type BatchProblem =
  | { instanceId: string; kind: 'not_found' }
  | { instanceId: string; kind: 'duplicate' }
  | { instanceId: string; kind: 'version_mismatch'; given: string; actual: string }
  | { instanceId: string; kind: 'no_newer_minor'; actual: string }
  | { instanceId: string; kind: 'busy'; upgradeId: string }
  | { instanceId: string; kind: 'no_window' };

export interface BatchItem {
  instanceId: string;
  /** what the caller believes the instance runs; omitted = the instance's own version */
  currentVersion?: string;
}

export interface BatchInput {
  items: BatchItem[];
  /** true: each instance in its own maintenance window; false: now */
  delay: boolean;
  /** which API asked (recorded on the batch) */
  source: string;
}

interface Checked {
  target: Target;
  toVersion: string;
}

async function check(
  ctx: AppContext,
  projectId: string,
  input: BatchInput,
): Promise<{ ok: Checked[]; problems: BatchProblem[] }> {
  const ok: Checked[] = [];
  const problems: BatchProblem[] = [];
  const seen = new Set<string>();
  const catalogs = new Map<string, CatalogVersion[]>();
  for (const item of input.items) {
    const instanceId = item.instanceId;
    if (seen.has(instanceId)) {
      problems.push({ instanceId, kind: 'duplicate' });
      continue;
    }
    seen.add(instanceId);
    const target = await loadTarget(ctx.store.db, projectId, instanceId);
    if (!target) {
      problems.push({ instanceId, kind: 'not_found' });
      continue;
    }
    if (item.currentVersion !== undefined && item.currentVersion !== target.version) {
      problems.push({ instanceId, kind: 'version_mismatch', given: item.currentVersion, actual: target.version });
      continue;
    }
    if (!catalogs.has(target.engine)) catalogs.set(target.engine, await listCatalog(ctx, target.engine));
    const next = latestMinorVersion(target.engine, target.version, catalogs.get(target.engine) ?? []);
    if (!next) {
      problems.push({ instanceId, kind: 'no_newer_minor', actual: target.version });
      continue;
    }
    const active = await ctx.store.db
      .selectFrom('upgrades')
      .select('id')
      .where('project_id', '=', projectId)
      .where('target_id', '=', target.id)
      .where('state', 'in', [...ACTIVE_UPGRADE_STATES])
      .executeTakeFirst();
    if (active) {
      problems.push({ instanceId, kind: 'busy', upgradeId: active.id });
      continue;
    }
    if (input.delay && !target.maintenanceWindow) {
      problems.push({ instanceId, kind: 'no_window' });
      continue;
    }
    ok.push({ target, toVersion: next.version });
  }
  return { ok, problems };
}

export class BatchRefusedError extends AppError {
  constructor(readonly problems: BatchProblem[]) {
    super('VALIDATION_FAILED', `the batch was refused: ${problems.map((p) => `${p.instanceId} (${p.kind})`).join(', ')}`, {
      problems,
    });
  }
}

export interface BatchResult {
  batchId: string;
  upgrades: UpgradeDetail[];
}

export async function createMinorUpgradeBatch(
  ctx: AppContext,
  projectId: string,
  input: BatchInput,
  actor: string,
): Promise<BatchResult> {
  if (input.items.length === 0) throw new AppError('VALIDATION_FAILED', 'the batch names no instance');
  const { ok, problems } = await check(ctx, projectId, input);
  if (problems.length > 0) throw new BatchRefusedError(problems);

  const batchId = randomUUID();
  const db = ctx.store.db;
  await db
    .insertInto('batches')
    .values({
      id: batchId,
      project_id: projectId,
      source: input.source,
      request: JSON.stringify(input),
      state: 'creating',
      created_at: now(),
    })
    .execute();

  const created: string[] = [];
  try {
    for (const c of ok) {
      const u = await createUpgrade(
        ctx,
        projectId,
        { targetId: c.target.id, toVersion: c.toVersion, mode: 'rolling', schedule: { kind: 'at', at: HOLD_UNTIL }, batchId },
        actor,
      );
      created.push(u.id);
    }
  } catch (err) {
    await discard(ctx, projectId, batchId, created, actor, err);
    throw err;
  }

  await db.transaction().execute(async (trx) => {
    const ts = new Date();
    for (let i = 0; i < ok.length; i++) {
      const { target } = ok[i];
      const id = created[i];
      const schedule: UpgradeSchedule = input.delay ? { kind: 'window' } : { kind: 'now' };
      await trx
        .updateTable('upgrades')
        .set({ schedule: JSON.stringify(schedule) })
        .where('id', '=', id)
        .where('state', '=', 'scheduled')
        .execute();
      const released = await transitionUpgrade(trx, {
        id,
        from: ['scheduled'],
        to: input.delay ? 'scheduled' : 'ready',
        set: {
          not_before:
            input.delay && target.maintenanceWindow ? nextWindowStart(target.maintenanceWindow, ts).toISOString() : null,
        },
      });
      if (!released) throw new AppError('INVALID_STATE', `upgrade ${id} changed state while its batch was being released`);
      await appendEvent(trx, {
        projectId,
        targetId: target.id,
        upgradeId: id,
        actor,
        type: 'upgrade.released',
        fromState: 'scheduled',
        toState: input.delay ? 'scheduled' : 'ready',
        message: input.delay ? 'batch released: waits for the maintenance window' : 'batch released: starts now',
        data: { batchId },
      });
    }
    await trx.updateTable('batches').set({ state: 'created' }).where('id', '=', batchId).execute();
    await appendEvent(trx, {
      projectId,
      actor,
      type: 'batch.created',
      message: `batch of ${ok.length} upgrade(s) from ${input.source}`,
      data: { batchId, upgrades: created },
    });
  });
  changed(ctx);
  return { batchId, upgrades: await Promise.all(created.map((id) => getUpgrade(ctx, projectId, id))) };
}

/** Removes the held upgrades of a batch that could not be created whole; none of them ever ran. */
async function discard(
  ctx: AppContext,
  projectId: string,
  batchId: string,
  ids: string[],
  actor: string,
  cause: unknown,
): Promise<void> {
  await ctx.store.db.transaction().execute(async (trx) => {
    if (ids.length > 0) {
      await trx.deleteFrom('steps').where('upgrade_id', 'in', ids).execute();
      await trx.deleteFrom('stages').where('upgrade_id', 'in', ids).execute();
      await trx.deleteFrom('upgrades').where('id', 'in', ids).where('state', '=', 'scheduled').execute();
    }
    await trx.updateTable('batches').set({ state: 'rolled_back' }).where('id', '=', batchId).execute();
    await appendEvent(trx, {
      projectId,
      actor,
      type: 'batch.rolled_back',
      message: `batch not created: ${cause instanceof Error ? cause.message : String(cause)}`,
      data: { batchId, discarded: ids },
    });
  });
}
