// The API's reads go through the store's read side (store.read: SQLite read-only connections in
// worker threads, PostgreSQL's own pool), not the writer's connection. While a transaction holds
// the writer's connection open (on SQLite every statement on store.db waits for it), a status
// read still answers, and does not see what that transaction has not committed; once it commits,
// the next read sees it. The read side refuses writes on SQLite and stops with the store.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEFAULT_RATE_LIMITS } from '../../src/http/rate-limits.ts';
import { forEachDialect, startApp, stopBackground, type Dialect, type TestApp } from '../helpers/harness.ts';

forEachDialect('reads beside the writer', (dialect: Dialect) => {
  let t: TestApp;
  before(async () => {
    // the database's rate-limit counters are writes of every request: off here, as in bench:fleet
    t = await startApp(dialect, {}, { rateLimits: { ...DEFAULT_RATE_LIMITS, enabled: false } });
    await stopBackground(t);
    assert.equal((await t.call('POST', '/v1/projects', { id: 'acme', name: 'Acme' })).status, 201);
    // a first request records the token's use (a write), so the reads below only read
    assert.equal((await t.call('GET', '/v1/projects/acme')).status, 200);
  });
  after(async () => t.close());

  test('a status read answers while the writer holds a transaction open, and reads committed writes', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let inside!: () => void;
    const opened = new Promise<void>((r) => (inside = r));
    const tx = t.ctx.store.db.transaction().execute(async (trx) => {
      await trx.insertInto('projects').values({ id: 'late', name: 'Late', created_at: new Date().toISOString() }).execute();
      inside();
      await held;
    });
    await opened;
    // answered while the transaction still holds the writer's connection: it did not wait for it
    const during = await t.call('GET', '/v1/projects/late');
    assert.equal(during.status, 404, 'an uncommitted row is not read');
    assert.equal((await t.call('GET', '/v1/projects/acme')).status, 200);
    release();
    await tx;
    const afterCommit = await t.call('GET', '/v1/projects/late');
    assert.equal(afterCommit.status, 200, 'a read after the commit sees it');
    assert.equal(afterCommit.json.name, 'Late');
  });

  if (dialect === 'sqlite') {
    test('the read side refuses writes: its connections are read-only', async () => {
      const write = t.ctx.store.read
        .insertInto('projects')
        .values({ id: 'nope', name: 'Nope', created_at: new Date().toISOString() })
        .execute();
      await assert.rejects(write, /readonly/);
    });
  }
});
