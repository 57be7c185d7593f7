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
//   rollback  failed|paused|cancelled -> rolling_back (completed steps reversed, newest first);
//             also running in a rollback window: the waiting step stops first
//   finalize  running -> running, only in a rollback window (a blue/green upgrade's step that only
//             waits runs): the wait ends now, and the next stage (decommission) starts
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
import type { CoreEnv } from './core/env.ts';
import { advance, finishRollbackIfDone, prepareRollback, RollbackRefused } from './core/progress.ts';
import { moveStages, moveStep, moveSteps, moveUpgrade, type By } from './core/writes.ts';
import { toStep } from '../store/mappers.ts';
import { loadTarget } from '../store/targets-repo.ts';
import type { Step } from '../domain/types.ts';

import { UPGRADE_ACTIONS, type UpgradeAction } from '../domain/types.ts';
import { allowedActions, UPGRADE_ACTION_FROM } from './core/table.ts';
// the states each action is allowed in come from the state core's transition table
export { allowedActions, UPGRADE_ACTION_FROM, UPGRADE_ACTIONS, type UpgradeAction };

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

/** the running steps of an upgrade that only wait (its rollback window), when every running step does */
async function waitingSteps(db: Transaction<Database>, u: Upgrade, drivers: Map<string, Driver>): Promise<Step[]> {
  if (u.state !== 'running') return [];
  const running = (
    await db.selectFrom('steps').selectAll().where('upgrade_id', '=', u.id).where('state', '=', 'running').execute()
  ).map(toStep);
  if (running.length === 0) return [];
  const target = await loadTarget(db, u.projectId, u.targetId);
  const driver = target ? drivers.get(target.driver) : undefined;
  if (!target || !driver) return [];
  return running.every((s) => driver.stepPolicy(s.action, target).waits === true) ? running : [];
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
  let stoppedWaits: { id: string; fence: number }[] = [];
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
    const waiting = await waitingSteps(trx, u, deps.drivers);
    if (!allowedActions(u.state, waiting.length > 0).includes(action)) {
      throw new AppError(
        'INVALID_STATE',
        waiting.length > 0
          ? `the upgrade is in its rollback window: ${action} is not possible now; rollback returns to ${u.fromVersion} with every write made since the switch, finalize keeps ${u.toVersion} and ends the window`
          : action === 'finalize'
            ? 'finalize ends the rollback window of a blue/green upgrade; this upgrade is not in one'
            : `cannot ${action} an upgrade that is ${u.state}; ${action} is allowed when it is ${UPGRADE_ACTION_FROM[action].join(' or ')}`,
        { state: u.state, action },
      );
    }
    // the waiting steps a finalize or a rollback takes from their holder (fenced out, then aborted)
    const ended: { id: string; fence: number }[] = [];
    const takeWaiting = async (rule: 'end_wait' | 'abort') => {
      const ts = isoNow(deps.clock);
      for (const s of waiting) {
        const ok = await moveStep(trx, deps.clock, rule, {
          ...by,
          u: { id: u.id, projectId: u.projectId, targetId: u.targetId },
          step: s,
          from: 'running',
          to: rule === 'end_wait' ? 'succeeded' : 'cancelled',
          leaseOwner: s.leaseOwner,
          fence: s.fence,
          fenceHolder: true,
          log: [...s.log, `${ts} ${rule === 'end_wait' ? 'finalized' : 'stopped for a rollback'} by ${actor}`],
          ...(rule === 'end_wait'
            ? { result: { finalizedBy: actor, at: ts } }
            : { error: 'stopped: the upgrade is rolled back' }),
          message: `${s.name} ${rule === 'end_wait' ? 'ended by a finalize' : 'stopped by a rollback'}`,
          data: { fence: s.fence + 1 },
        });
        if (!ok) throw new AppError('INVALID_STATE', `the upgrade changed while ${action} was applied; try again`);
        ended.push({ id: s.id, fence: s.fence });
      }
    };
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
      case 'finalize':
        to = 'running';
        await takeWaiting('end_wait');
        break;
      case 'rollback':
        to = 'rolling_back';
        await takeWaiting('abort');
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
    if (action === 'resume' || action === 'skip' || action === 'finalize') await advance(trx, env, u.id, by);
    stoppedWaits = ended;
    if (action === 'rollback') await finishRollbackIfDone(trx, env, { ...u, state: 'rolling_back' }, by);
  };
  if (within) await apply(within);
  else await store.db.transaction().execute(apply);
  if (!within) {
    // a cancel's stopped steps are aborted here once it committed; inside a caller's transaction
    // their holders stop at their next lease renewal, which finds their fence moved on
    const stopped = [...((cancel as CancelPlan | null)?.stopped ?? []), ...stoppedWaits];
    if (stopped.length > 0) deps.executor?.abortSteps?.(stopped);
    deps.executor?.touch(upgradeId);
  }
  const row = await (within ?? store.db).selectFrom('upgrades').selectAll().where('id', '=', upgradeId).executeTakeFirstOrThrow();
  return toUpgrade(row);
}
