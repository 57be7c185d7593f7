// Real Redis / Valkey groups driven through the whole product: the HTTP app, the service layer,
// the store and the real executor, with the redis driver registered the way `liftgate serve`
// registers it. Groups are created through the native API with the driverConfig shapes.
import assert from 'node:assert/strict';
import { RedisDriver } from '../../src/drivers/redis/driver.ts';
import { destroyGroup } from '../../src/drivers/redis/group.ts';
import {
  apiTarget,
  apiUpgrade,
  closeDriverApp,
  PROJECT,
  settledUpgrade,
  startDriverApp,
  type DriverApp,
} from '../helpers/driver-app.ts';
import { type Dialect } from '../helpers/harness.ts';
import type { ApiStep as PgStep } from '../postgres/engine-harness.ts';

export interface ApiStep extends PgStep {
  id: string;
  name: string;
  attempts: number;
}

export { PROJECT };

export type RedisApp = DriverApp<RedisDriver>;

export interface ApiNode {
  name: string;
  role: string;
  version: string;
  engine?: string;
  shard?: string;
  health: string;
  host: string;
  port: number;
}

export interface ApiTarget {
  id: string;
  engine: string;
  version: string;
  nodes: ApiNode[];
  driverConfig: {
    sentinels?: { host: string; port: number }[];
    masterName?: string;
    seeds?: { host: string; port: number }[];
    root: string;
  };
}

export interface ApiUpgrade {
  id: string;
  state: string;
  fromEngine: string | null;
  toEngine: string | null;
  error: string | null;
  errorCode: string | null;
  allowedActions: string[];
  pointOfNoReturn: { name: string; node: string | null; reason: string | null; passed: boolean } | null;
  stages: { name: string; steps: ApiStep[] }[];
}

export const startRedisApp = (dialect: Dialect): Promise<RedisApp> =>
  startDriverApp(dialect, 'redis', (dir) => new RedisDriver({ dataDir: dir }).init());

/** Stops the app, then every group it created (whatever state a failed test left), then the files. */
export const closeRedisApp = (x: RedisApp | undefined): Promise<void> => closeDriverApp(x, destroyGroup);

export const SENTINEL_GROUP = { provision: true, topology: 'sentinel', replicas: 2 };
export const CLUSTER = { provision: true, topology: 'cluster', shards: 3, replicasPerShard: 1 };

export async function createRedisTarget(x: RedisApp, id: string, driverConfig: Record<string, unknown>): Promise<ApiTarget> {
  const res = await x.t.call('POST', `/v1/projects/${PROJECT}/targets`, {
    id,
    kind: 'cluster',
    engine: 'redis',
    version: '7.0.15',
    driver: 'redis',
    driverConfig,
  });
  assert.equal(res.status, 201, res.body);
  return getTarget(x, id);
}

export const getTarget = (x: RedisApp, id: string): Promise<ApiTarget> => apiTarget<ApiTarget>(x, id);

export const getUpgrade = (x: RedisApp, id: string): Promise<ApiUpgrade> => apiUpgrade<ApiUpgrade>(x, id);

/** the request: Redis 7.0.15 -> Valkey 8.0.1, rolling */
export async function requestValkey(x: RedisApp, targetId: string, extra: Record<string, unknown> = {}): Promise<ApiUpgrade> {
  const res = await x.t.call('POST', `/v1/projects/${PROJECT}/upgrades`, {
    targetId,
    toEngine: 'valkey',
    toVersion: '8.0.1',
    mode: 'rolling',
    ...extra,
  });
  assert.equal(res.status, 202, res.body.slice(0, 500));
  return res.json as ApiUpgrade;
}

export const settled = (x: RedisApp, id: string): Promise<ApiUpgrade> => settledUpgrade<ApiUpgrade>(x, id, undefined, 6000);

export const allSteps = (u: ApiUpgrade): ApiStep[] => u.stages.flatMap((s) => s.steps);
