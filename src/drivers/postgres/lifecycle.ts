// Bringing the clusters of the `postgres` driver up when Liftgate starts and down when it stops.
// The servers are real processes that would otherwise outlive Liftgate and stay down after a
// reboot. `bringUp` starts what is not running (the recorded primary first, so replicas find it,
// then the replicas, then PgBouncer) and answers whether it started anything; `bringDown` stops
// the pooler and the servers (fast shutdown: committed work is kept, sessions are closed).
import * as cl from './cluster.ts';
import * as ops from './node-ops.ts';
import * as pooler from './pooler.ts';

export async function bringUp(root: string, log: (l: string) => void): Promise<boolean> {
  const state = await cl.loadCluster(root);
  const order = [cl.nodeOf(state, state.primary), ...state.nodes.filter((n) => n.name !== state.primary)];
  let started = false;
  for (const n of order) {
    if (cl.nodeRunning(n)) continue;
    await ops.startMember(state, n, log);
    started = true;
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
  // replicas first: a primary that stops first makes them log reconnect errors until they stop too
  const order = [...state.nodes.filter((n) => n.name !== state.primary), cl.nodeOf(state, state.primary)];
  for (const n of order) {
    if (!cl.nodeRunning(n)) continue;
    await cl.stopNode(n);
    log(`${n.name}: stopped`);
  }
}
