// How an upgrade moves on once a step's outcome is known: the step's transition, then, in the
// same transaction, the stage's and the upgrade's (the next stage starts, the upgrade succeeds,
// fails, or its onFailure policy rolls it back; a rollback completes). The executor, recovery,
// operator actions and the window scheduler all call these, so each rule lives once.
import { isoNow } from '../../domain/clock.ts';
import type { Step, Target, Upgrade, UpgradeState } from '../../domain/types.ts';
import { toStep, toUpgrade } from '../../store/mappers.ts';
import { applyNodeFacts, loadTarget, setTargetVersion, type NodeFacts } from '../../store/targets-repo.ts';
import { appendEvent, lockUpgrade } from './events.ts';
import type { Db } from '../../store/schema.ts';
import { finishCancelIfDone } from './cancel.ts';
import type { CoreEnv } from './env.ts';
import { checkRule, type Cause } from './table.ts';
import { callStepSucceeded, ensureStepSucceededFn } from './functions.ts';
import {
  advanceStageInOne,
  moveStages,
  moveStep,
  moveStepInStage,
  moveSteps,
  moveUpgrade,
  setRollbackOrder,
  stageOpen,
  type By,
  type UpgradeRef,
} from './writes.ts';
import type { Selectable } from 'kysely';
import type { UpgradeRow } from '../../store/schema.ts';

const RUNNABLE: readonly UpgradeState[] = ['prechecking', 'running'];
const where = (s: { name: string; node: string | null }) => `${s.name}${s.node ? ` on ${s.node}` : ''}`;
const ref = (u: Pick<Upgrade, 'id' | 'projectId' | 'targetId'>): UpgradeRef => ({
  id: u.id,
  projectId: u.projectId,
  targetId: u.targetId,
});

export function lock(db: Db, env: CoreEnv, upgradeId: string): Promise<void> {
  return lockUpgrade(db, upgradeId, env.rowLocks);
}

/** ready -> prechecking, stage 0 running. */
export async function startUpgrade(db: Db, env: CoreEnv, u: Upgrade): Promise<boolean> {
  const ok = await moveUpgrade(db, env.clock, 'start', {
    by: 'executor',
    u: ref(u),
    from: 'ready',
    to: 'prechecking',
    set: { started_at: isoNow(env.clock), current_stage: 0 },
    message: `upgrade ${u.fromVersion} -> ${u.toVersion} started`,
  });
  if (ok)
    await moveStages(db, env.clock, 'start', {
      by: 'executor',
      u: ref(u),
      idx: 0,
      from: ['pending'],
      to: 'running',
      stageCount: u.stageCount,
    });
  return ok;
}

export interface Outcome {
  step: Step;
  upgrade: Upgrade;
  /** the lease and fence the outcome is guarded on */
  leaseOwner: string | null;
  fence: number;
  by: Cause;
  log: string[];
  /** recovery takes the step from a dead holder: its fence moves on */
  recovered?: boolean;
  message?: string;
}

/**
 * running -> succeeded, then the stage advances if that was its last open step. `effects` runs
 * in the same transaction once the transition is won (node facts, the target's version).
 * Returns whether the outcome was recorded and whether a stage advanced.
 */
export async function recordSuccess(
  db: Db,
  env: CoreEnv,
  o: Outcome & { result?: Record<string, unknown> },
  effects?: (db: Db) => Promise<void>,
): Promise<{ recorded: boolean; advanced: boolean }> {
  await lock(db, env, o.upgrade.id);
  const moved = await moveStepInStage(db, env.clock, env.writableCte, 'succeed', {
    by: o.by,
    u: ref(o.upgrade),
    step: o.step,
    stage: o.step.stageIndex,
    from: 'running',
    to: 'succeeded',
    leaseOwner: o.leaseOwner,
    fence: o.fence,
    recovered: o.recovered,
    log: o.log,
    ...(o.result ? { result: o.result } : {}),
    message: o.message ?? `${where(o.step)} succeeded`,
  });
  if (!moved.moved) return { recorded: false, advanced: false };
  await effects?.(db);
  // the target runs the new version from here: its last step, or the cutover of a blue/green upgrade
  if (o.step.action === 'finalize' || o.step.action === 'cutover') {
    await setTargetVersion(
      db,
      o.upgrade.projectId,
      o.upgrade.targetId,
      o.upgrade.toVersion,
      o.upgrade.release,
      o.upgrade.toEngine,
    );
  }
  // most steps are not the last of their stage
  if (moved.stageOpen) return { recorded: true, advanced: false };
  const closed = { stage: o.step.stageIndex, upgrade: moved.upgrade };
  return { recorded: true, advanced: await advance(db, env, o.upgrade.id, o.by, closed) };
}

/**
 * recordSuccess in one round trip where the store has the core's server-side function
 * (PostgreSQL, ./functions.ts): the same guarded moves and events, one call that is its own
 * transaction. An outcome with effects of the driver's on the target, or one the function
 * answers `fallback` (the upgrade paused, cancelling, rolling back; a step of another stage),
 * is recorded by recordSuccess in one transaction. The events are named from the table here.
 */
export async function recordSuccessInOne(
  store: { db: Db; unit: { run<T>(fn: (db: Db) => Promise<T>): Promise<T> } },
  key: object,
  env: CoreEnv,
  o: Outcome & { result?: Record<string, unknown> },
  /** the node facts to record with it (in the call), or effects to run in the transaction */
  effects: { facts: readonly NodeFacts[] } | ((db: Db) => Promise<void>),
): Promise<{ recorded: boolean; advanced: boolean }> {
  if (typeof effects !== 'function' && !o.recovered) {
    await ensureStepSucceededFn(store.db, key);
    const target = o.step.action === 'finalize' || o.step.action === 'cutover';
    const r = await callStepSucceeded(store.db, {
      upgrade_id: o.upgrade.id,
      project_id: o.upgrade.projectId,
      target_id: o.upgrade.targetId,
      step_id: o.step.id,
      stage: o.step.stageIndex,
      fence: o.fence,
      owner: o.leaseOwner,
      actor: o.by,
      at: isoNow(env.clock),
      log: JSON.stringify(o.log),
      ...(o.result ? { result: JSON.stringify(o.result) } : {}),
      ...(effects.facts.length > 0 ? { facts: effects.facts } : {}),
      message: o.message ?? `${where(o.step)} succeeded`,
      step_event: checkRule('step', 'succeed', ['running'], 'succeeded', o.by).event,
      stage_succeed_event: checkRule('stage', 'succeed', ['running', 'pending'], 'succeeded', o.by).event,
      stage_start_event: checkRule('stage', 'start', ['pending'], 'running', o.by).event,
      prechecked_event: checkRule('upgrade', 'prechecked', ['prechecking'], 'running', o.by).event,
      upgrade_succeed_event: checkRule('upgrade', 'succeed', ['prechecking', 'running'], 'succeeded', o.by).event,
      ...(target
        ? {
            version: o.upgrade.toVersion,
            release: o.upgrade.release,
            engine: o.upgrade.toEngine ?? null,
            wall: new Date().toISOString(),
          }
        : {}),
    });
    if (r !== 'fallback') return { recorded: r !== 'lost', advanced: r === 'advanced' };
  }
  const apply =
    typeof effects === 'function'
      ? effects
      : (db: Db) => applyNodeFacts(db, o.upgrade.projectId, o.upgrade.targetId, [...effects.facts]);
  return store.unit.run((db) => recordSuccess(db, env, o, apply));
}

/** running -> failed; its stage and upgrade fail, and the onFailure policy may start a rollback. */
export async function recordFailure(db: Db, env: CoreEnv, o: Outcome & { code: string; error: string }): Promise<boolean> {
  await lock(db, env, o.upgrade.id);
  const ok = await moveStep(db, env.clock, 'fail', {
    by: o.by,
    u: ref(o.upgrade),
    step: o.step,
    from: 'running',
    to: 'failed',
    leaseOwner: o.leaseOwner,
    fence: o.fence,
    recovered: o.recovered,
    error: `${o.code}: ${o.error}`,
    log: o.log,
    message: o.message ?? `${where(o.step)} failed: ${o.error}`,
    data: { code: o.code },
  });
  if (!ok) return false;
  const by = o.by === 'recovery' ? 'recovery' : 'executor';
  await moveStages(db, env.clock, 'fail', { by, u: ref(o.upgrade), idx: o.step.stageIndex, from: ['running'], to: 'failed' });
  const current = await db.selectFrom('upgrades').selectAll().where('id', '=', o.upgrade.id).executeTakeFirst();
  const from = current?.state as UpgradeState | undefined;
  if (from === 'cancelling' && current) {
    // a step the cancel let finish failed: the restore that follows deals with its node. A
    // restore step failed: the node is still out of service and an operator must know.
    if (o.step.stageIndex !== current.current_stage) return true;
    await moveUpgrade(db, env.clock, 'fail', {
      by,
      u: ref(o.upgrade),
      from,
      to: 'failed',
      stepId: o.step.id,
      set: { error: `could not bring ${o.step.node ?? 'a node'} back into service: ${o.error}`, error_code: 'RESTORE_FAILED' },
      message: `the cancel could not bring ${o.step.node ?? 'a node'} back into service: ${o.error}`,
      data: { code: 'RESTORE_FAILED', cause: o.code },
    });
    return true;
  }
  if (!current || !from || !['prechecking', 'running', 'paused'].includes(from)) return true;
  const failed = await moveUpgrade(db, env.clock, 'fail', {
    by,
    u: ref(o.upgrade),
    from,
    to: 'failed',
    set: { error: `${where(o.step)} failed: ${o.error}`, error_code: o.code },
    message: o.error,
    data: { code: o.code },
  });
  if (failed) await applyFailurePolicy(db, env, toUpgrade({ ...current, state: 'failed', error_code: o.code }));
  return true;
}

/**
 * A bake whose analysis check could not be evaluated (onError pause): the bake step goes back to
 * pending (its stored end stays in its progress) and its upgrade pauses with the reason, in one
 * transaction. An operator's resume claims the step again and it samples on until that end. An
 * upgrade no longer running (an operator paused or cancelled it meanwhile) is left as it is:
 * the step alone is handed back.
 */
export async function recordBakePause(db: Db, env: CoreEnv, o: Outcome & { reason: string }): Promise<boolean> {
  await lock(db, env, o.upgrade.id);
  const ok = await moveStep(db, env.clock, 'bake_pause', {
    by: 'executor',
    u: ref(o.upgrade),
    step: o.step,
    from: 'running',
    to: 'pending',
    leaseOwner: o.leaseOwner,
    fence: o.fence,
    log: o.log,
    message: `${where(o.step)} paused: ${o.reason}`,
    data: { reason: o.reason },
  });
  if (!ok) return false;
  await moveUpgrade(db, env.clock, 'analysis_pause', {
    by: 'executor',
    u: ref(o.upgrade),
    from: 'running',
    to: 'paused',
    hold: null,
    set: { pending_reason: `paused: ${o.reason}; resume to sample again` },
    stepId: o.step.id,
    message: `paused: ${o.reason}`,
    data: { reason: o.reason },
  });
  return true;
}

/** An automatic retry the executor asks for (src/engine/core/retry.ts decides whether). */
export interface RetryPlan {
  /** the failed attempt under the step's retry (1 = its first run since an operator started it) */
  attempt: number;
  /** attempts in all */
  attempts: number;
  /** the wait before the next attempt, and the time it ends */
  delaySeconds: number;
  notBefore: string;
}

/**
 * running -> pending after a transient failure with attempts left: the step is claimable again
 * once `notBefore` passes, its stage and upgrade do not change, and its log and event say which
 * attempt failed, why and when it runs again. A step of an upgrade that is cancelling (one the
 * cancel let finish) is not retried: it fails as before and the restore deals with its node.
 * Returns what was recorded; false when the caller no longer holds the step.
 */
export async function recordRetry(
  db: Db,
  env: CoreEnv,
  o: Outcome & { code: string; error: string; retry: RetryPlan },
): Promise<'retrying' | 'failed' | false> {
  await lock(db, env, o.upgrade.id);
  const u = await db.selectFrom('upgrades').select(['state', 'current_stage']).where('id', '=', o.upgrade.id).executeTakeFirst();
  const retryable =
    u !== undefined &&
    (['prechecking', 'running', 'paused'].includes(u.state) ||
      (u.state === 'cancelling' && o.step.stageIndex === u.current_stage));
  const ts = isoNow(env.clock);
  if (!retryable) {
    const failed = await recordFailure(db, env, { ...o, log: [...o.log, `${ts} FAILED ${o.code}: ${o.error}`] });
    return failed ? 'failed' : false;
  }
  const r = o.retry;
  const what = `attempt ${r.attempt} of ${r.attempts} failed: ${o.code}: ${o.error}; retrying in ${r.delaySeconds} s`;
  const ok = await moveStep(db, env.clock, 'retry_auto', {
    by: 'executor',
    u: ref(o.upgrade),
    step: o.step,
    from: 'running',
    to: 'pending',
    leaseOwner: o.leaseOwner,
    fence: o.fence,
    retryAt: r.notBefore,
    log: [...o.log, `${ts} ${what}`],
    message: `${where(o.step)}: ${what}`,
    data: {
      code: o.code,
      error: o.error,
      attempt: r.attempt,
      attempts: r.attempts,
      backoffSeconds: r.delaySeconds,
      notBefore: r.notBefore,
    },
  });
  return ok ? 'retrying' : false;
}

/**
 * If the current stage is complete, start the next one (or finish the upgrade). Called in the
 * transaction that recorded the stage's last step, and after resume, skip and a window reopening.
 * `closed`: this transaction found that stage done, under the upgrade's lock (moveStepInStage in
 * ./writes.ts), and may have read the upgrade's row with it; neither is read again.
 */
export async function advance(
  db: Db,
  env: CoreEnv,
  upgradeId: string,
  cause: Cause | By = 'executor',
  closed?: { stage: number; upgrade?: Selectable<UpgradeRow> },
): Promise<boolean> {
  const row = closed?.upgrade ?? (await db.selectFrom('upgrades').selectAll().where('id', '=', upgradeId).executeTakeFirst());
  const by: By = typeof cause === 'string' ? { by: cause } : cause;
  // a cancelled upgrade's restore stage: when it is done, the upgrade is cancelled
  if (row?.state === 'cancelling') return finishCancelIfDone(db, env, toUpgrade(row), by, closed?.stage);
  if (!row || !RUNNABLE.includes(row.state as UpgradeState)) return false;
  const u = toUpgrade(row);
  if (closed?.stage !== u.currentStage && (await stageOpen(db, u.id, u.currentStage))) return false;
  // a stage that is neither the precheck nor the last only moves the counter on: where the store
  // takes writable CTEs, its three moves and their events are one statement
  if (env.writableCte && u.state === 'running' && u.currentStage + 1 < u.stageCount) {
    return advanceStageInOne(db, env.clock, {
      ...by,
      u: ref(u),
      state: u.state,
      stage: u.currentStage,
      stageCount: u.stageCount,
    });
  }
  await moveStages(db, env.clock, 'succeed', {
    ...by,
    u: ref(u),
    idx: u.currentStage,
    from: ['running', 'pending'],
    to: 'succeeded',
    stageCount: u.stageCount,
  });
  const next = u.currentStage + 1;
  if (next >= u.stageCount) {
    await moveUpgrade(db, env.clock, 'succeed', {
      ...by,
      u: ref(u),
      from: u.state,
      to: 'succeeded',
      atStage: u.currentStage,
      set: { ended_at: isoNow(env.clock) },
      message: `upgraded to ${u.toVersion}`,
    });
    return true;
  }
  // stage 0 is the precheck: leaving it is the upgrade's own transition; later stages only move the counter
  const ok =
    u.state === 'prechecking'
      ? await moveUpgrade(db, env.clock, 'prechecked', {
          ...by,
          u: ref(u),
          from: 'prechecking',
          to: 'running',
          atStage: u.currentStage,
          set: { current_stage: next },
          message: 'prechecks passed; upgrading',
        })
      : await updateStage(db, env, u, next);
  if (!ok) return false;
  await moveStages(db, env.clock, 'start', {
    ...by,
    u: ref(u),
    idx: next,
    from: ['pending'],
    to: 'running',
    stageCount: u.stageCount,
  });
  return true;
}

async function updateStage(db: Db, env: CoreEnv, u: Upgrade, next: number): Promise<boolean> {
  const res = await db
    .updateTable('upgrades')
    .set({ current_stage: next, updated_at: isoNow(env.clock) })
    .where('id', '=', u.id)
    .where('state', '=', u.state)
    .where('current_stage', '=', u.currentStage)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

// ---- rollback -------------------------------------------------------------------------------

export class RollbackRefused extends Error {
  constructor(
    readonly code: 'INVALID_STATE' | 'ROLLBACK_BLOCKED' | 'TARGET_NOT_FOUND' | 'DRIVER_NOT_FOUND',
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/**
 * Marks the completed steps for reversal, newest first, and cancels the pending ones. Throws
 * RollbackRefused (and changes nothing) when a step still runs or a completed one cannot be
 * reversed, naming it.
 */
export async function prepareRollback(db: Db, env: CoreEnv, u: Upgrade, by: By): Promise<void> {
  const target: Target | null = await loadTarget(db, u.projectId, u.targetId);
  if (!target) throw new RollbackRefused('TARGET_NOT_FOUND', `target ${u.targetId} no longer exists`);
  const driver = env.drivers.get(target.driver);
  if (!driver) throw new RollbackRefused('DRIVER_NOT_FOUND', `driver ${target.driver} is not installed`);
  const running = await db
    .selectFrom('steps')
    .select(['name', 'node'])
    .where('upgrade_id', '=', u.id)
    .where('state', '=', 'running')
    .executeTakeFirst();
  if (running) throw new RollbackRefused('INVALID_STATE', `step ${where(running)} is still running; wait for it to finish`);
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
    const why = driver.stepPolicy(blocking.action, target).irreversibleBecause;
    throw new RollbackRefused(
      'ROLLBACK_BLOCKED',
      `step "${blocking.name}"${blocking.node ? ` on ${blocking.node}` : ''} cannot be reversed by the ${driver.name} driver, so the upgrade cannot be rolled back${why ? `: ${why}` : ''}`,
      { stepId: blocking.id, step: blocking.name, node: blocking.node, action: blocking.action },
    );
  }
  await setRollbackOrder(
    db,
    done.map((s) => s.id),
  );
  await moveSteps(db, env.clock, 'cancel', { ...by, u: ref(u), from: 'pending', to: 'cancelled' });
}

/**
 * options.onFailure = "rollback": a failed upgrade whose completed steps can all be reversed is
 * rolled back by itself; one that cannot stays failed, with an event that says why.
 */
async function applyFailurePolicy(db: Db, env: CoreEnv, u: Upgrade): Promise<void> {
  if (u.options.onFailure !== 'rollback') return;
  const by: By = { by: 'policy' };
  // the failure stays when it cannot be reversed; the trail says why the policy did not act
  if (!(await policyMayRollBack(db, env, u, 'onFailure is rollback'))) return;
  const ok = await moveUpgrade(db, env.clock, 'rollback', {
    ...by,
    u: ref(u),
    from: 'failed',
    to: 'rolling_back',
    set: { error: null, error_code: null },
    message: `onFailure is rollback: reversing its completed steps after ${u.errorCode ?? 'the failure'}`,
    data: { policy: 'onFailure', failure: u.errorCode },
  });
  if (ok) await finishRollbackIfDone(db, env, { ...u, state: 'rolling_back' }, 'policy');
}

/**
 * succeeded -> rolling_back (rule `revert`, by policy): an analysis check of its batch wave failed
 * its target after the upgrade succeeded, and its options.onFailure is rollback. Its completed
 * steps are reversed as after a failure; one whose steps cannot all be reversed stays succeeded,
 * with an `upgrade.rollback_refused` event that says why. Returns whether it moved.
 */
export async function revertSucceeded(db: Db, env: CoreEnv, u: Upgrade, why: string): Promise<boolean> {
  if (u.state !== 'succeeded' || u.options.onFailure !== 'rollback') return false;
  await lock(db, env, u.id);
  const by: By = { by: 'policy' };
  if (!(await policyMayRollBack(db, env, u, `onFailure is rollback after ${why}`))) return false;
  const ok = await moveUpgrade(db, env.clock, 'revert', {
    ...by,
    u: ref(u),
    from: 'succeeded',
    to: 'rolling_back',
    set: { ended_at: null },
    message: `onFailure is rollback: reversing its completed steps after ${why}`,
    data: { policy: 'onFailure', analysis: why },
  });
  if (ok) await finishRollbackIfDone(db, env, { ...u, state: 'rolling_back' }, 'policy');
  return ok;
}

/**
 * Prepares the policy's rollback of `u`; false (and an `upgrade.rollback_refused` event that says
 * why, no state change) when its completed steps cannot all be reversed.
 */
async function policyMayRollBack(db: Db, env: CoreEnv, u: Upgrade, intent: string): Promise<boolean> {
  try {
    await prepareRollback(db, env, u, { by: 'policy' });
    return true;
  } catch (err) {
    if (!(err instanceof RollbackRefused)) throw err;
    await appendEvent(
      db,
      {
        projectId: u.projectId,
        targetId: u.targetId,
        upgradeId: u.id,
        actor: 'policy',
        type: 'upgrade.rollback_refused',
        message: `${intent}, but ${err.message}`,
        data: { code: err.code, ...err.details },
      },
      env.clock,
    );
    return false;
  }
}

/** rolling_back -> rolled_back once no completed step is left to reverse. */
export async function finishRollbackIfDone(db: Db, env: CoreEnv, u: Upgrade, cause: Cause | By = 'executor'): Promise<void> {
  const by: By = typeof cause === 'string' ? { by: cause } : cause;
  const left = await db
    .selectFrom('steps')
    .select('id')
    .where('upgrade_id', '=', u.id)
    .where('rollback_order', 'is not', null)
    .where('state', 'in', ['succeeded', 'rolling_back'])
    .limit(1)
    .executeTakeFirst();
  if (left) return;
  const ok = await moveUpgrade(db, env.clock, 'rolled_back', {
    ...by,
    u: ref(u),
    from: 'rolling_back',
    to: 'rolled_back',
    set: { ended_at: isoNow(env.clock) },
    message: `rolled back to ${u.fromVersion}`,
  });
  if (!ok) return;
  const fromRelease = typeof u.options.fromRelease === 'string' ? u.options.fromRelease : '';
  await setTargetVersion(db, u.projectId, u.targetId, u.fromVersion, fromRelease, u.fromEngine);
  await moveStages(db, env.clock, 'rolled_back', {
    ...by,
    u: ref(u),
    idx: 'all',
    from: ['succeeded', 'running', 'failed'],
    to: 'rolled_back',
    stageCount: u.stageCount,
  });
}

/** rolling_back -> rolled_back for one step; the upgrade is rolled back when it was the last. */
export async function recordReversal(db: Db, env: CoreEnv, o: Outcome, effects?: (db: Db) => Promise<void>): Promise<boolean> {
  await lock(db, env, o.upgrade.id);
  const ok = await moveStep(db, env.clock, 'reversed', {
    by: 'executor',
    u: ref(o.upgrade),
    step: o.step,
    from: 'rolling_back',
    to: 'rolled_back',
    leaseOwner: o.leaseOwner,
    fence: o.fence,
    log: o.log,
    message: `${where(o.step)} reversed`,
  });
  if (!ok) return false;
  await effects?.(db);
  await finishRollbackIfDone(db, env, o.upgrade);
  return true;
}

/** A reversal failed: the step is completed again (a later rollback reverses it) and the upgrade fails. */
export async function recordReversalFailure(db: Db, env: CoreEnv, o: Outcome & { error: string }): Promise<boolean> {
  await lock(db, env, o.upgrade.id);
  const ok = await moveStep(db, env.clock, 'unreversed', {
    by: o.by,
    u: ref(o.upgrade),
    step: o.step,
    from: 'rolling_back',
    to: 'succeeded',
    leaseOwner: o.leaseOwner,
    fence: o.fence,
    recovered: o.recovered,
    log: o.log,
    message: `rollback of ${where(o.step)} failed: ${o.error}`,
  });
  if (!ok) return false;
  await moveUpgrade(db, env.clock, 'fail', {
    by: o.by === 'recovery' ? 'recovery' : 'executor',
    u: ref(o.upgrade),
    from: 'rolling_back',
    to: 'failed',
    stepId: o.step.id,
    set: { error: `rollback of ${where(o.step)} failed: ${o.error}`, error_code: 'ROLLBACK_FAILED' },
    message: o.error,
    data: { code: 'ROLLBACK_FAILED' },
  });
  return true;
}
