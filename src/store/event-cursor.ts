// A durable cursor over the append-only events table: consumers (the webhook outbox feeder, the
// estimate tracker) read the events after their cursor and, in the same transaction, write what
// they derive and move the cursor. A crash therefore neither loses nor repeats an event.
//
// Events can commit out of id order on PostgreSQL; the cursor reads only up to the store's
// event horizon (event-horizon.ts), so it never passes an event still to commit, and passes a
// rolled-back insert's id as soon as that is certain.
//
// On PostgreSQL the cursor row is locked FOR UPDATE for the transaction, so replicas take
// turns: one consumer of a name works at a time, across processes.
import { sql, type Selectable, type Transaction } from 'kysely';
import type { Database, EventRow } from './schema.ts';
import type { Store } from './open.ts';

export type EventHandler = (trx: Transaction<Database>, events: Selectable<EventRow>[]) => Promise<void>;

export class EventCursor {
  constructor(
    private readonly store: Store,
    readonly name: string,
    private readonly batch = 500,
  ) {}

  /**
   * Hands the next contiguous events (at most `batch`) to the handler and moves the cursor past
   * them in one transaction. Returns how many were consumed.
   */
  async consume(handler: EventHandler): Promise<number> {
    // read before the transaction: on SQLite it holds the one connection the horizon reads with
    const upTo = await this.store.horizon.upTo();
    return this.store.db.transaction().execute(async (trx) => {
      const cursor = await this.position(trx);
      if (upTo <= cursor) return 0;
      const take = await trx
        .selectFrom('events')
        .selectAll()
        .where('id', '>', cursor)
        .where('id', '<=', upTo)
        .orderBy('id')
        .limit(this.batch)
        .execute();
      if (take.length === 0) return 0;
      await handler(trx, take);
      await trx
        .updateTable('event_cursors')
        .set({ last_id: take[take.length - 1].id, updated_at: new Date().toISOString() })
        .where('name', '=', this.name)
        .execute();
      return take.length;
    });
  }

  /**
   * Creates the cursor after the events that exist now, if it does not exist yet. Called before
   * the executor starts, so nothing the process does is missed by a consumer's first read.
   */
  async ensure(): Promise<void> {
    await this.store.db.transaction().execute(async (trx) => {
      await this.position(trx);
    });
  }

  /** The newest event id committed now. */
  async head(): Promise<number> {
    const row = await this.store.db
      .selectFrom('events')
      .select(sql<number>`coalesce(max(id), 0)`.as('m'))
      .executeTakeFirst();
    return Number(row?.m ?? 0);
  }

  /** The id of the last event consumed (0 before the first consume). */
  async lastId(): Promise<number> {
    const row = await this.store.db
      .selectFrom('event_cursors')
      .select('last_id')
      .where('name', '=', this.name)
      .executeTakeFirst();
    return Number(row?.last_id ?? 0);
  }

  /** The cursor's position, locked; a new cursor starts after the events that exist already. */
  private async position(trx: Transaction<Database>): Promise<number> {
    const read = async () => {
      let q = trx.selectFrom('event_cursors').select('last_id').where('name', '=', this.name);
      if (this.store.caps.supportsSkipLocked) q = q.forUpdate();
      return q.executeTakeFirst();
    };
    const row = await read();
    if (row) return Number(row.last_id);
    const max = await trx
      .selectFrom('events')
      .select(sql<number>`coalesce(max(id), 0)`.as('m'))
      .executeTakeFirst();
    await trx
      .insertInto('event_cursors')
      .values({ name: this.name, last_id: Number(max?.m ?? 0), updated_at: new Date().toISOString() })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    return Number((await read())?.last_id ?? 0);
  }
}
