// Online physical copy of a running server without pg_basebackup (the embedded binaries do not ship
// it): pg_backup_start, copy the data directory, pg_backup_stop, write backup_label, then copy the
// WAL written meanwhile so the copy is self-contained (a replica, a backup or a flighting clone).
import { chmod, copyFile, mkdir, open, readdir, readFile, readlink, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { chownTree, serviceUser, writeOwnedFile } from './os-user.ts';
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

/** how many files are copied at once: a data directory is ~1000 mostly small files, so the copy is
 * bound by per-file syscalls, which the libuv thread pool runs in parallel */
const COPY_PARALLEL = 16;

async function copyTree(src: string, dst: string, top: boolean): Promise<number> {
  const files: [string, string][] = [];
  await walk(src, dst, top, files);
  let bytes = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const [s, d] = files[next++]!;
      try {
        await copyFile(s, d);
        const { size } = await stat(d);
        bytes += size; // after the await: `bytes += await ...` would add to a stale total
      } catch (err) {
        // files come and go while the server runs (temp files, dropped relations); WAL replay fixes the rest
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: COPY_PARALLEL }, worker));
  return bytes;
}

/** create the folders and symlinks of the copy, and list the files to copy */
async function walk(src: string, dst: string, top: boolean, files: [string, string][]): Promise<void> {
  await mkdir(dst, { recursive: true, mode: 0o700 });
  const entries: TarEntry[] = [];
  await dataDirEntries(src, '', top, entries);
  for (const e of entries) {
    const d = path.join(dst, e.name);
    if (e.kind === 'dir') await mkdir(d, { recursive: true, mode: 0o700 });
    else if (e.kind === 'link') await symlink(e.target, d);
    else files.push([e.src, d]);
  }
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

// ---------------------------------------------------------------------------------------------
// Backup as one tar file (what `pg_basebackup -Ft` writes): the same online physical copy as
// onlineClone (pg_backup_start, every file, pg_backup_stop, backup_label, the WAL written meanwhile),
// but written to a single file. A data directory is ~1000 small files and on this disk creating,
// chowning and later deleting each of them cost more than reading them; one archive is written in
// one stream and dropped with one unlink. Restore: `tar -xpf base.tar -C <empty dir>` as root (the
// entries carry the service user's uid/gid and modes), then start the server on it.

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function tarHeader(name: string, type: '0' | '2' | '5', size: number, mode: number, link = ''): Buffer {
  const h = Buffer.alloc(512);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    // ustar: split at a '/' into prefix (<= 155 bytes) and name (<= 100 bytes)
    let i = name.indexOf('/');
    while (i > 0 && Buffer.byteLength(name.slice(i + 1)) > 100) i = name.indexOf('/', i + 1);
    if (i <= 0 || Buffer.byteLength(name.slice(0, i)) > 155) throw new Error(`path too long for a tar header: ${name}`);
    prefix = name.slice(0, i);
    base = name.slice(i + 1);
  }
  const u = serviceUser();
  h.write(base, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 8, 'ascii');
  h.write(octal(u.uid, 8), 108, 8, 'ascii');
  h.write(octal(u.gid, 8), 116, 8, 'ascii');
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(Math.floor(Date.now() / 1000), 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii');
  h.write(type, 156, 1, 'ascii');
  h.write(link, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

type TarEntry =
  { kind: 'dir'; name: string } | { kind: 'link'; name: string; target: string } | { kind: 'file'; name: string; src: string };

/** the entries of a data directory copy, parents before children (tar order); what a copy skips is decided here once */
async function dataDirEntries(src: string, rel: string, top: boolean, out: TarEntry[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(src, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  for (const e of entries) {
    if (top && SKIP_TOP.has(e.name)) continue;
    if (e.name === 'pgsql_tmp' || e.name.startsWith('pg_internal.init')) continue;
    const s = path.join(src, e.name);
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      out.push({ kind: 'dir', name: `${r}/` });
      if (!(top && EMPTY_DIRS.has(e.name))) await dataDirEntries(s, r, false, out);
    } else if (e.isSymbolicLink()) {
      out.push({ kind: 'link', name: r, target: await readlink(s) });
    } else {
      out.push({ kind: 'file', name: r, src: s });
    }
  }
}

class TarWriter {
  private chunks: Buffer[] = [];
  private pending = 0;
  bytes = 0;
  constructor(private readonly fh: Awaited<ReturnType<typeof open>>) {}
  async add(h: Buffer, body?: Buffer): Promise<void> {
    this.chunks.push(h);
    this.pending += 512;
    if (body && body.length > 0) {
      this.chunks.push(body);
      const pad = (512 - (body.length % 512)) % 512;
      if (pad) this.chunks.push(Buffer.alloc(pad));
      this.pending += body.length + pad;
      this.bytes += body.length;
    }
    if (this.pending >= 1 << 20) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.chunks.length === 0) return;
    const c = this.chunks;
    this.chunks = [];
    this.pending = 0;
    await this.fh.writev(c);
  }
  async entry(e: TarEntry, body: Buffer | null): Promise<void> {
    if (e.kind === 'dir') await this.add(tarHeader(e.name, '5', 0, 0o700));
    else if (e.kind === 'link') await this.add(tarHeader(e.name, '2', 0, 0o777, e.target));
    else if (body) await this.add(tarHeader(e.name, '0', body.length, 0o600), body);
  }
}

/** write entries, reading files a few at a time ahead of the (sequential) archive writer */
async function writeEntries(w: TarWriter, entries: TarEntry[]): Promise<void> {
  const AHEAD = COPY_PARALLEL;
  const reads: (Promise<Buffer | null> | null)[] = entries.map(() => null);
  const read = (i: number): Promise<Buffer | null> | null => {
    const e = entries[i];
    if (!e || e.kind !== 'file') return null;
    reads[i] ??= readFile(e.src).catch((err: NodeJS.ErrnoException) => {
      // files come and go while the server runs; WAL replay fixes the rest
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    return reads[i];
  };
  for (let i = 0; i < Math.min(AHEAD, entries.length); i++) void read(i)?.catch(() => undefined);
  for (let i = 0; i < entries.length; i++) {
    void read(i + AHEAD)?.catch(() => undefined);
    const body = await read(i);
    reads[i] = null;
    await w.entry(entries[i]!, body);
  }
}

/**
 * Online physical backup of the running server on `srcPort` (data in `srcData`) into
 * `<dstDir>/base.tar`: self-contained (backup_label and the WAL from the backup's start included).
 */
export async function onlineBackupTar(
  srcPort: number,
  srcData: string,
  dstDir: string,
  opts: { label?: string; log?: (l: string) => void } = {},
): Promise<CloneResult & { file: string }> {
  const t0 = Date.now();
  const log = opts.log ?? (() => undefined);
  await rm(dstDir, { recursive: true, force: true });
  await mkdir(dstDir, { recursive: true, mode: 0o700 });
  const file = path.join(dstDir, 'base.tar');
  const c = connect(srcPort);
  c.on('error', () => undefined);
  await c.connect();
  const fh = await open(file, 'w', 0o600);
  try {
    const w = new TarWriter(fh);
    const start = await c.query<{ lsn: string }>('SELECT pg_backup_start($1, true) AS lsn', [opts.label ?? 'liftgate']);
    const startLsn = start.rows[0]!.lsn;
    log(`primary: SELECT pg_backup_start(fast => true) -> ${startLsn}`);
    const entries: TarEntry[] = [];
    await dataDirEntries(srcData, '', true, entries);
    await writeEntries(w, entries);
    const stop = await c.query<{ lsn: string; labelfile: string; spcmapfile: string | null }>(
      'SELECT lsn, labelfile, spcmapfile FROM pg_backup_stop(false)',
    );
    const row = stop.rows[0]!;
    log(`archived ${entries.length} entries, ${(w.bytes / 1048576).toFixed(1)} MiB; SELECT pg_backup_stop(false) -> ${row.lsn}`);
    await w.add(tarHeader('backup_label', '0', Buffer.byteLength(row.labelfile), 0o600), Buffer.from(row.labelfile));
    if (row.spcmapfile)
      await w.add(tarHeader('tablespace_map', '0', Buffer.byteLength(row.spcmapfile), 0o600), Buffer.from(row.spcmapfile));
    // the WAL written since the backup started (read after pg_backup_stop, so it holds the end record)
    const m = /START WAL LOCATION: .* \(file ([0-9A-F]{24})\)/.exec(row.labelfile);
    const first = m?.[1] ?? '';
    const wal: TarEntry[] = [{ kind: 'dir', name: 'pg_wal/archive_status/' }];
    for (const name of (await readdir(path.join(srcData, 'pg_wal'))).sort()) {
      const isSeg = /^[0-9A-F]{24}$/.test(name);
      const isHistory = /^[0-9A-F]{8}\.history$/.test(name);
      // compare log/segment numbers only: a later timeline's segment can sort below by its prefix
      if ((isSeg && name.slice(8) >= first.slice(8)) || isHistory)
        wal.push({ kind: 'file', name: `pg_wal/${name}`, src: path.join(srcData, 'pg_wal', name) });
    }
    await writeEntries(w, wal);
    await w.add(Buffer.alloc(1024)); // end of archive: two zero blocks
    await w.flush();
    await fh.sync();
    return { startLsn, stopLsn: row.lsn, bytes: w.bytes, ms: Date.now() - t0, file };
  } finally {
    await fh.close().catch(() => undefined);
    await c.end().catch(() => undefined);
  }
}
