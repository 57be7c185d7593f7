// Test harness: a real store (a SQLite file in a temp folder, or a fresh schema on the real
// PostgreSQL server), the real executor and the real HTTP app. Every suite that touches the
// store runs over both dialects with forEachDialect.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe } from 'node:test';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../../src/http/app.ts';
import { loadFamilies } from '../../src/http/families.ts';
import { createContext, type AppConfig } from '../../src/app/context.ts';
import type { AppContext } from '../../src/service/app-context.ts';
import { ensureAdminToken } from '../../src/service/tokens.ts';

export type Dialect = 'sqlite' | 'postgres';
export const DIALECTS: Dialect[] = ['sqlite', 'postgres'];
export const PG_URL = process.env.LIFTGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const ADMIN_TOKEN = 'test-admin-token';

export function forEachDialect(name: string, fn: (dialect: Dialect) => void): void {
  for (const d of DIALECTS) describe(`${name} [${d}]`, () => fn(d));
}

export interface StoreConfig {
  config: AppConfig;
  dataDir: string;
  cleanup(): Promise<void>;
}

/** A fresh, empty store of the dialect: a temp folder, plus a new schema on PostgreSQL. */
export async function freshStore(dialect: Dialect): Promise<StoreConfig> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'liftgate-test-'));
  if (dialect === 'sqlite') {
    return { config: { dataDir }, dataDir, cleanup: async () => fs.rmSync(dataDir, { recursive: true, force: true }) };
  }
  const schema = `lgt_${randomBytes(6).toString('hex')}`;
  return {
    config: { dataDir, databaseUrl: PG_URL, pgSchema: schema },
    dataDir,
    async cleanup() {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await c.end();
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TestApp {
  ctx: AppContext;
  app: FastifyInstance;
  dataDir: string;
  /** inject with the admin token */
  call(
    method: string,
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; json: any; headers: Record<string, unknown>; body: string }>;
  close(): Promise<void>;
}

export async function startApp(
  dialect: Dialect,
  extra: Partial<AppConfig> = {},
  appOptions: Omit<AppOptions, 'families'> = {},
): Promise<TestApp> {
  const store = await freshStore(dialect);
  const ctx = await createContext({
    ...store.config,
    executor: { pollMs: 20, ...extra.executor },
    simTimeScale: 0,
    ...extra,
    // each OBShell cluster's agent on a port the system picks, on loopback (test files run side by side)
    obshell: { ports: 'auto', host: '127.0.0.1', ...extra.obshell },
  });
  await ensureAdminToken(ctx, ADMIN_TOKEN);
  const app = await buildApp(ctx, { ...appOptions, families: await loadFamilies() });
  await app.ready();
  return {
    ctx,
    app,
    dataDir: store.dataDir,
    async call(method, url, body, headers = {}) {
      const res = await app.inject({
        method: method as 'GET',
        url,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers },
        ...(body !== undefined ? { payload: body as object } : {}),
      });
      let json: unknown = null;
      try {
        json = res.body ? JSON.parse(res.body) : null;
      } catch {
        json = null;
      }
      return { status: res.statusCode, json, headers: res.headers, body: res.body };
    },
    async close() {
      await app.close();
      await ctx.close();
      await store.cleanup();
    },
  };
}

/**
 * Stops the executor and the background workers (heartbeats, estimates, webhook deliveries), so
 * that from then on the app's requests are the store's only writers. close() still works after it.
 */
export async function stopBackground(t: TestApp): Promise<void> {
  await t.ctx.executor.stop();
  await t.ctx.housekeeping.stop();
  await t.ctx.estimates.stop();
  await t.ctx.webhooks.stop();
}

/**
 * Polls until fn returns a truthy value (or throws after `tries`). The default bound (a minute
 * and more) is far above what any wait takes on a quiet machine: a bound only ends a wait that
 * would never end, and must not fail a slow but correct run on a loaded one.
 */
export async function until<T>(
  fn: () => Promise<T | null | undefined | false>,
  what: string,
  tries = 3000,
  everyMs = 20,
): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Waits for p, but fails after ms with what() in the message (e.g. a process's output): a wait
 * for something that never happens (a server that is never killed at its fault point) then fails
 * in minutes and says why, instead of holding the run until the runner's own bound.
 */
export async function within<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${ms / 1000} s: ${what()}`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A project with a sim catalog and target, ready to upgrade. */
export async function seedSim(
  t: TestApp,
  opts: { project?: string; target?: string; engine?: string; nodes?: { name: string; role: string; zone: string }[] } = {},
) {
  const project = opts.project ?? 'acme';
  const engine = opts.engine ?? 'elasticsearch';
  const target = opts.target ?? 'es-1';
  if ((await t.call('GET', `/v1/projects/${project}`)).status === 404) {
    await t.call('POST', '/v1/projects', { id: project, name: project });
  }
  for (const v of ['7.9.3', '7.10.2', '7.10.3', '7.11.0']) {
    await t.call('POST', `/v1/catalog/${engine}/versions`, { version: v, release: `r${v}`, imageId: `img-${v}`, priority: 1 });
  }
  const res = await t.call('POST', `/v1/projects/${project}/targets`, {
    id: target,
    kind: 'cluster',
    engine,
    version: '7.10.2',
    release: 'r7.10.2',
    driver: 'sim',
    nodes: opts.nodes ?? [
      { name: `${target}-1`, role: 'leader', zone: 'az1' },
      { name: `${target}-2`, role: 'follower', zone: 'az2' },
      { name: `${target}-3`, role: 'follower', zone: 'az3' },
    ],
  });
  if (res.status !== 201) throw new Error(`seed target failed: ${res.status} ${res.body}`);
  return { project, target, engine };
}

/**
 * The native API calls the engine tests make of one project's upgrades (`app` is read at each
 * call, so a suite can build these before its app starts): start one (asserting it is accepted),
 * read it, wait for a state, act on it, inject a sim fault.
 */
export function upgradeCalls(app: () => TestApp, project = 'acme') {
  const base = `/v1/projects/${project}`;
  const get = async (id: string) => (await app().call('GET', `${base}/upgrades/${id}`)).json;
  return {
    async start(target: string, body: Record<string, unknown> = {}): Promise<string> {
      const res = await app().call('POST', `${base}/upgrades`, { targetId: target, toVersion: '7.10.3', ...body });
      if (res.status !== 202) throw new Error(`starting an upgrade of ${target}: ${res.status} ${res.body}`);
      return res.json.id as string;
    },
    get,
    waitState: (id: string, state: string) =>
      until(async () => {
        const u = await get(id);
        return u.state === state ? u : null;
      }, `upgrade ${id} to be ${state}`),
    act: (id: string, action: string, extra: Record<string, unknown> = {}) =>
      app().call('POST', `${base}/upgrades/${id}/actions`, { action, ...extra }),
    fault: (target: string, f: Record<string, unknown>) => app().call('POST', `${base}/targets/${target}/faults`, f),
  };
}
