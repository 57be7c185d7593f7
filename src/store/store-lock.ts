// A lock across every process sharing the store, for work that must not run twice at once
// (first-start work: the first admin token, the demo fleet). On PostgreSQL it is a session
// advisory lock keyed by the schema and the name, held on one connection of the pool; the
// server drops it if the holder dies. A SQLite store has one process (see folder-lock.ts), so
// the callers there only need to be serialised within it.
import { sql } from 'kysely';
import type { Store } from './open.ts';

const local = new Map<string, Promise<unknown>>();

export async function withStoreLock<T>(store: Store, name: string, fn: () => Promise<T>): Promise<T> {
  if (store.caps.singleWriter) {
    const key = `${store.describe}:${name}`;
    const prev = local.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    local.set(
      key,
      run.catch(() => {}),
    );
    return run;
  }
  const key = `liftgate:${store.schema ?? 'public'}:${name}`;
  return store.db.connection().execute(async (conn) => {
    await sql`SELECT pg_advisory_lock(hashtext(${key}))`.execute(conn);
    try {
      return await fn();
    } finally {
      await sql`SELECT pg_advisory_unlock(hashtext(${key}))`.execute(conn);
    }
  });
}
