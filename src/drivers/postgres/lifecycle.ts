// Bringing the clusters of the `postgres` driver up when Liftgate starts and down when it stops.
// The servers are real processes that would otherwise outlive Liftgate and stay down after a
// reboot. `bringUp` starts what is not running (the recorded primary first, so replicas find it,
// then the replicas, then PgBouncer) and answers whether it started anything; `bringDown` stops
// the pooler and the servers (fast shutdown: committed work is kept, sessions are closed).
import { loadBg } from './blue-green.ts';
import * as cl from './cluster.ts';
import type { ClusterState } from './cluster.ts';
import * as ops from './node-ops.ts';
import * as pooler from './pooler.ts';

/** during a blue/green upgrade, the cluster clients do not use (kept in step by replication) */
async function otherSide(root: string, active: ClusterState): Promise<ClusterState | null> {
  const bg = await loadBg(root);
  if (!bg) return null;
  const names = new Set(active.nodes.map((n) => n.name));
  const side = [bg.blue, bg.green].find((c) => c && !c.nodes.some((n) => names.has(n.name)));
  return side && (side !== bg.green || bg.greenReady) ? side : null;
}

export async function bringUp(root: string, log: (l: string) => void): Promise<boolean> {
  const state = await cl.loadCluster(root);
  let started = false;
  for (const c of [state, await otherSide(root, state)]) {
    if (!c) continue;
    const order = [cl.nodeOf(c, c.primary), ...c.nodes.filter((n) => n.name !== c.primary)];
    for (const n of order) {
      if (cl.nodeRunning(n)) continue;
      await ops.startMember(c, n, log);
      started = true;
    }
  }
  if (state.pooler && !pooler.poolerRunning(root)) {
    const primary = await cl.findPrimary(state);
    await pooler.startPooler(root, state.pooler.port, primary.port);
    started = true;
  }
  return started;
}

export async function bringDown(root: string, log: (l: string) => void): Promise<void> {
  const state = await cl.loadCluster(root);
  await pooler.stopPooler(root).catch(() => undefined);
  for (const c of [state, await otherSide(root, state)]) {
    if (!c) continue;
    // replicas first: a primary that stops first makes them log reconnect errors until they stop too
    const order = [...c.nodes.filter((n) => n.name !== c.primary), cl.nodeOf(c, c.primary)];
    for (const n of order) {
      if (!cl.nodeRunning(n)) continue;
      await cl.stopNode(n);
      log(`${n.name}: stopped`);
    }
  }
}
