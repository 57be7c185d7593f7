// `liftgate serve` brings the clusters of the `postgres` driver up at start and stops the ones it
// brought up or created when it stops, so a restart or a reboot finds them as it left them.
// A cluster whose target has an active upgrade is left to the upgrade: its steps (and recovery
// after a crash) decide which of its servers should run.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ACTIVE_UPGRADE_STATES } from '../domain/types.ts';
import { bringDown, bringUp } from '../drivers/postgres/lifecycle.ts';
import type { PostgresDriver } from '../drivers/postgres/driver.ts';
import type { AppContext } from './context.ts';
import { getTarget } from './targets.ts';

function driverOf(ctx: AppContext): PostgresDriver | null {
  const d = ctx.drivers.get('postgres');
  return d ? (d as PostgresDriver) : null;
}

/** Starts every cluster that should be up; answers the roots it started. */
export async function startPostgresClusters(ctx: AppContext, log: (l: string) => void): Promise<string[]> {
  const driver = driverOf(ctx);
  if (!driver) return [];
  const rows = await ctx.store.db.selectFrom('targets').select(['project_id', 'id']).where('driver', '=', 'postgres').execute();
  const busy = new Set(
    (
      await ctx.store.db
        .selectFrom('upgrades')
        .select(['project_id', 'target_id'])
        .where('state', 'in', [...ACTIVE_UPGRADE_STATES])
        .execute()
    ).map((u) => `${u.project_id}/${u.target_id}`),
  );
  const started: string[] = [];
  for (const r of rows) {
    const name = `${r.project_id}/${r.id}`;
    if (busy.has(name)) {
      log(`liftgate: postgres cluster ${name} has an active upgrade; its steps decide which servers run`);
      continue;
    }
    const root = driver.rootOf(await getTarget(ctx, r.project_id, r.id));
    try {
      if (await bringUp(root, () => undefined)) {
        started.push(root);
        log(`liftgate: started postgres cluster ${name} (${root})`);
      }
    } catch (err) {
      log(`liftgate: postgres cluster ${name} could not be started: ${(err as Error).message}`);
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

/** The roots of the clusters created during this run (the demo's pg-demo, `cluster create`): this process's to stop. */
export function postgresClustersMadeHere(ctx: AppContext): string[] {
  return driverOf(ctx)?.madeHere() ?? [];
}

export async function stopPostgresClusters(roots: string[], log: (l: string) => void): Promise<void> {
  await Promise.all(
    roots.map(async (root) => {
      // deleted while it ran (`liftgate cluster delete`): its servers went with it
      if (!existsSync(path.join(root, 'cluster.json'))) return;
      try {
        await bringDown(root, () => undefined);
        log(`liftgate: stopped postgres cluster ${root}`);
      } catch (err) {
        log(`liftgate: postgres cluster ${root} could not be stopped: ${(err as Error).message}`);
      }
    }),
  );
}
