// Group commit for the single-writer store. Each unit of work (a step's outcome, a driver's
// effect) is still atomic, inside its own savepoint, but units that are ready at the same
// moment share one transaction and one commit: on SQLite the commit, not the statements,
// is what each step costs. Stores with many writers (PostgreSQL) run every unit in its own
// transaction, so row locks are never held across unrelated upgrades.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.ts';

/** units run between two turns of the event loop inside one group */
const YIELD_EVERY = 32;

type Unit = {
  fn: (trx: Transaction<Database>) => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
};

export class GroupCommitter {
  private queue: Unit[] = [];
  private scheduled = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly grouped: boolean,
    private readonly maxUnits = 512,
  ) {}

  /**
   * A unit of exactly one statement: grouped like any unit on the single-writer store, and sent
   * as it is (the statement is its own transaction) on the others, saving BEGIN and COMMIT.
   */
  one<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    return this.grouped ? this.run(fn) : fn(this.db);
  }

  run<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    if (!this.grouped) return this.db.transaction().execute(fn);
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    const units = this.queue.splice(0, this.maxUnits);
    if (this.queue.length > 0) setImmediate(() => void this.flush());
    else this.scheduled = false;
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      await this.db.transaction().execute(async (trx) => {
        for (let i = 0; i < units.length; i++) {
          // a long group lets the event loop take its waiting I/O (API requests, whose reads go
          // to the read side) every few units, instead of holding it until the commit
          if (i > 0 && i % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
          await sql.raw(`SAVEPOINT u${i}`).execute(trx);
          try {
            const value = await units[i].fn(trx);
            await sql.raw(`RELEASE SAVEPOINT u${i}`).execute(trx);
            outcomes.push({ ok: true, value });
          } catch (error) {
            await sql.raw(`ROLLBACK TO SAVEPOINT u${i}`).execute(trx);
            await sql.raw(`RELEASE SAVEPOINT u${i}`).execute(trx);
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // The commit itself failed: nothing of this group is stored.
      for (const u of units) u.reject(error);
      return;
    }
    units.forEach((u, i) => {
      const o = outcomes[i];
      if (o.ok) u.resolve(o.value);
      else u.reject(o.error);
    });
  }
}
