// `liftgate serve` brings the clusters of the drivers that run local processes (`postgres`,
// `redis`: Driver.local) up at start and stops the ones it brought up or created when it stops,
// so a restart or a reboot finds them as it left them. A cluster whose target has an active
// upgrade is left to the upgrade: its steps (and recovery after a crash) decide which of its
// servers should run.
import { ACTIVE_UPGRADE_STATES } from '../domain/types.ts';
import type { LocalClusters } from '../drivers/driver.ts';
import type { AppContext } from './app-context.ts';
import { getTarget } from './targets.ts';

/** a cluster `liftgate serve` stops when it stops */
export interface RunningCluster {
  driver: string;
  root: string;
}

function localDrivers(ctx: AppContext): Map<string, LocalClusters> {
  return new Map([...ctx.drivers].flatMap(([name, d]) => (d.local ? [[name, d.local] as const] : [])));
}

/** Starts every cluster that should be up; answers the ones it started. */
export async function startLocalClusters(ctx: AppContext, log: (l: string) => void): Promise<RunningCluster[]> {
  const drivers = localDrivers(ctx);
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
    const local = drivers.get(r.driver)!;
    const name = `${r.project_id}/${r.id}`;
    if (busy.has(name)) {
      log(`liftgate: ${local.label} ${name} has an active upgrade; its steps decide which servers run`);
      continue;
    }
    const root = local.rootOf(await getTarget(ctx, r.project_id, r.id));
    try {
      if (await local.bringUp(root, () => undefined)) {
        started.push({ driver: r.driver, root });
        log(`liftgate: started ${local.label} ${name} (${root})`);
      }
    } catch (err) {
      log(`liftgate: ${local.label} ${name} could not be started: ${(err as Error).message}`);
    }
  }
  return started;
}

/** The clusters created during this run (the demo's pg-demo and redis-demo, `cluster create`): this process's to stop. */
export function localClustersMadeHere(ctx: AppContext): RunningCluster[] {
  return [...localDrivers(ctx)].flatMap(([driver, local]) => local.madeHere().map((root) => ({ driver, root })));
}

export async function stopLocalClusters(ctx: AppContext, clusters: RunningCluster[], log: (l: string) => void): Promise<void> {
  const drivers = localDrivers(ctx);
  const seen = new Set<string>();
  await Promise.all(
    clusters.map(async ({ driver, root }) => {
      const local = drivers.get(driver);
      // deleted while it ran (`liftgate cluster delete`): its servers went with it
      if (!local || seen.has(root) || !local.exists(root)) return;
      seen.add(root);
      try {
        await local.bringDown(root, () => undefined);
        log(`liftgate: stopped ${local.label} ${root}`);
      } catch (err) {
        log(`liftgate: ${local.label} ${root} could not be stopped: ${(err as Error).message}`);
      }
    }),
  );
}
