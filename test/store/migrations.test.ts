// Migrations: idempotent on restart, and a database migrated by a newer Liftgate is refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { sqliteFileOf } from '../../src/store/folder-lock.ts';
import { migrations } from '../../src/store/migrations.ts';
import { openStore } from '../../src/store/open.ts';
import { postgresCapabilities, sqliteCapabilities } from '../../src/store/dialect.ts';
import { forEachDialect, freshStore, type StoreConfig } from '../helpers/harness.ts';

/** Migrates a fresh store with only some of the migrations, as an older or a parallel build would. */
async function migrateOnly(s: StoreConfig, keep: (name: string) => boolean): Promise<void> {
  const schema = s.config.pgSchema;
  let db: Kysely<unknown>;
  if (schema) {
    const c = new pg.Client({ connectionString: s.config.databaseUrl });
    await c.connect();
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await c.end();
    const pool = new pg.Pool({ connectionString: s.config.databaseUrl, options: `-c search_path=${schema}` });
    db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  } else {
    db = new Kysely({ dialect: new SqliteDialect({ database: new BetterSqlite3(sqliteFileOf(s.config) as string) }) });
  }
  const all = migrations(schema ? postgresCapabilities : sqliteCapabilities);
  const some = Object.fromEntries(Object.entries(all).filter(([name]) => keep(name)));
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => some },
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error } = await migrator.migrateToLatest();
  await db.destroy();
  if (error) throw error;
}

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

  test('a database that has a later migration but not an earlier one gets the missing ones', async () => {
    const s = await freshStore(dialect);
    try {
      const names = Object.keys(migrations(dialect === 'postgres' ? postgresCapabilities : sqliteCapabilities)).sort();
      const skipped = names.slice(-3, -1);
      await migrateOnly(s, (name) => !skipped.includes(name));
      const store = await openStore(s.config);
      try {
        const rows = (await store.db
          .selectFrom('kysely_migration' as never)
          .select('name' as never)
          .execute()) as { name: string }[];
        assert.deepEqual(rows.map((r) => r.name).sort(), names, `${skipped.join(', ')} applied after the later one`);
      } finally {
        await store.close();
      }
    } finally {
      await s.cleanup();
    }
  });
});
