// Every persisted upgrade/stage/step transition is one guarded statement here: it names the
// state it expects, and zero changed rows means the caller lost a race (another executor, an
// operator action, a recovered lease) and must not act as if it had won.
//
// Upgrade states
//   scheduled     waiting for its time or maintenance window (not_before)
//   ready         due; the executor starts it
//   prechecking   stage 0 (precheck) is running
//   running       later stages are running
//   paused        an operator paused it: running steps finish, nothing new starts
//   failed        a step failed; an operator may retry, skip, roll back or cancel
//   rolling_back  completed steps are being reversed, newest first
//   succeeded | cancelled | rolled_back   final
// Step states
//   pending -> running -> succeeded | failed;  pending -> skipped | cancelled;
//   succeeded -> rolling_back -> rolled_back (rollback)
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../store/schema.ts';

export type Db = Kysely<Database> | Transaction<Database>;

export const now = (): string => new Date().toISOString();

/**
 * Serialises the writers of one upgrade: on PostgreSQL, concurrent transactions that record
 * parallel steps would otherwise each see the other's step as still running and neither would
 * advance the stage. SQLite has a single writer already.
 */
export async function lockUpgrade(db: Db, id: string, supportsRowLocks: boolean): Promise<void> {
  if (!supportsRowLocks) return;
  await db.selectFrom('upgrades').select('id').where('id', '=', id).forUpdate().execute();
}

export interface EventInput {
  projectId: string;
  targetId?: string | null;
  upgradeId?: string | null;
  stepId?: string | null;
  actor: string;
  type: string;
  fromState?: string | null;
  toState?: string | null;
  message: string;
  data?: Record<string, unknown>;
}

export async function appendEvent(db: Db, e: EventInput): Promise<void> {
  await db
    .insertInto('events')
    .values({
      project_id: e.projectId,
      target_id: e.targetId ?? null,
      upgrade_id: e.upgradeId ?? null,
      step_id: e.stepId ?? null,
      actor: e.actor,
      type: e.type,
      from_state: e.fromState ?? null,
      to_state: e.toState ?? null,
      message: e.message,
      data: JSON.stringify(e.data ?? {}),
      created_at: now(),
    })
    .execute();
}

export interface UpgradeTransition {
  id: string;
  from: readonly string[];
  to: string;
  set?: Partial<{
    current_stage: number;
    error: string | null;
    error_code: string | null;
    started_at: string | null;
    ended_at: string | null;
    retries: number;
    not_before: string | null;
    precheck_report_id: string | null;
  }>;
  incrementRetries?: boolean;
  /** also require current_stage to equal this (stage advancement) */
  atStage?: number;
}

/** Moves an upgrade between states; returns whether this caller made the change. */
export async function transitionUpgrade(db: Db, t: UpgradeTransition): Promise<boolean> {
  const res = await db
    .updateTable('upgrades')
    .set({
      state: t.to,
      updated_at: now(),
      ...t.set,
      ...(t.incrementRetries ? { retries: sql<number>`retries + 1` } : {}),
    })
    .where('id', '=', t.id)
    .where('state', 'in', t.from as string[])
    .$if(t.atStage !== undefined, (q) => q.where('current_stage', '=', t.atStage as number))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

export async function transitionStage(
  db: Db,
  upgradeId: string,
  idx: number,
  from: readonly string[],
  to: string,
): Promise<boolean> {
  const ts = now();
  const ending = ['succeeded', 'failed', 'cancelled', 'rolled_back'].includes(to);
  const res = await db
    .updateTable('stages')
    .set({
      state: to,
      ...(to === 'running' ? { started_at: sql<string>`coalesce(started_at, ${ts})` } : {}),
      ...(ending ? { ended_at: ts } : { ended_at: null }),
    })
    .where('upgrade_id', '=', upgradeId)
    .where('idx', '=', idx)
    .where('state', 'in', from as string[])
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

export interface StepOutcome {
  id: string;
  from: string;
  to: string;
  leaseOwner: string | null;
  error?: string | null;
  log?: string[];
  /** what the driver reported (StepResult.data), kept with the step */
  result?: Record<string, unknown>;
}

/** Records a step outcome, guarded on its state and (when leased) on the lease owner. */
export async function transitionStep(db: Db, o: StepOutcome): Promise<boolean> {
  let q = db
    .updateTable('steps')
    .set({
      state: o.to,
      lease_owner: null,
      lease_expires_at: null,
      ended_at: now(),
      ...(o.error !== undefined ? { error: o.error } : {}),
      ...(o.log !== undefined ? { log: JSON.stringify(o.log) } : {}),
      ...(o.result !== undefined ? { result: JSON.stringify(o.result) } : {}),
    })
    .where('id', '=', o.id)
    .where('state', '=', o.from);
  if (o.leaseOwner !== null) q = q.where('lease_owner', '=', o.leaseOwner);
  const res = await q.executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Bulk transition of the steps of one upgrade in one state (operator actions). */
export async function transitionSteps(
  db: Db,
  upgradeId: string,
  from: string,
  to: string,
  extra: { stageIndex?: number; clearError?: boolean } = {},
): Promise<number> {
  let q = db
    .updateTable('steps')
    .set({
      state: to,
      ...(to === 'pending' ? { ended_at: null, started_at: null } : {}),
      ...(to === 'cancelled' || to === 'skipped' ? { ended_at: now() } : {}),
      ...(extra.clearError ? { error: null } : {}),
    })
    .where('upgrade_id', '=', upgradeId)
    .where('state', '=', from);
  if (extra.stageIndex !== undefined) q = q.where('stage_index', '=', extra.stageIndex);
  const res = await q.executeTakeFirst();
  return Number(res.numUpdatedRows);
}
