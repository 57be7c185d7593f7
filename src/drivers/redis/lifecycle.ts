// Bringing the groups of the `redis` driver up when Liftgate starts and down when it stops. The
// servers are real processes that would otherwise outlive Liftgate and stay down after a reboot.
import * as grp from './group.ts';
import * as srv from './server.ts';

/** starts what is not running: the nodes (each knows its role from its config), then the Sentinels */
export async function bringUp(root: string, log: (l: string) => void): Promise<boolean> {
  const g = await grp.loadGroup(root);
  let started = false;
  for (const n of g.nodes) {
    if (srv.running(n)) continue;
    await srv.start(n);
    log(`${n.name}: started`);
    started = true;
  }
  for (const s of g.sentinels) {
    if (srv.running(s)) continue;
    await srv.start(s, { sentinel: true });
    started = true;
  }
  return started;
}

/** the Sentinels first (they would fail the group over as its primary stops), then replicas, then primaries */
export async function bringDown(root: string, log: (l: string) => void): Promise<void> {
  const g = await grp.loadGroup(root);
  await Promise.all(g.sentinels.map((s) => srv.stop(s)));
  const roles = await Promise.all(g.nodes.map(async (n) => ({ n, role: await grp.roleOf(n) })));
  await Promise.all(roles.filter((r) => r.role !== 'primary').map((r) => srv.stop(r.n)));
  await Promise.all(roles.filter((r) => r.role === 'primary').map((r) => srv.stop(r.n)));
  log(`${g.nodes.length} nodes and ${g.sentinels.length} Sentinels stopped`);
}
