// What `liftgate serve` says at start about where the `postgres` driver keeps its clusters, and
// whether its service user can reach them.
import type { PostgresDriver } from '../drivers/postgres/driver.ts';
import type { AppContext } from './app-context.ts';
import { getTarget } from './targets.ts';

function driverOf(ctx: AppContext): PostgresDriver | null {
  const d = ctx.drivers.get('postgres');
  return d ? (d as PostgresDriver) : null;
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
