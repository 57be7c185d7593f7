// Optional PgBouncer in front of a cluster (transaction pooling). At switchover it is PAUSEd (waits
// for running transactions, then closes its server connections), repointed at the new primary with
// RELOAD, and RESUMEd: queued client queries run on the new primary, so clients see a stall, not errors.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { setting } from '../../domain/settings.ts';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { makeOwnedDir, serviceUser, writeOwnedFile } from './os-user.ts';

/** the PgBouncer binary (LIFTGATE_PGBOUNCER) */
export const pgbouncerBinary = (): string => setting('LIFTGATE_PGBOUNCER');

const dirOf = (root: string): string => path.join(root, 'pooler');

export function poolerInstalled(): boolean {
  return existsSync(pgbouncerBinary());
}

async function writeConfig(root: string, port: number, primaryPort: number): Promise<string> {
  const dir = dirOf(root);
  const ini = path.join(dir, 'pgbouncer.ini');
  const text = [
    '[databases]',
    `postgres = host=127.0.0.1 port=${primaryPort} dbname=postgres`,
    `* = host=127.0.0.1 port=${primaryPort}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${path.join(dir, 'userlist.txt')}`,
    'admin_users = postgres',
    'pool_mode = transaction',
    'max_client_conn = 500',
    'default_pool_size = 20',
    'server_connect_timeout = 5',
    'server_login_retry = 0',
    'ignore_startup_parameters = extra_float_digits,options',
    `logfile = ${path.join(dir, 'pgbouncer.log')}`,
    `pidfile = ${path.join(dir, 'pgbouncer.pid')}`,
    '',
  ].join('\n');
  await writeOwnedFile(ini, text);
  await writeOwnedFile(path.join(dir, 'userlist.txt'), '"postgres" ""\n');
  return ini;
}

function poolerPid(root: string): number | null {
  try {
    const pid = Number(readFileSync(path.join(dirOf(root), 'pgbouncer.pid'), 'utf8').trim());
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

export function poolerRunning(root: string): boolean {
  return poolerPid(root) !== null;
}

export async function startPooler(root: string, port: number, primaryPort: number): Promise<void> {
  if (poolerRunning(root)) return;
  await makeOwnedDir(dirOf(root), 0o755);
  const ini = await writeConfig(root, port, primaryPort);
  const u = serviceUser();
  const fd = openSync(path.join(dirOf(root), 'stdout.log'), 'a', 0o600);
  let exited: string | null = null;
  try {
    const child = spawn(pgbouncerBinary(), [ini], {
      uid: u.uid,
      gid: u.gid,
      cwd: '/',
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    child.on('error', (e) => (exited = e.message));
    child.on('exit', (c) => (exited = `pgbouncer exited (${c})`));
    child.unref();
  } finally {
    closeSync(fd);
  }
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await admin(port, 'SHOW VERSION');
      return;
    } catch (e) {
      if (exited) throw new Error(`${exited}: ${readFileSync(path.join(dirOf(root), 'pgbouncer.log'), 'utf8').slice(-1000)}`);
      if (Date.now() > deadline) throw e;
      await sleep(20);
    }
  }
}

export async function stopPooler(root: string): Promise<void> {
  const pid = poolerPid(root);
  if (pid) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (poolerPid(root) && Date.now() < deadline) await sleep(10);
  }
  await rm(path.join(dirOf(root), 'pgbouncer.pid'), { force: true });
}

export async function removePooler(root: string): Promise<void> {
  await stopPooler(root);
  await rm(dirOf(root), { recursive: true, force: true });
}

/** a command on PgBouncer's admin console (simple protocol only) */
export async function admin(port: number, command: string, timeoutMs = 10_000): Promise<pg.QueryResultRow[]> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'pgbouncer', connectionTimeoutMillis: 3_000 });
  c.on('error', () => undefined);
  await c.connect();
  let timer: NodeJS.Timeout | undefined;
  try {
    const res = await Promise.race([
      c.query(command),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`pgbouncer ${command} took longer than ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return res.rows;
  } finally {
    clearTimeout(timer);
    await c.end().catch(() => undefined);
  }
}

export async function pause(port: number, timeoutMs: number): Promise<void> {
  try {
    await admin(port, 'PAUSE', timeoutMs);
  } catch (e) {
    // a transaction that will not finish must not hold the cluster hostage: give traffic back
    await admin(port, 'RESUME').catch(() => undefined);
    throw e;
  }
}

/** rewrite the [databases] section for the new primary and make PgBouncer re-read it */
export async function repoint(root: string, port: number, primaryPort: number): Promise<void> {
  await writeConfig(root, port, primaryPort);
  await admin(port, 'RELOAD');
}

export async function resume(port: number): Promise<void> {
  await admin(port, 'RESUME');
}
