// What the `redis` driver does to a group: a node moved to another engine on the same data and
// config, the checks that gate the next node, the coordinated failover of a primary to an
// upgraded replica (FAILOVER for a Sentinel group, CLUSTER FAILOVER for a cluster shard) and a
// replica put back on its old engine. Each reads the real servers first and does only what is
// missing, so a step can run again after a crash.
import { copyFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DriverError } from '../driver.ts';
import * as grp from './group.ts';
import type { GroupLayout, NodeLayout } from './group.ts';
import * as srv from './server.ts';
import type { Proc, RedisEngine } from './server.ts';

type Log = (line: string) => void;

export interface NodeFacts {
  running: boolean;
  engine: RedisEngine;
  version: string | null;
  role: 'primary' | 'replica' | null;
  /** replica: master_link_status is up */
  linkUp: boolean;
  /** replica: the port of its primary */
  primaryPort: number | null;
  offset: number;
}

export async function nodeFacts(n: NodeLayout): Promise<NodeFacts> {
  const down: NodeFacts = {
    running: false,
    engine: n.engine,
    version: null,
    role: null,
    linkUp: false,
    primaryPort: null,
    offset: 0,
  };
  if (!srv.running(n)) return down;
  try {
    const i = await srv.info(n.port);
    const e = srv.engineOf(i);
    const replica = i.role === 'slave';
    return {
      running: true,
      engine: e.engine,
      version: e.version || null,
      role: replica ? 'replica' : 'primary',
      linkUp: replica && i.master_link_status === 'up',
      primaryPort: replica ? Number(i.master_port) : null,
      offset: Number(replica ? i.slave_repl_offset : i.master_repl_offset) || 0,
    };
  } catch {
    return { ...down, running: true };
  }
}

/** the node as a replica: refuses a primary (a primary is never simply stopped in a rolling upgrade) */
export async function stopReplica(n: NodeLayout, log: Log): Promise<void> {
  const f = await nodeFacts(n);
  if (!f.running) {
    log(`${n.name}: already stopped`);
    return;
  }
  if (f.role === 'primary') {
    throw new DriverError(
      'PRIMARY_STOP_REFUSED',
      `${n.name} is the primary${n.shard ? ` of shard ${n.shard}` : ''}: fail over to an upgraded replica before stopping it`,
    );
  }
  const t = Date.now();
  await srv.stop(n);
  log(`${n.name}: ${f.engine} ${f.version ?? ''} replica stopped (SHUTDOWN, AOF flushed) in ${Date.now() - t} ms`);
}

/**
 * Sets the engine the node runs from its next start (same folder, config and data). A cluster
 * node's nodes.conf is kept as the old engine wrote it, for a rollback.
 */
export async function setEngine(g: GroupLayout, n: NodeLayout, engine: RedisEngine, log: Log): Promise<void> {
  if (srv.running(n) && n.engine !== engine) {
    throw new DriverError('NODE_RUNNING', `${n.name} still runs ${n.engine}: stop it before changing its engine`);
  }
  const kept = path.join(n.dir, `nodes.conf.${n.engine}`);
  if (g.topology === 'cluster' && n.engine !== engine && existsSync(path.join(n.dir, 'nodes.conf')) && !existsSync(kept)) {
    await copyFile(path.join(n.dir, 'nodes.conf'), kept);
  }
  if (n.engine === engine) {
    log(`${n.name}: set to run ${engine} already`);
    return;
  }
  const from = n.engine;
  n.engine = engine;
  await grp.saveGroup(g);
  log(`${n.name}: ${from} -> ${engine} (${srv.serverBinary(engine)}), same data and config`);
}

export async function startNode(n: NodeLayout, log: Log): Promise<void> {
  if (srv.running(n)) {
    log(`${n.name}: running`);
    return;
  }
  const t = Date.now();
  await srv.start(n);
  log(`${n.name}: started ${n.engine} in ${Date.now() - t} ms (data loaded from its AOF)`);
}

/**
 * A replica is in step: its link to its primary is up and it has applied everything the primary
 * had when we looked (replication offsets matched).
 */
export async function waitInStep(g: GroupLayout, n: NodeLayout, timeoutMs: number, signal?: AbortSignal): Promise<NodeFacts> {
  let facts: NodeFacts | null = null;
  /** the primary's offset when the replica was first seen linked: it must apply at least that much */
  let mark: number | null = null;
  await srv.waitFor(
    `${n.name} linked to its primary with offsets matched`,
    async () => {
      const f = await nodeFacts(n);
      if (!f.running || f.role !== 'replica' || !f.linkUp || f.primaryPort === null) return false;
      mark ??= Number((await srv.info(f.primaryPort, 'replication')).master_repl_offset);
      if (f.offset < mark) return false;
      facts = f;
      return true;
    },
    timeoutMs,
    signal,
    'VERIFY_FAILED',
  );
  if (g.topology === 'cluster') await grp.waitClusterOk(g, timeoutMs, signal);
  return facts!;
}

/**
 * The health gate between nodes: every node up, every replica linked and in step, the cluster
 * state ok with all slots covered; for a Sentinel group every Sentinel names the primary and
 * sees every replica.
 */
export async function healthGate(g: GroupLayout, timeoutMs: number, signal?: AbortSignal): Promise<string> {
  const problems = async (): Promise<string[]> => {
    const out: string[] = [];
    for (const n of g.nodes) {
      const f = await nodeFacts(n);
      if (!f.running || f.role === null) out.push(`${n.name} does not answer`);
      else if (f.role === 'replica' && !f.linkUp) out.push(`${n.name}: link to its primary is down`);
    }
    return out;
  };
  await srv
    .waitFor(
      'every node up with its replication link up',
      async () => (await problems()).length === 0,
      timeoutMs,
      signal,
      'VERIFY_FAILED',
    )
    .catch(async (e: unknown) => {
      throw new DriverError('HEALTH_GATE_FAILED', `${(await problems()).join('; ') || (e as Error).message}`, true);
    });
  for (const n of g.nodes) {
    if ((await nodeFacts(n)).role === 'replica') await waitInStep(g, n, timeoutMs, signal);
  }
  if (g.topology === 'cluster') {
    await grp.waitClusterOk(g, timeoutMs, signal);
    return `${g.nodes.length} nodes up, replicas in step, cluster state ok, 16384 slots covered`;
  }
  const primary = await grp.findPrimary(g);
  await grp.waitSentinels(g, primary.port, g.nodes.length - 1, timeoutMs, signal);
  return `${g.nodes.length} nodes up, replicas in step, ${g.sentinels.length} Sentinels name ${primary.name} and see ${g.nodes.length - 1} replicas`;
}

/** Sentinel follows a failover it did not make: each forgets the old primary and monitors the new one */
export async function pointSentinels(g: GroupLayout, primary: Proc, log: Log): Promise<void> {
  const name = g.masterName!;
  await Promise.all(
    g.sentinels.map(async (s) => {
      const addr = (await srv.call(s.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name).catch(() => null)) as string[] | null;
      if (addr && Number(addr[1]) === primary.port) return;
      await srv.withConn(s.port, async (c) => {
        await c.call('SENTINEL', 'REMOVE', name).catch(() => undefined);
        await c.call('SENTINEL', 'MONITOR', name, '127.0.0.1', String(primary.port), String(g.quorum));
        await c.call(
          'SENTINEL',
          'SET',
          name,
          'down-after-milliseconds',
          String(g.downAfterMs),
          'failover-timeout',
          '60000',
          'parallel-syncs',
          '1',
        );
      });
    }),
  );
  log(`${g.sentinels.length} Sentinels now monitor ${name} at ${primary.name} (port ${primary.port})`);
}

export interface FailoverResult {
  from: string;
  to: string;
  /** ms from the FAILOVER command until the new primary took writes */
  switchMs: number;
}

/**
 * Hands a shard's primary role to an upgraded replica without losing an acknowledged write.
 * Sentinel group: FAILOVER TO on the primary (it pauses writes, waits until the replica has
 * everything, then swaps roles; the old primary follows by partial resync), then every Sentinel
 * is pointed at the new primary (a Sentinel would otherwise fail the group back: it does not
 * follow a FAILOVER it did not make) and the old primary's clients are disconnected so they ask
 * Sentinel again. Cluster shard: CLUSTER FAILOVER on the replica (the same coordination, done by
 * the cluster bus); clients follow MOVED.
 */
export async function failover(
  g: GroupLayout,
  to: NodeLayout,
  timeoutMs: number,
  log: Log,
  signal?: AbortSignal,
  afterIssue?: () => void,
): Promise<FailoverResult> {
  const target = await nodeFacts(to);
  if (target.role === 'primary') {
    // done before (a step that ran again after a crash): finish what follows the swap
    const r = { from: '', to: to.name, switchMs: 0 };
    if (g.topology === 'sentinel') await settleSentinelFailover(g, to, log, signal, timeoutMs);
    log(`${to.name} is already the primary`);
    return r;
  }
  if (!target.running || target.role !== 'replica' || !target.linkUp || target.primaryPort === null) {
    throw new DriverError('NO_SWITCHOVER_CANDIDATE', `${to.name} is not a linked replica`);
  }
  const from = g.nodes.find((n) => n.port === target.primaryPort);
  if (!from)
    throw new DriverError(
      'NO_SWITCHOVER_CANDIDATE',
      `${to.name} replicates from port ${target.primaryPort}, not a node of the group`,
    );
  await waitInStep(g, to, timeoutMs, signal);
  const t = Date.now();
  if (g.topology === 'sentinel') {
    // FAILOVER alone waits for the replica's periodic acknowledgement (up to a second of paused
    // writes): writes are paused here, the replica's own offset is watched until it has the
    // primary's, and only then is the FAILOVER forced (the replica is known to have every write)
    await srv.call(from.port, 'CLIENT', 'PAUSE', 10_000, 'WRITE');
    try {
      const mark = Number((await srv.info(from.port, 'replication')).master_repl_offset);
      await srv.waitFor(
        `${to.name} to apply every write of ${from.name} (offset ${mark})`,
        async () => (await nodeFacts(to)).offset >= mark,
        5_000,
        signal,
        'SWITCHOVER_FAILED',
      );
      await srv.call(from.port, 'FAILOVER', 'TO', '127.0.0.1', to.port, 'FORCE', 'TIMEOUT', 20);
      log(`${to.name} has every write of ${from.name} (offset ${mark}, writes paused); FAILOVER TO ${to.name} sent`);
      afterIssue?.();
      await srv.waitFor(
        `${to.name} taking over from ${from.name}`,
        async () => {
          const i = await srv.info(from.port, 'replication');
          if (i.master_failover_state && i.master_failover_state !== 'no-failover') return false;
          if (i.role === 'master') {
            throw new DriverError('SWITCHOVER_FAILED', `${from.name} is still the primary: the FAILOVER did not complete`, true);
          }
          return (await grp.roleOf(to)) === 'primary';
        },
        timeoutMs,
        signal,
        'SWITCHOVER_FAILED',
      );
    } finally {
      // the writes held on the old primary fail as READONLY (or with the kill below) and go to the new one
      await srv.call(from.port, 'CLIENT', 'UNPAUSE').catch(() => undefined);
    }
    const switchMs = Date.now() - t;
    log(`${to.name} is the primary after ${switchMs} ms; ${from.name} follows it`);
    await settleSentinelFailover(g, to, log, signal, timeoutMs);
    return { from: from.name, to: to.name, switchMs };
  }
  await srv.call(to.port, 'CLUSTER', 'FAILOVER');
  log(`CLUSTER FAILOVER sent to ${to.name}: ${from.name} pauses its clients until ${to.name} has every write`);
  afterIssue?.();
  await srv.waitFor(
    `${to.name} taking over shard ${to.shard}`,
    async () => (await grp.roleOf(to)) === 'primary',
    timeoutMs,
    signal,
    'SWITCHOVER_FAILED',
  );
  const switchMs = Date.now() - t;
  log(`${to.name} is the primary of shard ${to.shard} after ${switchMs} ms`);
  await srv.waitFor(
    `${from.name} following ${to.name}`,
    async () => (await nodeFacts(from)).primaryPort === to.port,
    timeoutMs,
    signal,
  );
  await grp.waitClusterOk(g, timeoutMs, signal);
  return { from: from.name, to: to.name, switchMs };
}

/** after the swap: Sentinels pointed at the new primary, the old primary's clients sent to ask again */
export async function settleSentinelFailover(
  g: GroupLayout,
  to: NodeLayout,
  log: Log,
  signal: AbortSignal | undefined,
  timeoutMs: number,
) {
  // FAILOVER moves the old primary under the new one; the other replicas still follow the old
  // primary (a chain): they are moved under the new one (a partial resync, same history)
  for (const n of g.nodes) {
    if (n === to || !srv.running(n)) continue;
    const f = await nodeFacts(n);
    if (f.role === 'replica' && f.primaryPort !== to.port) {
      await srv.call(n.port, 'REPLICAOF', '127.0.0.1', to.port);
      log(`${n.name}: now replicates from ${to.name}`);
    }
  }
  // every replica online under the new primary before the Sentinels look (they learn replicas from its INFO)
  const want = g.nodes.filter((n) => n !== to && srv.running(n)).length;
  await srv.waitFor(
    `${want} replicas online under ${to.name}`,
    async () => (await grp.linkedReplicas(to.port)) >= want,
    timeoutMs,
    signal,
  );
  await pointSentinels(g, to, log);
  // the roles survive a restart: each node's config says whom it replicates
  for (const n of g.nodes) if (srv.running(n)) await srv.call(n.port, 'CONFIG', 'REWRITE').catch(() => undefined);
  for (const n of g.nodes) {
    if (n === to || !srv.running(n)) continue;
    const killed = await srv.call(n.port, 'CLIENT', 'KILL', 'TYPE', 'normal').catch(() => 0);
    if (Number(killed) > 0) log(`${n.name}: ${String(killed)} client connection(s) closed so they ask Sentinel for the primary`);
  }
  await grp.waitSentinels(g, to.port, want, timeoutMs, signal);
}

/**
 * Puts a replica back on its old engine: stopped, its data discarded (a Redis 7.0 node cannot
 * load what Valkey 8.0 wrote: RDB format 11) and started to full-sync from the primary; a
 * cluster node keeps its identity (nodes.conf as the old engine wrote it).
 */
export async function restoreReplica(
  g: GroupLayout,
  n: NodeLayout,
  engine: RedisEngine,
  timeoutMs: number,
  log: Log,
  signal?: AbortSignal,
): Promise<NodeFacts> {
  const f = await nodeFacts(n);
  if (f.running && f.engine === engine && f.role === 'replica' && f.linkUp) {
    log(`${n.name}: runs ${engine} and is linked; nothing to undo`);
    return waitInStep(g, n, timeoutMs, signal);
  }
  if (f.role === 'primary') {
    throw new DriverError('ROLLBACK_FAILED', `${n.name} is a primary: it cannot be put back on ${engine} by discarding its data`);
  }
  await srv.stop(n);
  if (n.engine !== engine) {
    const wrote = n.engine;
    await rm(path.join(n.dir, 'appendonlydir'), { recursive: true, force: true });
    await rm(path.join(n.dir, 'dump.rdb'), { force: true });
    const kept = path.join(n.dir, `nodes.conf.${engine}`);
    if (existsSync(kept)) await copyFile(kept, path.join(n.dir, 'nodes.conf'));
    n.engine = engine;
    await grp.saveGroup(g);
    log(`${n.name}: data written by ${wrote} discarded; it full-syncs from its primary on ${engine}`);
  }
  await srv.start(n);
  const facts = await waitInStep(g, n, timeoutMs, signal);
  log(`${n.name}: back on ${engine}, linked and in step`);
  return facts;
}
