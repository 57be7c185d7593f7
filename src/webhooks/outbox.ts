// The webhook outbox. The feeder reads the events table with a durable cursor and, in the same
// transaction as the cursor moves, writes one delivery row per (subscribed webhook, event): an
// event is neither lost nor queued twice, across crashes and replicas (the cursor row is locked
// while a batch is fed). The delivery worker (delivery.ts) then works the rows off.
//
// Delivery states
//   pending     waiting for its next attempt (next_attempt_at), possibly leased by a worker
//   delivered   the receiver answered 2xx
//   failed      retries ran out (give_up_at passed) or the host is no longer allowed
import { randomUUID } from 'node:crypto';
import type { Selectable, Transaction } from 'kysely';
import type { Clock } from '../domain/clock.ts';
import { EventCursor } from '../store/event-cursor.ts';
import type { Store } from '../store/open.ts';
import type { Database, EventRow, WebhookDeliveryRow } from '../store/schema.ts';
import { parseJson } from '../store/mappers.ts';
import { matches } from './subscriptions.ts';

/** The JSON body a receiver gets: the event as the events API shows it. */
export function eventPayload(e: Selectable<EventRow>, webhookId: string): Record<string, unknown> {
  return {
    id: Number(e.id),
    type: e.type,
    webhookId,
    projectId: e.project_id,
    targetId: e.target_id,
    upgradeId: e.upgrade_id,
    stepId: e.step_id,
    actor: e.actor,
    fromState: e.from_state,
    toState: e.to_state,
    message: e.message,
    data: parseJson(e.data, {}),
    createdAt: e.created_at,
  };
}

export class OutboxFeeder {
  private readonly cursor: EventCursor;
  /** project -> its webhooks' ids and patterns; dropped when a webhook is created or deleted */
  private readonly subs = new Map<string, { id: string; events: string[]; since: string }[]>();
  /** projects known to have no webhook, re-read at most every SUBS_TTL_MS (other replicas add some) */
  private subsReadAt = 0;
  /** bumped by every invalidation: a read that started before one must not be cached */
  private generation = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly retryForMs: () => number,
  ) {
    this.cursor = new EventCursor(store, 'webhooks');
  }

  /** Creates the durable cursor if this is the first start on this store. */
  ensureCursor(): Promise<void> {
    return this.cursor.ensure();
  }

  invalidate(projectId?: string): void {
    this.generation++;
    if (projectId) this.subs.delete(projectId);
    else this.subs.clear();
  }

  /** Feeds everything committed so far; returns how many events were read. */
  async drain(): Promise<number> {
    // webhooks created through another replica are seen within a few seconds
    if (performance.now() - this.subsReadAt > 5000) {
      this.subs.clear();
      this.subsReadAt = performance.now();
    }
    let total = 0;
    for (;;) {
      const n = await this.cursor.consume((trx, events) => this.feed(trx, events));
      total += n;
      if (n === 0) return total;
    }
  }

  private async feed(trx: Transaction<Database>, events: Selectable<EventRow>[]): Promise<void> {
    const subs = new Map(this.subs);
    const projects = [...new Set(events.map((e) => e.project_id))].filter((p) => !subs.has(p));
    if (projects.length > 0) {
      // a webhook created while this read runs invalidates the cache: the read is used for this
      // batch (it saw what was committed when it ran) but not kept, so the next batch reads again
      const generation = this.generation;
      const rows = await trx
        .selectFrom('webhooks')
        .select(['id', 'project_id', 'events', 'created_at'])
        .where('project_id', 'in', projects)
        .execute();
      for (const p of projects) subs.set(p, []);
      for (const r of rows)
        subs.get(r.project_id)?.push({ id: r.id, events: parseJson<string[]>(r.events, []), since: r.created_at });
      if (generation === this.generation) for (const p of projects) this.subs.set(p, subs.get(p) ?? []);
    }
    const now = this.clock.now();
    const giveUp = new Date(now.getTime() + this.retryForMs()).toISOString();
    const rows: WebhookDeliveryRow[] = [];
    for (const e of events) {
      for (const w of subs.get(e.project_id) ?? []) {
        // a webhook hears what happens after it was created, and only the types it asked for
        if (e.created_at < w.since || !matches(w.events, e.type)) continue;
        rows.push({
          id: `dlv-${randomUUID()}`,
          webhook_id: w.id,
          project_id: e.project_id,
          event_id: Number(e.id),
          event_type: e.type,
          payload: JSON.stringify(eventPayload(e, w.id)),
          state: 'pending',
          attempts: 0,
          next_attempt_at: now.toISOString(),
          give_up_at: giveUp,
          lease_owner: null,
          lease_expires_at: null,
          last_status: null,
          last_error: null,
          log: '[]',
          created_at: now.toISOString(),
          delivered_at: null,
        });
      }
    }
    for (let i = 0; i < rows.length; i += 200) {
      await trx
        .insertInto('webhook_deliveries')
        .values(rows.slice(i, i + 200))
        .onConflict((oc) => oc.columns(['webhook_id', 'event_id']).doNothing())
        .execute();
    }
  }
}
