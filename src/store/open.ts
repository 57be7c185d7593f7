// Opens the store: SQLite file by default, PostgreSQL when a postgres:// URL is given.
// Runs the numbered migrations under Kysely's migration lock and refuses a database that is
// newer than this code.
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type MigrationProvider } from 'kysely';
import { AppError } from '../domain/errors.ts';
import { migrations } from './migrations.ts';
import { EventHorizon } from './event-horizon.ts';
import { postgresCapabilities, sqliteCapabilities, type DialectCapabilities } from './dialect.ts';
import { GroupCommitter } from './group-commit.ts';
import { SqliteReaderDialect } from './sqlite-readers.ts';
import { isPostgresUrl, sqliteFileOf } from './folder-lock.ts';
import { queryLog } from './query-profile.ts';
import type { Database } from './schema.ts';

// int8 (bigserial ids, counts) as numbers: our ids stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

export interface StoreOptions {
  /** postgres://... selects PostgreSQL; otherwise SQLite in dataDir/liftgate.db */
  databaseUrl?: string;
  dataDir?: string;
  /** PostgreSQL schema to use (created if missing); tests isolate themselves with it */
  pgSchema?: string;
  /** an explicit SQLite file path (overrides dataDir) */
  sqliteFile?: string;
  /** PostgreSQL ends a session idle inside a transaction for this long (default 10 s) */
  pgIdleInTransactionMs?: number;
}

export interface Store {
  db: Kysely<Database>;
  /**
   * Reads that need not wait for the writer: SQLite's read-only connections in worker threads,
   * PostgreSQL's own pool. Each sees every transaction committed before the read starts; writes
   * and anything inside a write transaction go through `db`.
   */
  read: Kysely<Database>;
  /** runs a unit of work atomically; on a single-writer store, units ready together share a commit */
  unit: GroupCommitter;
  /** PostgreSQL schema holding the tables (null on SQLite) */
  schema: string | null;
  caps: DialectCapabilities;
  /** how far readers of the events may go without skipping one still to commit */
  horizon: EventHorizon;
  describe: string;
  close(): Promise<void>;
}

/**
 * Kysely prepares every statement anew; compiling SQL costs more than running these small
 * queries, so prepared statements are kept per SQL text (bounded; evicted oldest first).
 */
function withStatementCache(sqlite: BetterSqlite3.Database): BetterSqlite3.Database {
  const cache = new Map<string, BetterSqlite3.Statement>();
  const prepare = sqlite.prepare.bind(sqlite);
  return new Proxy(sqlite, {
    get(target, prop, receiver) {
      if (prop !== 'prepare') {
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      }
      return (source: string) => {
        let stmt = cache.get(source);
        if (!stmt) {
          stmt = prepare(source);
          if (cache.size >= 500) cache.delete(cache.keys().next().value as string);
          cache.set(source, stmt);
        }
        return stmt;
      };
    },
  });
}

export async function openStore(opts: StoreOptions): Promise<Store> {
  const url = opts.databaseUrl;
  let store: Store;
  if (isPostgresUrl(url)) {
    const schema = opts.pgSchema;
    if (schema && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
    if (schema) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      } catch (err) {
        // two openers racing to create the schema: the loser's error means it exists now
        if ((err as { code?: string }).code !== '23505') throw err;
      } finally {
        await c.end();
      }
    }
    // A replica frozen in the middle of a transaction (SIGSTOP, a VM paused) would hold its row
    // locks and stall every other replica until it woke; the server ends such a session instead.
    const idleTx = `-c idle_in_transaction_session_timeout=${opts.pgIdleInTransactionMs ?? 10_000}`;
    const pool = new pg.Pool({
      connectionString: url,
      max: 10,
      options: schema ? `-c search_path=${schema} ${idleTx}` : idleTx,
    });
    // A connection the server ended (idle-in-transaction timeout, restart) emits 'error'; unheard,
    // that would crash the process. The failed query reports it, and the pool drops the client.
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log: queryLog() });
    // The API's reads on connections of their own: they never queue behind the executor's.
    const readPool = new pg.Pool({
      connectionString: url,
      max: 4,
      options: schema ? `-c search_path=${schema} ${idleTx}` : idleTx,
    });
    readPool.on('error', () => {});
    readPool.on('connect', (client) => client.on('error', () => {}));
    const read = new Kysely<Database>({ dialect: new PostgresDialect({ pool: readPool }), log: queryLog() });
    store = {
      db,
      read,
      unit: new GroupCommitter(db, false),
      schema: schema ?? 'public',
      caps: postgresCapabilities,
      horizon: new EventHorizon(db, postgresCapabilities),
      describe: `postgresql ${url.replace(/\/\/[^@]*@/, '//')}${schema ? ` schema ${schema}` : ''}`,
      close: async () => {
        await Promise.all([db.destroy(), read.destroy()]);
      },
    };
  } else {
    const file = sqliteFileOf(opts) as string;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const sqlite = new BetterSqlite3(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }), log: queryLog() });
    // WAL lets read-only connections read beside the writer; theirs run in worker threads
    const read = new Kysely<Database>({ dialect: new SqliteReaderDialect(file), log: queryLog() });
    store = {
      db,
      read,
      unit: new GroupCommitter(db, true),
      schema: null,
      caps: sqliteCapabilities,
      horizon: new EventHorizon(db, sqliteCapabilities),
      describe: `sqlite ${file}`,
      close: async () => {
        await Promise.all([read.destroy(), db.destroy()]);
      },
    };
  }
  try {
    await migrateWithRetry(store);
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

/**
 * Kysely locks migrations on PostgreSQL; on SQLite it relies on the single writer, so two
 * processes opening a new file at once can both try. Migrations are transactional DDL, so the
 * loser rolls back cleanly and, on the next try, finds the work done.
 */
async function migrateWithRetry(store: Store): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await migrate(store);
      return;
    } catch (err) {
      if (err instanceof AppError || attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 200 * attempt));
    }
  }
}

async function migrate(store: Store): Promise<void> {
  const all = migrations(store.caps);
  const provider: MigrationProvider = { getMigrations: async () => all };
  // Kysely looks for its own tables across all schemas unless told which one is ours.
  // Unordered: a database migrated by a build that had a later-numbered migration but not an
  // earlier one (numbers are taken by changes developed side by side) gets the missing ones.
  // Every migration only adds tables, columns and indexes, so the order between them is free.
  const migrator = new Migrator({
    db: store.db,
    provider,
    allowUnorderedMigrations: true,
    ...(store.schema ? { migrationTableSchema: store.schema } : {}),
  });
  const known = new Set(Object.keys(all));
  // Kysely lists only the migrations it knows; ask the table directly for ones it does not.
  const table = store.schema ? `${store.schema}.kysely_migration` : 'kysely_migration';
  const rows = await store.db
    .selectFrom(table as never)
    .select('name' as never)
    .execute()
    .catch(() => [] as { name: string }[]);
  const unknown = (rows as { name: string }[]).map((r) => r.name).filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new AppError(
      'STORE_NEWER_THAN_CODE',
      `the database has migrations this version of Liftgate does not know (${unknown.join(', ')}); ` +
        'run a newer Liftgate or restore a matching backup',
    );
  }
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? '?'} failed: ${String(error)}`);
  }
}
