// The whole product around one real driver (postgres, redis): the HTTP app, the service layer, the
// store of either dialect and the real executor, with the driver registered the way `liftgate
// serve` registers it, its data in a temp folder, and one project. Closing stops the app, then
// every cluster the driver made there (whatever state a failed test left), then removes the files.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Driver } from '../../src/drivers/driver.ts';
import { startApp, until, type Dialect, type TestApp } from './harness.ts';

export const PROJECT = 'acme';
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'rolled_back'];

export interface DriverApp<D extends Driver> {
  t: TestApp;
  driver: D;
  /** the driver's data folder: one sub-folder per project and target */
  dir: string;
}

/** `prepare` may adjust the folder before the driver is made (e.g. let a service user reach it) */
export async function startDriverApp<D extends Driver>(
  dialect: Dialect,
  name: string,
  make: (dir: string) => D | Promise<D>,
  prepare?: (dir: string) => void,
): Promise<DriverApp<D>> {
  const dir = mkdtempSync(path.join(tmpdir(), `liftgate-${name}-engine-`));
  prepare?.(dir);
  let t: TestApp;
  let driver: D;
  try {
    driver = await make(dir);
    t = await startApp(dialect, { extraDrivers: () => [driver] });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const res = await t.call('POST', '/v1/projects', { id: PROJECT, name: PROJECT });
  assert.equal(res.status, 201, res.body);
  return { t, driver, dir };
}

export async function closeDriverApp<D extends Driver>(
  x: DriverApp<D> | undefined,
  destroy: (root: string) => Promise<void>,
): Promise<void> {
  if (!x) return;
  await x.t.close().catch((e: unknown) => console.error('closing the app:', e));
  for (const project of folders(x.dir)) {
    for (const target of folders(path.join(x.dir, project))) {
      await destroy(path.join(x.dir, project, target)).catch((e: unknown) => console.error('destroying a cluster:', e));
    }
  }
  rmSync(x.dir, { recursive: true, force: true });
}

export function folders(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

export async function apiTarget<T>(x: { t: TestApp }, id: string): Promise<T> {
  const res = await x.t.call('GET', `/v1/projects/${PROJECT}/targets/${id}`);
  assert.equal(res.status, 200, res.body);
  return res.json as T;
}

export async function apiUpgrade<U>(x: { t: TestApp }, id: string): Promise<U> {
  const res = await x.t.call('GET', `/v1/projects/${PROJECT}/upgrades/${id}`);
  assert.equal(res.status, 200, res.body);
  return res.json as U;
}

/** Polls the upgrade until it stops moving; `onPoll` runs on every round (e.g. to follow the endpoint). */
export async function settledUpgrade<U extends { state: string }>(
  x: { t: TestApp },
  id: string,
  onPoll?: () => Promise<void>,
  tries = 1200,
): Promise<U> {
  return until(
    async () => {
      await onPoll?.();
      const u = await apiUpgrade<U>(x, id);
      return TERMINAL.includes(u.state) ? u : null;
    },
    `upgrade ${id} to finish`,
    tries,
    50,
  );
}
