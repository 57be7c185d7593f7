// Event retention (LIFTGATE_EVENT_RETENTION_DAYS) on both stores, with a ManualClock: events of
// ended upgrades older than the retention go, in bounded batches; an active upgrade's and an
// active batch's events stay however old; nothing past the slowest durable cursor goes; ended
// webhook deliveries go; each driver's own logs go through its prune hook (the sim driver's calls
// and effects of ended upgrades); readers (the events list, SSE) say that history is gone instead
// of looking complete; the setting is refused when invalid.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  DeleteQueryNode,
  TableNode,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';
import { ManualClock } from '../../src/domain/clock.ts';
import { appendEvent } from '../../src/engine/core/events.ts';
import { EventRetention, retentionDaysFromEnv } from '../../src/engine/retention.ts';
import { createContext } from '../../src/app/context.ts';
import { SimDriver } from '../../src/drivers/sim/sim-driver.ts';
import { simDb } from '../../src/drivers/sim/tables.ts';
import { forEachDialect, freshStore, seedSim, startApp, stopBackground, until, type TestApp } from '../helpers/harness.ts';

const DAY = 86_400_000;

test('LIFTGATE_EVENT_RETENTION_DAYS: unset keeps everything; a whole number of days 1..36500; anything else is refused', async () => {
  assert.equal(retentionDaysFromEnv({}), null);
  assert.equal(retentionDaysFromEnv({ LIFTGATE_EVENT_RETENTION_DAYS: '' }), null);
  assert.equal(retentionDaysFromEnv({ LIFTGATE_EVENT_RETENTION_DAYS: '30' }), 30);
  assert.equal(retentionDaysFromEnv({ LIFTGATE_EVENT_RETENTION_DAYS: '36500' }), 36500);
  for (const bad of ['0', '-1', '1.5', 'abc', '7d', '1e2', '36501']) {
    assert.throws(
      () => retentionDaysFromEnv({ LIFTGATE_EVENT_RETENTION_DAYS: bad }),
      new RegExp(
        `: LIFTGATE_EVENT_RETENTION_DAYS=${bad}: must be a whole number of days from 1 to 36500, or unset to keep every event$`,
      ),
      bad,
    );
  }
  // the server refuses it before it opens anything
  const store = await freshStore('sqlite');
  try {
    await assert.rejects(createContext({ ...store.config, eventRetentionDays: 0 }), /whole number of days/);
  } finally {
    await store.cleanup();
  }
});

/** Records each DELETE statement: its table and how many rows it removed. */
class DeleteLog implements KyselyPlugin {
  readonly deletes: { table: string; rows: number }[] = [];
  private readonly tables = new WeakMap<object, string>();

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    if (DeleteQueryNode.is(args.node)) {
      const from = args.node.from.froms[0];
      if (TableNode.is(from)) this.tables.set(args.queryId, from.table.identifier.name);
    }
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const table = this.tables.get(args.queryId);
    if (table) this.deletes.push({ table, rows: args.result.rows.length || Number(args.result.numAffectedRows ?? 0) });
    return args.result;
  }

  of(table: string): number[] {
    return this.deletes.filter((d) => d.table === table).map((d) => d.rows);
  }
}

forEachDialect('event retention', (dialect) => {
  let t: TestApp;
  // on the wall clock's time: credential events carry wall-clock times
  const clock = new ManualClock(Date.now());
  const BATCH = 7;
  const log = new DeleteLog();
  let retention: EventRetention;
  let endedId = '';
  let activeId = '';
  const ids = async (where: (q: any) => any = (q) => q): Promise<number[]> =>
    (await where(t.ctx.store.db.selectFrom('events').select('id')).orderBy('id').execute()).map((r: { id: number }) =>
      Number(r.id),
    );
  const eventsOf = (upgradeId: string) => ids((q) => q.where('upgrade_id', '=', upgradeId));
  const setCursors = (lastId: number) =>
    t.ctx.store.db.updateTable('event_cursors').set({ last_id: lastId, updated_at: clock.now().toISOString() }).execute();

  before(async () => {
    t = await startApp(dialect, { clock, eventRetentionDays: 30 });
    await seedSim(t, { project: 'acme', target: 'es-1' });
    await seedSim(t, { project: 'acme', target: 'es-2' });
    const ended = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: 'es-1', toVersion: '7.10.3', mode: 'rolling' });
    assert.equal(ended.status, 202, ended.body);
    endedId = ended.json.id;
    await until(
      async () => (await t.call('GET', `/v1/projects/acme/upgrades/${endedId}`)).json.state === 'succeeded',
      'upgrade ends',
    );
    const active = await t.call('POST', '/v1/projects/acme/upgrades', {
      targetId: 'es-2',
      toVersion: '7.10.3',
      mode: 'rolling',
      schedule: { kind: 'at', at: '2099-01-01T00:00:00Z' },
    });
    assert.equal(active.status, 202, active.body);
    activeId = active.json.id;
    // an operator action in the audit trail (no upgrade)
    assert.equal((await t.call('POST', '/v1/projects/acme/tokens', { name: 'ci', role: 'viewer' })).status, 201);
    // the durable consumers read everything so far, then every background writer stops
    const head = Math.max(...(await ids()));
    await until(
      async () =>
        (await t.ctx.store.db.selectFrom('event_cursors').select('last_id').execute()).every((r) => Number(r.last_id) >= head),
      'consumers catch up',
    );
    await stopBackground(t);
    retention = new EventRetention({
      store: { db: t.ctx.store.db.withPlugin(log), horizon: t.ctx.store.horizon },
      clock,
      days: 30,
      batchSize: BATCH,
    });
  });
  after(async () => t.close());

  test('within the retention nothing goes', async () => {
    const before = await ids();
    const report = await retention.prune();
    assert.equal(report.events, 0);
    assert.deepEqual(await ids(), before);
  });

  test('past the retention, events stop at the slowest durable cursor', async () => {
    clock.advance(31 * DAY);
    // events written now are within the retention
    await appendEvent(t.ctx.store.db, { projectId: 'acme', actor: 'test', type: 'target.updated', message: 'recent' }, clock);
    const ended = await eventsOf(endedId);
    assert.ok(ended.length > 3 * BATCH, `${ended.length} events of the ended upgrade`);
    // the webhook outbox lags: it has read only the first half of the ended upgrade's events
    const lag = ended[Math.floor(ended.length / 2)];
    await t.ctx.store.db.updateTable('event_cursors').set({ last_id: lag }).where('name', '=', 'webhooks').execute();
    const above = await ids((q) => q.where('id', '>', lag));
    const report = await retention.prune();
    assert.equal(report.bound, lag);
    assert.ok(report.events > 0);
    assert.deepEqual(await ids((q) => q.where('id', '>', lag)), above, 'nothing past the slowest cursor went');
    assert.deepEqual(
      await eventsOf(endedId),
      ended.filter((id) => id > lag),
    );
  });

  test('once consumers have read them, old events of ended upgrades go in bounded batches; an active upgrade’s stay', async () => {
    const all = await ids();
    const head = Math.max(...all);
    await setCursors(head);
    const active = await eventsOf(activeId);
    assert.ok(active.length > 0);
    const recent = await ids((q) => q.where('created_at', '>=', new Date(clock.now().getTime() - 30 * DAY).toISOString()));
    assert.ok(recent.length >= 1);
    log.deletes.length = 0;
    const report = await retention.prune();

    assert.deepEqual(await eventsOf(endedId), [], 'the ended upgrade’s old events are gone');
    assert.deepEqual(await eventsOf(activeId), active, 'the active upgrade’s events are all kept');
    const tokenEvents = await ids((q) => q.where('type', 'like', 'token.%'));
    assert.deepEqual(tokenEvents, [], 'old audit events without an upgrade go too');
    const left = await ids();
    assert.deepEqual(
      left,
      [...new Set([...active, ...recent])].sort((a, b) => a - b),
    );
    assert.equal(report.events, all.length - left.length);

    // every DELETE on events removed at most BATCH rows, and batches were filled
    const batches = log.of('events');
    assert.deepEqual(batches, report.eventBatches);
    assert.ok(
      batches.every((n) => n <= BATCH),
      `batches ${batches.join(',')}`,
    );
    assert.ok(batches.length >= Math.ceil(report.events / BATCH));
    assert.ok(batches.includes(BATCH), `batches ${batches.join(',')}`);
    assert.equal(
      batches.reduce((a, b) => a + b, 0),
      report.events,
    );

    // the newest deleted id is recorded for readers
    const deletedMax = Math.max(...all.filter((id) => !left.includes(id)));
    const row = await t.ctx.store.db
      .selectFrom('event_retention')
      .selectAll()
      .where('project_id', '=', 'acme')
      .executeTakeFirstOrThrow();
    assert.equal(Number(row.pruned_through), deletedMax);
  });

  test('events of a batch that has not ended, and of its upgrades, stay; an ended batch’s go', async () => {
    const db = t.ctx.store.db;
    const old = new ManualClock(clock.now().getTime() - 40 * DAY);
    const at = old.now().toISOString();
    for (const [id, state, ended] of [
      ['b-live', 'paused', null],
      ['b-done', 'succeeded', at],
    ] as const) {
      await db
        .insertInto('batches')
        .values({ id, project_id: 'acme', source: 'test', request: '{}', state, created_at: at, ended_at: ended })
        .execute();
      await appendEvent(
        db,
        { projectId: 'acme', actor: 'test', type: `batch.${state}`, message: id, data: { batchId: id } },
        old,
      );
    }
    // the ended upgrade, made a member of the live batch, with an old event of its own
    await db.updateTable('upgrades').set({ batch_id: 'b-live' }).where('id', '=', endedId).execute();
    await appendEvent(db, { projectId: 'acme', upgradeId: endedId, actor: 'test', type: 'upgrade.note', message: 'member' }, old);
    await setCursors(Math.max(...(await ids())));
    await retention.prune();
    const kept = await db.selectFrom('events').select(['type', 'message']).where('actor', '=', 'test').orderBy('id').execute();
    assert.deepEqual(
      kept.map((e) => e.message),
      ['recent', 'b-live', 'member'],
    );
  });

  test('ended webhook deliveries older than the retention go, in bounded batches; pending ones stay', async () => {
    const db = t.ctx.store.db;
    const oldAt = new Date(clock.now().getTime() - 40 * DAY).toISOString();
    const newAt = clock.now().toISOString();
    let n = 0;
    const row = (id: string, state: string, at: string) => ({
      id,
      webhook_id: 'w1',
      project_id: 'acme',
      event_id: ++n,
      event_type: 'upgrade.succeeded',
      payload: '{}',
      state,
      attempts: 1,
      next_attempt_at: at,
      give_up_at: at,
      log: '[]',
      created_at: at,
      delivered_at: state === 'delivered' ? at : null,
    });
    const rows = [
      ...Array.from({ length: 9 }, (_, i) => row(`old-delivered-${i}`, 'delivered', oldAt)),
      row('old-failed-1', 'failed', oldAt),
      row('old-pending-2', 'pending', oldAt),
      row('new-delivered-3', 'delivered', newAt),
    ];
    await db.insertInto('webhook_deliveries').values(rows).execute();
    log.deletes.length = 0;
    const report = await retention.prune();
    assert.equal(report.deliveries, 10);
    const left = await db.selectFrom('webhook_deliveries').select('id').orderBy('id').execute();
    assert.deepEqual(
      left.map((r) => r.id),
      ['new-delivered-3', 'old-pending-2'],
    );
    assert.deepEqual(log.of('webhook_deliveries'), [BATCH, 10 - BATCH]);
  });

  test('each driver prunes its own logs: the sim driver’s calls and effects of ended upgrades go, in bounded batches', async () => {
    const sim = simDb(t.ctx.store.db);
    const endedSteps = (await t.ctx.store.db.selectFrom('steps').select('id').where('upgrade_id', '=', endedId).execute()).map(
      (r) => r.id,
    );
    const ofEnded = async () =>
      (await sim.selectFrom('sim_invocations').select('id').where('step_id', 'in', endedSteps).execute()).length +
      (await sim.selectFrom('sim_effects').select('id').where('step_id', 'in', endedSteps).execute()).length;
    const endedRows = await ofEnded();
    assert.ok(endedRows > 2 * BATCH, `${endedRows} log rows of the ended upgrade`);
    // an old call of a step of the active upgrade: it stays while the upgrade is active
    const activeStep = await t.ctx.store.db
      .selectFrom('steps')
      .select('id')
      .where('upgrade_id', '=', activeId)
      .limit(1)
      .executeTakeFirstOrThrow();
    const oldAt = new Date(clock.now().getTime() - 40 * DAY).toISOString();
    await sim
      .insertInto('sim_invocations')
      .values({
        step_id: activeStep.id,
        fence: 1,
        call: 'execute',
        action: 'precheck',
        project_id: 'acme',
        target_id: 'es-2',
        node: null,
        owner: 'old-executor',
        outcome: 'applied',
        created_at: oldAt,
      })
      .execute();
    // the sim driver on a handle that records each DELETE, called by retention through its hook
    const logged = new SimDriver({ db: t.ctx.store.db.withPlugin(log), clock });
    const withDrivers = new EventRetention({
      store: t.ctx.store,
      clock,
      days: 30,
      batchSize: BATCH,
      drivers: new Map([['sim', logged]]),
    });
    log.deletes.length = 0;
    const report = await withDrivers.prune();
    assert.deepEqual(report.driverLogs, { sim: endedRows });
    assert.equal(await ofEnded(), 0, 'the ended upgrade’s calls and effects are gone');
    const left = await sim.selectFrom('sim_invocations').select('step_id').where('step_id', '=', activeStep.id).execute();
    assert.equal(left.length, 1, 'the active upgrade’s call stays');
    const batches = [...log.of('sim_invocations'), ...log.of('sim_effects')];
    assert.ok(
      batches.every((n) => n <= BATCH),
      `batches ${batches.join(',')}`,
    );
    assert.equal(
      batches.reduce((a, b) => a + b, 0),
      endedRows,
    );
  });

  test('readers say that history before the oldest kept event is gone', async () => {
    const pruned = Number(
      (
        await t.ctx.store.db
          .selectFrom('event_retention')
          .select('pruned_through')
          .where('project_id', '=', 'acme')
          .executeTakeFirstOrThrow()
      ).pruned_through,
    );
    const kept = await ids((q) => q.where('project_id', '=', 'acme'));
    const list = await t.call('GET', '/v1/projects/acme/events?after=0');
    assert.equal(list.status, 200);
    assert.equal(list.json.prunedThrough, pruned);
    assert.equal(list.json.items[0].id, kept[0], 'the list starts at the oldest kept event');
    const later = await t.call('GET', `/v1/projects/acme/events?after=${pruned}`);
    assert.equal(later.json.prunedThrough, undefined, 'a position after the deleted history is complete');

    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.app.server.address() as { port: number };
    const abort = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/v1/projects/acme/events`, {
      headers: { authorization: 'Bearer test-admin-token', accept: 'text/event-stream', 'last-event-id': '0' },
      signal: abort.signal,
    });
    assert.equal(res.status, 200);
    const frames: string[] = [];
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let buf = '';
    while (!frames.some((f) => f.startsWith('id: '))) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        frames.push(buf.slice(0, i));
        buf = buf.slice(i + 2);
      }
    }
    abort.abort();
    const notice = frames.findIndex((f) => f.includes('event: events.pruned'));
    const first = frames.findIndex((f) => f.startsWith('id: '));
    assert.ok(notice >= 0 && notice < first, frames.join('\n---\n'));
    assert.ok(!frames[notice].includes('\nid: ') && !frames[notice].startsWith('id: '), 'the notice moves no Last-Event-ID');
    const data = JSON.parse(
      frames[notice]
        .split('\n')
        .find((l) => l.startsWith('data: '))!
        .slice(6),
    );
    assert.deepEqual(data.data, { after: 0, prunedThrough: pruned });
    assert.equal(data.id, 0);
    assert.equal(frames[first].split('\n')[0], `id: ${kept[0]}`);
  });

  test('/metrics counts the rows retention deleted on this process', async () => {
    const r = t.ctx.retention;
    assert.ok(r, 'eventRetentionDays makes a retention');
    await appendEvent(
      t.ctx.store.db,
      { projectId: 'acme', actor: 'test', type: 'target.updated', message: 'old' },
      new ManualClock(clock.now().getTime() - 40 * DAY),
    );
    await setCursors(Math.max(...(await ids())));
    const before = (await ids()).length;
    const report = await r.prune();
    assert.equal(report.events, 1);
    assert.equal((await ids()).length, before - 1);
    const m = await t.call('GET', '/metrics');
    assert.match(m.body, new RegExp(`^liftgate_retention_pruned_total\\{table="events"\\} ${r.pruned.events}$`, 'm'));
    assert.match(m.body, new RegExp(`^liftgate_retention_pruned_total\\{table="sim_logs"\\} ${r.pruned.driverLogs.sim}$`, 'm'));
    assert.equal(r.pruned.events, 1);
  });
});
