// Planned switchover to a caught-up replica, ordered to keep the write outage short:
//   1. wait until the chosen replica has replayed the primary's current LSN (outside the outage)
//   2. [pooler] PAUSE: running transactions finish, new ones queue inside PgBouncer
//   3. fast-stop the old primary: its walsenders ship everything up to the shutdown checkpoint
//      and wait for the standbys to flush it before the postmaster exits, so nothing acked is lost
//   4. fence the old primary (standby.signal + primary_conninfo to the new primary)
//   5. promote the replica; poll postmaster.pid for 'ready'
//   6. [pooler] repoint + RESUME: queued queries run on the new primary
//   7. off the write path: slots on the new primary, other replicas follow it (reload, no restart)
// Re-running after a crash completes whatever is missing instead of switching twice.
import * as cl from './cluster.ts';
import type { ClusterState, NodeLayout } from './cluster.ts';
import * as pooler from './pooler.ts';
import * as server from './server.ts';

export interface SwitchoverResult {
  from: string;
  to: string;
  /** old primary stop begun -> new primary promoted */
  outageMs: number;
  /** pooler PAUSE -> RESUME (0 without a pooler) */
  stallMs: number;
  alreadyDone: boolean;
}

export interface SwitchoverOptions {
  log: (line: string) => void;
  catchUpTimeoutMs: number;
  pauseTimeoutMs: number;
  signal?: AbortSignal;
}

export async function switchover(state: ClusterState, toName: string, opts: SwitchoverOptions): Promise<SwitchoverResult> {
  const { log } = opts;
  const to = cl.nodeOf(state, toName);
  // independent questions, asked at once
  const [old, facts] = await Promise.all([cl.findPrimary(state), cl.nodeFacts(to)]);
  if (old.name === to.name) {
    log(`${to.name} is already primary: completing follow-up work only`);
    await followUp(state, to, log, true);
    return { from: state.previousPrimary ?? to.name, to: to.name, outageMs: 0, stallMs: 0, alreadyDone: true };
  }
  if (!facts.running || facts.inRecovery !== true || facts.receiving?.status !== 'streaming') {
    throw new Error(
      `${to.name} is not a streaming replica (running=${facts.running}, recovery=${facts.inRecovery}, receiver=${facts.receiving?.status ?? 'none'})`,
    );
  }
  const oldRunning = cl.nodeRunning(old);
  // opened before the outage starts so that waiting for the promotion costs no connection setup
  const probe = server.connect(to.port);
  probe.on('error', () => undefined);
  // three independent preparations at once, all before the outage: the probe's connection; the
  // slots the other nodes will stream from, made on the replica now (a standby keeps its physical
  // slots through promotion, and without reserved WAL they pin nothing) so that after the
  // promotion they are found, not made; and the old primary's checkpoint, then the catch-up
  const others = state.nodes.filter((n) => n.name !== to.name).map((n) => cl.slotName(n.name));
  try {
    await Promise.all([
      probe.connect(),
      cl.ensureSlots(to, others).then((made) => {
        if (made.length > 0) log(`${to.name}: created slots ${made.join(', ')} (before the promotion)`);
      }),
      oldRunning
        ? (async () => {
            // the fast stop inside the outage writes a shutdown checkpoint: flushing the dirty
            // buffers now, outside the outage, leaves that checkpoint only what the last few ms wrote
            const tc = Date.now();
            await server.query(old.port, 'CHECKPOINT');
            log(`${old.name}: CHECKPOINT (before the outage) ${Date.now() - tc} ms`);
            const c = await cl.waitCaughtUp(old, to, opts.catchUpTimeoutMs, opts.signal);
            log(`${to.name} caught up with ${old.name} at ${c.lsn} (${c.ms} ms)`);
          })()
        : Promise.resolve(),
    ]);
  } catch (e) {
    await probe.end().catch(() => undefined);
    throw e;
  }
  const poolPort = state.pooler?.port;
  let paused = 0;
  if (poolPort) {
    await pooler.pause(poolPort, opts.pauseTimeoutMs);
    paused = Date.now();
    log(`pgbouncer :${poolPort}: PAUSE`);
  }
  const t0 = Date.now();
  let stopMs = 0;
  try {
    if (oldRunning) {
      await cl.stopNode(old);
      stopMs = Date.now() - t0;
    }
    await cl.configureStandby(old, to);
    await server.promoteServer(cl.dataDir(to), probe);
  } catch (e) {
    if (poolPort) await pooler.resume(poolPort).catch(() => undefined);
    throw e;
  } finally {
    await probe.end().catch(() => undefined);
  }
  const outageMs = Date.now() - t0;
  log(`${old.name}: fast stop (SIGINT, poll postmaster.pid) ${stopMs} ms; fenced with standby.signal -> ${to.name}`);
  log(
    `${to.name}: promote (promote file + SIGUSR1, as pg_ctl -W promote), ready after ${outageMs - stopMs} ms; write outage ${outageMs} ms`,
  );
  let stallMs = 0;
  // the clients first, and beside them the other replicas' re-pointing (it needs only the new
  // primary, not the pooler); the new primary is recorded once the pooler points at it
  const clients = async (): Promise<void> => {
    if (poolPort) {
      await pooler.repoint(state.root, poolPort, to.port);
      await pooler.resume(poolPort);
      stallMs = Date.now() - paused;
      log(`pgbouncer :${poolPort}: RELOAD (-> :${to.port}), RESUME; clients stalled ${stallMs} ms`);
    }
    state.previousPrimary = old.name;
    state.primary = to.name;
    await cl.saveCluster(state);
  };
  // the pooler is repointed and resumed here: nothing of it for followUp to complete
  await Promise.all([clients(), followUp(state, to, log, false)]);
  return { from: old.name, to: to.name, outageMs, stallMs, alreadyDone: false };
}

/**
 * slots on the new primary for every other node, and every running replica following it;
 * `releasePooler`: repoint and resume the pooler too (a re-run after a crash may find it paused)
 */
async function followUp(
  state: ClusterState,
  primary: NodeLayout,
  log: (l: string) => void,
  releasePooler: boolean,
): Promise<void> {
  const others = state.nodes.filter((n) => n.name !== primary.name);
  // the slots (usually made before the promotion: then one query finds them all) and each node
  // apart: the answers and the files are independent (a replica re-pointed before its slot exists
  // retries after wal_retrieve_retry_interval)
  await Promise.all([
    cl
      .ensureSlots(
        primary,
        others.map((n) => cl.slotName(n.name)),
      )
      .then((made) => {
        if (made.length > 0) log(`${primary.name}: created slots ${made.join(', ')}`);
      }),
    ...others.map(async (n) => {
      if (!cl.nodeRunning(n)) {
        await cl.configureStandby(n, primary);
        return;
      }
      const f = await cl.nodeFacts(n);
      if (f.inRecovery && f.receiving?.senderPort !== primary.port) {
        await cl.configureStandby(n, primary);
        server.reloadServer(cl.dataDir(n));
        log(`${n.name}: primary_conninfo -> ${primary.name} :${primary.port} (reload)`);
      }
    }),
  ]);
  if (releasePooler && state.pooler && pooler.poolerRunning(state.root)) {
    // after a crash between PAUSE and RESUME the pooler may still hold clients: always release it
    await pooler.repoint(state.root, state.pooler.port, primary.port).catch(() => undefined);
    await pooler.resume(state.pooler.port).catch(() => undefined);
  }
}
