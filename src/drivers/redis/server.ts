// Real Redis and Valkey processes for the `redis` driver: the binaries, a node's or a Sentinel's
// config file, starting (daemonized: a node outlives a Liftgate that crashes) and stopping, and
// the commands the driver sends. Every node lives in its own folder with its config, its data
// (AOF) and its log; both engines read the same config and data.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { setting } from '../../domain/settings.ts';
import { DriverError } from '../driver.ts';

export const ENGINES = ['redis', 'valkey'] as const;
export type RedisEngine = (typeof ENGINES)[number];

export const isRedisEngine = (e: unknown): e is RedisEngine => e === 'redis' || e === 'valkey';

/** where each engine's server is (Debian's packages); LIFTGATE_REDIS_SERVER / LIFTGATE_VALKEY_SERVER override */
export function serverBinary(engine: RedisEngine, env = process.env): string {
  return setting(engine === 'redis' ? 'LIFTGATE_REDIS_SERVER' : 'LIFTGATE_VALKEY_SERVER', env);
}

const versions = new Map<string, string | null>();

/** the version a server binary reports ("v=7.0.15"), null when it is missing or does not run */
export async function binaryVersion(bin: string): Promise<string | null> {
  if (versions.has(bin)) return versions.get(bin) ?? null;
  let v: string | null = null;
  if (existsSync(bin)) {
    try {
      const { stdout } = await promisify(execFile)(bin, ['--version'], { timeout: 10_000 });
      v = /v=(\d+\.\d+\.\d+)/.exec(stdout)?.[1] ?? null;
    } catch {
      v = null;
    }
  }
  versions.set(bin, v);
  return v;
}

/** null when the engine's server is installed at this version; else what to install */
export async function binaryProblem(engine: RedisEngine, version: string): Promise<string | null> {
  const bin = serverBinary(engine);
  const have = await binaryVersion(bin);
  if (have === version) return null;
  return have
    ? `${bin} is ${engine} ${have}, not ${version}: install ${engine} ${version} on this host`
    : `${bin} is not installed: install Debian's ${engine}-server package${engine === 'valkey' ? ' (in bookworm-backports)' : ''}`;
}

/** the installed engines and their versions, read once */
export async function installedServers(env = process.env): Promise<{ engine: RedisEngine; version: string; bin: string }[]> {
  const out: { engine: RedisEngine; version: string; bin: string }[] = [];
  for (const engine of ENGINES) {
    const bin = serverBinary(engine, env);
    const version = await binaryVersion(bin);
    if (version) out.push({ engine, version, bin });
  }
  return out;
}

export interface Proc {
  name: string;
  port: number;
  /** its folder: config, data, log, pid file */
  dir: string;
  engine: RedisEngine;
  /** an adopted process's own config, pid and log files (a provisioned one keeps them in dir) */
  conf?: string;
  pidFile?: string;
  log?: string;
}

const confFile = (p: Proc): string => p.conf ?? path.join(p.dir, 'node.conf');
const pidFile = (p: Proc): string => p.pidFile ?? path.join(p.dir, 'server.pid');
export const logFile = (p: Proc): string => p.log ?? path.join(p.dir, 'server.log');

/** the lines every process's config starts with (a Sentinel rewrites the rest of its own) */
function baseConf(p: Proc): string[] {
  return [
    `port ${p.port}`,
    'bind 127.0.0.1',
    'protected-mode no',
    `dir ${p.dir}`,
    'daemonize yes',
    `pidfile ${pidFile(p)}`,
    `logfile ${logFile(p)}`,
  ];
}

export interface NodeConfOptions {
  cluster: boolean;
  /** a replica of this port (a Sentinel group's replicas at creation) */
  replicaOf?: number;
  /** bytes of replication backlog: enough for a partial resync across a failover */
  backlogBytes: number;
}

export async function writeNodeConf(p: Proc, o: NodeConfOptions): Promise<void> {
  await mkdir(p.dir, { recursive: true });
  const lines = [
    ...baseConf(p),
    'appendonly yes',
    'appendfsync everysec',
    `repl-backlog-size ${o.backlogBytes}`,
    // a replica that lost its link keeps answering reads (stale) rather than errors
    'replica-serve-stale-data yes',
    // a full sync starts at once (the default waits 5 s for more replicas to share it)
    'repl-diskless-sync-delay 0',
    ...(o.cluster
      ? [
          'cluster-enabled yes',
          'cluster-config-file nodes.conf',
          'cluster-node-timeout 5000',
          'cluster-require-full-coverage yes',
        ]
      : []),
    ...(o.replicaOf ? [`replicaof 127.0.0.1 ${o.replicaOf}`] : []),
  ];
  await writeFile(confFile(p), lines.join('\n') + '\n');
}

export interface SentinelConfOptions {
  masterName: string;
  masterPort: number;
  quorum: number;
  downAfterMs: number;
  failoverTimeoutMs: number;
}

export async function writeSentinelConf(p: Proc, o: SentinelConfOptions): Promise<void> {
  await mkdir(p.dir, { recursive: true });
  const lines = [...baseConf(p), ...sentinelMonitorLines(o)];
  await writeFile(confFile(p), lines.join('\n') + '\n');
}

function sentinelMonitorLines(o: SentinelConfOptions): string[] {
  return [
    `sentinel monitor ${o.masterName} 127.0.0.1 ${o.masterPort} ${o.quorum}`,
    `sentinel down-after-milliseconds ${o.masterName} ${o.downAfterMs}`,
    `sentinel failover-timeout ${o.masterName} ${o.failoverTimeoutMs}`,
    `sentinel parallel-syncs ${o.masterName} 1`,
  ];
}

function pidOf(p: Proc): number | null {
  try {
    const pid = Number(readFileSync(pidFile(p), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** the process runs (its pid file names a live process) */
export function running(p: Proc): boolean {
  const pid = pidOf(p);
  return pid !== null && alive(pid);
}

/** one connection for a few commands: no retries, no offline queue (a down node answers at once) */
export async function withConn<T>(port: number, fn: (c: Redis) => Promise<T>, timeoutMs = 5_000): Promise<T> {
  const c = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return await fn(c);
  } finally {
    c.disconnect();
  }
}

export const call = (port: number, ...args: (string | number)[]): Promise<unknown> =>
  withConn(port, (c) => c.call(String(args[0]), ...args.slice(1).map(String)));

/** INFO as key -> value */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

export async function info(port: number, section?: string): Promise<Record<string, string>> {
  return parseInfo(String(await (section ? call(port, 'INFO', section) : call(port, 'INFO'))));
}

/** the engine and version a running server reports (Valkey also reports redis_version 7.2.4 for clients) */
export function engineOf(i: Record<string, string>): { engine: RedisEngine; version: string } {
  if (i.valkey_version || i.server_name === 'valkey') return { engine: 'valkey', version: i.valkey_version ?? '' };
  return { engine: 'redis', version: i.redis_version ?? '' };
}

/** waits until `check` answers true (it may throw while the condition is not met; a DriverError ends the wait) */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  signal?: AbortSignal,
  code: 'HEALTH_GATE_TIMEOUT' | 'START_FAILED' | 'VERIFY_FAILED' | 'SWITCHOVER_FAILED' = 'HEALTH_GATE_TIMEOUT',
): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (signal?.aborted) throw new DriverError('ABORTED', `stopped waiting for ${what}`);
    try {
      if (await check()) return;
      last = '';
    } catch (e) {
      // a DriverError is a verdict (the process exited, the failover was refused): no use waiting
      if (e instanceof DriverError) throw e;
      last = (e as Error).message;
    }
    if (Date.now() > until)
      throw new DriverError(code, `${what} did not happen within ${timeoutMs} ms${last ? ` (${last})` : ''}`, true);
    await sleep(50);
  }
}

/** starts the process (daemonized) and waits until it answers PING (a node loading its data answers LOADING) */
export async function start(
  p: Proc,
  opts: { sentinel?: boolean; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<void> {
  if (running(p)) return;
  const bin = serverBinary(p.engine, opts.env);
  if (!existsSync(bin)) throw new DriverError('VERSION_NOT_INSTALLED', `${bin} is not installed (package ${p.engine}-server)`);
  const args = [confFile(p), ...(opts.sentinel ? ['--sentinel'] : [])];
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(bin, args, { stdio: 'ignore', detached: true });
    child.on('error', reject);
    child.on('exit', (c) => resolve(c ?? 1));
  });
  if (code !== 0) throw new DriverError('START_FAILED', `${p.name}: ${bin} exited with ${code}; see ${logFile(p)}`);
  await waitFor(
    `${p.name} (${p.engine}) answering on port ${p.port}`,
    // the answer must come from this process: another one may have taken the port first
    async () => {
      const pid = pidOf(p);
      if (pid !== null && !alive(pid)) throw new DriverError('START_FAILED', `${p.name} exited`);
      return Number((await info(p.port, 'server')).process_id) === pid;
    },
    opts.timeoutMs ?? 60_000,
    undefined,
    'START_FAILED',
  ).catch((e: unknown) => {
    throw new DriverError('START_FAILED', `${(e as Error).message}; last lines of ${logFile(p)}: ${tail(logFile(p))}`);
  });
}

export function tail(file: string, lines = 5): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join(' | ');
  } catch {
    return '(no log)';
  }
}

/**
 * Stops the process: SHUTDOWN (a node flushes its AOF first), repeated while the server refuses
 * it (it cannot exit while it writes its first AOF after a sync), then waits for it to exit; a
 * process that does not answer gets SIGTERM, one that outlives the timeout SIGKILL.
 */
export async function stop(p: Proc, timeoutMs = 30_000): Promise<void> {
  const pid = pidOf(p);
  if (pid === null || !alive(pid)) return;
  const until = Date.now() + timeoutMs;
  let asked = 0;
  while (alive(pid)) {
    if (Date.now() > until) {
      process.kill(pid, 'SIGKILL');
      break;
    }
    if (Date.now() - asked > 250) {
      asked = Date.now();
      try {
        await withConn(p.port, (c) => c.call('SHUTDOWN').catch(() => undefined), 2_000);
      } catch {
        if (alive(pid)) process.kill(pid, 'SIGTERM');
      }
    }
    await sleep(25);
  }
}
