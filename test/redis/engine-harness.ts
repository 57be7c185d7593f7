// Real Redis / Valkey groups driven through the whole product: the HTTP app, the service layer,
// the store and the real executor, with the redis driver registered the way `liftgate serve`
// registers it. Groups are created through the native API with the driverConfig shapes.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RedisDriver } from '../../src/drivers/redis/driver.ts';
import { destroyGroup } from '../../src/drivers/redis/group.ts';
import { startApp, until, type Dialect, type TestApp } from '../helpers/harness.ts';
import type { ApiStep as PgStep } from '../postgres/engine-harness.ts';

export interface ApiStep extends PgStep {
  id: string;
  name: string;
  attempts: number;
}

export const PROJECT = 'acme';
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'rolled_back'];

export interface RedisApp {
  t: TestApp;
  driver: RedisDriver;
  dir: string;
}

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

export async function startRedisApp(dialect: Dialect): Promise<RedisApp> {
  const dir = mkdtempSync(path.join(tmpdir(), 'liftgate-redis-engine-'));
  const driver = await new RedisDriver({ dataDir: dir }).init();
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

/** Stops the app, then every group it created (whatever state a failed test left), then the files. */
export async function closeRedisApp(x: RedisApp | undefined): Promise<void> {
  if (!x) return;
  await x.t.close().catch((e: unknown) => console.error('closing the app:', e));
  for (const project of list(x.dir)) {
    for (const target of list(path.join(x.dir, project))) {
      await destroyGroup(path.join(x.dir, project, target)).catch((e: unknown) => console.error('destroying a group:', e));
    }
  }
  rmSync(x.dir, { recursive: true, force: true });
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

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

export async function getTarget(x: RedisApp, id: string): Promise<ApiTarget> {
  const res = await x.t.call('GET', `/v1/projects/${PROJECT}/targets/${id}`);
  assert.equal(res.status, 200, res.body);
  return res.json as ApiTarget;
}

export async function getUpgrade(x: RedisApp, id: string): Promise<ApiUpgrade> {
  const res = await x.t.call('GET', `/v1/projects/${PROJECT}/upgrades/${id}`);
  assert.equal(res.status, 200, res.body);
  return res.json as ApiUpgrade;
}

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

export async function settled(x: RedisApp, id: string): Promise<ApiUpgrade> {
  return until(
    async () => {
      const u = await getUpgrade(x, id);
      return TERMINAL.includes(u.state) ? u : null;
    },
    `upgrade ${id} to finish`,
    6000,
    50,
  );
}

export const allSteps = (u: ApiUpgrade): ApiStep[] => u.stages.flatMap((s) => s.steps);
