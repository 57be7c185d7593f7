// The guarded statements of batches and waves: the only writes of the `batches` and `batch_waves`
// tables. Like the upgrade writers in ./writes.ts, each transition names a rule of ./table.ts, is
// one UPDATE guarded on the state it expects (WHERE id = ? AND state = ? [AND current_wave = ?]),
// and appends its event in the caller's transaction; zero changed rows means another writer got
// there first. Bookkeeping that changes no state (the end of a cancelled batch, cleared health
// findings) is a guarded update without an event.
import type { Updateable } from 'kysely';
import type { BatchState, WaveState } from '../../domain/types.ts';
import type { BatchRow, BatchWaveRow, Db } from '../../store/schema.ts';
import { appendEvent } from './events.ts';
import { checkRule, eventOf, WAVE_RULES, type BatchRule, type Cause, type WaveRule } from './table.ts';

/** Who moves a batch: the cause the table checks, and the principal its event names. */
export interface BatchBy {
  by: Cause;
  actor: string;
  /** the transition's time, on the caller's clock */
  at: string;
}

const at = (iso: string) => ({ now: () => new Date(iso) });

export interface NewBatchRows extends BatchBy {
  batch: Omit<BatchRow, 'state' | 'updated_at' | 'created_at'>;
  waves: (Omit<
    BatchWaveRow,
    | 'batch_id'
    | 'idx'
    | 'state'
    | 'started_at'
    | 'ended_at'
    | 'bake_until'
    | 'approved_by'
    | 'health_failures'
    | 'analysis'
    | 'analysis_failures'
  > & { /** JSON of its analysis checks (src/domain/analysis.ts) */ analysis?: string })[];
  message: string;
  data?: Record<string, unknown>;
}

/** Writes a batch (`creating`) and its waves (`scheduled`), with the batch's `batch.created` event. */
export async function createBatchRows(db: Db, n: NewBatchRows): Promise<void> {
  const r = checkRule('batch', 'create', [], 'creating', n.by);
  await db
    .insertInto('batches')
    .values({ ...n.batch, state: 'creating', created_at: n.at, updated_at: n.at })
    .execute();
  await db
    .insertInto('batch_waves')
    .values(
      n.waves.map((w, idx) => ({
        ...w,
        batch_id: n.batch.id,
        idx,
        state: 'scheduled' satisfies WaveState,
        started_at: null,
        ended_at: null,
        bake_until: null,
        approved_by: null,
      })),
    )
    .execute();
  await appendEvent(
    db,
    {
      projectId: n.batch.project_id,
      actor: n.actor,
      type: r.event,
      toState: 'creating',
      message: n.message,
      data: { batchId: n.batch.id, ...n.data },
    },
    at(n.at),
  );
}

export interface BatchMove extends BatchBy {
  projectId: string;
  id: string;
  from: BatchState;
  to: BatchState;
  /** also require the batch's current wave to be this one (a wave advancing) */
  atWave?: number;
  message: string;
  set?: Partial<Pick<Updateable<BatchRow>, 'current_wave' | 'paused_from' | 'pending_reason' | 'ended_at'>>;
  data?: Record<string, unknown>;
}

/** Moves a batch (and appends its event) if it is still in `from`; throws on a transition not in the table. */
export async function moveBatch(db: Db, rule: BatchRule, m: BatchMove): Promise<boolean> {
  const r = checkRule('batch', rule, [m.from], m.to, m.by);
  const res = await db
    .updateTable('batches')
    .set({ state: m.to, updated_at: m.at, ...m.set })
    .where('id', '=', m.id)
    .where('state', '=', m.from)
    .$if(m.atWave !== undefined, (q) => q.where('current_wave', '=', m.atWave as number))
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) return false;
  await appendEvent(
    db,
    {
      projectId: m.projectId,
      actor: m.actor,
      type: eventOf(r, m.to),
      fromState: m.from,
      toState: m.to,
      message: m.message,
      data: { batchId: m.id, ...m.data },
    },
    at(m.at),
  );
  return true;
}

export interface WaveMove extends BatchBy {
  projectId: string;
  batchId: string;
  idx: number;
  /** the wave's name, for the event's message */
  name?: string;
  from: WaveState;
  to: WaveState;
  set?: Partial<
    Pick<
      Updateable<BatchWaveRow>,
      'started_at' | 'ended_at' | 'bake_until' | 'approved_by' | 'health_failures' | 'analysis' | 'analysis_failures'
    >
  >;
  data?: Record<string, unknown>;
}

/** Moves one wave (and appends its `wave.*` event) if it is still in `from`. */
export async function moveWave(db: Db, rule: WaveRule, m: WaveMove): Promise<boolean> {
  const r = checkRule('wave', rule, [m.from], m.to, m.by);
  const res = await db
    .updateTable('batch_waves')
    .set({ state: m.to, ...m.set })
    .where('batch_id', '=', m.batchId)
    .where('idx', '=', m.idx)
    .where('state', '=', m.from)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) return false;
  await appendEvent(
    db,
    {
      projectId: m.projectId,
      actor: m.actor,
      type: eventOf(r, m.to),
      fromState: m.from,
      toState: m.to,
      message: `wave ${m.name ?? m.idx + 1}: ${m.from} -> ${m.to}`,
      data: { batchId: m.batchId, wave: m.idx, ...m.data },
    },
    at(m.at),
  );
  return true;
}

/** A cancelled batch whose upgrades all ended records its end (bookkeeping: no state change, no event). */
export async function markBatchEnded(db: Db, id: string, iso: string): Promise<boolean> {
  const res = await db
    .updateTable('batches')
    .set({ ended_at: iso, updated_at: iso })
    .where('id', '=', id)
    .where('state', '=', 'cancelled' satisfies BatchState)
    .where('ended_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/**
 * A retry forgets the targets found unhealthy after a bake, or failed by an analysis check (they
 * are checked again at the next bake).
 */
export async function clearHealthFailures(db: Db, batchId: string): Promise<void> {
  await db
    .updateTable('batch_waves')
    .set({ health_failures: '[]', analysis_failures: '[]' })
    .where('batch_id', '=', batchId)
    .execute();
}

/**
 * The last samples of a baking wave's analysis checks (bookkeeping: no state change, no event;
 * guarded on the wave still baking, so a sample that raced the wave's end is dropped).
 */
export async function recordAnalysis(db: Db, batchId: string, idx: number, analysisJson: string): Promise<boolean> {
  const res = await db
    .updateTable('batch_waves')
    .set({ analysis: analysisJson })
    .where('batch_id', '=', batchId)
    .where('idx', '=', idx)
    .where('state', '=', 'baking' satisfies WaveState)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** A cancelled batch's waves that had not ended: each moves to cancelled with its event. */
export async function cancelWaves(db: Db, m: BatchBy & { projectId: string; batchId: string }): Promise<number> {
  const waves = await db
    .selectFrom('batch_waves')
    .select(['idx', 'name', 'state'])
    .where('batch_id', '=', m.batchId)
    .orderBy('idx')
    .execute();
  const open: readonly string[] = WAVE_RULES.cancel.from;
  let n = 0;
  for (const w of waves) {
    if (!open.includes(w.state)) continue;
    const ok = await moveWave(db, 'cancel', {
      ...m,
      idx: w.idx,
      name: w.name,
      from: w.state as WaveState,
      to: 'cancelled',
      set: { ended_at: m.at },
    });
    if (ok) n++;
  }
  return n;
}
