// Real PostgreSQL clusters driven through the whole product: the HTTP app, the service layer, the
// store of either dialect and the real executor, with the postgres driver registered the way
// `liftgate serve` registers it. Clusters are created through the native API.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { destroyCluster } from '../../src/drivers/postgres/cluster.ts';
import { PostgresDriver, type PostgresDriverOptions } from '../../src/drivers/postgres/driver.ts';
import { query } from '../../src/drivers/postgres/server.ts';
import { startApp, until, type Dialect, type TestApp } from '../helpers/harness.ts';

export const PROJECT = 'acme';
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'rolled_back'];

export interface PgApp {
  t: TestApp;
  driver: PostgresDriver;
  /** the driver's data folder: one sub-folder per project and target */
  dir: string;
}

export interface ApiNode {
  name: string;
  role: string;
  version: string;
  health: string;
  host?: string;
  port?: number;
}

export interface ApiTarget {
  id: string;
  version: string;
  nodes: ApiNode[];
  endpoint: { host: string; port: number } | null;
  driverConfig: Record<string, unknown>;
}

export interface ApiStep {
  action: string;
  node: string | null;
  state: string;
  error: string | null;
  params: Record<string, unknown>;
  startedAt: string | null;
  endedAt: string | null;
  log?: string[];
}

export interface ApiUpgrade {
  id: string;
  state: string;
  error: string | null;
  errorCode: string | null;
  stages: { name: string; steps: ApiStep[] }[];
}

export async function startPgApp(
  dialect: Dialect,
  opts: Omit<PostgresDriverOptions, 'dataDir'> & {
    /** the driver's class: the real one, or one that injects a fault in front of it */
    driverClass?: new (o: PostgresDriverOptions) => PostgresDriver;
  } = {},
): Promise<PgApp> {
  const dir = mkdtempSync(path.join(tmpdir(), 'liftgate-pg-engine-'));
  chmodSync(dir, 0o755); // the unprivileged service user must reach its data
  const { driverClass: Driver = PostgresDriver, ...options } = opts;
  const driver = new Driver({ ...options, dataDir: dir });
  let t: TestApp;
  try {
    t = await startApp(dialect, { extraDrivers: () => [driver] });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const res = await t.call('POST', '/v1/projects', { id: PROJECT, name: PROJECT });
  assert.equal(res.status, 201, res.body);
  return { t, driver, dir };
}

/** Stops the app, then every cluster it created (whatever state a failed test left), then the files. */
export async function closePgApp(x: PgApp | undefined): Promise<void> {
  if (!x) return;
  await x.t.close().catch((e: unknown) => console.error('closing the app:', e));
  for (const project of safeList(x.dir)) {
    for (const target of safeList(path.join(x.dir, project))) {
      await destroyCluster(path.join(x.dir, project, target)).catch((e: unknown) => console.error('destroying a cluster:', e));
    }
  }
  rmSync(x.dir, { recursive: true, force: true });
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

/** The request shape, then the target as the API shows it. */
export async function createPgTarget(x: PgApp, id: string, version = '16.13'): Promise<ApiTarget> {
  const res = await x.t.call('POST', `/v1/projects/${PROJECT}/targets`, {
    id,
    kind: 'cluster',
    engine: 'postgresql',
    version,
    driver: 'postgres',
    driverConfig: { provision: true, replicas: 2, pooler: false },
  });
  assert.equal(res.status, 201, res.body);
  return getTarget(x, id);
}

export async function getTarget(x: PgApp, id: string): Promise<ApiTarget> {
  const res = await x.t.call('GET', `/v1/projects/${PROJECT}/targets/${id}`);
  assert.equal(res.status, 200, res.body);
  return res.json as ApiTarget;
}

export async function getUpgrade(x: PgApp, id: string): Promise<ApiUpgrade> {
  const res = await x.t.call('GET', `/v1/projects/${PROJECT}/upgrades/${id}`);
  assert.equal(res.status, 200, res.body);
  return res.json as ApiUpgrade;
}

/** Polls the upgrade until it stops moving; `onPoll` runs on every round (e.g. to follow the endpoint). */
export async function settled(x: PgApp, id: string, onPoll?: () => Promise<void>): Promise<ApiUpgrade> {
  return until(
    async () => {
      await onPoll?.();
      const u = await getUpgrade(x, id);
      return TERMINAL.includes(u.state) ? u : null;
    },
    `upgrade ${id} to finish`,
    1200,
    50,
  );
}

export const allSteps = (u: ApiUpgrade): ApiStep[] => u.stages.flatMap((s) => s.steps);

/** Waits until every replica has replayed the primary's current WAL position. */
export async function replicasCaughtUp(target: ApiTarget): Promise<void> {
  const primary = target.nodes.find((n) => n.role === 'primary');
  assert.ok(primary?.port, 'the target has a primary with a port');
  const [p] = await query<{ lsn: string }>(primary.port, 'SELECT pg_current_wal_lsn()::text AS lsn');
  for (const n of target.nodes) {
    if (n.role !== 'replica') continue;
    await until(
      async () => {
        const [r] = await query<{ ok: boolean }>(n.port!, 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [p!.lsn]);
        return r?.ok === true;
      },
      `${n.name} to replay up to ${p!.lsn}`,
      1500,
      20,
    );
  }
}

/** pids of the cluster's running servers (first line of each postmaster.pid) */
export function serverPids(root: string): number[] {
  const pids: number[] = [];
  for (const node of safeList(root)) {
    const file = path.join(root, node, 'data', 'postmaster.pid');
    if (!existsSync(file)) continue;
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
    if (pid > 0) pids.push(pid);
  }
  return pids;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
