// Batch and wave state: the only code that writes `batches.state` and `batch_waves.state`. Each
// transition is one guarded UPDATE (WHERE id = ? AND state IN (...)) and appends its event in the
// same transaction; zero rows means another writer got there first.
//
// Batch states (a wave takes the batch's state while it is the current wave)
//   creating           its upgrades are being created (held); never scheduled from here
//   scheduled          waiting for its start (schedule "at"), or not yet looked at
//   running            the current wave releases its upgrades, up to maxConcurrency at once
//   baking             the current wave is done; wait bakeMinutes, then health-check its targets
//   awaiting_approval  the next wave has approval: true; waits for the "approve" action
//   paused             an operator paused it: nothing new starts, running upgrades pause too
//   halted             failed targets reached the failure threshold: nothing new starts
//   succeeded | failed | cancelled   final (failed: some target failed below the threshold)
//
// Transition table: from -> to, and who causes it.
import { appendEvent } from './core/events.ts';
import type { Db } from '../store/schema.ts';

export const BATCH_STATES = [
  'creating',
  'scheduled',
  'running',
  'baking',
  'awaiting_approval',
  'paused',
  'halted',
  'succeeded',
  'failed',
  'cancelled',
] as const;
export type BatchState = (typeof BATCH_STATES)[number];
export const ACTIVE_BATCH_STATES: readonly BatchState[] = ['scheduled', 'running', 'baking', 'awaiting_approval'];
export const FINAL_BATCH_STATES: readonly BatchState[] = ['succeeded', 'failed', 'cancelled'];

export type BatchActor = 'service' | 'scheduler' | 'operator';

export const BATCH_TRANSITIONS: readonly { from: BatchState[]; to: BatchState; by: BatchActor; why: string }[] = [
  { from: ['creating'], to: 'scheduled', by: 'service', why: 'every upgrade was created' },
  { from: ['creating'], to: 'cancelled', by: 'service', why: 'creating an upgrade failed; the held ones are discarded' },
  { from: ['creating'], to: 'cancelled', by: 'operator', why: 'cancel of a batch whose creation was interrupted (a crash)' },
  { from: ['scheduled'], to: 'running', by: 'scheduler', why: 'its start time came; wave 1 starts' },
  { from: ['scheduled', 'running', 'baking'], to: 'awaiting_approval', by: 'scheduler', why: 'the next wave needs approval' },
  { from: ['running'], to: 'baking', by: 'scheduler', why: 'the current wave is done and has a bake time' },
  { from: ['baking'], to: 'running', by: 'scheduler', why: 'the bake ended, health checks passed; next wave' },
  { from: ['running', 'baking'], to: 'succeeded', by: 'scheduler', why: 'the last wave is done, no target failed' },
  { from: ['running', 'baking'], to: 'failed', by: 'scheduler', why: 'the last wave is done, some targets failed' },
  { from: ['running', 'baking'], to: 'halted', by: 'scheduler', why: 'failed targets reached the threshold' },
  { from: ['awaiting_approval'], to: 'running', by: 'operator', why: 'approve' },
  { from: ['scheduled', 'running', 'baking', 'awaiting_approval'], to: 'paused', by: 'operator', why: 'pause' },
  { from: ['paused'], to: 'scheduled', by: 'operator', why: 'resume (back to the state it was paused in)' },
  { from: ['paused'], to: 'running', by: 'operator', why: 'resume' },
  { from: ['paused'], to: 'baking', by: 'operator', why: 'resume' },
  { from: ['paused'], to: 'awaiting_approval', by: 'operator', why: 'resume' },
  { from: ['halted', 'failed'], to: 'running', by: 'operator', why: 'retry: the failed targets run again' },
  {
    from: ['scheduled', 'running', 'baking', 'awaiting_approval', 'paused', 'halted', 'failed'],
    to: 'cancelled',
    by: 'operator',
    why: 'cancel: nothing new starts, unfinished upgrades are cancelled',
  },
];

export function allowed(from: BatchState, to: BatchState, by: BatchActor): boolean {
  return BATCH_TRANSITIONS.some((t) => t.to === to && t.by === by && t.from.includes(from));
}

export interface BatchTransition {
  projectId: string;
  id: string;
  from: BatchState;
  to: BatchState;
  by: BatchActor;
  actor: string;
  at: string;
  message: string;
  set?: Partial<{
    current_wave: number;
    paused_from: string | null;
    pending_reason: string | null;
    ended_at: string | null;
  }>;
  data?: Record<string, unknown>;
}

/** Moves a batch (and its event) if it is still in `from`; throws on a transition not in the table. */
export async function transitionBatch(db: Db, t: BatchTransition): Promise<boolean> {
  if (!allowed(t.from, t.to, t.by)) throw new Error(`batch transition ${t.from} -> ${t.to} by ${t.by} is not in the table`);
  const res = await db
    .updateTable('batches')
    .set({ state: t.to, updated_at: t.at, ...t.set })
    .where('id', '=', t.id)
    .where('state', '=', t.from)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) return false;
  await appendEvent(
    db,
    {
      projectId: t.projectId,
      actor: t.actor,
      type: `batch.${t.to}`,
      fromState: t.from,
      toState: t.to,
      message: t.message,
      data: { batchId: t.id, ...t.data },
    },
    { now: () => new Date(t.at) },
  );
  return true;
}

export interface WaveTransition {
  batchId: string;
  idx: number;
  from: readonly string[];
  to: BatchState;
  set?: Partial<{
    started_at: string;
    ended_at: string | null;
    bake_until: string | null;
    approved_by: string;
    health_failures: string;
  }>;
}

/** Moves one wave if it is still in one of `from` (its events are the batch's). */
export async function transitionWave(db: Db, t: WaveTransition): Promise<boolean> {
  const res = await db
    .updateTable('batch_waves')
    .set({ state: t.to, ...t.set })
    .where('batch_id', '=', t.batchId)
    .where('idx', '=', t.idx)
    .where('state', 'in', t.from as string[])
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}
