// The estimate tracker follows the events table with its own durable cursor and, in the same
// transaction as the cursor moves:
//   step.succeeded    records the step's duration as a sample of the duration model
//   upgrade.started   records the estimate of the whole upgrade made at that moment
//   upgrade.* final   records the actual duration and the estimate's absolute error
//   batch start       (out of `scheduled`) records the forecast of the whole batch made then
//   batch.paused      marks it: a batch an operator paused measures nothing
//   batch.* final     records the batch's actual duration and the forecast's absolute error
// So every sample and every error is recorded exactly once, whichever replica does it, and a
// restart resumes where the cursor stands.
import type { Selectable, Transaction } from 'kysely';
import type { Clock } from '../domain/clock.ts';
import { EventCursor } from '../store/event-cursor.ts';
import type { Store } from '../store/open.ts';
import type { Database, EventRow } from '../store/schema.ts';
import type { DurationModel } from './duration-model.ts';
import { forecastBatch } from './batch-forecast.ts';
import { loadBatchForecastInput } from './batch-source.ts';
import { loadUpgradePlan, windowGate } from './plan-source.ts';
import { describeBasis, walkPlan } from './upgrade-estimate.ts';

const FINAL: ReadonlySet<string> = new Set(['succeeded', 'cancelled', 'rolled_back']);
const BATCH_FINAL: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled']);
/** outcome of a running batch's record once an operator paused it */
const INTERRUPTED = 'interrupted';

export class EstimateTracker {
  private readonly cursor: EventCursor;

  constructor(
    private readonly store: Store,
    private readonly model: DurationModel,
    private readonly clock: Clock,
  ) {
    this.cursor = new EventCursor(store, 'estimates');
  }

  /** Creates the durable cursor if this is the first start on this store. */
  ensureCursor(): Promise<void> {
    return this.cursor.ensure();
  }

  /** Consumes what is there now; returns how many events it handled. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      // the model must not learn from steps after the upgrade start it is about to price
      await this.model.refresh(true);
      const n = await this.cursor.consume((trx, events) => this.handle(trx, events));
      total += n;
      if (n === 0) return total;
    }
  }

  /**
   * Consumes until every event committed before the call is handled; the id of a rolled-back
   * insert is passed once the events' horizon is sure of it (tests, benchmarks).
   */
  async catchUp(pollMs = 20): Promise<void> {
    const upTo = await this.cursor.head();
    while ((await this.cursor.lastId()) < upTo) {
      if ((await this.drain()) === 0) await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  private async handle(trx: Transaction<Database>, events: Selectable<EventRow>[]): Promise<void> {
    const steps = events.filter((e) => e.type === 'step.succeeded' && e.step_id).map((e) => e.step_id as string);
    if (steps.length > 0) await this.recordSamples(trx, steps);
    for (const e of events) {
      if (e.type.startsWith('batch.')) {
        await this.handleBatch(trx, e);
        continue;
      }
      if (!e.upgrade_id || !e.type.startsWith('upgrade.')) continue;
      if (e.type === 'upgrade.started') await this.recordStart(trx, e.upgrade_id);
      else if (e.to_state && FINAL.has(e.to_state)) await this.recordEnd(trx, e.upgrade_id, e.to_state);
    }
  }

  private async recordSamples(trx: Transaction<Database>, stepIds: string[]): Promise<void> {
    const rows = await trx
      .selectFrom('steps as s')
      .innerJoin('upgrades as u', 'u.id', 's.upgrade_id')
      .innerJoin('targets as t', (j) => j.onRef('t.project_id', '=', 'u.project_id').onRef('t.id', '=', 'u.target_id'))
      .leftJoin('nodes as n', (j) =>
        j.onRef('n.project_id', '=', 'u.project_id').onRef('n.target_id', '=', 'u.target_id').onRef('n.name', '=', 's.node'),
      )
      .select(['s.id', 's.action', 's.started_at', 's.ended_at', 't.engine', 't.driver', 'n.role'])
      .where('s.id', 'in', stepIds)
      .where('s.state', '=', 'succeeded')
      .execute();
    const values = rows
      .filter((r) => r.started_at && r.ended_at)
      .map((r) => ({
        step_id: r.id,
        engine: r.engine,
        driver: r.driver,
        action: r.action,
        role: r.role ?? '*',
        seconds: Math.max(0, (Date.parse(r.ended_at as string) - Date.parse(r.started_at as string)) / 1000),
        ended_at: r.ended_at as string,
      }));
    if (values.length === 0) return;
    await trx
      .insertInto('step_durations')
      .values(values)
      .onConflict((oc) => oc.column('step_id').doNothing())
      .execute();
  }

  private async recordStart(trx: Transaction<Database>, upgradeId: string): Promise<void> {
    const loaded = await loadUpgradePlan(trx, upgradeId);
    if (!loaded) return;
    const { upgrade, target } = loaded;
    const start = new Date(upgrade.startedAt ?? this.clock.now().toISOString());
    const tl = walkPlan(this.model, upgrade, target, start, start, windowGate(upgrade, target), true);
    await trx
      .insertInto('estimate_records')
      .values({
        subject_id: upgradeId,
        kind: 'upgrade',
        project_id: upgrade.projectId,
        engine: target.engine,
        started_at: start.toISOString(),
        predicted_seconds: (tl.end.getTime() - start.getTime()) / 1000,
        basis: describeBasis(target.engine, tl, []),
      })
      .onConflict((oc) => oc.column('subject_id').doNothing())
      .execute();
  }

  private async recordEnd(trx: Transaction<Database>, upgradeId: string, outcome: string): Promise<void> {
    const rec = await trx.selectFrom('estimate_records').selectAll().where('subject_id', '=', upgradeId).executeTakeFirst();
    if (!rec || rec.ended_at) return;
    const u = await trx.selectFrom('upgrades').select(['ended_at', 'retries']).where('id', '=', upgradeId).executeTakeFirst();
    const endedAt = u?.ended_at ?? this.clock.now().toISOString();
    const actual = (Date.parse(endedAt) - Date.parse(rec.started_at)) / 1000;
    // Only an upgrade that ran straight through measures the model: a cancelled or rolled-back
    // one, or one that waited for an operator's retry, says nothing about step durations.
    const measures = outcome === 'succeeded' && (u?.retries ?? 0) === 0 && actual > 0;
    await closeRecord(trx, rec, { actual, measures, outcome, endedAt });
  }

  private async handleBatch(trx: Transaction<Database>, e: Selectable<EventRow>): Promise<void> {
    const batchId = (JSON.parse(e.data) as { batchId?: string }).batchId;
    if (!batchId) return;
    if (e.from_state === 'scheduled' && (e.to_state === 'running' || e.to_state === 'awaiting_approval')) {
      await this.recordBatchStart(trx, batchId, e.created_at);
    } else if (e.type === 'batch.paused') {
      await trx
        .updateTable('estimate_records')
        .set({ outcome: INTERRUPTED })
        .where('subject_id', '=', batchId)
        .where('ended_at', 'is', null)
        .execute();
    } else if (e.to_state && BATCH_FINAL.has(e.to_state) && e.from_state !== 'creating') {
      await this.recordBatchEnd(trx, batchId, e.to_state, e.created_at);
    }
  }

  private async recordBatchStart(trx: Transaction<Database>, batchId: string, at: string): Promise<void> {
    const b = await trx.selectFrom('batches').selectAll().where('id', '=', batchId).executeTakeFirst();
    if (!b) return;
    const start = new Date(at);
    const input = await loadBatchForecastInput(trx, this.model, b, start, true);
    const f = input ? forecastBatch(input) : null;
    if (!input || !f) return;
    await trx
      .insertInto('estimate_records')
      .values({
        subject_id: batchId,
        kind: 'batch',
        project_id: b.project_id,
        engine: input.engine,
        started_at: at,
        predicted_seconds: f.estimate.remainingSeconds,
        basis: f.estimate.basis,
      })
      .onConflict((oc) => oc.column('subject_id').doNothing())
      .execute();
  }

  private async recordBatchEnd(trx: Transaction<Database>, batchId: string, outcome: string, at: string): Promise<void> {
    const rec = await trx.selectFrom('estimate_records').selectAll().where('subject_id', '=', batchId).executeTakeFirst();
    if (!rec || rec.ended_at) return;
    const gated = await trx
      .selectFrom('batch_waves')
      .select('idx')
      .where('batch_id', '=', batchId)
      .where('approval', '=', 1)
      .executeTakeFirst();
    const actual = (Date.parse(at) - Date.parse(rec.started_at)) / 1000;
    // Waits for a person (an approval gate, an operator's pause) are not in any forecast, and a
    // failed or cancelled batch stopped early: only a batch that ran straight through measures it.
    const measures = outcome === 'succeeded' && rec.outcome !== INTERRUPTED && !gated && actual > 0;
    await closeRecord(trx, rec, { actual, measures, outcome, endedAt: at });
  }
}

/** Records how an estimated upgrade or batch ended, and its estimate's error if it measures one. */
async function closeRecord(
  trx: Transaction<Database>,
  rec: { subject_id: string; predicted_seconds: number | string },
  end: { actual: number; measures: boolean; outcome: string; endedAt: string },
): Promise<void> {
  await trx
    .updateTable('estimate_records')
    .set({
      actual_seconds: end.actual,
      abs_error_pct: end.measures ? (Math.abs(Number(rec.predicted_seconds) - end.actual) / end.actual) * 100 : null,
      outcome: end.outcome,
      ended_at: end.endedAt,
    })
    .where('subject_id', '=', rec.subject_id)
    .where('ended_at', 'is', null)
    .execute();
}
