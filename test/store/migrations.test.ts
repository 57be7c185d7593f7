// Migrations: idempotent on restart, and a database migrated by a newer Liftgate is refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'kysely';
import { migrations } from '../../src/store/migrations.ts';
import { openStore } from '../../src/store/open.ts';
import { forEachDialect, freshStore } from '../helpers/harness.ts';

forEachDialect('migrations', (dialect) => {
  test('reopening is a no-op; a newer database is refused with STORE_NEWER_THAN_CODE', async () => {
    const s = await freshStore(dialect);
    try {
      const a = await openStore(s.config);
      await a.db.insertInto('projects').values({ id: 'kept', name: 'kept', created_at: 'now' }).execute();
      await a.close();
      const b = await openStore(s.config);
      assert.equal((await b.db.selectFrom('projects').selectAll().execute()).length, 1);
      const table = b.schema ? sql.raw(`${b.schema}.kysely_migration`) : sql.raw('kysely_migration');
      await sql`INSERT INTO ${table} (name, timestamp) VALUES ('999_from_the_future', 'x')`.execute(b.db);
      await b.close();
      await assert.rejects(openStore(s.config), (err: { code?: string; message: string }) => {
        assert.equal(err.code, 'STORE_NEWER_THAN_CODE');
        assert.match(err.message, /999_from_the_future/);
        return true;
      });
    } finally {
      await s.cleanup();
    }
  });

  test('concurrent openers migrate once (the migration lock holds)', async () => {
    const s = await freshStore(dialect);
    try {
      const stores = await Promise.all([openStore(s.config), openStore(s.config), openStore(s.config)]);
      const rows = await stores[0].db
        .selectFrom('kysely_migration' as never)
        .selectAll()
        .execute();
      assert.equal(rows.length, Object.keys(migrations(stores[0].caps)).length);
      await Promise.all(stores.map((x) => x.close()));
    } finally {
      await s.cleanup();
    }
  });
});
