// Adopting a group that already runs on this host (driverConfig.provision false): its processes
// are found from what they say about themselves (a Sentinel's view of its group, a cluster node's
// CLUSTER NODES), and each one's own config file, pid file, log and data folder are read from it,
// so the driver can stop it and start it again on the new engine exactly as it was configured.
import { AppError } from '../../domain/errors.ts';
import { saveGroup, type GroupLayout, type NodeLayout } from './group.ts';
import * as srv from './server.ts';
import type { Proc } from './server.ts';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';

export interface Addr {
  host: string;
  port: number;
}

const LOCAL = new Set(['127.0.0.1', 'localhost', '::1']);

function addrs(v: unknown, what: string): Addr[] {
  if (!Array.isArray(v) || v.length === 0)
    throw new AppError('VALIDATION_FAILED', `driverConfig.${what} must list {host, port} of the group`);
  return v.map((a: { host?: unknown; port?: unknown }) => {
    if (typeof a?.host !== 'string' || !Number.isInteger(a?.port)) {
      throw new AppError('VALIDATION_FAILED', `driverConfig.${what} entries are {"host": "127.0.0.1", "port": 6379}`);
    }
    if (!LOCAL.has(a.host)) {
      throw new AppError(
        'VALIDATION_FAILED',
        `${a.host}:${String(a.port)}: the redis driver adopts groups on this host only (127.0.0.1)`,
      );
    }
    return { host: a.host, port: a.port as number };
  });
}

/** what a running process says about where its files are */
async function describe(name: string, port: number, sentinel = false): Promise<Proc> {
  let i: Record<string, string>;
  try {
    i = await srv.info(port, 'server');
  } catch (e) {
    throw new AppError('VALIDATION_FAILED', `nothing answers on port ${port}: ${(e as Error).message}`);
  }
  if (!i.config_file) {
    throw new AppError(
      'VALIDATION_FAILED',
      `the process on port ${port} was started without a config file: the driver could not start it again on the new engine; restart it with one`,
    );
  }
  // a Sentinel has no CONFIG GET: its own config file says where its files are
  const file = i.config_file;
  const lines = sentinel ? (await readFile(file, 'utf8')).split('\n') : [];
  const conf = async (k: string): Promise<string> =>
    sentinel
      ? (lines
          .map((l) => l.trim().split(/\s+/))
          .find((w) => w[0] === k)?.[1]
          ?.replace(/^"|"$/g, '') ?? '')
      : (((await srv.call(port, 'CONFIG', 'GET', k)) as string[])[1] ?? '');
  const dir = (await conf('dir')) || path.dirname(file);
  const pidFile = await conf('pidfile');
  const log = await conf('logfile');
  if (!pidFile)
    throw new AppError('VALIDATION_FAILED', `the process on port ${port} writes no pid file (set pidfile in ${i.config_file})`);
  return {
    name,
    port,
    dir,
    engine: srv.engineOf(i).engine,
    conf: file,
    pidFile: path.resolve(dir, pidFile),
    ...(log ? { log: path.resolve(dir, log) } : {}),
  };
}

const pairs = (m: string[]): Record<string, string> =>
  Object.fromEntries(m.flatMap((_, i) => (i % 2 === 0 ? [[m[i], m[i + 1]]] : [])));

export async function adoptGroup(root: string, id: string, cfg: Record<string, unknown>): Promise<GroupLayout> {
  const g: GroupLayout = {
    root,
    topology: 'sentinel',
    masterName: null,
    quorum: 2,
    downAfterMs: 5_000,
    nodes: [],
    sentinels: [],
    adopted: true,
  };
  if (cfg.topology === 'cluster') {
    g.topology = 'cluster';
    const [seed] = addrs(cfg.seeds, 'seeds');
    const known = String(await srv.call(seed!.port, 'CLUSTER', 'NODES'))
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
    // each node says its own role and primary (the seed's view may lag behind the gossip)
    const lines = await Promise.all(
      known.map(async (k) =>
        String(await srv.call(portOf(k[1]!), 'CLUSTER', 'NODES'))
          .trim()
          .split('\n')
          .map((l) => l.split(' '))
          .find((l) => l[2]!.includes('myself'))!,
      ),
    );
    const primaries = lines.filter((l) => l[2]!.includes('master')).sort((a, b) => portOf(a[1]!) - portOf(b[1]!));
    for (const [s, p] of primaries.entries()) {
      const members = [p, ...lines.filter((l) => l[3] === p[0])];
      for (const [k, m] of members.entries()) {
        g.nodes.push({ ...(await describe(`${id}-s${s + 1}-${k + 1}`, portOf(m[1]!))), shard: String(s + 1) } as NodeLayout);
      }
    }
  } else {
    const sentinels = addrs(cfg.sentinels, 'sentinels');
    const name = typeof cfg.masterName === 'string' ? cfg.masterName : null;
    if (!name) throw new AppError('VALIDATION_FAILED', 'driverConfig.masterName is required to adopt a Sentinel group');
    g.masterName = name;
    const first = sentinels[0]!.port;
    const master = pairs(
      (await srv.call(first, 'SENTINEL', 'MASTER', name).catch((e: Error) => {
        throw new AppError('VALIDATION_FAILED', `the Sentinel on port ${first} does not monitor ${name}: ${e.message}`);
      })) as string[],
    );
    g.quorum = Number(master.quorum) || 2;
    g.downAfterMs = Number(master['down-after-milliseconds']) || 5_000;
    const replicas = ((await srv.call(first, 'SENTINEL', 'REPLICAS', name)) as string[][]).map(pairs);
    const others = ((await srv.call(first, 'SENTINEL', 'SENTINELS', name)) as string[][]).map(pairs);
    const nodePorts = [Number(master.port), ...replicas.filter((r) => !r.flags?.includes('down')).map((r) => Number(r.port))];
    for (const [i, port] of nodePorts.entries()) g.nodes.push(await describe(`${id}-${i + 1}`, port));
    const sentinelPorts = [first, ...others.map((o) => Number(o.port))];
    for (const [i, port] of sentinelPorts.entries()) g.sentinels.push(await describe(`${id}-sentinel-${i + 1}`, port, true));
  }
  await mkdir(root, { recursive: true });
  await saveGroup(g);
  return g;
}

const portOf = (addr: string): number => Number(/:(\d+)/.exec(addr)?.[1]);
