// Operator actions on an upgrade. Each is one transaction of guarded transitions plus an event
// naming who did what; the executor then carries on from the new state.
//   pause     running|prechecking -> paused   (running steps finish, nothing new starts)
//   resume    paused -> running|prechecking
//   cancel    scheduled|ready|prechecking|running|paused|failed -> cancelled (pending steps cancelled)
//   retry     failed -> running|prechecking   (failed steps pending again; succeeded ones kept)
//   skip      failed -> running|prechecking   (failed steps skipped)
//   rollback  failed|paused|cancelled -> rolling_back (completed steps reversed, newest first)
import { AppError } from '../domain/errors.ts';
import type { Upgrade, UpgradeState } from '../domain/types.ts';
import type { Driver } from '../drivers/driver.ts';
import { toStep, toUpgrade } from '../store/mappers.ts';
import type { Store } from '../store/open.ts';
import { loadTarget } from '../store/targets-repo.ts';
import type { Executor } from './executor.ts';
import { appendEvent, now, transitionStage, transitionSteps, transitionUpgrade, type Db } from './transitions.ts';

export const UPGRADE_ACTIONS = ['pause', 'resume', 'cancel', 'retry', 'rollback', 'skip'] as const;
export type UpgradeAction = (typeof UPGRADE_ACTIONS)[number];

const ALLOWED_FROM: Record<UpgradeAction, readonly UpgradeState[]> = {
  pause: ['running', 'prechecking'],
  resume: ['paused'],
  cancel: ['scheduled', 'ready', 'prechecking', 'running', 'paused', 'failed'],
  retry: ['failed'],
  skip: ['failed'],
  rollback: ['failed', 'paused', 'cancelled'],
};

export interface ActionDeps {
  store: Store;
  drivers: Map<string, Driver>;
  executor: Executor;
}

const runState = (u: Upgrade): UpgradeState => (u.currentStage === 0 ? 'prechecking' : 'running');

export async function applyAction(
  deps: ActionDeps,
  projectId: string,
  upgradeId: string,
  action: UpgradeAction,
  actor: string,
): Promise<Upgrade> {
  const { store, executor } = deps;
  await store.db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('upgrades')
      .selectAll()
      .where('id', '=', upgradeId)
      .where('project_id', '=', projectId)
      .$if(store.caps.supportsSkipLocked, (q) => q.forUpdate())
      .executeTakeFirst();
    if (!row) throw new AppError('UPGRADE_NOT_FOUND', `upgrade ${upgradeId} does not exist in project ${projectId}`);
    const u = toUpgrade(row);
    if (!ALLOWED_FROM[action].includes(u.state)) {
      throw new AppError(
        'INVALID_STATE',
        `cannot ${action} an upgrade that is ${u.state}; ${action} is allowed when it is ${ALLOWED_FROM[action].join(' or ')}`,
        { state: u.state, action },
      );
    }
    let to: UpgradeState;
    switch (action) {
      case 'pause':
        to = 'paused';
        break;
      case 'resume':
        to = runState(u);
        break;
      case 'cancel':
        to = 'cancelled';
        await transitionSteps(trx, u.id, 'pending', 'cancelled');
        await trx
          .updateTable('stages')
          .set({ state: 'cancelled', ended_at: now() })
          .where('upgrade_id', '=', u.id)
          .where('state', 'in', ['pending', 'running', 'failed'])
          .execute();
        break;
      case 'retry':
      case 'skip': {
        to = runState(u);
        if (u.errorCode === 'ROLLBACK_FAILED') {
          throw new AppError(
            'INVALID_STATE',
            'the rollback of this upgrade failed; request rollback again to continue it, or cancel',
          );
        }
        const n = await transitionSteps(trx, u.id, 'failed', action === 'retry' ? 'pending' : 'skipped', {
          clearError: action === 'retry',
        });
        if (n === 0) throw new AppError('INVALID_STATE', 'the upgrade has no failed step to ' + action);
        await transitionStage(trx, u.id, u.currentStage, ['failed'], 'running');
        break;
      }
      case 'rollback':
        to = 'rolling_back';
        await prepareRollback(deps, trx, u);
        break;
    }
    const ok = await transitionUpgrade(trx, {
      id: u.id,
      from: [u.state],
      to,
      set: {
        ...(action === 'retry' || action === 'skip' || action === 'rollback' ? { error: null, error_code: null } : {}),
        ...(to === 'cancelled' ? { ended_at: now() } : {}),
      },
      incrementRetries: action === 'retry',
    });
    if (!ok) throw new AppError('INVALID_STATE', `the upgrade changed state while ${action} was applied; try again`);
    await appendEvent(trx, {
      projectId,
      targetId: u.targetId,
      upgradeId: u.id,
      actor,
      type: `upgrade.${action}`,
      fromState: u.state,
      toState: to,
      message: `${actor} requested ${action}`,
    });
    if (action === 'resume' || action === 'skip') await executor.advance(trx, u.id);
    if (action === 'rollback') await executor.finishRollbackIfDone(trx, { ...u, state: 'rolling_back' });
  });
  executor.touch(upgradeId);
  const row = await store.db.selectFrom('upgrades').selectAll().where('id', '=', upgradeId).executeTakeFirstOrThrow();
  return toUpgrade(row);
}

/**
 * Marks the completed steps for reversal, newest first. Refuses (and changes nothing) when a
 * completed step cannot be reversed, naming it.
 */
async function prepareRollback(deps: ActionDeps, db: Db, u: Upgrade): Promise<void> {
  const target = await loadTarget(db, u.projectId, u.targetId);
  if (!target) throw new AppError('TARGET_NOT_FOUND', `target ${u.targetId} no longer exists`);
  const driver = deps.drivers.get(target.driver);
  if (!driver) throw new AppError('DRIVER_NOT_FOUND', `driver ${target.driver} is not installed`);
  const running = await db
    .selectFrom('steps')
    .select(['name', 'node'])
    .where('upgrade_id', '=', u.id)
    .where('state', '=', 'running')
    .executeTakeFirst();
  if (running) {
    throw new AppError(
      'INVALID_STATE',
      `step ${running.name}${running.node ? ` on ${running.node}` : ''} is still running; wait for it to finish`,
    );
  }
  const done = (
    await db
      .selectFrom('steps')
      .selectAll()
      .where('upgrade_id', '=', u.id)
      .where('state', '=', 'succeeded')
      .orderBy('ended_at', 'desc')
      .orderBy('seq', 'desc')
      .execute()
  ).map(toStep);
  const blocking = done.find((s) => !driver.stepPolicy(s.action, target).reversible);
  if (blocking) {
    throw new AppError(
      'ROLLBACK_BLOCKED',
      `step "${blocking.name}"${blocking.node ? ` on ${blocking.node}` : ''} cannot be reversed by the ${driver.name} driver, so the upgrade cannot be rolled back`,
      { stepId: blocking.id, step: blocking.name, node: blocking.node, action: blocking.action },
    );
  }
  let order = 1;
  for (const s of done) {
    await db.updateTable('steps').set({ rollback_order: order++ }).where('id', '=', s.id).execute();
  }
  await transitionSteps(db, u.id, 'pending', 'cancelled');
}
