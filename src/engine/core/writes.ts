// The guarded statements of the state core: the only writes of the upgrades, stages and steps
// tables in Liftgate. Each transition names a rule of ./table.ts, is one UPDATE guarded on the
// state it expects (WHERE id = ? AND state IN (...) [AND lease_owner = ? AND fence = ?]), and
// appends its event in the caller's transaction. Zero changed rows means the caller lost a race
// (another executor, an operator, recovery) and must not act as if it had won.
import { sql, type Insertable, type RawBuilder, type Selectable, type Updateable } from 'kysely';
import { isoNow, type Clock } from '../../domain/clock.ts';
import type { StageState, StepState, UpgradeState } from '../../domain/types.ts';
import type { Store } from '../../store/open.ts';
import type { StageRow, StepRow, UpgradeRow } from '../../store/schema.ts';
import { appendEvent, appendEvents, eventRow, type EventInput } from './events.ts';
import type { Db } from '../../store/schema.ts';
import { checkRule, type Cause, type StageRule, type StepRule, type UpgradeRule } from './table.ts';

/** What an event needs to know of its upgrade. */
export interface UpgradeRef {
  id: string;
  projectId: string;
  targetId: string;
}

/** Who causes a transition: the cause checked against the table, and the actor the event names. */
export interface By {
  by: Cause;
  /** the principal (operators); system causes are named by their cause */
  actor?: string;
}

const actorOf = (b: By) => (b.by === 'operator' || b.by === 'scheduler' ? (b.actor ?? b.by) : b.by);

/** The event a transition of one upgrade (or of its stages or steps) appends. */
function transitionEvent(
  m: By & { u: UpgradeRef },
  type: string,
  from: string,
  to: string,
  what: { stepId?: string | null; message: string; data?: Record<string, unknown> },
): EventInput {
  return {
    projectId: m.u.projectId,
    targetId: m.u.targetId,
    upgradeId: m.u.id,
    stepId: what.stepId ?? null,
    actor: actorOf(m),
    type,
    fromState: from,
    toState: to,
    message: what.message,
    data: what.data,
  };
}
const where = (s: { name: string; node: string | null }) => `${s.name}${s.node ? ` on ${s.node}` : ''}`;

type UpgradeSet = Partial<
  Pick<
    Updateable<UpgradeRow>,
    | 'current_stage'
    | 'stage_count'
    | 'error'
    | 'error_code'
    | 'started_at'
    | 'ended_at'
    | 'not_before'
    | 'precheck_report_id'
    | 'pending_reason'
    | 'hold'
    | 'run_until'
    | 'schedule'
  >
>;

export interface UpgradeMove extends By {
  u: UpgradeRef;
  from: UpgradeState;
  to: UpgradeState;
  set?: UpgradeSet;
  incrementRetries?: boolean;
  /** also require current_stage to equal this (stage advancement) */
  atStage?: number;
  /** also require this hold (a batch releasing its upgrade); null = no hold */
  hold?: string | null;
  message: string;
  stepId?: string;
  data?: Record<string, unknown>;
}

/** One upgrade transition and its event; returns whether this caller made the change. */
export async function moveUpgrade(db: Db, clock: Clock, rule: UpgradeRule, m: UpgradeMove): Promise<boolean> {
  const r = checkRule('upgrade', rule, [m.from], m.to, m.by);
  const res = await db
    .updateTable('upgrades')
    .set({
      state: m.to,
      updated_at: isoNow(clock),
      ...m.set,
      ...(m.incrementRetries ? { retries: sql<number>`retries + 1` } : {}),
    })
    .where('id', '=', m.u.id)
    .where('state', '=', m.from)
    .$if(m.atStage !== undefined, (q) => q.where('current_stage', '=', m.atStage as number))
    .$if(m.hold !== undefined, (q) => (m.hold === null ? q.where('hold', 'is', null) : q.where('hold', '=', m.hold as string)))
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) return false;
  await appendEvent(db, transitionEvent(m, r.event, m.from, m.to, { stepId: m.stepId, message: m.message, data: m.data }), clock);
  return true;
}

/**
 * Changes an upgrade's bookkeeping (its schedule, hold, pending reason, report) while it is in
 * one of `states`; its state does not change, so no transition and no event.
 */
export async function updateUpgrade(
  db: Db,
  clock: Clock,
  id: string,
  states: readonly UpgradeState[],
  set: UpgradeSet,
  hold?: string | null,
): Promise<boolean> {
  const res = await db
    .updateTable('upgrades')
    .set({ ...set, updated_at: isoNow(clock) })
    .where('id', '=', id)
    .where('state', 'in', states as UpgradeState[])
    .$if(hold !== undefined, (q) => (hold === null ? q.where('hold', 'is', null) : q.where('hold', '=', hold as string)))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

export interface StageMove extends By {
  u: UpgradeRef;
  /** one stage, or every stage of the upgrade in one of `from` */
  idx: number | 'all';
  from: readonly StageState[];
  to: StageState;
  stageCount?: number;
}

/** Stage transitions (one stage, or all in `from`), each with its event; returns the stages moved. */
export async function moveStages(db: Db, clock: Clock, rule: StageRule, m: StageMove): Promise<number> {
  const r = checkRule('stage', rule, m.from, m.to, m.by);
  const ts = isoNow(clock);
  const ending = ['succeeded', 'failed', 'cancelled', 'rolled_back'].includes(m.to);
  const events: EventInput[] = [];
  // one guarded statement per expected state, so each event names the state the stage left
  for (const from of m.from) {
    const rows = await db
      .updateTable('stages')
      .set({
        state: m.to,
        ...(m.to === 'running' ? { started_at: sql<string>`coalesce(started_at, ${ts})` } : {}),
        ...(ending ? { ended_at: ts } : { ended_at: null }),
      })
      .where('upgrade_id', '=', m.u.id)
      .$if(m.idx !== 'all', (q) => q.where('idx', '=', m.idx as number))
      .where('state', '=', from)
      .returning(['idx', 'name'])
      .execute();
    for (const s of rows) {
      const n = m.stageCount ? `${s.idx + 1}/${m.stageCount}` : `${s.idx + 1}`;
      events.push(
        transitionEvent(m, r.event, from, m.to, {
          message: `stage ${n} ${s.name}: ${m.to.replace('_', ' ')}`,
          data: { stage: s.idx },
        }),
      );
    }
    if (rows.length > 0 && m.idx !== 'all') break;
  }
  await appendEvents(db, events, clock);
  return events.length;
}

export interface StageAdvance extends By {
  u: UpgradeRef;
  /** the upgrade's state and stage as read under its lock; the counter move is guarded on both */
  state: UpgradeState;
  stage: number;
  stageCount: number;
}

/**
 * One statement (writable CTEs): the current stage succeeds, the upgrade's stage counter moves
 * on (guarded on its state and stage), the next stage starts, and each stage's event is
 * appended. The same moves as moveStages 'succeed', the counter update and moveStages 'start'.
 * Returns whether the counter moved.
 */
export async function advanceStageInOne(db: Db, clock: Clock, m: StageAdvance): Promise<boolean> {
  const done = checkRule('stage', 'succeed', ['running', 'pending'], 'succeeded', m.by);
  const started = checkRule('stage', 'start', ['pending'], 'running', m.by);
  const ts = isoNow(clock);
  const next = m.stage + 1;
  const actor = actorOf(m);
  const event = (alias: string, type: string, from: ReturnType<typeof sql>, to: string) => sql`
    SELECT ${m.u.projectId}, ${m.u.targetId}, ${m.u.id}, CAST(NULL AS TEXT), ${actor}, ${type}, ${from}, ${to},
      'stage ' || (${sql.ref(`${alias}.idx`)} + 1) || '/' || ${String(m.stageCount)} || ' ' || ${sql.ref(`${alias}.name`)} || ': ' || ${to.replace('_', ' ')},
      '{"stage":' || ${sql.ref(`${alias}.idx`)} || '}', ${ts}`;
  const res = await sql<{ moved: number }>`
    WITH done AS (
      -- the self-join returns the state each stage left, for its event
      UPDATE stages s SET state = 'succeeded', ended_at = ${ts}
      FROM stages o
      WHERE s.upgrade_id = ${m.u.id} AND s.idx = ${m.stage} AND s.state IN ('running', 'pending')
        AND o.upgrade_id = s.upgrade_id AND o.idx = s.idx
      RETURNING s.idx, s.name, o.state AS left_state),
    counter AS (
      UPDATE upgrades SET current_stage = ${next}, updated_at = ${ts}
      WHERE id = ${m.u.id} AND state = ${m.state} AND current_stage = ${m.stage}
      RETURNING id),
    started AS (
      UPDATE stages SET state = 'running', started_at = coalesce(started_at, ${ts}), ended_at = NULL
      WHERE upgrade_id = ${m.u.id} AND idx = ${next} AND state = 'pending' AND EXISTS (SELECT 1 FROM counter)
      RETURNING idx, name),
    ev AS (
      INSERT INTO events (project_id, target_id, upgrade_id, step_id, actor, type, from_state, to_state, message, data, created_at)
      ${event('d', done.event, sql.ref('d.left_state'), 'succeeded')} FROM done d
      UNION ALL
      ${event('n', started.event, sql`'pending'`, 'running')} FROM started n)
    SELECT (SELECT count(*) FROM counter)::int AS moved`.execute(db);
  return res.rows[0]?.moved === 1;
}

export interface StepRef {
  id: string;
  upgradeId: string;
  name: string;
  node: string | null;
}

export interface StepMove extends By {
  u: UpgradeRef;
  step: StepRef;
  from: StepState;
  to: StepState;
  /** the holder's lease (null: not leased) and its fencing token; both are checked */
  leaseOwner: string | null;
  fence: number;
  error?: string | null;
  log?: string[];
  result?: Record<string, unknown>;
  /** recovery: the step is taken from its holder, so its fence moves on and the count grows */
  recovered?: boolean;
  /** a cancel takes the step from a live holder: its fence moves on (no recovery counted) */
  fenceHolder?: boolean;
  /** an automatic retry: counted, and the step is not claimed again before this time */
  retryAt?: string;
  message?: string;
  data?: Record<string, unknown>;
}

/** The guarded UPDATE of one step's outcome (not executed) and the event it appends. */
function stepOutcome(db: Db, clock: Clock, rule: StepRule, m: StepMove) {
  const r = checkRule('step', rule, [m.from], m.to, m.by);
  const ts = isoNow(clock);
  const update = db
    .updateTable('steps')
    .set({
      state: m.to,
      lease_owner: null,
      lease_expires_at: null,
      ...(m.to === 'pending' ? { ended_at: null } : { ended_at: ts }),
      ...(m.error !== undefined ? { error: m.error } : {}),
      ...(m.log !== undefined ? { log: JSON.stringify(m.log) } : {}),
      ...(m.result !== undefined ? { result: JSON.stringify(m.result) } : {}),
      ...(m.recovered ? { fence: m.fence + 1, recoveries: sql<number>`recoveries + 1` } : {}),
      ...(m.fenceHolder && !m.recovered ? { fence: m.fence + 1 } : {}),
      ...(m.retryAt !== undefined ? { not_before: m.retryAt, auto_retries: sql<number>`auto_retries + 1` } : {}),
    })
    .where('id', '=', m.step.id)
    .where('state', '=', m.from)
    .where('fence', '=', m.fence)
    .where('lease_owner', m.leaseOwner === null ? 'is' : '=', m.leaseOwner);
  const event = transitionEvent(m, r.event, m.from, m.to, {
    stepId: m.step.id,
    message: m.message ?? `${where(m.step)} ${m.to.replace('_', ' ')}`,
    data: m.data,
  });
  return { update, event };
}

/** Records a step outcome, guarded on its state, lease owner and fence, with its event. */
export async function moveStep(db: Db, clock: Clock, rule: StepRule, m: StepMove): Promise<boolean> {
  const { update, event } = stepOutcome(db, clock, rule, m);
  const res = await update.executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) return false;
  await appendEvent(db, event, clock);
  return true;
}

/** Whether a stage of an upgrade has a step that is not done (succeeded or skipped), `except` aside. */
export async function stageOpen(db: Db, upgradeId: string, stage: number, except?: string): Promise<boolean> {
  const open = await db
    .selectFrom('steps')
    .select('id')
    .where('upgrade_id', '=', upgradeId)
    .where('stage_index', '=', stage)
    .where('state', 'not in', ['succeeded', 'skipped'])
    .$if(except !== undefined, (q) => q.where('id', '!=', except as string))
    .limit(1)
    .executeTakeFirst();
  return open !== undefined;
}

export interface StepMoveInStage {
  /** this caller made the change */
  moved: boolean;
  /** another step of the step's stage is not done yet (known only once moved) */
  stageOpen: boolean;
  /** the upgrade's row, read after the move, when the stage was found done (writable CTEs only) */
  upgrade?: Selectable<UpgradeRow>;
}

/**
 * moveStep, then whether the step's stage has another step that is not done. The caller holds
 * the upgrade's lock (taken in an earlier statement, so this one sees every outcome recorded
 * before it). With writable CTEs (PostgreSQL) the update, its event, the stage's check and the
 * upgrade's row are one statement; otherwise they are three, in the caller's transaction.
 */
export async function moveStepInStage(
  db: Db,
  clock: Clock,
  writableCte: boolean,
  rule: StepRule,
  m: StepMove & { stage: number },
): Promise<StepMoveInStage> {
  if (!writableCte) {
    if (!(await moveStep(db, clock, rule, m))) return { moved: false, stageOpen: false };
    return { moved: true, stageOpen: await stageOpen(db, m.u.id, m.stage) };
  }
  const { update, event } = stepOutcome(db, clock, rule, m);
  const e = eventRow(event, isoNow(clock));
  // one statement sees one snapshot: the moved step still shows its old state to the check, so
  // the check leaves it out
  const res = await sql<Selectable<UpgradeRow> & { moved_: number; open_: boolean }>`
    WITH moved AS (${update.returning('id')}),
    ev AS (
      INSERT INTO events (project_id, target_id, upgrade_id, step_id, actor, type, from_state, to_state, message, data, created_at)
      SELECT ${e.project_id}, ${e.target_id}, ${e.upgrade_id}, ${e.step_id}, ${e.actor}, ${e.type}, ${e.from_state},
        ${e.to_state}, ${e.message}, ${e.data}, ${e.created_at} FROM moved)
    SELECT u.*, (SELECT count(*) FROM moved)::int AS moved_,
      EXISTS (
        SELECT 1 FROM steps p
        WHERE p.upgrade_id = ${m.u.id} AND p.stage_index = ${m.stage} AND p.state NOT IN ('succeeded', 'skipped')
          AND p.id <> ${m.step.id}) AS open_
    FROM (SELECT 1) one LEFT JOIN upgrades u ON u.id = ${m.u.id}`.execute(db);
  const row = res.rows[0];
  if (!row) return { moved: false, stageOpen: false };
  const { moved_: moved, open_: open, ...upgrade } = row;
  if (moved !== 1) return { moved: false, stageOpen: false };
  return { moved: true, stageOpen: open, ...(!open && upgrade.id ? { upgrade: upgrade as Selectable<UpgradeRow> } : {}) };
}

export interface StepsMove extends By {
  u: UpgradeRef;
  from: StepState;
  to: StepState;
  stageIndex?: number;
  clearError?: boolean;
}

/** Bulk transition of an upgrade's steps in one state (operator actions), an event per step. */
export async function moveSteps(db: Db, clock: Clock, rule: StepRule, m: StepsMove): Promise<number> {
  const r = checkRule('step', rule, [m.from], m.to, m.by);
  const rows = await db
    .updateTable('steps')
    .set({
      state: m.to,
      // an operator starts it afresh: no backoff, and the automatic retries count again from none
      ...(m.to === 'pending' ? { ended_at: null, started_at: null, not_before: null, auto_retries: 0 } : {}),
      ...(m.to === 'cancelled' || m.to === 'skipped' ? { ended_at: isoNow(clock) } : {}),
      ...(m.clearError ? { error: null } : {}),
    })
    .where('upgrade_id', '=', m.u.id)
    .where('state', '=', m.from)
    .$if(m.stageIndex !== undefined, (q) => q.where('stage_index', '=', m.stageIndex as number))
    .returning(['id', 'name', 'node'])
    .execute();
  await appendEvents(
    db,
    rows.map((s) =>
      transitionEvent(m, r.event, m.from, m.to, { stepId: s.id, message: `${where(s)} ${m.to.replace('_', ' ')}` }),
    ),
    clock,
  );
  return rows.length;
}

/**
 * Moves a running step's fence on, guarded on its holder and fence: recovery does this before it
 * asks the driver whether the holder's effect landed. A driver checks the fence under the step's
 * row lock as its effect commits, so from then on the old holder's effect is refused, and what
 * reconcile() sees is all that holder will ever have done. No state changes, so no event.
 */
export async function fenceOut(db: Db, step: { id: string; fence: number; leaseOwner: string | null }): Promise<boolean> {
  const res = await db
    .updateTable('steps')
    .set({ fence: step.fence + 1 })
    .where('id', '=', step.id)
    .where('state', '=', 'running')
    .where('fence', '=', step.fence)
    .where('lease_owner', step.leaseOwner === null ? 'is' : '=', step.leaseOwner)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/**
 * Renews a running step's lease while its holder (and claim) still own it; false when they no
 * longer do (a cancel stopped the step, or recovery took it): the holder must stop acting.
 */
export async function renewLease(db: Db, step: { id: string; fence: number }, owner: string, until: string): Promise<boolean> {
  return updateHeld(db, step, owner, { lease_expires_at: until });
}

/** An update of a running step that only its holder (owner and fence) may make; false when it is not. */
async function updateHeld(
  db: Db,
  step: { id: string; fence: number },
  owner: string,
  set: { lease_expires_at?: string; progress?: string; log?: string },
): Promise<boolean> {
  const res = await db
    .updateTable('steps')
    .set(set)
    .where('id', '=', step.id)
    .where('lease_owner', '=', owner)
    .where('fence', '=', step.fence)
    .where('state', 'in', ['running', 'rolling_back'])
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/**
 * A running step's live progress and its log so far, guarded on its holder and fence like a
 * lease renewal (no state changes, so no event); false when the step is no longer the holder's.
 */
export async function recordProgress(
  db: Db,
  step: { id: string; fence: number },
  owner: string,
  progress: Record<string, unknown>,
  log: readonly string[],
): Promise<boolean> {
  return updateHeld(db, step, owner, { progress: JSON.stringify(progress), log: JSON.stringify(log) });
}

/** The reversal order of completed steps (1 = reversed first), set when a rollback is accepted. */
export async function setRollbackOrder(db: Db, ids: readonly string[]): Promise<void> {
  let order = 1;
  for (const id of ids) await db.updateTable('steps').set({ rollback_order: order++ }).where('id', '=', id).execute();
}

// ---- claims -------------------------------------------------------------------------------

export interface ClaimRequest {
  owner: string;
  /**
   * the claim's time (from the executor's clock) and the lease's end. Given as functions they are
   * read when the claim runs (inside its unit of work on the single-writer store): a claim that
   * waited for the store is judged at the time it runs, so it cannot start a step of a window
   * that closed (or reopened) meanwhile under a time from before.
   */
  at: string | (() => string);
  leaseUntil: string | (() => string);
  limit: number;
  /** search only these upgrades (the ones that just changed); null = every running upgrade */
  only?: string[] | null;
  /**
   * claim only while the owner's row in `executors` says running. An executor declared lost
   * claims nothing until its heartbeat finds out and it registers again under a new id: a step
   * claimed under the lost id is taken back by the next recovery sweep, again and again, until
   * it fails with STEP_RECOVERY_LIMIT.
   */
  registered?: boolean;
  /**
   * PostgreSQL: each claimed row also carries its target's row and node rows as JSON
   * (`target_json_`, `nodes_json_`), read in the claim's own statement: what the step runs with
   * costs no second round trip.
   */
  withTargets?: boolean;
}

/** A claimed step's row; with ClaimRequest.withTargets (PostgreSQL) its target's rows as JSON. */
export type ClaimedRow = StepRow & { target_json_?: string | null; nodes_json_?: string | null };

/** the claim's guard on its owner's executor row (see ClaimRequest.registered) */
const ownerRunning = (r: ClaimRequest) =>
  r.registered ? sql`AND EXISTS (SELECT 1 FROM executors e WHERE e.id = ${r.owner} AND e.state = 'running')` : sql``;

/**
 * The step.started (or step.rolling_back) events of claimed steps. PostgreSQL inserts them in
 * the claim's own statement (a data-modifying CTE); SQLite, which has none, runs the claim and
 * the insert as one unit of work.
 */
const claimEvents = (type: string, from: string, to: string, owner: string, at: string) => sql`
  INSERT INTO events (project_id, target_id, upgrade_id, step_id, actor, type, from_state, to_state, message, data, created_at)
  SELECT u.project_id, u.target_id, c.upgrade_id, c.id, 'executor', ${type}, ${from}, ${to},
    c.name || coalesce(' on ' || c.node, '') || ' ' || ${type === 'step.started' ? 'started' : 'being reversed'}
      || ' (attempt ' || c.attempts || ' on ' || CAST(${owner} AS TEXT) || ')',
    '{"attempt":' || c.attempts || ',"fence":' || c.fence || '}', ${at}`;

type Claim = { update: ReturnType<typeof sql>; events: ReturnType<typeof sql> };

const read = (v: string | (() => string)): string => (typeof v === 'function' ? v() : v);

async function claimWith(store: Store, r: ClaimRequest, build: (at: string, leaseUntil: string) => Claim): Promise<ClaimedRow[]> {
  if (store.caps.supportsSkipLocked) {
    const { update, events } = build(read(r.at), read(r.leaseUntil));
    const select = r.withTargets
      ? sql`SELECT c.*, row_to_json(t)::text AS target_json_,
          (SELECT json_agg(n ORDER BY n.ord)::text FROM nodes n WHERE n.project_id = t.project_id AND n.target_id = t.id) AS nodes_json_
        FROM claimed c JOIN upgrades u ON u.id = c.upgrade_id
        LEFT JOIN targets t ON t.project_id = u.project_id AND t.id = u.target_id`
      : sql`SELECT * FROM claimed`;
    const res = await sql<ClaimedRow>`
      WITH claimed AS (${update} RETURNING *),
      ev AS (${events} FROM claimed c JOIN upgrades u ON u.id = c.upgrade_id)
      ${select}`.execute(store.db);
    return res.rows;
  }
  return store.unit.run(async (trx) => {
    const { update, events } = build(read(r.at), read(r.leaseUntil));
    const res = await sql<StepRow>`${update} RETURNING *`.execute(trx);
    if (res.rows.length > 0) {
      const ids = res.rows.map((r) => r.id);
      await sql`${events} FROM steps c JOIN upgrades u ON u.id = c.upgrade_id WHERE c.id IN (${sql.join(ids)}) ORDER BY c.seq`.execute(
        trx,
      );
    }
    return res.rows;
  });
}

/**
 * pending -> running for the steps of an upgrade's current stage whose lane predecessors are done,
 * in the upgrades `upgrades` admits (a condition on `u`, given the claim's time).
 */
function claimPendingSteps(store: Store, r: ClaimRequest, upgrades: (at: string) => RawBuilder<unknown>): Promise<ClaimedRow[]> {
  checkRule('step', 'claim', ['pending'], 'running', 'executor');
  const skipLocked = store.caps.supportsSkipLocked ? sql`FOR UPDATE OF s SKIP LOCKED` : sql``;
  return claimWith(store, r, (at, leaseUntil) => ({
    update: sql`
    UPDATE steps SET state = 'running', lease_owner = ${r.owner}, lease_expires_at = ${leaseUntil},
      attempts = attempts + 1, fence = fence + 1, started_at = ${at}, ended_at = NULL, not_before = NULL
    WHERE id IN (
      SELECT s.id FROM upgrades u
      JOIN steps s ON s.upgrade_id = u.id AND s.stage_index = u.current_stage
      -- (state || '') keeps the planner from driving the search from every pending step of
      -- the fleet: it must start from the upgrades and read only their current stage
      WHERE ${upgrades(at)} AND (s.state || '') = 'pending' ${ownerRunning(r)}
        -- a step retried after a transient failure waits for its backoff
        AND (s.not_before IS NULL OR s.not_before <= ${at})
        AND NOT EXISTS (
          SELECT 1 FROM steps p
          WHERE p.upgrade_id = s.upgrade_id AND p.stage_index = s.stage_index AND p.lane = s.lane
            AND p.ord < s.ord AND p.state NOT IN ('succeeded', 'skipped'))
      ORDER BY u.num, s.seq
      LIMIT ${r.limit} ${skipLocked})
    AND state = 'pending'`,
    events: claimEvents('step.started', 'pending', 'running', r.owner, at),
  }));
}

/** The steps of running upgrades (`r.only`: of these upgrades only), within their window. */
export async function claimSteps(store: Store, r: ClaimRequest): Promise<ClaimedRow[]> {
  const only = r.only && r.only.length <= 500 ? r.only : null;
  const scope = only ? sql`AND u.id IN (${sql.join(only)})` : sql``;
  // its maintenance window (or an exclusion) closes at run_until: no new step after that
  return claimPendingSteps(
    store,
    r,
    (at) => sql`u.state IN ('prechecking', 'running') ${scope} AND (u.run_until IS NULL OR u.run_until > ${at})`,
  );
}

/**
 * The restore steps of cancelling upgrades (their current stage is the `Restore service` stage a
 * cancel added). They wait while any other step of the upgrade still runs (one the driver did not
 * let the cancel stop), and ignore the maintenance window: bringing a node back into service is
 * never held for a window.
 */
export async function claimRestoreSteps(store: Store, r: ClaimRequest): Promise<ClaimedRow[]> {
  return claimPendingSteps(
    store,
    r,
    () => sql`u.state = 'cancelling' AND NOT EXISTS (SELECT 1 FROM steps o WHERE o.upgrade_id = u.id AND o.state = 'running')`,
  );
}

/** succeeded -> rolling_back for the newest not-yet-reversed step of each rolling-back upgrade */
export async function claimRollbackSteps(store: Store, r: ClaimRequest): Promise<ClaimedRow[]> {
  checkRule('step', 'reverse', ['succeeded'], 'rolling_back', 'executor');
  const skipLocked = store.caps.supportsSkipLocked ? sql`FOR UPDATE OF s SKIP LOCKED` : sql``;
  return claimWith(store, r, (at, leaseUntil) => ({
    update: sql`
    UPDATE steps SET state = 'rolling_back', lease_owner = ${r.owner}, lease_expires_at = ${leaseUntil},
      attempts = attempts + 1, fence = fence + 1
    WHERE id IN (
      SELECT s.id FROM upgrades u
      JOIN steps s ON s.upgrade_id = u.id AND s.rollback_order IS NOT NULL
      WHERE u.state = 'rolling_back' AND (s.state || '') = 'succeeded' ${ownerRunning(r)}
        AND NOT EXISTS (
          SELECT 1 FROM steps p WHERE p.upgrade_id = s.upgrade_id AND p.rollback_order IS NOT NULL
            AND p.rollback_order < s.rollback_order AND p.state IN ('succeeded', 'rolling_back'))
      ORDER BY u.num
      LIMIT ${r.limit} ${skipLocked})
    AND state = 'succeeded'`,
    events: claimEvents('step.rolling_back', 'succeeded', 'rolling_back', r.owner, at),
  }));
}

// ---- creation and removal ------------------------------------------------------------------

export interface NewUpgrade {
  upgrade: Insertable<UpgradeRow>;
  stages: Insertable<StageRow>[];
  steps: Insertable<StepRow>[];
  by: By;
  message: string;
  data?: Record<string, unknown>;
}

/** Inserts an upgrade with its stages and steps in their first states, and its creation event. */
export async function insertUpgrade(db: Db, clock: Clock, n: NewUpgrade): Promise<void> {
  checkRule('upgrade', 'create', [], n.upgrade.state, n.by.by);
  const row = n.upgrade;
  await db.insertInto('upgrades').values(row).execute();
  if (n.stages.length > 0) await db.insertInto('stages').values(n.stages).execute();
  for (let i = 0; i < n.steps.length; i += 200)
    await db
      .insertInto('steps')
      .values(n.steps.slice(i, i + 200))
      .execute();
  await appendEvent(
    db,
    {
      projectId: row.project_id,
      targetId: row.target_id,
      upgradeId: row.id,
      actor: actorOf(n.by),
      type: 'upgrade.created',
      toState: row.state,
      message: n.message,
      data: n.data,
    },
    clock,
  );
}

/**
 * Adds the `Restore service` stage a cancel plans (src/engine/core/cancel.ts) after the upgrade's
 * last stage, with its steps, all pending; the cancel's own transitions start it in the same
 * transaction (and record the new stage count), and its upgrade.cancel event names the nodes.
 */
export async function insertRestoreStage(
  db: Db,
  stage: Insertable<StageRow> & { state: 'pending' },
  steps: (Insertable<StepRow> & { state: 'pending'; action: 'restore' })[],
): Promise<void> {
  await db.insertInto('stages').values(stage).execute();
  if (steps.length > 0) await db.insertInto('steps').values(steps).execute();
}

/** Removes held upgrades that never started (a batch that could not be created whole). */
export async function deleteUnstartedUpgrades(db: Db, ids: readonly string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 200) {
    const part = ids.slice(i, i + 200);
    await db.deleteFrom('steps').where('upgrade_id', 'in', part).execute();
    await db.deleteFrom('stages').where('upgrade_id', 'in', part).execute();
    await db.deleteFrom('upgrades').where('id', 'in', part).where('state', '=', 'scheduled').execute();
  }
}
