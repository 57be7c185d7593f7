// Real PostgreSQL clusters driven through the whole product: the HTTP app, the service layer, the
// store of either dialect and the real executor, with the postgres driver registered the way
// `liftgate serve` registers it. Clusters are created through the native API.
import {
  apiTarget,
  apiUpgrade,
  closeDriverApp,
  folders,
  PROJECT,
  settledUpgrade,
  startDriverApp,
  type DriverApp,
} from '../helpers/driver-app.ts';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { destroyCluster } from '../../src/drivers/postgres/cluster.ts';
import { PostgresDriver, type PostgresDriverOptions } from '../../src/drivers/postgres/driver.ts';
import { query } from '../../src/drivers/postgres/server.ts';
import { until, type Dialect } from '../helpers/harness.ts';

export { PROJECT };

export type PgApp = DriverApp<PostgresDriver>;

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
  const { driverClass: Driver = PostgresDriver, ...options } = opts;
  // the unprivileged service user must reach its data
  return startDriverApp(
    dialect,
    'pg',
    (dir) => new Driver({ ...options, dataDir: dir }),
    (dir) => chmodSync(dir, 0o755),
  );
}

/** Stops the app, then every cluster it created (whatever state a failed test left), then the files. */
export const closePgApp = (x: PgApp | undefined): Promise<void> => closeDriverApp(x, destroyCluster);

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

export const getTarget = (x: PgApp, id: string): Promise<ApiTarget> => apiTarget<ApiTarget>(x, id);

export const getUpgrade = (x: PgApp, id: string): Promise<ApiUpgrade> => apiUpgrade<ApiUpgrade>(x, id);

/** Polls the upgrade until it stops moving; `onPoll` runs on every round (e.g. to follow the endpoint). */
export const settled = (x: PgApp, id: string, onPoll?: () => Promise<void>): Promise<ApiUpgrade> =>
  settledUpgrade<ApiUpgrade>(x, id, onPoll);

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
  for (const node of folders(root)) {
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
