// Recovery: a step whose holder died (its lease expired, or its executor stopped or was declared
// lost) is taken back by the driver's rules, in one transaction guarded on the dead holder's
// lease owner and fence, so a holder that wakes up later cannot record anything:
//
//   rolling_back                         -> succeeded (driver rollbacks are idempotent; it is
//                                           reversed again)
//   running, idempotent (or a precheck)  -> pending (re-queued)
//   running, not idempotent: the driver's reconcile() says whether it took effect
//     not_applied                        -> pending
//     applied                            -> succeeded, with the topology as it is now; the
//                                           stage advances in the same transaction
//     unknown (or no reconcile)          -> failed STEP_OUTCOME_UNKNOWN (an operator decides)
//   a step of a cancelled upgrade (it is cancelling) that would be re-queued is cancelled
//   instead: the restore that follows deals with its node
//
// Every recovery counts in steps.recoveries. A step that would be re-queued after `limit`
// recoveries (LIFTGATE_STEP_RECOVERY_LIMIT, default 5) fails with STEP_RECOVERY_LIMIT instead:
// something about it keeps killing its executor. The driver is asked before the transaction
// starts (it may be slow), after the step's fence has moved on (fenceOut), so a holder that is
// still alive can no longer apply its effect; fault points mark the three places a crash can fall.
import { DriverError, type Driver, type StepContext } from '../../drivers/driver.ts';
import type { Step, Target, Upgrade } from '../../domain/types.ts';
import { isoNow } from '../../domain/clock.ts';
import type { Store } from '../../store/open.ts';
import { applyNodeFacts } from '../../store/targets-repo.ts';
import { setting, SETTINGS } from '../../domain/settings.ts';
import type { FaultPoints } from '../fault-points.ts';
import type { CoreEnv } from './env.ts';
import { recordFailure, recordReversalFailure, recordSuccess, lock } from './progress.ts';
import { fenceOut, moveStep } from './writes.ts';
import type { Db } from '../../store/schema.ts';

export const DEFAULT_STEP_RECOVERY_LIMIT = SETTINGS.LIFTGATE_STEP_RECOVERY_LIMIT.default;

/** LIFTGATE_STEP_RECOVERY_LIMIT: an integer from 1 to 1000 (src/domain/settings.ts); refuses anything else. */
export function recoveryLimitFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return setting('LIFTGATE_STEP_RECOVERY_LIMIT', env);
}

export interface RecoveryDeps {
  store: Store;
  env: CoreEnv;
  faults: FaultPoints;
  limit: number;
  /** the step's upgrade, target and driver, and a context for reconcile() */
  context(step: Step): Promise<{ upgrade: Upgrade; target: Target; driver: Driver } | null>;
  stepContext(step: Step, upgrade: Upgrade, target: Target): StepContext;
}

type Verdict = 'reverse_again' | 'requeue' | 'not_applied' | 'applied' | 'unknown';

/** The step's upgrade is cancelling and the step is not one of its restore steps. */
async function cancelledMeanwhile(db: Db, step: Step): Promise<boolean> {
  const u = await db
    .selectFrom('upgrades')
    .select(['state', 'current_stage'])
    .where('id', '=', step.upgradeId)
    .executeTakeFirst();
  return u?.state === 'cancelling' && step.stageIndex !== u.current_stage;
}

/** Recovers one orphaned step; returns whether this call recorded the recovery. */
export async function recoverStep(d: RecoveryDeps, orphan: Step): Promise<boolean> {
  let step = orphan;
  d.faults.hit('recovery.started', step.action);
  const c = await d.context(step);
  if (!c) return false;
  let verdict: Verdict;
  let nodes: Awaited<ReturnType<Driver['inspect']>>['nodes'] = [];
  if (step.state === 'rolling_back') verdict = 'reverse_again';
  else if (c.driver.stepPolicy(step.action, c.target).idempotent || step.action === 'precheck') verdict = 'requeue';
  else {
    // Fence the holder out before asking: a holder that is only slow (frozen, cut off) could
    // otherwise apply its effect after reconcile() said not_applied, and the re-queued step
    // would then apply it a second time. Another recovery that got here first wins.
    if (!(await d.store.unit.run((trx) => fenceOut(trx, step)))) return false;
    step = { ...step, fence: step.fence + 1 };
    verdict = c.driver.reconcile ? await c.driver.reconcile(d.stepContext(step, c.upgrade, c.target)) : 'unknown';
    // it took effect before the crash: record it with the topology as it is now
    if (verdict === 'applied') nodes = (await c.driver.inspect(c.target).catch(() => ({ nodes: [] }))).nodes;
  }
  d.faults.hit('recovery.reconciled', step.action);

  const { env } = d;
  const ts = isoNow(env.clock);
  const exhausted = step.recoveries >= d.limit;
  const base = {
    step,
    upgrade: c.upgrade,
    leaseOwner: step.leaseOwner,
    fence: step.fence,
    by: 'recovery' as const,
    recovered: true,
  };
  const limitError = `recovered ${step.recoveries} times (the limit is ${d.limit}); its executor keeps stopping while it runs`;
  const recorded = await d.store.unit.run(async (trx) => {
    switch (verdict) {
      case 'reverse_again':
        if (exhausted) {
          return recordReversalFailure(trx, env, {
            ...base,
            log: [...step.log, `${ts} recovery limit reached`],
            error: `STEP_RECOVERY_LIMIT: ${limitError}`,
          });
        }
        await lock(trx, env, c.upgrade.id);
        return moveStep(trx, env.clock, 'reverse_again', {
          ...base,
          u: c.upgrade,
          from: 'rolling_back',
          to: 'succeeded',
          message: 'rollback interrupted; it will run again',
        });
      case 'requeue':
      case 'not_applied':
        if (exhausted) {
          return recordFailure(trx, env, {
            ...base,
            log: [...step.log, `${ts} recovery limit reached`],
            code: 'STEP_RECOVERY_LIMIT',
            error: limitError,
          });
        }
        await lock(trx, env, c.upgrade.id);
        if (await cancelledMeanwhile(trx, step)) {
          return moveStep(trx, env.clock, 'abort', {
            ...base,
            u: c.upgrade,
            from: 'running',
            to: 'cancelled',
            error: 'its upgrade was cancelled while it ran',
            message: 'lease expired; its upgrade is cancelling, so it is not run again',
            data: { recoveries: step.recoveries + 1 },
          });
        }
        return moveStep(trx, env.clock, 'requeue', {
          ...base,
          u: c.upgrade,
          from: 'running',
          to: 'pending',
          message:
            verdict === 'requeue'
              ? 'lease expired; idempotent step re-queued'
              : 'lease expired; the step had not taken effect and is re-queued',
          data: { recoveries: step.recoveries + 1 },
        });
      case 'applied':
        return (
          await recordSuccess(
            trx,
            env,
            {
              ...base,
              log: [...step.log, `${ts} recovered: effect found`],
              message: 'lease expired; the step had taken effect and is recorded as done',
            },
            async (db) => {
              if (nodes.length > 0) await applyNodeFacts(db, c.upgrade.projectId, c.upgrade.targetId, nodes);
            },
          )
        ).recorded;
      case 'unknown': {
        const e = new DriverError(
          'STEP_OUTCOME_UNKNOWN',
          'the step was running when Liftgate stopped and is not safe to run again; check the node, then retry or skip',
        );
        return recordFailure(trx, env, { ...base, log: step.log, code: e.code, error: e.message });
      }
    }
  });
  if (recorded) d.faults.hit('recovery.recorded', step.action);
  return recorded;
}
