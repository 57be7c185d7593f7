// Node-level operations shared by steps and rollbacks. Each one reads the real state first, so it
// can run again after a crash or in a fresh process and only do what is still missing.
import { DriverError } from '../driver.ts';
import type { BinaryCatalog } from './binaries.ts';
import * as cl from './cluster.ts';
import type { ClusterState, NodeLayout } from './cluster.ts';
import * as server from './server.ts';

/**
 * Start a node as a member of the cluster: the recorded primary starts as primary when no other
 * node is primary; every other node starts as a standby of the real primary (never split brain).
 * Returns the server's own start time (spawn -> accepting connections), 0 when already running.
 */
export async function startMember(state: ClusterState, n: NodeLayout, log: (l: string) => void): Promise<number> {
  if (cl.nodeRunning(n)) {
    log(`${n.name}: already running`);
    return 0;
  }
  const primary = await cl.findPrimary(state);
  if (primary.name !== n.name) {
    // the slot on the primary and the node's own files are independent
    await Promise.all([
      cl.nodeRunning(primary)
        ? cl.ensureSlot(primary, cl.slotName(n.name)).then((made) => {
            if (made) log(`${primary.name}: created slot ${cl.slotName(n.name)}`);
          })
        : Promise.resolve(),
      cl.configureStandby(n, primary),
    ]);
    log(
      `${n.name}: standby of ${primary.name} :${primary.port} (standby.signal, primary_conninfo, primary_slot_name=${cl.slotName(n.name)})`,
    );
  }
  const t0 = Date.now();
  try {
    const st = await cl.startNode(n);
    const ms = Date.now() - t0;
    log(
      `${n.name}: postgres -D ${cl.dataDir(n)} (binaries ${await server.readLinkOrNull(cl.binLink(n))}) ${st.status} in ${ms} ms`,
    );
    return ms;
  } catch (e) {
    throw new DriverError('START_FAILED', `${n.name} did not start: ${(e as Error).message}`);
  }
}

/** returns the server's own stop time (SIGINT -> postmaster gone), 0 when it was not running */
export async function stopMember(n: NodeLayout, log: (l: string) => void): Promise<number> {
  const t0 = Date.now();
  const stopped = await cl.stopNode(n);
  const ms = stopped ? Date.now() - t0 : 0;
  log(stopped ? `${n.name}: fast stop (SIGINT) done in ${ms} ms` : `${n.name}: already stopped`);
  return ms;
}

export async function swapBinaries(
  n: NodeLayout,
  version: string,
  catalog: BinaryCatalog,
  log: (l: string) => void,
): Promise<void> {
  if (cl.nodeRunning(n)) throw new DriverError('NODE_RUNNING', `${n.name} is running: stop it before swapping binaries`);
  const dir = catalog.nativeDir(version);
  const before = await server.readLinkOrNull(cl.binLink(n));
  await cl.linkBinaries(n, dir);
  log(`${n.name}: ln -sfn ${dir} ${cl.binLink(n)} (was ${before ?? 'none'})`);
}

/**
 * Verify a node: running the expected version, and either the writable primary or a replica that
 * streams from the primary and has replayed the primary's current LSN within `timeoutMs`.
 */
export async function verifyMember(
  state: ClusterState,
  n: NodeLayout,
  expectVersion: string,
  timeoutMs: number,
  log: (l: string) => void,
  signal?: AbortSignal,
): Promise<{ role: string; version: string }> {
  // independent questions, asked at once
  const [f, primary] = await Promise.all([cl.nodeFacts(n), cl.findPrimary(state)]);
  // a server that is running but not answering yet (still starting, recovering) may answer on a
  // later attempt: transient; one that is not running is not
  if (!f.running || f.error)
    throw new DriverError('VERIFY_FAILED', `${n.name} is not answering: ${f.error ?? 'not running'}`, f.running);
  log(`${n.name}: SELECT version() -> ${f.fullVersion}`);
  if (f.version !== expectVersion)
    throw new DriverError('VERIFY_FAILED', `${n.name} runs ${f.version}, expected ${expectVersion}`);
  if (primary.name === n.name) {
    if (f.inRecovery) throw new DriverError('VERIFY_FAILED', `${n.name} should be primary but is in recovery`);
    const [x] = await server.query<{ xid: string }>(n.port, 'SELECT txid_current()::text AS xid');
    log(`${n.name}: pg_is_in_recovery() = false, write probe txid ${x!.xid}`);
    return { role: 'primary', version: f.version };
  }
  if (!f.inRecovery) throw new DriverError('VERIFY_FAILED', `${n.name} is not in recovery but ${primary.name} is the primary`);
  try {
    const c = await cl.waitCaughtUp(primary, n, timeoutMs, signal);
    log(`${n.name}: streaming from ${primary.name}, replayed primary LSN ${c.lsn} after ${c.ms} ms`);
  } catch (e) {
    // a replica still behind may catch up by the next attempt
    throw new DriverError('VERIFY_FAILED', (e as Error).message, true);
  }
  return { role: 'replica', version: f.version };
}

/** Put a node back on `version`'s binaries and running as a member of the cluster (rollback). */
export async function restoreMember(
  state: ClusterState,
  n: NodeLayout,
  version: string,
  catalog: BinaryCatalog,
  timeoutMs: number,
  log: (l: string) => void,
): Promise<{ role: string; version: string }> {
  const linked = await cl.linkedVersion(n, catalog);
  if (linked !== version) {
    await stopMember(n, log);
    await swapBinaries(n, version, catalog, log);
  }
  await startMember(state, n, log);
  return verifyMember(state, n, version, timeoutMs, log);
}

/**
 * Rejoin: the node serves as a replica of the real primary on `version`. The planner puts a rejoin
 * after every node's verify, which already waited for catch-up, so a node that streams from the
 * primary now is done without a second wait (this keeps a replica's rejoin to a few queries). Its
 * inactive slots are dropped: an old primary keeps the slots of the replicas it served, and they
 * would pin WAL on it forever.
 */
export async function rejoinMember(
  state: ClusterState,
  n: NodeLayout,
  version: string,
  timeoutMs: number,
  log: (l: string) => void,
  signal?: AbortSignal,
): Promise<{ role: string; version: string }> {
  const [primary, f] = await Promise.all([cl.findPrimary(state), cl.nodeFacts(n)]);
  if (primary.name === n.name) throw new DriverError('REJOIN_FAILED', `${n.name} is the primary, not a replica`);
  let v: { role: string; version: string };
  if (f.running && !f.error && f.inRecovery && f.version === version && f.receiving?.status === 'streaming') {
    log(
      `${n.name}: ${version}, in recovery, streaming from ${primary.name} :${f.receiving.senderPort ?? '?'} (caught up at verify)`,
    );
    v = { role: 'replica', version };
  } else {
    v = await verifyMember(state, n, version, timeoutMs, log, signal);
    if (v.role !== 'replica') throw new DriverError('REJOIN_FAILED', `${n.name} is ${v.role}, not a replica`);
  }
  // one round trip for all of them
  const dropped = await server.query<{ slot_name: string }>(
    n.port,
    'SELECT slot_name, pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active',
  );
  for (const s of dropped) {
    log(`${n.name}: SELECT pg_drop_replication_slot('${s.slot_name}') (left from when it was primary)`);
  }
  return v;
}
