// The `redis` driver's precheck: what must hold before a node is touched, each finding naming the
// node and what to fix.
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Hop, PrecheckItem } from '../../domain/types.ts';
import * as grp from './group.ts';
import type { GroupLayout } from './group.ts';
import { nodeFacts } from './ops.ts';
import * as srv from './server.ts';
import type { RedisEngine } from './server.ts';

/** how long the old primary may take to reconnect after a failover: the backlog must hold that many seconds of writes */
const BACKLOG_SECONDS = 60;
const MIB = 1_048_576;

export async function groupChecks(
  g: GroupLayout,
  hop: Hop,
  fromEngine: RedisEngine,
  toEngine: RedisEngine,
  pointOfNoReturn: string | null,
): Promise<PrecheckItem[]> {
  const items: PrecheckItem[] = [];
  const fail = (name: string, message: string, node?: string) =>
    items.push({ name, status: 'fail', message, ...(node ? { node } : {}) });
  const missing = await srv.binaryProblem(toEngine, hop.toVersion);
  if (missing) fail('binaries', missing);
  else items.push({ name: 'binaries', status: 'pass', message: `${srv.serverBinary(toEngine)} is ${toEngine} ${hop.toVersion}` });

  const facts = await Promise.all(g.nodes.map(async (n) => ({ n, f: await nodeFacts(n) })));
  for (const { n, f } of facts) {
    if (!f.running || f.role === null) {
      fail('reachable', `${n.name} (port ${n.port}) does not answer: start it (liftgate serve starts the group's nodes)`, n.name);
      continue;
    }
    const onFrom = f.engine === fromEngine && f.version === hop.fromVersion;
    const onTo = f.engine === toEngine && f.version === hop.toVersion;
    if (!onFrom && !onTo) {
      fail('version', `${n.name} runs ${f.engine} ${f.version}, expected ${fromEngine} ${hop.fromVersion}`, n.name);
    }
    if (f.role === 'replica' && !f.linkUp)
      fail('replication', `${n.name}: master_link_status is down; fix its link to the primary first`, n.name);
  }
  const reachable = facts.filter((x) => x.f.role !== null);
  if (!items.some((i) => i.name === 'reachable')) {
    items.push({ name: 'reachable', status: 'pass', message: `${g.nodes.length} nodes answer` });
  }

  // replicas in step, and the write rate the backlog must hold across a failover
  const primaries = reachable.filter((x) => x.f.role === 'primary');
  const before = await Promise.all(
    primaries.map(async (x) => Number((await srv.info(x.n.port, 'replication')).master_repl_offset)),
  );
  const t = Date.now();
  await sleep(500);
  for (const [i, p] of primaries.entries()) {
    const r = await srv.info(p.n.port, 'replication');
    const rate = ((Number(r.master_repl_offset) - before[i]!) * 1000) / Math.max(1, Date.now() - t);
    const behind = Object.entries(r)
      .filter(([k]) => /^slave\d+$/.test(k))
      .map(([, v]) => ({
        port: Number(/port=(\d+)/.exec(v)?.[1]),
        lag: Number(r.master_repl_offset) - Number(/offset=(\d+)/.exec(v)?.[1] ?? 0),
      }))
      .filter((x) => x.lag > 16 * MIB);
    for (const b of behind) {
      const n = g.nodes.find((x) => x.port === b.port);
      fail('replication', `${n?.name ?? `port ${b.port}`} is ${(b.lag / MIB).toFixed(1)} MiB behind ${p.n.name}`, n?.name);
    }
    const need = Math.max(MIB, Math.ceil(rate * BACKLOG_SECONDS));
    for (const x of reachable.filter((y) => g.topology === 'sentinel' || y.n.shard === p.n.shard)) {
      const size = Number((await srv.call(x.n.port, 'CONFIG', 'GET', 'repl-backlog-size').then((v) => (v as string[])[1])) ?? 0);
      if (size < need) {
        fail(
          'replication_backlog',
          `${x.n.name}: repl-backlog-size is ${(size / MIB).toFixed(1)} MiB, below ${(need / MIB).toFixed(1)} MiB (${BACKLOG_SECONDS} s of the ${(rate / 1024).toFixed(0)} KiB/s written now): the old primary could not resume by partial resync after the failover; CONFIG SET repl-backlog-size ${need}`,
          x.n.name,
        );
      }
    }
  }
  if (!items.some((i) => i.name === 'replication' || i.name === 'replication_backlog')) {
    items.push({
      name: 'replication',
      status: 'pass',
      message: 'replicas linked and in step; replication backlogs hold a failover',
    });
  }

  let memoryOk = true;
  for (const { n } of reachable) {
    const i = await srv.info(n.port);
    if (i.aof_enabled !== '1') {
      fail(
        'persistence',
        `${n.name}: AOF is off; CONFIG SET appendonly yes (a restart on the new engine reloads from it)`,
        n.name,
      );
    }
    const mods = (await srv.call(n.port, 'MODULE', 'LIST').catch(() => [])) as unknown[][];
    const names = mods.map((m) => String(m[1]));
    if (names.length > 0) {
      fail(
        'modules',
        `${n.name} loads module(s) ${names.join(', ')}, which ${toEngine} ${hop.toVersion} does not ship; unload them first`,
        n.name,
      );
    }
    const used = Number(i.used_memory);
    const max = Number(i.maxmemory);
    // a full sync forks the primary (copy-on-write) and the replica holds the RDB and the data
    if (max > 0 && used > max * 0.5) {
      memoryOk = false;
      items.push({
        name: 'memory',
        status: 'warn',
        node: n.name,
        message: `${n.name} uses ${(used / MIB).toFixed(0)} of ${(max / MIB).toFixed(0)} MiB maxmemory: a full sync may evict keys`,
      });
    }
    if (used * 2 > os.freemem()) {
      memoryOk = false;
      fail(
        'memory',
        `${n.name} holds ${(used / MIB).toFixed(0)} MiB; a full sync needs about twice that free, ${(os.freemem() / MIB).toFixed(0)} MiB is`,
        n.name,
      );
    }
  }
  if (!items.some((i) => i.name === 'persistence'))
    items.push({ name: 'persistence', status: 'pass', message: 'AOF on every node' });
  if (!items.some((i) => i.name === 'modules')) items.push({ name: 'modules', status: 'pass', message: 'no modules loaded' });
  if (memoryOk) items.push({ name: 'memory', status: 'pass', message: 'room for a full sync on every node' });

  if (g.topology === 'cluster') {
    const problems = await grp.clusterProblems(g);
    if (problems.length > 0) fail('cluster_state', problems.join('; '));
    else items.push({ name: 'cluster_state', status: 'pass', message: 'cluster state ok on every node, 16384 slots covered' });
    for (const s of grp.shards(g)) {
      const members = g.nodes.filter((n) => n.shard === s);
      if (members.length < 2) fail('replicas', `shard ${s} has no replica to fail over to`);
    }
  } else {
    const answers = await Promise.all(
      g.sentinels.map(async (s) => {
        try {
          const a = (await srv.call(s.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', g.masterName!)) as string[] | null;
          return { s, port: a ? Number(a[1]) : null };
        } catch {
          return { s, port: null };
        }
      }),
    );
    const primary = primaries[0]?.n;
    const off = answers.filter((a) => a.port === null || a.port !== primary?.port);
    if (off.length > 0) {
      fail(
        'sentinels',
        off
          .map((a) => `${a.s.name} (port ${a.s.port}) ${a.port === null ? 'does not answer' : `names port ${a.port}`}`)
          .join('; '),
      );
    } else
      items.push({
        name: 'sentinels',
        status: 'pass',
        message: `${g.sentinels.length} Sentinels name ${primary?.name} as primary`,
      });
  }
  if (pointOfNoReturn) items.push({ name: 'point_of_no_return', status: 'warn', message: pointOfNoReturn });
  return items;
}
