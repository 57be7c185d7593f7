// The events table's writer and the upgrade lock. Every state change of the core appends its
// event here in the same transaction; audit events without a state (targets, credentials,
// tokens) use the same writer.
import { isoNow, systemClock, type Clock } from '../../domain/clock.ts';
import type { Db } from '../../store/schema.ts';

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

/** The events row of one event. */
export function eventRow(e: EventInput, at: string) {
  return {
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
    created_at: at,
  };
}

export async function appendEvent(db: Db, e: EventInput, clock: Clock = systemClock): Promise<void> {
  await db
    .insertInto('events')
    .values(eventRow(e, isoNow(clock)))
    .execute();
}

/** Appends several events with one statement (a claim of many steps, a bulk cancel). */
export async function appendEvents(db: Db, events: readonly EventInput[], clock: Clock = systemClock): Promise<void> {
  if (events.length === 0) return;
  const at = isoNow(clock);
  for (let i = 0; i < events.length; i += 200) {
    await db
      .insertInto('events')
      .values(events.slice(i, i + 200).map((e) => eventRow(e, at)))
      .execute();
  }
}
