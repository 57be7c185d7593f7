// Event retention: with LIFTGATE_EVENT_RETENTION_DAYS set, the housekeeping leader deletes
// events older than that, and the logs that grow beside them (ended webhook deliveries, and each
// installed driver's own logs through its `prune` hook: the sim driver's invocation and effect
// logs). Unset (the default) keeps everything: the events are also the audit trail.
//
// What is never deleted, however old:
//   - an event a durable consumer (the webhook outbox, the estimate tracker: the rows of
//     event_cursors) has not read yet: nothing above the slowest cursor, nor above the events'
//     horizon, goes;
//   - the events of an upgrade that is still active (ACTIVE_UPGRADE_STATES: a failed upgrade
//     waiting for an operator included), of an upgrade whose batch has not ended, and of a batch
//     that has not ended: the history of what is still going on stays whole. They go once it
//     ended and they are older than the retention.
//
// Deletes run in batches of at most `batchSize` rows, each its own short transaction, so no
// statement holds a lock (or, on SQLite, the one event loop) for long. Events are read in windows
// of `batchSize` ids from the oldest: a window deletes only within its id range, and a pass stops
// at the first window with no event older than the retention (events are appended in time order,
// so what follows is newer still). Each batch records, per project, the highest id it deleted
// (event_retention), so readers can say that history before it is gone (src/service/events.ts).
import { setImmediate } from 'node:timers/promises';
import { sql, type ExpressionBuilder, type Kysely } from 'kysely';
import type { Clock } from '../domain/clock.ts';
import { setting } from '../domain/settings.ts';
import { ACTIVE_UPGRADE_STATES } from '../domain/types.ts';
import type { Driver } from '../drivers/driver.ts';
import type { Store } from '../store/open.ts';
import type { Database } from '../store/schema.ts';
import { FINAL_BATCH_STATES } from '../domain/types.ts';

export const DEFAULT_RETENTION_BATCH = 500;
/** how often the leader looks for events to prune */
export const RETENTION_EVERY_MS = 10 * 60_000;
const MAX_DAYS = 36_500;
const DAY_MS = 86_400_000;

const refuse = (what: string, got: unknown): never => {
  throw new Error(
    `${what} must be a whole number of days from 1 to ${MAX_DAYS}, or unset to keep every event (got ${String(got)})`,
  );
};

/** Checks a retention in days: a whole number from 1 to 36500; null keeps every event. */
export function checkRetentionDays(days: number | null | undefined, what = 'the event retention'): number | null {
  if (days === null || days === undefined) return null;
  return Number.isInteger(days) && days >= 1 && days <= MAX_DAYS ? days : refuse(what, days);
}

/** LIFTGATE_EVENT_RETENTION_DAYS (src/domain/settings.ts): unset or empty keeps every event; anything but 1..36500 is refused. */
export function retentionDaysFromEnv(env: NodeJS.ProcessEnv = process.env): number | null {
  return setting('LIFTGATE_EVENT_RETENTION_DAYS', env) ?? null;
}

export interface RetentionOptions {
  store: Pick<Store, 'db' | 'horizon'>;
  clock: Clock;
  days: number;
  /** the installed drivers: each one's `prune` deletes its own logs */
  drivers?: ReadonlyMap<string, Pick<Driver, 'prune'>>;
  /** rows per delete (default 500) */
  batchSize?: number;
  /** between batches: lets other work on the store go first (default: one turn of the event loop) */
  pause?: () => Promise<void>;
}

export interface PruneReport {
  /** rows created before this time may go */
  cutoff: string;
  /** no event above this id may go (the slowest durable cursor, or the events' horizon) */
  bound: number;
  /** events deleted by each batch, in order */
  eventBatches: number[];
  events: number;
  deliveries: number;
  /** rows of its own logs each driver deleted, by driver name */
  driverLogs: Record<string, number>;
}

export class EventRetention {
  readonly days: number;
  readonly batchSize: number;
  /** rows this process deleted (metrics) */
  readonly pruned = { events: 0, deliveries: 0, driverLogs: {} as Record<string, number> };
  private readonly db: Kysely<Database>;
  private readonly pause: () => Promise<void>;
  private running: Promise<PruneReport> | null = null;

  constructor(private readonly opts: RetentionOptions) {
    this.days = checkRetentionDays(opts.days) as number;
    this.batchSize = opts.batchSize ?? DEFAULT_RETENTION_BATCH;
    this.db = opts.store.db;
    this.pause = opts.pause ?? (() => setImmediate());
    for (const [name, driver] of opts.drivers ?? []) if (driver.prune) this.pruned.driverLogs[name] = 0;
  }

  /** One pass: events, then ended webhook deliveries, then the drivers' logs. One pass at a time. */
  prune(): Promise<PruneReport> {
    this.running ??= this.pass().finally(() => (this.running = null));
    return this.running;
  }

  /** The highest event id that may go: the slowest durable cursor, and never past the horizon. */
  async bound(): Promise<number> {
    const upTo = await this.opts.store.horizon.upTo();
    const slowest = await this.db
      .selectFrom('event_cursors')
      .select((eb) => eb.fn.min('last_id').as('m'))
      .executeTakeFirst();
    return slowest?.m == null ? upTo : Math.min(upTo, Number(slowest.m));
  }

  private async pass(): Promise<PruneReport> {
    const now = this.opts.clock.now();
    const cutoff = new Date(now.getTime() - this.days * DAY_MS).toISOString();
    const bound = await this.bound();
    const eventBatches = await this.pruneEvents(cutoff, bound, now.toISOString());
    const events = eventBatches.reduce((a, b) => a + b, 0);
    const deliveries = await this.pruneDeliveries(cutoff);
    const driverLogs: Record<string, number> = {};
    for (const [name, driver] of this.opts.drivers ?? []) {
      if (!driver.prune) continue;
      driverLogs[name] = await driver.prune({ before: cutoff, batchSize: this.batchSize, pause: this.pause });
      this.pruned.driverLogs[name] = (this.pruned.driverLogs[name] ?? 0) + driverLogs[name];
    }
    this.pruned.events += events;
    this.pruned.deliveries += deliveries;
    return { cutoff, bound, eventBatches, events, deliveries, driverLogs };
  }

  private async pruneEvents(cutoff: string, bound: number, at: string): Promise<number[]> {
    const batches: number[] = [];
    let pos = 0;
    for (;;) {
      const window = await this.db
        .selectFrom('events')
        .select(['id', 'created_at'])
        .where('id', '>', pos)
        .where('id', '<=', bound)
        .orderBy('id')
        .limit(this.batchSize)
        .execute();
      if (window.length === 0 || !window.some((r) => r.created_at < cutoff)) break;
      const from = pos;
      const to = Number(window[window.length - 1].id);
      const deleted = await this.db.transaction().execute(async (trx) => {
        const rows = await trx
          .deleteFrom('events')
          .where('id', '>', from)
          .where('id', '<=', to)
          .where('created_at', '<', cutoff)
          // not of an active upgrade, nor of an upgrade of a batch that has not ended
          .where((eb) =>
            eb.or([
              eb('upgrade_id', 'is', null),
              eb(
                'upgrade_id',
                'not in',
                eb
                  .selectFrom('upgrades')
                  .select('upgrades.id')
                  .where((u) =>
                    u.or([
                      u('upgrades.state', 'in', [...ACTIVE_UPGRADE_STATES]),
                      u('upgrades.batch_id', 'in', u.selectFrom('batches').select('batches.id').where(batchNotEnded)),
                    ]),
                  ),
              ),
            ]),
          )
          // not of a batch that has not ended (batch and wave events name it in data.batchId)
          .where((eb) =>
            eb.not(
              eb.exists(
                eb
                  .selectFrom('batches')
                  .select('batches.id')
                  .where(batchNotEnded)
                  .where(sql<boolean>`${sql.ref('events.data')} like '%"batchId":"' || ${sql.ref('batches.id')} || '"%'`),
              ),
            ),
          )
          .returning(['id', 'project_id'])
          .execute();
        const through = new Map<string, number>();
        for (const r of rows) through.set(r.project_id, Math.max(through.get(r.project_id) ?? 0, Number(r.id)));
        for (const [project, id] of through) {
          await trx
            .insertInto('event_retention')
            .values({ project_id: project, pruned_through: id, pruned_at: at })
            .onConflict((oc) =>
              oc.column('project_id').doUpdateSet({
                pruned_through: sql<number>`case when ${sql.ref('excluded.pruned_through')} > ${sql.ref('event_retention.pruned_through')} then ${sql.ref('excluded.pruned_through')} else ${sql.ref('event_retention.pruned_through')} end`,
                pruned_at: at,
              }),
            )
            .execute();
        }
        return rows.length;
      });
      batches.push(deleted);
      pos = to;
      if (window.length < this.batchSize) break;
      await this.pause();
    }
    return batches;
  }

  /** Delivered or given-up deliveries whose last attempt was due before the cutoff. */
  private async pruneDeliveries(cutoff: string): Promise<number> {
    let total = 0;
    for (;;) {
      const res = await this.db
        .deleteFrom('webhook_deliveries')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('webhook_deliveries as d')
            .select('d.id')
            .where('d.state', 'in', ['delivered', 'failed'])
            // a delivery keeps the due time of its last attempt; a delivered one also when it succeeded
            .where('d.next_attempt_at', '<', cutoff)
            .where((e) => e(e.fn.coalesce('d.delivered_at', 'd.next_attempt_at'), '<', cutoff))
            .limit(this.batchSize),
        )
        .executeTakeFirst();
      const n = Number(res.numDeletedRows);
      total += n;
      if (n < this.batchSize) return total;
      await this.pause();
    }
  }
}

/** A batch that has not ended (a cancelled one ends once the scheduler closed it: ended_at set). */
const batchNotEnded = (b: ExpressionBuilder<Database, 'batches'>) =>
  b.or([b('batches.state', 'not in', [...FINAL_BATCH_STATES]), b('batches.ended_at', 'is', null)]);
