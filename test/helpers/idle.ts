// "Idle": the moment when a running Liftgate has nothing left to do by itself, so that from then on
// the store changes only because of a request (or of time reaching a due date, which idle also
// rules out). The background workers keep running: a request that queued work is seen by the work
// it queued, which stopped workers would hide.
//
// Liftgate is idle when every one of these holds (each is a check below, named in what busyWith
// answers):
//   executor   no step runs in this process, no step is running or rolling back in the store, and
//              no upgrade is ready, prechecking, running, cancelling or rolling back (the executor
//              would act)
//   windows    no upgrade is due by its schedule: none scheduled (not held) whose not_before has
//              come, none paused by its window whose window may have opened (the three queries of
//              src/engine/windows.ts)
//   prechecks  no precheck report is still running (its findings land later)
//   batches    no batch is being created, due to start (scheduled, its time come), running, baking,
//              or cancelled with its upgrades still to cancel (every state the batch scheduler
//              moves on its own; a batch waiting for a person or a far-off time is at rest)
//   webhooks   no delivery is pending (claimed or due later: a pending delivery is retried)
//   consumers  the estimate tracker and the webhook outbox feeder have read every event
// The heartbeats of executors and of the housekeeping lease go on, idle or not: time alone moves
// them, and the store digest leaves those columns out (test/helpers/store-digest.ts).
import { sql, type SelectQueryBuilder } from 'kysely';
import type { AppContext } from '../../src/service/app-context.ts';
import type { Database } from '../../src/store/schema.ts';
import { until } from './harness.ts';

/** What keeps Liftgate from being idle now; empty when it is idle. */
export async function busyWith(ctx: AppContext): Promise<string[]> {
  const db = ctx.store.db;
  const now = ctx.clock.now().toISOString();
  const busy: string[] = [];
  if (ctx.executor.stepsInFlight > 0) busy.push(`executor: ${ctx.executor.stepsInFlight} step(s) in flight in this process`);
  // every check in one statement, each a list of what it found (at most three, for the message)
  const some = (q: SelectQueryBuilder<Database, any, { what: string }>) =>
    sql<string | null>`(SELECT ${sql.raw(listOf(ctx))} FROM ${q.limit(3).as('found')})`;
  const checks = {
    steps: db
      .selectFrom('steps')
      .select(sql<string>`'executor: step ' || name || ' of upgrade ' || upgrade_id || ' is ' || state`.as('what'))
      .where('state', 'in', ['running', 'rolling_back']),
    upgrades: db
      .selectFrom('upgrades')
      .select(sql<string>`'executor: upgrade ' || id || ' is ' || state`.as('what'))
      .where('state', 'in', ['ready', 'prechecking', 'running', 'cancelling', 'rolling_back']),
    due: db
      .selectFrom('upgrades')
      .select(sql<string>`'windows: upgrade ' || id || ' is ' || state || ' and due'`.as('what'))
      .where((eb) =>
        eb.or([
          eb.and([eb('state', '=', 'scheduled'), eb('hold', 'is', null), eb('not_before', '<=', now)]),
          eb.and([eb('state', '=', 'paused'), eb('hold', '=', 'window'), eb('not_before', '<=', now)]),
        ]),
      ),
    prechecks: db
      .selectFrom('precheck_reports')
      .select(sql<string>`'prechecks: report ' || id || ' is running'`.as('what'))
      .where('state', '=', 'running'),
    batches: db
      .selectFrom('batches')
      .select(sql<string>`'batches: batch ' || id || ' is ' || state`.as('what'))
      .where((eb) =>
        eb.or([
          eb('state', 'in', ['creating', 'running', 'baking']),
          eb.and([eb('state', '=', 'scheduled'), eb.or([eb('not_before', 'is', null), eb('not_before', '<=', now)])]),
          eb.and([eb('state', '=', 'cancelled'), eb('ended_at', 'is', null)]),
        ]),
      ),
    webhooks: db
      .selectFrom('webhook_deliveries')
      .select(sql<string>`'webhooks: delivery ' || id || ' is pending'`.as('what'))
      .where('state', '=', 'pending'),
    consumers: db
      .selectFrom('event_cursors')
      .select(sql<string>`'consumers: ' || name || ' has read events up to ' || last_id`.as('what'))
      .where('last_id', '<', (eb) => eb.selectFrom('events').select(sql<number>`coalesce(max(id), 0)`.as('m'))),
  };
  const row = (
    await sql<Record<string, string | null>>`SELECT ${sql.join(
      Object.entries(checks).map(([name, q]) => sql`${some(q)} AS ${sql.ref(name)}`),
    )}`.execute(db)
  ).rows[0]!;
  for (const found of Object.values(row)) if (found) busy.push(...found.split('\n'));
  return busy;
}

/** The dialect's aggregate that joins the `what` of the rows found, one a line. */
const listOf = (ctx: AppContext) =>
  ctx.store.caps.name === 'postgres' ? "string_agg(what, E'\\n')" : 'group_concat(what, char(10))';

/**
 * Waits until Liftgate is idle (see the top of this file); the error names what kept it busy.
 * Answers whether it was idle at the first look: then, when it was idle at the caller's last look
 * and the caller sent nothing since, nothing ran in between (nothing was due).
 */
export async function waitForIdle(ctx: AppContext, what = 'Liftgate to be idle'): Promise<boolean> {
  let last = await busyWith(ctx);
  if (last.length === 0) return true;
  try {
    await until(async () => {
      last = await busyWith(ctx);
      return last.length === 0;
    }, what);
  } catch (err) {
    throw new Error(`${(err as Error).message}; still busy: ${last.join('; ')}`);
  }
  return false;
}
