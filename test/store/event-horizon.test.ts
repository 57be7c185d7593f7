// The events' horizon on real stores: a reader following new events never passes one that
// commits late (a second PostgreSQL session holds it uncommitted), and passes the id of a
// rolled-back insert as soon as every transaction in flight when the gap was seen has ended,
// not after a timer. The durable cursor built on it hands every committed event to its
// consumer exactly once, in id order.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { EventCursor } from '../../src/store/event-cursor.ts';
import { EventHorizon, GAP_SETTLE_MS } from '../../src/store/event-horizon.ts';
import { openStore, type Store } from '../../src/store/open.ts';
import { PG_URL, forEachDialect, freshStore, until, type StoreConfig } from '../helpers/harness.ts';

const event = (message: string) => ({
  project_id: 'p',
  target_id: null,
  upgrade_id: null,
  step_id: null,
  actor: 'test',
  type: 'test.event',
  from_state: null,
  to_state: null,
  message,
  data: '{}',
  created_at: new Date().toISOString(),
});

async function insert(store: Store, message: string): Promise<number> {
  const r = await store.db.insertInto('events').values(event(message)).returning('id').executeTakeFirstOrThrow();
  return Number(r.id);
}

/** A second PostgreSQL session in the store's schema, for transactions held open or rolled back. */
async function session(schema: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
  await c.connect();
  return c;
}

const insertSql = `insert into events (project_id, actor, type, message, data, created_at)
  values ('p', 'test', 'test.event', $1, '{}', now()::text) returning id`;

forEachDialect('events horizon', (dialect) => {
  let cfg: StoreConfig;
  let store: Store;
  before(async () => {
    cfg = await freshStore(dialect);
    store = await openStore(cfg.config);
  });
  after(async () => {
    await store.close();
    await cfg.cleanup();
  });

  test('every committed event is below the horizon once it is visible', async () => {
    const a = await insert(store, 'a');
    const b = await insert(store, 'b');
    assert.ok((await store.horizon.upTo()) >= b, `${a}, ${b}`);
  });

  if (dialect === 'sqlite') {
    test('a missing id (an event deleted with its project) is passed at once', async () => {
      const a = await insert(store, 'gone');
      const b = await insert(store, 'kept');
      await store.db.deleteFrom('events').where('id', '=', a).execute();
      assert.equal(await store.horizon.upTo(), b);
    });
    return;
  }

  test('an event that commits late is never passed, and is read once it commits', async () => {
    const schema = cfg.config.pgSchema as string;
    const held = await session(schema);
    try {
      await held.query('begin');
      const late = Number((await held.query(insertSql, ['late'])).rows[0].id);
      const next = await insert(store, 'after the late one');
      assert.ok(next > late);
      // however often it is asked while the transaction is open, the horizon stays below it
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, GAP_SETTLE_MS));
        assert.ok((await store.horizon.upTo()) < late, 'the horizon passed an event still to commit');
      }
      await held.query('commit');
      await until(async () => (await store.horizon.upTo()) >= next, 'the horizon to pass both', 1500);
    } finally {
      await held.end();
    }
  });

  test('a rolled-back insert is passed once the transactions in flight then have ended, not after a timer', async () => {
    let clock = 0;
    // patience far beyond the test: only the snapshot check can pass the gap
    const horizon = new EventHorizon(store.db, store.caps, Number.MAX_SAFE_INTEGER, () => clock);
    const start = await horizon.upTo();
    const schema = cfg.config.pgSchema as string;
    const s = await session(schema);
    try {
      await s.query('begin');
      const lost = Number((await s.query(insertSql, ['lost'])).rows[0].id);
      await s.query('rollback');
      const next = await insert(store, 'after the lost one');
      assert.ok(lost > start && next > lost);
      assert.equal(await horizon.upTo(), lost - 1, 'a gap seen for the first time holds the horizon');
      clock += GAP_SETTLE_MS;
      // other sessions on this server may have been in flight when the gap was seen: they end
      await until(async () => (await horizon.upTo()) === next, 'the horizon to pass the rolled-back id', 1500);
    } finally {
      await s.end();
    }
  });

  test('a cursor hands every committed event once, in id order, across a late commit and a rollback', async () => {
    const cursor = new EventCursor(store, 'horizon-test');
    await cursor.ensure();
    const seen: number[] = [];
    const consume = () =>
      cursor.consume(async (_trx, events) => {
        for (const e of events) seen.push(Number(e.id));
      });
    const schema = cfg.config.pgSchema as string;
    const held = await session(schema);
    const lost = await session(schema);
    const committed: number[] = [];
    try {
      committed.push(await insert(store, 'one'));
      await held.query('begin');
      const late = Number((await held.query(insertSql, ['late'])).rows[0].id);
      await lost.query('begin');
      await lost.query(insertSql, ['lost']);
      await lost.query('rollback');
      committed.push(await insert(store, 'two'));
      await consume();
      assert.ok(!seen.includes(late) && seen.every((id) => id < late), `consumed ${seen} past ${late}`);
      await held.query('commit');
      committed.push(late);
      committed.push(await insert(store, 'three'));
      await until(
        async () => {
          await consume();
          return seen.length >= committed.length;
        },
        'every committed event',
        1500,
      );
      assert.deepEqual(
        seen,
        [...committed].sort((x, y) => x - y),
        'each once, in id order',
      );
    } finally {
      await held.end();
      await lost.end();
    }
  });
});
