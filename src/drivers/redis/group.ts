// A `redis` target on disk: group.json under the target's folder names every node and Sentinel,
// its port, folder and the engine it is set to run. The real roles (which node is the primary)
// are read from the servers, never from here: a failover changes them without Liftgate.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { freePort } from '../postgres/cluster.ts';
import { DriverError } from '../driver.ts';
import * as srv from './server.ts';
import type { Proc, RedisEngine } from './server.ts';

export type Topology = 'sentinel' | 'cluster';

export interface NodeLayout extends Proc {
  /** cluster: the shard ("1", "2", ...) */
  shard?: string;
}

export interface GroupLayout {
  root: string;
  topology: Topology;
  /** sentinel: the name Sentinel monitors the group under */
  masterName: string | null;
  quorum: number;
  downAfterMs: number;
  nodes: NodeLayout[];
  sentinels: Proc[];
  /** found running and registered (driverConfig.provision false): deleting the target leaves its processes and data alone */
  adopted?: boolean;
}

const file = (root: string): string => path.join(root, 'group.json');

export async function loadGroup(root: string): Promise<GroupLayout> {
  return JSON.parse(await readFile(file(root), 'utf8')) as GroupLayout;
}

/** written whole and renamed: a crash leaves the old or the new layout */
export async function saveGroup(g: GroupLayout): Promise<void> {
  const tmp = `${file(g.root)}.tmp`;
  await writeFile(tmp, JSON.stringify(g, null, 2));
  await rename(tmp, file(g.root));
}

export const groupExists = (root: string): boolean => existsSync(file(root));

export function nodeOf(g: GroupLayout, name: string): NodeLayout {
  const n = g.nodes.find((x) => x.name === name);
  if (!n) throw new DriverError('NODE_NOT_FOUND', `no node ${name} in ${g.root}`);
  return n;
}

/** a node's role as the server reports it: 'primary', 'replica', or null when it does not answer */
export async function roleOf(n: Proc): Promise<'primary' | 'replica' | null> {
  try {
    const i = await srv.info(n.port, 'replication');
    return i.role === 'master' ? 'primary' : 'replica';
  } catch {
    return null;
  }
}

/** the running primary (of a shard): the node that reports role master */
export async function findPrimary(g: GroupLayout, shard?: string): Promise<NodeLayout> {
  const candidates = g.nodes.filter((n) => shard === undefined || n.shard === shard);
  for (const n of candidates) if ((await roleOf(n)) === 'primary') return n;
  throw new DriverError('NODE_NOT_FOUND', `no node${shard ? ` of shard ${shard}` : ''} answers as primary in ${g.root}`);
}

export const shards = (g: GroupLayout): string[] => [...new Set(g.nodes.map((n) => n.shard ?? ''))];

export interface CreateOptions {
  topology: Topology;
  engine: RedisEngine;
  /** sentinel: replicas of the primary */
  replicas: number;
  /** cluster */
  shards: number;
  replicasPerShard: number;
  backlogBytes: number;
}

const SENTINELS = 3;

/**
 * Creates the group's folders, configs and processes: a Sentinel group (a primary, its replicas,
 * three Sentinels) or a Redis Cluster (shards of a primary and its replicas, all 16384 slots
 * assigned). Answers when every node is up, replicas are linked and the cluster state is ok.
 */
export async function createGroup(root: string, id: string, o: CreateOptions): Promise<GroupLayout> {
  const g: GroupLayout = {
    root,
    topology: o.topology,
    masterName: o.topology === 'sentinel' ? id : null,
    quorum: 2,
    downAfterMs: 5_000,
    nodes: [],
    sentinels: [],
  };
  // ports are taken just before each process starts (startProc), so another process has little
  // time to take them first; one that does is caught by the start's own check
  const proc = async (name: string, shard?: string): Promise<NodeLayout> => ({
    name,
    port: 0,
    dir: path.join(root, name),
    engine: o.engine,
    ...(shard ? { shard } : {}),
  });
  if (o.topology === 'sentinel') {
    for (let i = 1; i <= o.replicas + 1; i++) g.nodes.push(await proc(`${id}-${i}`));
    for (let i = 1; i <= SENTINELS; i++) g.sentinels.push(await proc(`${id}-sentinel-${i}`));
  } else {
    for (let s = 1; s <= o.shards; s++) {
      for (let i = 1; i <= o.replicasPerShard + 1; i++) g.nodes.push(await proc(`${id}-s${s}-${i}`, String(s)));
    }
  }
  await mkdir(root, { recursive: true });
  await saveGroup(g);
  if (o.topology === 'sentinel') await startSentinelGroup(g, o);
  else await startCluster(g, o);
  return g;
}

/** a free port for the process (and its cluster bus port, 10000 above), recorded in the layout before it starts */
async function place(g: GroupLayout, p: Proc): Promise<void> {
  for (;;) {
    p.port = await freePort();
    if (g.topology !== 'cluster' || (p.port + 10_000 < 65_536 && (await portFree(p.port + 10_000)))) break;
  }
  await saveGroup(g);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * Places and starts a new process: its config is written for the port it gets; when another
 * process takes that port first (the start fails to bind), it gets another one.
 */
async function placeAndStart(g: GroupLayout, p: Proc, write: () => Promise<void>, sentinel = false): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await place(g, p);
    await write();
    try {
      await srv.start(p, { sentinel });
      return;
    } catch (e) {
      if (attempt >= 5 || !/Address already in use/.test((e as Error).message)) throw e;
    }
  }
}

async function startSentinelGroup(g: GroupLayout, o: CreateOptions): Promise<void> {
  const [primary, ...replicas] = g.nodes;
  await placeAndStart(g, primary!, () => srv.writeNodeConf(primary!, { cluster: false, backlogBytes: o.backlogBytes }));
  for (const r of replicas) {
    await placeAndStart(g, r, () =>
      srv.writeNodeConf(r, { cluster: false, backlogBytes: o.backlogBytes, replicaOf: primary!.port }),
    );
  }
  await srv.waitFor(
    'replicas linked to the primary',
    async () => (await linkedReplicas(primary!.port)) === replicas.length,
    60_000,
  );
  for (const s of g.sentinels) {
    await placeAndStart(
      g,
      s,
      () =>
        srv.writeSentinelConf(s, {
          masterName: g.masterName!,
          masterPort: primary!.port,
          quorum: g.quorum,
          downAfterMs: g.downAfterMs,
          failoverTimeoutMs: 60_000,
        }),
      true,
    );
  }
  await waitSentinels(g, primary!.port, replicas.length, 60_000);
}

/** replicas the primary reports online */
export async function linkedReplicas(port: number): Promise<number> {
  const i = await srv.info(port, 'replication');
  return Object.entries(i).filter(([k, v]) => /^slave\d+$/.test(k) && v.includes('state=online')).length;
}

/** every Sentinel names this primary, knows the replicas and the other Sentinels */
export async function waitSentinels(
  g: GroupLayout,
  primaryPort: number,
  replicas: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  await srv.waitFor(
    `Sentinels agreeing on the primary at port ${primaryPort}`,
    async () => {
      for (const s of g.sentinels) {
        const m = (await srv.call(s.port, 'SENTINEL', 'MASTER', g.masterName!)) as string[];
        const f = Object.fromEntries(m.flatMap((_, i) => (i % 2 === 0 ? [[m[i], m[i + 1]]] : [])));
        if (Number(f.port) !== primaryPort || f.flags !== 'master') return false;
        if (Number(f['num-slaves']) < replicas || Number(f['num-other-sentinels']) < g.sentinels.length - 1) return false;
      }
      return true;
    },
    timeoutMs,
    signal,
  );
}

async function startCluster(g: GroupLayout, o: CreateOptions): Promise<void> {
  for (const n of g.nodes) {
    await placeAndStart(g, n, () => srv.writeNodeConf(n, { cluster: true, backlogBytes: o.backlogBytes }));
  }
  const ids = new Map<string, string>();
  for (const n of g.nodes) ids.set(n.name, String(await srv.call(n.port, 'CLUSTER', 'MYID')));
  const primaries = g.nodes.filter((n) => n.name.endsWith('-1'));
  const per = Math.floor(16384 / primaries.length);
  for (const [i, p] of primaries.entries()) {
    const from = i * per;
    const to = i === primaries.length - 1 ? 16383 : from + per - 1;
    await srv.call(p.port, 'CLUSTER', 'SET-CONFIG-EPOCH', i + 1);
    await srv.call(p.port, 'CLUSTER', 'ADDSLOTSRANGE', from, to);
  }
  const first = g.nodes[0]!;
  for (const n of g.nodes.slice(1)) await srv.call(n.port, 'CLUSTER', 'MEET', '127.0.0.1', first.port);
  await srv.waitFor(
    'every cluster node knowing every other',
    async () => {
      for (const n of g.nodes) {
        const i = srv.parseInfo(String(await srv.call(n.port, 'CLUSTER', 'INFO')));
        if (Number(i.cluster_known_nodes) !== g.nodes.length) return false;
      }
      return true;
    },
    60_000,
  );
  for (const n of g.nodes.filter((x) => !x.name.endsWith('-1'))) {
    const primary = primaries.find((p) => p.shard === n.shard)!;
    await srv.call(n.port, 'CLUSTER', 'REPLICATE', ids.get(primary.name)!);
  }
  await waitClusterOk(g, 60_000);
  for (const p of primaries) {
    const want = g.nodes.filter((n) => n.shard === p.shard).length - 1;
    await srv.waitFor(`replicas of ${p.name} linked`, async () => (await linkedReplicas(p.port)) === want, 60_000);
  }
}

/** every node reports cluster_state ok with all 16384 slots served */
export async function waitClusterOk(g: GroupLayout, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  await srv.waitFor(
    'cluster state ok on every node with all 16384 slots served',
    async () => (await clusterProblems(g)).length === 0,
    timeoutMs,
    signal,
  );
}

/** what is wrong with the cluster, node by node (empty when state is ok and every slot is served) */
export async function clusterProblems(g: GroupLayout): Promise<string[]> {
  const out: string[] = [];
  for (const n of g.nodes) {
    try {
      const i = srv.parseInfo(String(await srv.call(n.port, 'CLUSTER', 'INFO')));
      if (i.cluster_state !== 'ok') out.push(`${n.name}: cluster_state ${i.cluster_state}`);
      if (Number(i.cluster_slots_ok) !== 16384) out.push(`${n.name}: ${i.cluster_slots_ok ?? 0} of 16384 slots served`);
    } catch (e) {
      out.push(`${n.name}: ${(e as Error).message}`);
    }
  }
  return out;
}

export async function destroyGroup(root: string): Promise<void> {
  if (groupExists(root)) {
    const g = await loadGroup(root);
    if (g.adopted) {
      await rm(root, { recursive: true, force: true });
      return;
    }
    await Promise.all([...g.sentinels, ...g.nodes].map((p) => srv.stop(p, 10_000).catch(() => undefined)));
  }
  await rm(root, { recursive: true, force: true });
}
