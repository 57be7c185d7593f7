// One process per SQLite data folder. SQLite is the single-writer store, and the executor's
// start-up recovery treats every step it does not own as orphaned; a second server on the same
// folder would re-run the first one's steps. So a server holds an OS-level lock on
// `liftgate.lock` in the folder for as long as it runs: a small SQLite file kept in exclusive
// locking mode after one write, which makes SQLite hold its POSIX lock on the file until the
// connection closes. The kernel drops that lock when the holder dies (even by SIGKILL), so a
// stale lock never needs cleaning up. Who holds it is written beside it (`liftgate.lock.json`)
// for the refusal message: the lock file itself cannot be read while it is held.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { AppError } from '../domain/errors.ts';

export interface FolderLock {
  readonly folder: string;
  release(): void;
}

interface Holder {
  pid: number;
  host: string;
  startedAt: string;
}

export const isPostgresUrl = (url: string | undefined): url is string => !!url && /^postgres(ql)?:\/\//.test(url);

/** The SQLite file a store's options open, or null when they select PostgreSQL. */
export function sqliteFileOf(opts: { databaseUrl?: string; dataDir?: string; sqliteFile?: string }): string | null {
  if (isPostgresUrl(opts.databaseUrl)) return null;
  return path.resolve(opts.sqliteFile ?? path.join(opts.dataDir ?? './data', 'liftgate.db'));
}

const LOCK_FILE = 'liftgate.lock';
const HOLDER_FILE = 'liftgate.lock.json';

/** Takes the folder's lock at once or throws DATA_DIR_LOCKED naming the folder and its holder. */
export function lockDataFolder(folder: string): FolderLock {
  const dir = path.resolve(folder);
  fs.mkdirSync(dir, { recursive: true });
  const db = new BetterSqlite3(path.join(dir, LOCK_FILE), { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // the first write takes the exclusive lock; in this mode it is kept until close()
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER); BEGIN EXCLUSIVE; DELETE FROM holder; COMMIT');
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
    const holder = readHolder(dir);
    throw new AppError(
      'DATA_DIR_LOCKED',
      `the data folder ${dir} is in use by another Liftgate process` +
        (holder ? ` (pid ${holder.pid} on ${holder.host}, started ${holder.startedAt})` : '') +
        '; stop it first, or give this server its own LIFTGATE_DATA_DIR (several replicas need PostgreSQL)',
      { folder: dir, ...(holder ? { pid: holder.pid, host: holder.host } : {}) },
    );
  }
  const holder: Holder = { pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() };
  fs.writeFileSync(path.join(dir, HOLDER_FILE), `${JSON.stringify(holder)}\n`);
  let held = true;
  return {
    folder: dir,
    release() {
      if (!held) return;
      held = false;
      fs.rmSync(path.join(dir, HOLDER_FILE), { force: true });
      db.close();
    },
  };
}

function readHolder(dir: string): Holder | null {
  try {
    const h = JSON.parse(fs.readFileSync(path.join(dir, HOLDER_FILE), 'utf8')) as Holder;
    return typeof h.pid === 'number' ? h : null;
  } catch {
    return null;
  }
}
