// One PostgreSQL server process: initdb, start, fast stop, promote, reload, query.
// Readiness and shutdown are read from postmaster.pid (its 8th line is the postmaster status),
// polled every few ms: pg_ctl -w polls every 100 ms, which alone would dominate a switchover.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { readFile, readlink, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { makeOwnedDir, serviceUser, writeOwnedFile } from './os-user.ts';

export interface PidFile {
  pid: number;
  port: number;
  /** "starting" | "stopping" | "ready" | "standby" */
  status: string;
}

export function readPidFile(dataDir: string): PidFile | null {
  let text: string;
  try {
    text = readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
  } catch {
    return null; // stale file left by a crash: the server is not running
  }
  return { pid, port: Number(lines[3]), status: (lines[7] ?? '').trim() || 'starting' };
}

export function isRunning(dataDir: string): boolean {
  return readPidFile(dataDir) !== null;
}

function runAsUser(cmd: string, args: string[], logFile?: string): Promise<{ code: number; output: string }> {
  const u = serviceUser();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { uid: u.uid, gid: u.gid, stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (logFile) void writeOwnedFile(logFile, output).catch(() => undefined);
      resolve({ code: code ?? -1, output });
    });
  });
}

export async function initdb(nativeDir: string, dataDir: string): Promise<string> {
  await makeOwnedDir(dataDir, 0o700);
  // 1 MiB WAL segments: promotion copies the current segment onto the new timeline and fsyncs it,
  // so a 16 MiB segment alone costs tens of ms of write outage on an ordinary disk
  const args = [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--locale=C',
    '--wal-segsize=1',
    '--no-instructions',
  ];
  const r = await runAsUser(path.join(nativeDir, 'bin', 'initdb'), args);
  if (r.code !== 0) throw new Error(`initdb failed (${r.code}): ${r.output.slice(-2000)}`);
  return `initdb ${args.join(' ')}`;
}

/** the settings every node carries; replication settings live in liftgate-replication.conf */
export async function writeNodeConfig(dataDir: string, port: number, walLevel: 'replica' | 'logical' = 'replica'): Promise<void> {
  const conf = [
    '# written by the Liftgate postgres driver',
    `port = ${port}`,
    "listen_addresses = '127.0.0.1'",
    "unix_socket_directories = ''",
    // logical: a blue/green upgrade replicates tables between clusters of different majors
    `wal_level = ${walLevel}`,
    'max_wal_senders = 10',
    'max_replication_slots = 10',
    'hot_standby = on',
    'hot_standby_feedback = on',
    'wal_log_hints = on',
    'max_connections = 60',
    'shared_buffers = 32MB',
    "wal_keep_size = '64MB'",
    'wal_receiver_status_interval = 1s',
    // after its upstream goes away a standby retries every wal_retrieve_retry_interval (5 s by
    // default); a short interval bounds how long a promotion or a re-pointed replica can sit idle
    "wal_retrieve_retry_interval = '50ms'",
    "recovery_target_timeline = 'latest'",
    "log_line_prefix = '%m [%p] '",
    '',
  ].join('\n');
  await writeOwnedFile(path.join(dataDir, 'liftgate.conf'), conf);
  const main = path.join(dataDir, 'postgresql.conf');
  const text = await readFile(main, 'utf8');
  if (!text.includes("include_if_exists = 'liftgate.conf'")) {
    await writeOwnedFile(main, `${text}\ninclude_if_exists = 'liftgate.conf'\ninclude_if_exists = 'liftgate-replication.conf'\n`);
  }
}

/** Start the server from `binLink` (a node's current binaries) and wait until it accepts connections. */
export async function startServer(binDir: string, dataDir: string, logFile: string, timeoutMs = 60_000): Promise<PidFile> {
  const existing = readPidFile(dataDir);
  if (existing) return waitForStatus(dataDir, ['ready', 'standby'], timeoutMs);
  const u = serviceUser();
  const fd = openSync(logFile, 'a', 0o600);
  let exited: string | null = null;
  try {
    const child = spawn(path.join(binDir, 'postgres'), ['-D', dataDir], {
      uid: u.uid,
      gid: u.gid,
      cwd: '/',
      detached: true, // the server outlives this process: a step may run in a fresh Liftgate process
      stdio: ['ignore', fd, fd],
    });
    child.on('error', (e) => (exited = e.message));
    child.on('exit', (code, sig) => (exited = `postgres exited (${code ?? sig})`));
    child.unref();
  } finally {
    closeSync(fd);
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = readPidFile(dataDir);
    if (st && (st.status === 'ready' || st.status === 'standby')) return st;
    if (exited !== null) throw new Error(`${exited}; log tail:\n${await logTail(logFile)}`);
    if (Date.now() > deadline)
      throw new Error(`server did not become ready in ${timeoutMs} ms; log tail:\n${await logTail(logFile)}`);
    await sleep(3);
  }
}

export async function waitForStatus(dataDir: string, want: string[], timeoutMs: number): Promise<PidFile> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = readPidFile(dataDir);
    if (st && want.includes(st.status)) return st;
    if (!st) throw new Error(`server in ${dataDir} is not running`);
    if (Date.now() > deadline) throw new Error(`server in ${dataDir} stayed '${st.status}' (wanted ${want.join('/')})`);
    await sleep(2);
  }
}

/** fast stop (SIGINT: roll back sessions, write a shutdown checkpoint, let walsenders drain) */
export async function stopServer(dataDir: string, mode: 'fast' | 'immediate' = 'fast', timeoutMs = 60_000): Promise<boolean> {
  const st = readPidFile(dataDir);
  if (!st) return false;
  process.kill(st.pid, mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
  const deadline = Date.now() + timeoutMs;
  while (readPidFile(dataDir)) {
    if (Date.now() > deadline) {
      if (mode === 'fast') return stopServer(dataDir, 'immediate', 10_000);
      throw new Error(`server in ${dataDir} did not stop`);
    }
    await sleep(2);
  }
  return true;
}

/**
 * What `pg_ctl promote` does: drop the promote file and signal the postmaster. postmaster.pid says
 * "ready" for a hot standby too, so completion is read from pg_is_in_recovery() on a connection
 * opened beforehand (`probe`), polled every 2 ms.
 */
export async function promoteServer(dataDir: string, probe: pg.Client, timeoutMs = 30_000): Promise<void> {
  const st = readPidFile(dataDir);
  if (!st) throw new Error(`cannot promote: server in ${dataDir} is not running`);
  // not handed to the service user: the server may consume the file at once (the startup process
  // also looks for it on its own), and removing it only needs write access to the directory
  await writeFile(path.join(dataDir, 'promote'), '', { mode: 0o644 });
  process.kill(st.pid, 'SIGUSR1');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await probe.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec');
    if (r.rows[0]?.rec === false) return;
    if (Date.now() > deadline) throw new Error(`promotion of ${dataDir} did not finish in ${timeoutMs} ms`);
    await sleep(2);
  }
}

export function reloadServer(dataDir: string): boolean {
  const st = readPidFile(dataDir);
  if (!st) return false;
  process.kill(st.pid, 'SIGHUP');
  return true;
}

export async function logTail(logFile: string, lines = 15): Promise<string> {
  try {
    return (await readFile(logFile, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export function connect(port: number, database = 'postgres', timeoutMs = 5_000): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database, connectionTimeoutMillis: timeoutMs });
}

/**
 * Connections kept per port and reused by `query`: a step used to open a fresh connection for every
 * query (a backend fork each, several ms on this box), and every step asks the same few nodes.
 * Reuse is only an optimisation: every answer still comes from the live server, a connection that
 * died (server stopped or restarted) is dropped and the query asked once on a fresh one, idle
 * connections are closed after SESSION_IDLE_MS and never keep the process alive (unref'd socket),
 * and `closeSessions` closes those of a cluster being destroyed.
 */
const SESSION_IDLE_MS = 10_000;
interface Session {
  client: Promise<pg.Client>;
  inFlight: number;
  idle: NodeJS.Timeout | null;
  dropped: boolean;
}
const pool = new Map<number, Session>();

interface RefSocket {
  ref(): void;
  unref(): void;
}
const socketOf = (c: pg.Client): RefSocket | undefined =>
  (c as unknown as { connection?: { stream?: RefSocket } }).connection?.stream;

function dropSession(port: number, s: Session): void {
  if (pool.get(port) === s) pool.delete(port);
  if (s.dropped) return;
  s.dropped = true;
  if (s.idle) clearTimeout(s.idle);
  void s.client.then(
    (c) => c.end().catch(() => undefined),
    () => undefined,
  );
}

function sessionFor(port: number): Session {
  let s = pool.get(port);
  if (!s) {
    const c = connect(port);
    const self: Session = { client: Promise.resolve(c), inFlight: 0, idle: null, dropped: false };
    const drop = (): void => dropSession(port, self);
    c.on('error', drop);
    c.on('end', drop);
    self.client = c.connect().then(
      () => c,
      (e: unknown) => {
        drop();
        throw e;
      },
    );
    s = self;
    pool.set(port, s);
  }
  return s;
}

/** run `fn` on the pooled connection to `port`, keeping the process alive only while it runs */
async function onSession<T>(port: number, s: Session, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  s.inFlight++;
  if (s.idle) {
    clearTimeout(s.idle);
    s.idle = null;
  }
  let c: pg.Client | null = null;
  try {
    c = await s.client;
    socketOf(c)?.ref();
    return await fn(c);
  } finally {
    s.inFlight--;
    if (s.inFlight === 0 && pool.get(port) === s && !s.dropped) {
      if (c) socketOf(c)?.unref();
      s.idle = setTimeout(() => dropSession(port, s), SESSION_IDLE_MS);
      s.idle.unref();
    }
  }
}

/** close the pooled connections to these ports (all when omitted) */
export function closeSessions(ports?: number[]): void {
  for (const [port, s] of [...pool]) if (!ports || ports.includes(port)) dropSession(port, s);
}

/** the session died under us (server stopped, restarted, refused): safe to ask again on a new one */
function connectionLost(e: unknown): boolean {
  if (!(e instanceof pg.DatabaseError)) return true;
  // admin_shutdown, crash_shutdown, cannot_connect_now
  return e.code === '57P01' || e.code === '57P02' || e.code === '57P03';
}

/** a query on the pooled connection to `port` */
export async function query<R extends pg.QueryResultRow = pg.QueryResultRow>(
  port: number,
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  const fresh = !pool.has(port);
  const s = sessionFor(port);
  try {
    return await onSession(port, s, async (c) => (await c.query<R>(sql, params)).rows);
  } catch (e) {
    // a connection reused from earlier may belong to a server stopped or restarted since: one retry
    // on a new connection (only when the old one is gone, so no statement runs twice)
    if (fresh || !connectionLost(e)) throw e;
    dropSession(port, s);
    const again = sessionFor(port);
    return onSession(port, again, async (c) => (await c.query<R>(sql, params)).rows);
  }
}

export async function dirSizeBytes(dir: string): Promise<number> {
  const { readdir } = await import('node:fs/promises');
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await dirSizeBytes(p);
    else total += (await stat(p).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

export async function readLinkOrNull(p: string): Promise<string | null> {
  try {
    return await readlink(p);
  } catch {
    return null;
  }
}
