// A fixed-window counter store for @fastify/rate-limit, kept in Liftgate's database so that every
// replica of one deployment counts the same hits: one upsert per hit, one primary-key read per
// check. Implements the plugin's store contract (incr, read, child).
import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.ts';

type Callback = (err: Error | null, res?: { current: number; ttl: number }) => void;

const PRUNE_EVERY_MS = 60_000;

export class DatabaseRateLimitStore {
  private lastPrune = 0;
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  incr(key: string, cb: Callback, timeWindow: number): void {
    this.hit(key, timeWindow).then(
      (res) => cb(null, res),
      (err: Error) => cb(err),
    );
  }

  read(key: string, cb: Callback): void {
    this.peek(key).then(
      (res) => cb(null, res),
      (err: Error) => cb(err),
    );
  }

  child(): DatabaseRateLimitStore {
    return this;
  }

  /** Counts one hit: a window that has ended starts again at 1. */
  async hit(key: string, timeWindow: number): Promise<{ current: number; ttl: number }> {
    const now = this.now();
    await this.prune(now);
    const ends = now + timeWindow;
    const ended = sql<boolean>`rate_limit_counters.window_ends_at <= ${now}`;
    const row = await this.db
      .insertInto('rate_limit_counters')
      .values({ key, hits: 1, window_ends_at: ends })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          hits: sql<number>`CASE WHEN ${ended} THEN 1 ELSE rate_limit_counters.hits + 1 END`,
          window_ends_at: sql<number>`CASE WHEN ${ended} THEN ${ends} ELSE rate_limit_counters.window_ends_at END`,
        }),
      )
      .returning(['hits', 'window_ends_at'])
      .executeTakeFirstOrThrow();
    return { current: Number(row.hits), ttl: Math.max(0, Number(row.window_ends_at) - now) };
  }

  /** The hits of the current window, without counting one. */
  async peek(key: string): Promise<{ current: number; ttl: number }> {
    const now = this.now();
    const row = await this.db
      .selectFrom('rate_limit_counters')
      .select(['hits', 'window_ends_at'])
      .where('key', '=', key)
      .executeTakeFirst();
    if (!row || Number(row.window_ends_at) <= now) return { current: 0, ttl: 0 };
    return { current: Number(row.hits), ttl: Number(row.window_ends_at) - now };
  }

  private async prune(now: number): Promise<void> {
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    await this.db.deleteFrom('rate_limit_counters').where('window_ends_at', '<=', now).execute();
  }
}
