// The events' horizon: the highest event id below which nothing is still to commit. Readers
// that follow new events (the durable cursors of the webhook outbox and the estimate tracker, SSE
// streams, the events API with `after`) read only up to it, so they never pass an event that
// commits late.
//
// Event ids come from a sequence. On PostgreSQL two transactions can commit out of id order, so
// an event with a lower id may become visible after a higher one: a reader taking "id > last"
// would skip it for good. A missing id is either still in flight (its transaction has not
// committed) or gone for good (the transaction rolled back; the sequence never gives the id
// again). The horizon tells them apart without a long timer:
//   - the missing id was drawn before the higher one the reader saw, so the transaction holding
//     it was already running when the reader saw the gap; the horizon records that moment's
//     snapshot (`pg_current_snapshot()`, whose xip list names every transaction in flight);
//   - once every transaction of that list has ended (`pg_visible_in_snapshot` in a later
//     snapshot), an id still missing will never come, and is passed. Transactions begun later
//     cannot hold it, so they do not delay the readers.
// The id is drawn a moment before its transaction gets its xid (within the same INSERT), so a
// gap is judged no sooner than GAP_SETTLE_MS after it was first seen. A gap also passes after
// GAP_PATIENCE_MS, so an unrelated long transaction on the same server (in flight when the gap
// was seen) cannot stall the readers longer than that.
// SQLite commits one writer at a time in id order: every visible id is below the horizon.
//
// One horizon per store and process, shared by every reader; it moves forward only.
import { sql, type Kysely } from 'kysely';
import type { DialectCapabilities } from './dialect.ts';
import type { Database } from './schema.ts';

export const GAP_SETTLE_MS = 100;
export const GAP_PATIENCE_MS = 10_000;

/** how many ids one step of the horizon looks at */
const SCAN = 1000;

interface Gap {
  /** the first missing id */
  id: number;
  /** pg_current_snapshot() when the gap was first seen */
  snapshot: string;
  /** when the gap was first seen (ms, monotonic) */
  since: number;
}

export class EventHorizon {
  /** every event with an id up to this one is visible or will never exist (null: not known yet) */
  private settled: number | null = null;
  private gap: Gap | null = null;
  private moving: Promise<void> | null = null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly caps: DialectCapabilities,
    private readonly patienceMs = GAP_PATIENCE_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The highest id up to which readers may go now. */
  async upTo(): Promise<number> {
    this.moving ??= this.advance().finally(() => (this.moving = null));
    await this.moving;
    return this.settled ?? 0;
  }

  private async advance(): Promise<void> {
    if (this.settled === null) {
      // on the first call, what exists is settled once the transactions running now have ended
      const head = await this.db
        .selectFrom('events')
        .select(sql<string>`coalesce(max(id), 0)`.as('m'))
        .executeTakeFirst();
      const m = Number(head?.m ?? 0);
      if (this.caps.commitsOutOfIdOrder) {
        const first: Gap = { id: 0, snapshot: await this.snapshot(), since: this.now() };
        await new Promise((r) => setTimeout(r, GAP_SETTLE_MS));
        while (!(await this.passed(first, false))) await new Promise((r) => setTimeout(r, 10));
      }
      this.settled = m;
    }
    for (;;) {
      const from: number = this.settled;
      const rows = await this.db.selectFrom('events').select('id').where('id', '>', from).orderBy('id').limit(SCAN).execute();
      let expect: number = from + 1;
      for (const r of rows) {
        const id = Number(r.id);
        if (id !== expect && !(await this.hole(expect, id - 1))) break;
        expect = id + 1;
      }
      this.settled = expect - 1;
      if (rows.length < SCAN || this.settled < Number(rows[rows.length - 1].id)) return;
    }
  }

  /** Whether the missing ids from..to, absent from the read just made, will never commit. */
  private async hole(from: number, to: number): Promise<boolean> {
    if (!this.caps.commitsOutOfIdOrder) return true;
    if (this.gap?.id !== from) {
      this.gap = { id: from, snapshot: await this.snapshot(), since: this.now() };
      return false;
    }
    if (!(await this.passed(this.gap))) return false;
    // every transaction that could hold these ids has ended (or patience ran out); one that
    // committed between the read and now is visible, and is taken on the next read
    const seen = await this.db.selectFrom('events').select('id').where('id', '>=', from).where('id', '<=', to).limit(1).execute();
    if (seen.length > 0) return false;
    this.gap = null;
    return true;
  }

  /** Whether every transaction running when the gap was seen has ended (or patience ran out). */
  private async passed(gap: Gap, settle = true): Promise<boolean> {
    const waited = this.now() - gap.since;
    if (waited >= this.patienceMs) return true;
    if (settle && waited < GAP_SETTLE_MS) return false;
    const x = await sql<{ done: boolean }>`
      select coalesce(bool_and(pg_visible_in_snapshot(x, pg_current_snapshot())), true) as done
      from pg_snapshot_xip(cast(${gap.snapshot} as pg_snapshot)) as x`.execute(this.db);
    return x.rows[0].done === true;
  }

  private async snapshot(): Promise<string> {
    const x = await sql<{ s: string }>`select pg_current_snapshot()::text as s`.execute(this.db);
    return x.rows[0].s;
  }
}
