// Online physical copy of a running server without pg_basebackup (the embedded binaries do not ship
// it): pg_backup_start, copy the data directory, pg_backup_stop, write backup_label, then copy the
// WAL written meanwhile so the copy is self-contained (a replica, a backup or a flighting clone).
import { chmod, copyFile, mkdir, readdir, readlink, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { chownTree, writeOwnedFile } from './os-user.ts';
import { connect } from './server.ts';

/** files and folders that belong to the running source, not to a copy */
const SKIP_TOP = new Set([
  'postmaster.pid',
  'postmaster.opts',
  'standby.signal',
  'recovery.signal',
  'promote',
  'backup_label',
  'tablespace_map',
  'backup_label.old',
]);
const EMPTY_DIRS = new Set([
  'pg_replslot',
  'pg_wal',
  'pg_stat_tmp',
  'pg_dynshmem',
  'pg_notify',
  'pg_serial',
  'pg_snapshots',
  'pg_subtrans',
]);

async function copyTree(src: string, dst: string, top: boolean): Promise<number> {
  let bytes = 0;
  await mkdir(dst, { recursive: true, mode: 0o700 });
  let entries;
  try {
    entries = await readdir(src, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  for (const e of entries) {
    if (top && SKIP_TOP.has(e.name)) continue;
    if (e.name === 'pgsql_tmp' || e.name.startsWith('pg_internal.init')) continue;
    const s = path.join(src, e.name);
    const d = path.join(dst, e.name);
    try {
      if (e.isDirectory()) {
        if (top && EMPTY_DIRS.has(e.name)) await mkdir(d, { recursive: true, mode: 0o700 });
        else bytes += await copyTree(s, d, false);
      } else if (e.isSymbolicLink()) {
        await symlink(await readlink(s), d);
      } else {
        await copyFile(s, d);
        bytes += (await stat(d)).size;
      }
    } catch (err) {
      // files come and go while the server runs (temp files, dropped relations); WAL replay fixes the rest
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return bytes;
}

export interface CloneResult {
  startLsn: string;
  stopLsn: string;
  bytes: number;
  ms: number;
}

/**
 * Copy the running server on `srcPort` (data in `srcData`) to `dstData`. With `slot`, a physical slot
 * of that name is created first (reserving WAL now) so the copy can later stream from it as a replica.
 */
export async function onlineClone(
  srcPort: number,
  srcData: string,
  dstData: string,
  opts: { slot?: string; label?: string; log?: (l: string) => void } = {},
): Promise<CloneResult> {
  const t0 = Date.now();
  const log = opts.log ?? (() => undefined);
  await rm(dstData, { recursive: true, force: true });
  const c = connect(srcPort);
  c.on('error', () => undefined);
  await c.connect();
  try {
    if (opts.slot) {
      const have = await c.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [opts.slot]);
      if (have.rowCount === 0) {
        await c.query('SELECT pg_create_physical_replication_slot($1, true)', [opts.slot]);
        log(`primary: SELECT pg_create_physical_replication_slot('${opts.slot}', true)`);
      }
    }
    // non-exclusive backup: start and stop must run on this one session
    const start = await c.query<{ lsn: string }>('SELECT pg_backup_start($1, true) AS lsn', [opts.label ?? 'liftgate']);
    const startLsn = start.rows[0]!.lsn;
    log(`primary: SELECT pg_backup_start(fast => true) -> ${startLsn}`);
    const bytes = await copyTree(srcData, dstData, true);
    const stop = await c.query<{ lsn: string; labelfile: string; spcmapfile: string | null }>(
      'SELECT lsn, labelfile, spcmapfile FROM pg_backup_stop(false)',
    );
    const row = stop.rows[0]!;
    log(`copied ${(bytes / 1048576).toFixed(1)} MiB; SELECT pg_backup_stop(false) -> ${row.lsn}`);
    await writeOwnedFile(path.join(dstData, 'backup_label'), row.labelfile);
    if (row.spcmapfile) await writeOwnedFile(path.join(dstData, 'tablespace_map'), row.spcmapfile);
    await copyWalSince(srcData, dstData, row.labelfile);
    await chownTree(dstData);
    await chmod(dstData, 0o700);
    return { startLsn, stopLsn: row.lsn, bytes, ms: Date.now() - t0 };
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** copy WAL segments from the backup's start segment on, plus timeline history files */
async function copyWalSince(srcData: string, dstData: string, labelfile: string): Promise<void> {
  const m = /START WAL LOCATION: .* \(file ([0-9A-F]{24})\)/.exec(labelfile);
  const first = m?.[1] ?? '';
  const src = path.join(srcData, 'pg_wal');
  const dst = path.join(dstData, 'pg_wal');
  await mkdir(path.join(dst, 'archive_status'), { recursive: true, mode: 0o700 });
  for (const name of await readdir(src)) {
    const isSeg = /^[0-9A-F]{24}$/.test(name);
    const isHistory = /^[0-9A-F]{8}\.history$/.test(name);
    // compare log/segment numbers only: a later timeline's segment can sort below by its prefix
    if ((isSeg && name.slice(8) >= first.slice(8)) || isHistory) {
      await copyFile(path.join(src, name), path.join(dst, name)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
    }
  }
}
