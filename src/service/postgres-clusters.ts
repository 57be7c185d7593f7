// `liftgate serve` brings the clusters of the `postgres` driver (and the groups of the `redis`
// driver) up at start and stops the ones it brought up or created when it stops, so a restart or a reboot finds them as it left them.
// A cluster whose target has an active upgrade is left to the upgrade: its steps (and recovery
// after a crash) decide which of its servers should run.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ACTIVE_UPGRADE_STATES } from '../domain/types.ts';
import { bringDown, bringUp } from '../drivers/postgres/lifecycle.ts';
import type { PostgresDriver } from '../drivers/postgres/driver.ts';
import type { RedisDriver } from '../drivers/redis/driver.ts';
import { bringDown as redisDown, bringUp as redisUp } from '../drivers/redis/lifecycle.ts';
import type { Target } from '../domain/types.ts';
import type { AppContext } from './context.ts';
import { getTarget } from './targets.ts';

function driverOf(ctx: AppContext): PostgresDriver | null {
  const d = ctx.drivers.get('postgres');
  return d ? (d as PostgresDriver) : null;
}

/** A driver whose clusters are real local processes that `liftgate serve` starts and stops. */
interface Managed {
  /** what the log calls one ("postgres cluster", "redis group") */
  label: string;
  rootOf(t: Target): string;
  /** the file that says a cluster still exists at a root */
  marker: string;
  bringUp(root: string, log: (l: string) => void): Promise<boolean>;
  bringDown(root: string, log: (l: string) => void): Promise<void>;
  madeHere(): string[];
}

function managed(ctx: AppContext): Map<string, Managed> {
  const out = new Map<string, Managed>();
  const pg = driverOf(ctx);
  if (pg) {
    out.set('postgres', {
      label: 'postgres cluster',
      rootOf: (t) => pg.rootOf(t),
      marker: 'cluster.json',
      bringUp,
      bringDown,
      madeHere: () => pg.madeHere(),
    });
  }
  const rd = ctx.drivers.get('redis') as RedisDriver | undefined;
  if (rd) {
    out.set('redis', {
      label: 'redis group',
      rootOf: (t) => rd.rootOf(t),
      marker: 'group.json',
      bringUp: redisUp,
      bringDown: redisDown,
      madeHere: () => rd.madeHere(),
    });
  }
  return out;
}

/** a cluster `liftgate serve` stops when it stops */
export interface RunningCluster {
  driver: string;
  root: string;
}

/** Starts every cluster that should be up; answers the ones it started. */
export async function startPostgresClusters(ctx: AppContext, log: (l: string) => void): Promise<RunningCluster[]> {
  const drivers = managed(ctx);
  if (drivers.size === 0) return [];
  const rows = await ctx.store.db
    .selectFrom('targets')
    .select(['project_id', 'id', 'driver'])
    .where('driver', 'in', [...drivers.keys()])
    .execute();
  const busy = new Set(
    (
      await ctx.store.db
        .selectFrom('upgrades')
        .select(['project_id', 'target_id'])
        .where('state', 'in', [...ACTIVE_UPGRADE_STATES])
        .execute()
    ).map((u) => `${u.project_id}/${u.target_id}`),
  );
  const started: RunningCluster[] = [];
  for (const r of rows) {
    const m = drivers.get(r.driver)!;
    const name = `${r.project_id}/${r.id}`;
    if (busy.has(name)) {
      log(`liftgate: ${m.label} ${name} has an active upgrade; its steps decide which servers run`);
      continue;
    }
    const root = m.rootOf(await getTarget(ctx, r.project_id, r.id));
    try {
      if (await m.bringUp(root, () => undefined)) {
        started.push({ driver: r.driver, root });
        log(`liftgate: started ${m.label} ${name} (${root})`);
      }
    } catch (err) {
      log(`liftgate: ${m.label} ${name} could not be started: ${(err as Error).message}`);
    }
  }
  return started;
}

export interface PostgresPlacement {
  /** where the driver keeps new clusters and which binaries they run, when moved, and why */
  note: string | null;
  /** what stops the driver's service user from reaching its folder, binaries or clusters, and what to change */
  problem: string | null;
  /** the store holds clusters of the driver */
  held: boolean;
}

/** What `liftgate serve` says at start about the postgres driver's folders (nothing when it is off). */
export async function postgresPlacement(ctx: AppContext): Promise<PostgresPlacement> {
  const driver = driverOf(ctx);
  if (!driver) return { note: null, problem: null, held: false };
  const rows = await ctx.store.db.selectFrom('targets').select(['project_id', 'id']).where('driver', '=', 'postgres').execute();
  const clusters = await Promise.all(
    rows.map(async (r) => ({ name: `${r.project_id}/${r.id}`, root: driver.rootOf(await getTarget(ctx, r.project_id, r.id)) })),
  );
  return { note: driver.placementNote, problem: driver.reachProblem(clusters), held: rows.length > 0 };
}

/** The clusters created during this run (the demo's pg-demo and redis-demo, `cluster create`): this process's to stop. */
export function postgresClustersMadeHere(ctx: AppContext): RunningCluster[] {
  return [...managed(ctx)].flatMap(([driver, m]) => m.madeHere().map((root) => ({ driver, root })));
}

export async function stopPostgresClusters(ctx: AppContext, clusters: RunningCluster[], log: (l: string) => void): Promise<void> {
  const drivers = managed(ctx);
  const seen = new Set<string>();
  await Promise.all(
    clusters.map(async ({ driver, root }) => {
      const m = drivers.get(driver);
      // deleted while it ran (`liftgate cluster delete`): its servers went with it
      if (!m || seen.has(root) || !existsSync(path.join(root, m.marker))) return;
      seen.add(root);
      try {
        await m.bringDown(root, () => undefined);
        log(`liftgate: stopped ${m.label} ${root}`);
      } catch (err) {
        log(`liftgate: ${m.label} ${root} could not be stopped: ${(err as Error).message}`);
      }
    }),
  );
}
