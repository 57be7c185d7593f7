// Benchmark (not a test): rolling upgrades from Redis OSS 7.0.15 to Valkey 8.0.1 of real deployments
// run by the redis driver, through a real `liftgate serve` (its HTTP API, engine and executor, the
// embedded SQLite store in a temp data folder), under a constant write load (bench/lib/redis-load.ts:
// SET + WAIT 1 on the node that took the write). Topologies: a Sentinel group (primary, 2 replicas,
// 3 sentinels), then a Redis Cluster (3 shards, 1 replica each). Prints per run the client-visible
// errors and why, acknowledged and lost writes (every acknowledged key read back from every node),
// the longest gap between acknowledged writes per failover (the switchover steps' startedAt..endedAt),
// the upgrade's total, the time inside the driver's steps and Liftgate's own overhead (total - time
// inside steps); then a table and the machine. No figure is asserted; a lost write fails the run.
//   npm run bench:redis [-- --runs N] [-- --only sentinel|cluster] [-- --interval MS]
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, type Server } from '../test/helpers/servers.ts';
import { machine } from './lib/fleet.ts';
import { RedisWriteLoad, type Addr, type LoadStats, type MissingReport } from './lib/redis-load.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '2' },
    only: { type: 'string' },
    interval: { type: 'string', default: '2' },
  },
});
const RUNS = Number(values.runs);
const INTERVAL = Number(values.interval);
const PROJECT = 'bench';
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'rolled_back'];
/** bounds that only end a wait that would never end */
const UPGRADE_WAIT_MS = 15 * 60_000;
const SETTLE_WAIT_MS = 60_000;

const TOPOLOGIES = [
  { name: 'sentinel', driverConfig: { provision: true, topology: 'sentinel', replicas: 2 } },
  { name: 'cluster', driverConfig: { provision: true, topology: 'cluster', shards: 3, replicasPerShard: 1 } },
].filter((t) => !values.only || t.name === values.only);

/** why a client sees each kind of error during a rolling upgrade */
const WHY: Record<string, string> = {
  READONLY: 'a write reached a primary just demoted to a replica (the client then reconnects and asks Sentinel)',
  MOVED: 'the slot moved to another node more often than the client follows redirections',
  CLUSTERDOWN: 'the shard had no primary the cluster agreed on for a moment',
  TRYAGAIN: 'the slot was being moved',
  LOADING: 'the node was still loading its data after a restart',
  UNBLOCKED: 'the WAIT was unblocked because its primary was demoted',
  NOREPLICAS: 'the primary refused writes for lack of replicas (min-replicas-to-write)',
  MASTERDOWN: 'the replica lost its primary',
  'WAIT on a replica':
    'the SET met READONLY on the demoted primary and the client sent it again to the new one, but the WAIT behind it in the pipeline ran on the demoted node',
  connection: 'the node closed client connections (a demotion or a restart) with a command in flight',
  timeout: 'a command got no reply within the client timeout',
};

interface ApiNode {
  name: string;
  role: string;
  host: string;
  port: number;
  version: string;
  engine?: string;
  shard?: string | number;
  health?: string;
}
interface ApiTarget {
  id: string;
  engine: string;
  version: string;
  nodes: ApiNode[];
  driverConfig: { sentinels?: Addr[]; masterName?: string } & Record<string, unknown>;
}
interface ApiStep {
  id: string;
  name: string;
  action: string;
  node: string | null;
  state: string;
  startedAt: string | null;
  endedAt: string | null;
  error: string | null;
}
interface ApiUpgrade {
  id: string;
  state: string;
  error: string | null;
  errorCode: string | null;
  stages: { name: string; steps: ApiStep[] }[];
}

interface Failover {
  step: string;
  node: string | null;
  ms: number;
  gapMs: number;
}

interface RunFigures {
  topology: string;
  run: number;
  stats: LoadStats;
  lost: MissingReport[];
  failovers: Failover[];
  /** longest gap outside every failover window, and the steps running during it */
  otherGapMs: number;
  otherGapDuring: string;
  /** the upgrade's timed steps, to say what ran when an error happened */
  steps: ApiStep[];
  totalMs: number;
  stepSumMs: number;
  /** union of the step intervals: steps that run side by side are counted once */
  inStepsMs: number;
  engineAfter: string;
}

const ms = (iso: string | null) => (iso ? Date.parse(iso) : NaN);
const secs = (x: number) => (x / 1000).toFixed(1);

async function ok<T>(s: Server, method: string, url: string, body?: unknown, statuses = [200, 201, 202]): Promise<T> {
  const res = await s.api(method, url, body);
  if (!statuses.includes(res.status)) throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json as T;
}

async function poll<T>(what: string, bound: number, fn: () => Promise<T | null>): Promise<T> {
  const until = Date.now() + bound;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`still waiting after ${bound / 1000} s for ${what}`);
    await sleep(100);
  }
}

/** the target once its driver reports every node healthy (and, for Sentinel, the sentinels) */
async function readyTarget(s: Server, id: string, topology: string): Promise<ApiTarget> {
  return poll(`${id} healthy`, SETTLE_WAIT_MS, async () => {
    const t = await ok<ApiTarget>(s, 'GET', `/v1/projects/${PROJECT}/targets/${id}`);
    const healthy = t.nodes.length > 0 && t.nodes.every((n) => !n.health || /^(ok|healthy|up)$/i.test(n.health));
    const sentinelsKnown = topology !== 'sentinel' || (t.driverConfig.sentinels?.length ?? 0) > 0;
    return healthy && sentinelsKnown ? t : null;
  });
}

/** Total time covered by the intervals, overlaps counted once. */
function unionMs(intervals: [number, number][]): number {
  const xs = intervals.filter(([a, b]) => b >= a).sort((x, y) => x[0] - y[0]);
  let total = 0;
  let cur: [number, number] | null = null;
  for (const [a, b] of xs) {
    if (cur && a <= cur[1]) cur[1] = Math.max(cur[1], b);
    else {
      if (cur) total += cur[1] - cur[0];
      cur = [a, b];
    }
  }
  return total + (cur ? cur[1] - cur[0] : 0);
}

const isFailover = (s: ApiStep) => /switchover|failover|promot/i.test(`${s.action} ${s.name}`);

async function oneRun(s: Server, topology: (typeof TOPOLOGIES)[number], run: number): Promise<RunFigures> {
  const id = `${topology.name}-${run}`;
  let load: RedisWriteLoad | null = null;
  try {
    await ok(s, 'POST', `/v1/projects/${PROJECT}/targets`, {
      id,
      name: id,
      kind: 'cluster',
      engine: 'redis',
      version: '7.0.15',
      driver: 'redis',
      driverConfig: topology.driverConfig,
    });
    const before = await readyTarget(s, id, topology.name);
    load = new RedisWriteLoad(
      topology.name === 'sentinel'
        ? { topology: 'sentinel', sentinels: before.driverConfig.sentinels!, masterName: before.driverConfig.masterName! }
        : { topology: 'cluster', nodes: before.nodes.map((n) => ({ host: n.host, port: n.port })) },
      { intervalMs: INTERVAL, keyPrefix: `lg:${id}` },
    );
    await load.start();
    // steady state before the upgrade: a few hundred acknowledged writes
    await poll('acknowledged writes before the upgrade', SETTLE_WAIT_MS, async () => load!.acked.length >= 200 || null);
    const t0 = Date.now();
    const { id: upgradeId } = await ok<{ id: string }>(s, 'POST', `/v1/projects/${PROJECT}/upgrades`, {
      targetId: id,
      toEngine: 'valkey',
      toVersion: '8.0.1',
      mode: 'rolling',
    });
    const u = await poll(`upgrade ${upgradeId}`, UPGRADE_WAIT_MS, async () => {
      const x = await ok<ApiUpgrade>(s, 'GET', `/v1/projects/${PROJECT}/upgrades/${upgradeId}`);
      return TERMINAL.includes(x.state) ? x : null;
    });
    const steps = u.stages.flatMap((st) => st.steps);
    if (u.state !== 'succeeded') {
      const failed = steps.find((st) => st.state === 'failed');
      throw new Error(
        `upgrade ${u.state}: ${u.errorCode ?? ''} ${u.error ?? ''}${failed ? ` (step ${failed.name}: ${failed.error})` : ''}`,
      );
    }
    const timed = steps.filter((st) => st.startedAt && st.endedAt);
    const lastEnd = Math.max(...timed.map((st) => ms(st.endedAt)));
    // the client's view after the last step: wait for writes acknowledged well after it, so a gap
    // open at the end is closed before the figures are taken
    await poll('acknowledged writes after the upgrade', SETTLE_WAIT_MS, async () => {
      const a = load!.acked;
      return a.length >= 50 && a[a.length - 50]!.at > lastEnd ? true : null;
    });
    const stats = await load.stop();
    const windows = timed.filter(isFailover).map((st) => [ms(st.startedAt), ms(st.endedAt)] as [number, number]);
    const failovers = timed.filter(isFailover).map((st) => ({
      step: st.name,
      node: st.node,
      ms: ms(st.endedAt) - ms(st.startedAt),
      gapMs: load!.maxGapWithin(ms(st.startedAt), ms(st.endedAt)),
    }));
    const other = gapOutside(load, windows);
    const after = await ok<ApiTarget>(s, 'GET', `/v1/projects/${PROJECT}/targets/${id}`);
    const lost = await load.missingOn(after.nodes.map((n) => ({ host: n.host, port: n.port })));
    const intervals = timed.map((st) => [ms(st.startedAt), ms(st.endedAt)] as [number, number]);
    return {
      topology: topology.name,
      run,
      stats,
      lost,
      failovers,
      otherGapMs: other.ms,
      otherGapDuring: during(timed, other.from, other.to),
      steps: timed,
      totalMs: lastEnd - t0,
      stepSumMs: intervals.reduce((a, [x, y]) => a + (y - x), 0),
      inStepsMs: unionMs(intervals),
      engineAfter: `${after.engine} ${after.version}`,
    };
  } finally {
    if (load) await load.stop().catch(() => undefined);
    const del = await s.api('DELETE', `/v1/projects/${PROJECT}/targets/${id}`).catch((e: unknown) => ({ status: 0, json: e }));
    if (![204, 404].includes(del.status)) console.error(`deleting ${id}: ${del.status} ${JSON.stringify(del.json)}`);
  }
}

/** the longest gap between acknowledged writes that overlaps none of the windows */
function gapOutside(load: RedisWriteLoad, windows: [number, number][]): { ms: number; from: number; to: number } {
  const a = load.acked;
  let best = { ms: 0, from: 0, to: 0 };
  for (let i = 1; i < a.length; i++) {
    const [x, y] = [a[i - 1]!.at, a[i]!.at];
    if (windows.some(([from, to]) => y >= from && x <= to)) continue;
    if (y - x > best.ms) best = { ms: y - x, from: x, to: y };
  }
  return best;
}

/** the steps running at some time in [from, to] */
function during(steps: ApiStep[], from: number, to: number): string {
  const names = steps
    .filter((st) => ms(st.startedAt) <= to && ms(st.endedAt) >= from)
    .map((st) => `${st.name}${st.node ? ` (${st.node})` : ''}`);
  return names.length ? names.join(', ') : 'no step';
}

function report(r: RunFigures): void {
  const st = r.stats;
  console.log(`\n${r.topology} run ${r.run}: now ${r.engineAfter}`);
  console.log(
    `  writes: ${st.attempts} sent, ${st.acked} acknowledged (WAIT >= 1), ${st.unacked} not acknowledged (WAIT 0), ` +
      `${st.unconfirmed} unconfirmed (connection dropped before the WAIT's reply)` +
      (st.redirections ? `, ${st.redirections} MOVED/ASK followed` : ''),
  );
  console.log(`  client-visible errors: ${st.errorCount}`);
  for (const [kind, g] of Object.entries(st.errors)) {
    console.log(`    ${kind} x${g.count}: ${WHY[kind] ?? 'see the messages'}`);
    for (const m of g.first.slice(0, 3))
      console.log(`      ${new Date(m.at).toISOString()} during ${during(r.steps, m.at, m.at)}: ${m.message}`);
  }
  if (st.unacked) {
    console.log(
      `  WAIT 0 (no replica confirmed within the WAIT's timeout; the loop waits for it, so this also stalls the next writes):`,
    );
    for (const u of st.unackedLog.slice(0, 8))
      console.log(`    ${new Date(u.at).toISOString()} on ${u.node} during ${during(r.steps, u.at - 1000, u.at)}`);
  }
  const lostMax = Math.max(0, ...r.lost.map((l) => l.missing));
  console.log(`  lost writes: ${lostMax} (most missing on one node; ${r.lost.length} nodes read back)`);
  for (const l of r.lost) {
    if (l.missing || l.lagging)
      console.log(
        `    ${l.node}: ${l.missing} of ${l.checked} missing${l.lagging ? ' (replica behind)' : ''}, e.g. ${l.sample.join(' ')}`,
      );
  }
  console.log(`  longest gap between acknowledged writes, per failover:`);
  for (const f of r.failovers) console.log(`    ${f.step}${f.node ? ` (${f.node})` : ''}: ${f.gapMs} ms (step ${f.ms} ms)`);
  if (r.failovers.length === 0) console.log('    (no switchover step found in the upgrade)');
  console.log(
    `  longest gap outside the failovers: ${r.otherGapMs} ms (during ${r.otherGapDuring}); longest overall ${st.maxGapMs} ms`,
  );
  console.log(
    `  upgrade total ${secs(r.totalMs)} s; driver steps ${secs(r.stepSumMs)} s summed (${secs(r.inStepsMs)} s of wall time inside steps); ` +
      `Liftgate overhead ${secs(r.totalMs - r.inStepsMs)} s (${((100 * (r.totalMs - r.inStepsMs)) / r.totalMs).toFixed(0)}%)`,
  );
}

function table(rows: RunFigures[]): void {
  console.log(
    '\n| topology | run | acked | errors | WAIT 0 | lost | gap per failover (ms) | other max gap (ms) | total (s) | in steps (s) | overhead (s) |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.topology} | ${r.run} | ${r.stats.acked} | ${r.stats.errorCount} | ${r.stats.unacked} | ${Math.max(0, ...r.lost.map((l) => l.missing))} | ` +
        `${r.failovers.map((f) => f.gapMs).join(', ') || '-'} | ${r.otherGapMs} | ${secs(r.totalMs)} | ${secs(r.inStepsMs)} | ${secs(r.totalMs - r.inStepsMs)} |`,
    );
  }
  const cpus = os.cpus();
  console.log(`\nmachine: ${machine()}; CPU ${cpus[0]?.model ?? '?'} x ${cpus.length}; one write every ${INTERVAL} ms`);
}

/**
 * pids of processes started under this bench's data folder: its name on their command line or in
 * their environment (the servers the driver spawned inherit LIFTGATE_DATA_DIR), if a delete failed
 */
function processesUnder(dir: string): number[] {
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return ''; // gone, or not ours to read
    }
  };
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid)
    .filter((e) => read(`/proc/${e}/cmdline`).includes(dir) || read(`/proc/${e}/environ`).includes(dir))
    .map(Number);
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'liftgate-redis-bench-'));
  chmodSync(dataDir, 0o755); // drivers that run servers as a system user must reach their folder
  const rows: RunFigures[] = [];
  let server: Server | null = null;
  try {
    server = await startServer(
      { config: { dataDir }, dataDir, cleanup: async () => undefined },
      { LIFTGATE_LOG: process.env.LIFTGATE_LOG ?? '0' },
    );
    await server.waitUp();
    await ok(server, 'POST', '/v1/projects', { id: PROJECT, name: PROJECT });
    for (const topology of TOPOLOGIES) {
      for (let i = 1; i <= RUNS; i++) {
        const r = await oneRun(server, topology, i);
        report(r);
        rows.push(r);
      }
    }
  } catch (e) {
    console.error(e);
    if (server) console.error(`liftgate serve output (last lines):\n${server.output().slice(-4000)}`);
    process.exitCode = 1;
  } finally {
    if (server?.alive()) {
      server.child.kill('SIGTERM');
      await Promise.race([server.exited, sleep(10_000)]);
      if (server.alive()) server.child.kill('SIGKILL');
    }
    // whatever the driver left running under the data folder (a delete that failed) ends here
    for (const pid of processesUnder(dataDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
  if (rows.length) table(rows);
  if (rows.some((r) => r.lost.some((l) => l.missing > 0))) {
    console.error('LOST WRITES: an acknowledged write is missing on some node (see above)');
    process.exitCode = 1;
  }
}

await main();
