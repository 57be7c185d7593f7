// A local PostgreSQL cluster: one primary and N streaming replicas on 127.0.0.1.
// Layout on disk (everything a step needs, so any step can run in a fresh process):
//   <root>/cluster.json            layout + which node is primary (rewritten atomically)
//   <root>/<node>/data             PGDATA, owned by the service user
//   <root>/<node>/pgbin            symlink to the binaries the node runs: "install" swaps this link
//   <root>/<node>/server.log
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BinaryCatalog } from './binaries.ts';
import { onlineClone } from './clone.ts';
import { writeOwnedFile } from './os-user.ts';
import { stopPooler } from './pooler.ts';
import * as server from './server.ts';

export interface NodeLayout {
  name: string;
  port: number;
  dir: string;
}

export interface ClusterState {
  root: string;
  /** version the cluster was created at */
  version: string;
  nodes: NodeLayout[];
  primary: string;
  /** the primary before the last switchover, so a switchover can be reversed */
  previousPrimary: string | null;
  pooler: { port: number } | null;
  /** logical once a blue/green upgrade enabled logical decoding (or the cluster was built so) */
  walLevel?: 'replica' | 'logical';
}

export const dataDir = (n: NodeLayout): string => path.join(n.dir, 'data');
export const binLink = (n: NodeLayout): string => path.join(n.dir, 'pgbin');
export const logFile = (n: NodeLayout): string => path.join(n.dir, 'server.log');
export const slotName = (nodeName: string): string => `lg_${nodeName.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;

export async function loadCluster(root: string): Promise<ClusterState> {
  return JSON.parse(await readFile(path.join(root, 'cluster.json'), 'utf8')) as ClusterState;
}

export async function saveCluster(state: ClusterState): Promise<void> {
  const file = path.join(state.root, 'cluster.json');
  await writeFile(`${file}.tmp`, JSON.stringify(state, null, 2));
  await rename(`${file}.tmp`, file);
}

export function nodeOf(state: ClusterState, name: string): NodeLayout {
  const n = state.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node ${name} in cluster ${state.root}`);
  return n;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** point the node's pgbin link at a version's binaries (atomic rename, so a crash leaves old or new) */
export async function linkBinaries(n: NodeLayout, nativeDir: string): Promise<void> {
  const tmp = `${binLink(n)}.tmp`;
  await rm(tmp, { force: true });
  await symlink(nativeDir, tmp);
  await rename(tmp, binLink(n));
}

/** the version of the binaries the node's link points at */
export async function linkedVersion(n: NodeLayout, catalog: BinaryCatalog): Promise<string | null> {
  const target = await server.readLinkOrNull(binLink(n));
  return target ? catalog.versionOf(target) : null;
}

/** make a stopped node come up as a standby of `primary` (also fences an old primary) */
export async function configureStandby(n: NodeLayout, primary: NodeLayout): Promise<void> {
  const conf = [
    `primary_conninfo = 'host=127.0.0.1 port=${primary.port} user=postgres application_name=${n.name}'`,
    `primary_slot_name = '${slotName(n.name)}'`,
    '',
  ].join('\n');
  await writeOwnedFile(path.join(dataDir(n), 'liftgate-replication.conf'), conf);
  await writeOwnedFile(path.join(dataDir(n), 'standby.signal'), '');
}

export async function ensureSlot(primary: NodeLayout, slot: string, reserve = false): Promise<boolean> {
  // one round trip: create only when missing
  const rows = await server.query(
    primary.port,
    `SELECT pg_create_physical_replication_slot($1, $2)
       WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`,
    [slot, reserve],
  );
  return rows.length > 0;
}

/**
 * ensureSlot for several slots in one round trip; returns those it created. On a standby too: a
 * physical slot made there is kept through its promotion.
 */
export async function ensureSlots(node: NodeLayout, slots: string[]): Promise<string[]> {
  if (slots.length === 0) return [];
  const rows = await server.query<{ slot: string }>(
    node.port,
    `SELECT s AS slot, pg_create_physical_replication_slot(s, false)
       FROM unnest($1::text[]) AS s
      WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = s)`,
    [slots],
  );
  return rows.map((r) => r.slot);
}

export async function startNode(n: NodeLayout): Promise<server.PidFile> {
  return server.startServer(path.join(binLink(n), 'bin'), dataDir(n), logFile(n));
}

export const stopNode = (n: NodeLayout): Promise<boolean> => server.stopServer(dataDir(n), 'fast');
export const nodeRunning = (n: NodeLayout): boolean => server.isRunning(dataDir(n));

export interface NodeFacts {
  name: string;
  running: boolean;
  inRecovery: boolean | null;
  version: string | null;
  fullVersion: string | null;
  lsn: string | null;
  receiving: { status: string; senderPort: number | null } | null;
  error?: string;
}

export async function nodeFacts(n: NodeLayout): Promise<NodeFacts> {
  const facts: NodeFacts = {
    name: n.name,
    running: false,
    inRecovery: null,
    version: null,
    fullVersion: null,
    lsn: null,
    receiving: null,
  };
  if (!nodeRunning(n)) return facts;
  facts.running = true;
  try {
    // one round trip: the receiver columns are null on a primary (pg_stat_wal_receiver is empty there)
    const [r] = await server.query<{
      rec: boolean;
      v: string;
      full: string;
      lsn: string;
      wr: boolean;
      status: string | null;
      sender_port: number | null;
    }>(
      n.port,
      `SELECT pg_is_in_recovery() AS rec, current_setting('server_version') AS v, version() AS full,
              CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text ELSE pg_current_wal_lsn()::text END AS lsn,
              EXISTS (SELECT 1 FROM pg_stat_wal_receiver) AS wr,
              (SELECT status FROM pg_stat_wal_receiver) AS status,
              (SELECT sender_port FROM pg_stat_wal_receiver) AS sender_port`,
    );
    facts.inRecovery = r!.rec;
    facts.version = r!.v.split(' ')[0] ?? r!.v;
    facts.fullVersion = r!.full;
    facts.lsn = r!.lsn;
    if (r!.rec) facts.receiving = r!.wr ? { status: r!.status ?? '', senderPort: r!.sender_port } : null;
  } catch (e) {
    facts.error = (e as Error).message;
  }
  return facts;
}

/** the node that is really primary now (running, not in recovery); falls back to the recorded one */
export async function findPrimary(state: ClusterState): Promise<NodeLayout> {
  for (const n of state.nodes) {
    if (!nodeRunning(n)) continue;
    try {
      const [r] = await server.query<{ rec: boolean }>(n.port, 'SELECT pg_is_in_recovery() AS rec');
      if (r && !r.rec && !existsSync(path.join(dataDir(n), 'standby.signal'))) return n;
    } catch {
      /* not answering: not a primary we can use */
    }
  }
  return nodeOf(state, state.primary);
}

/** wait until `replica` streams from `primary` and has replayed up to `lsn` (default: primary's current LSN) */
export async function waitCaughtUp(
  primary: NodeLayout,
  replica: NodeLayout,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<{ lsn: string; ms: number }> {
  const t0 = Date.now();
  const [p] = await server.query<{ lsn: string }>(primary.port, 'SELECT pg_current_wal_lsn()::text AS lsn');
  const target = p!.lsn;
  let last = '';
  for (;;) {
    signal?.throwIfAborted();
    try {
      const [r] = await server.query<{ ok: boolean; replay: string | null; status: string | null }>(
        replica.port,
        `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok, pg_last_wal_replay_lsn()::text AS replay,
                (SELECT status FROM pg_stat_wal_receiver) AS status`,
        [target],
      );
      last = `replay ${r!.replay ?? 'none'}, receiver ${r!.status ?? 'none'}`;
      if (r!.ok && r!.status === 'streaming') return { lsn: target, ms: Date.now() - t0 };
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`${replica.name} did not reach primary LSN ${target} within ${timeoutMs} ms (${last})`);
    }
    // on the pooled connection a poll is one short query: a fine interval costs little and
    // a catch-up usually takes a few ms, so 20 ms polls mostly measured the poll interval
    await sleep(2);
  }
}

/** create primary + replicas at `version`; returns the saved state */
export async function createCluster(
  root: string,
  version: string,
  replicas: number,
  catalog: BinaryCatalog,
  names: string[],
  log: (l: string) => void = () => undefined,
  walLevel: 'replica' | 'logical' = 'replica',
): Promise<ClusterState> {
  // the service user passes through these to its data: 0755 whatever root's umask is
  await mkdir(root, { recursive: true, mode: 0o755 });
  await chmod(root, 0o755);
  const nodes: NodeLayout[] = [];
  for (let i = 0; i <= replicas; i++) {
    const name = names[i]!;
    const n = { name, port: await freePort(), dir: path.join(root, name) };
    await mkdir(n.dir, { recursive: true, mode: 0o755 });
    await chmod(n.dir, 0o755);
    await linkBinaries(n, catalog.nativeDir(version));
    nodes.push(n);
  }
  const state: ClusterState = { root, version, nodes, primary: nodes[0]!.name, previousPrimary: null, pooler: null, walLevel };
  await saveCluster(state);
  const primary = nodes[0]!;
  log(await server.initdb(binLink(primary), dataDir(primary)));
  await startNewNode(state, primary, () => server.writeNodeConfig(dataDir(primary), primary.port, walLevel));
  log(`${primary.name}: started primary on port ${primary.port}`);
  for (const r of nodes.slice(1)) {
    await addReplica(state, r, log, { newNode: true });
  }
  for (const r of nodes.slice(1)) await waitCaughtUp(primary, r, 60_000);
  return state;
}

/**
 * Starts a node the cluster is creating. Its port was free when it was picked, but another process
 * may bind it before postgres does; the node then gets another free port, recorded before it starts
 * again. (A node that already ran keeps its port: its clients know it.)
 */
export async function startNewNode(state: ClusterState, n: NodeLayout, configure: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await configure();
    try {
      await startNode(n);
      return;
    } catch (e) {
      if (attempt >= 5 || !/Address already in use/.test((e as Error).message)) throw e;
      n.port = await freePort();
      await saveCluster(state);
    }
  }
}

/**
 * clone the current primary online into `r` and start it as a streaming replica (`newNode`: one
 * the cluster is creating, which may move to another port when its own was taken meanwhile)
 */
export async function addReplica(
  state: ClusterState,
  r: NodeLayout,
  log: (l: string) => void,
  o: { newNode?: boolean } = {},
): Promise<void> {
  const primary = await findPrimary(state);
  await server.stopServer(dataDir(r), 'immediate').catch(() => false);
  const res = await onlineClone(primary.port, dataDir(primary), dataDir(r), { slot: slotName(r.name), log });
  const configure = async () => {
    await server.writeNodeConfig(dataDir(r), r.port, state.walLevel ?? 'replica');
    await configureStandby(r, primary);
  };
  if (o.newNode) await startNewNode(state, r, configure);
  else {
    await configure();
    await startNode(r);
  }
  log(`${r.name}: cloned from ${primary.name} in ${res.ms} ms, started as replica on port ${r.port}`);
}

export async function destroyCluster(root: string): Promise<void> {
  let state: ClusterState | null = null;
  try {
    state = await loadCluster(root);
  } catch {
    /* nothing recorded: just remove the folder */
  }
  // a blue/green upgrade under way has a second cluster in the folder (blue-green.ts)
  const both = await readFile(path.join(root, 'bluegreen.json'), 'utf8')
    .then((t) => JSON.parse(t) as { blue?: ClusterState; green?: ClusterState | null })
    .catch(() => null);
  const nodes = [state, both?.blue, both?.green].flatMap((c) => c?.nodes ?? []);
  for (const n of nodes) await server.stopServer(dataDir(n), 'immediate', 10_000).catch(() => false);
  server.closeSessions(nodes.map((n) => n.port));
  await stopPooler(root).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
}
