// Operator actions on an upgrade. Each is one transaction of guarded transitions plus an event
// naming who did what; the executor then carries on from the new state.
//   pause     ready|prechecking|running -> paused   (running steps finish, nothing new starts;
//             an upgrade paused before the executor started it stays unstarted)
//   resume    paused -> prechecking|running, or ready when it had not started
//   cancel    scheduled|ready|prechecking|running|paused|failed -> cancelling -> cancelled: pending
//             steps cancelled, running ones stopped (or let finish, by the driver's rules), and
//             every node left out of service brought back first (src/engine/core/cancel.ts);
//             straight to cancelled when no node is. From failed after a failed restore
//             (RESTORE_FAILED): the failed restore steps run again
//   retry     failed -> running|prechecking   (failed steps pending again; succeeded ones kept)
//   skip      failed -> running|prechecking   (failed steps skipped)
//   rollback  failed|paused|cancelled -> rolling_back (completed steps reversed, newest first)
import { AppError } from '../domain/errors.ts';
import type { Upgrade, UpgradeState } from '../domain/types.ts';
import type { Driver } from '../drivers/driver.ts';
import { toUpgrade } from '../store/mappers.ts';
import type { Store } from '../store/open.ts';
import type { Database } from '../store/schema.ts';
import type { Transaction } from 'kysely';
import type { Clock } from '../domain/clock.ts';
import { isoNow } from '../domain/clock.ts';
import { CancelRace, prepareCancel, startRestore, type CancelPlan } from './core/cancel.ts';
import { advance, finishRollbackIfDone, prepareRollback, RollbackRefused, type CoreEnv } from './core/progress.ts';
import { moveStages, moveSteps, moveUpgrade, type By } from './core/writes.ts';

import { UPGRADE_ACTIONS, type UpgradeAction } from '../domain/types.ts';
export { UPGRADE_ACTIONS, type UpgradeAction };

const ALLOWED_FROM: Record<UpgradeAction, readonly UpgradeState[]> = {
  pause: ['ready', 'prechecking', 'running'],
  resume: ['paused'],
  cancel: ['scheduled', 'ready', 'prechecking', 'running', 'paused', 'failed'],
  retry: ['failed'],
  skip: ['failed'],
  rollback: ['failed', 'paused', 'cancelled'],
};

export interface ActionDeps {
  store: Store;
  drivers: Map<string, Driver>;
  clock: Clock;
  /**
   * told which upgrade changed, so it looks there first (the executor); state is in the store
   * alone. abortSteps: steps a cancel stopped; a holder in this process aborts its call at once
   * (one in another process does when its next heartbeat finds the lease gone).
   */
  executor?: { touch(upgradeId: string): void; abortSteps?(steps: { id: string; fence: number }[]): void };
}

/** The actions an operator may request of an upgrade in this state (the API shows them). */
export function allowedActions(state: UpgradeState): UpgradeAction[] {
  return UPGRADE_ACTIONS.filter((a) => ALLOWED_FROM[a].includes(state));
}

const runState = (u: Upgrade): UpgradeState => (u.currentStage === 0 ? 'prechecking' : 'running');

export async function applyAction(
  deps: ActionDeps,
  projectId: string,
  upgradeId: string,
  action: UpgradeAction,
  actor: string,
  /** who the table says causes it: an operator, or the batch scheduler acting on its own rules */
  cause: 'operator' | 'scheduler' = 'operator',
  /**
   * the caller's transaction, when the action is one of several that stand or fall together (a
   * batch retry, cancelling several jobs): a refusal of any rolls back all; the caller tells the
   * executor (touch) once it committed
   */
  within?: Transaction<Database>,
): Promise<Upgrade> {
  const { store } = deps;
  const env: CoreEnv = {
    clock: deps.clock,
    rowLocks: store.caps.supportsSkipLocked,
    writableCte: store.caps.supportsWritableCte,
    drivers: deps.drivers,
  };
  const by: By = { by: cause, actor };
  let cancel: CancelPlan | null = null;
  const apply = async (trx: Transaction<Database>) => {
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
        // paused between its creation and its start: the executor starts it as it would have
        to = u.startedAt ? runState(u) : 'ready';
        break;
      case 'cancel':
        try {
          cancel = await prepareCancel(trx, env, u, by, actor);
        } catch (err) {
          if (err instanceof CancelRace) throw new AppError('INVALID_STATE', err.message);
          throw err;
        }
        to = cancel.to;
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
        if (u.errorCode === 'RESTORE_FAILED') {
          throw new AppError(
            'INVALID_STATE',
            'this upgrade was cancelled and could not bring a node back into service; request cancel again to retry that, or roll back',
          );
        }
        const n =
          action === 'retry'
            ? await moveSteps(trx, deps.clock, 'retry', { ...by, u, from: 'failed', to: 'pending', clearError: true })
            : await moveSteps(trx, deps.clock, 'skip', { ...by, u, from: 'failed', to: 'skipped' });
        if (n === 0) throw new AppError('INVALID_STATE', 'the upgrade has no failed step to ' + action);
        await moveStages(trx, deps.clock, 'reopen', {
          ...by,
          u,
          idx: u.currentStage,
          from: ['failed'],
          to: 'running',
          stageCount: u.stageCount,
        });
        break;
      }
      case 'rollback':
        to = 'rolling_back';
        try {
          await prepareRollback(trx, env, u, by);
        } catch (err) {
          if (err instanceof RollbackRefused) throw new AppError(err.code, err.message, err.details);
          throw err;
        }
        break;
    }
    const plan = cancel as CancelPlan | null;
    const ok = await moveUpgrade(trx, deps.clock, action, {
      ...by,
      u,
      from: u.state,
      to,
      set: {
        ...(action === 'retry' || action === 'skip' || action === 'rollback' ? { error: null, error_code: null } : {}),
        ...(to === 'cancelled' ? { ended_at: isoNow(deps.clock) } : {}),
        ...plan?.set,
      },
      incrementRetries: action === 'retry',
      message: plan?.message ?? `${actor} requested ${action}`,
      ...(plan ? { data: plan.data } : {}),
    });
    if (!ok) throw new AppError('INVALID_STATE', `the upgrade changed state while ${action} was applied; try again`);
    if (plan?.startStage != null) await startRestore(trx, env, u, by, plan.startStage);
    if (action === 'resume' || action === 'skip') await advance(trx, env, u.id, by);
    if (action === 'rollback') await finishRollbackIfDone(trx, env, { ...u, state: 'rolling_back' }, by);
  };
  if (within) await apply(within);
  else await store.db.transaction().execute(apply);
  if (!within) {
    // a cancel's stopped steps are aborted here once it committed; inside a caller's transaction
    // their holders stop at their next lease renewal, which finds their fence moved on
    const stopped = (cancel as CancelPlan | null)?.stopped ?? [];
    if (stopped.length > 0) deps.executor?.abortSteps?.(stopped);
    deps.executor?.touch(upgradeId);
  }
  const row = await (within ?? store.db).selectFrom('upgrades').selectAll().where('id', '=', upgradeId).executeTakeFirstOrThrow();
  return toUpgrade(row);
}
