// Benchmark (not a test): repeated rolling minor upgrades of a real 3-node cluster under a constant
// write load, with and without PgBouncer. Prints the write outage per switchover (client-observed
// gap between acknowledged INSERTs, and server-side stop->promoted), client-visible errors, lost
// acknowledged writes, and where the upgrade's time went: per run and as p50, total = restarts +
// backup + precheck + overhead (the orchestrator's own time; definitions at Breakdown below).
//   node --import tsx bench/postgres.ts [--runs N] [--interval MS] [--only 16|17] [--pooler on|off]
// With --major it runs bench/postgres-major.ts instead (blue/green upgrades across major versions);
// with --engine, bench/postgres-engine.ts (the same upgrade through the executor, to time its handoffs).
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PostgresDriver } from '../src/drivers/postgres/driver.ts';
import { missingOn, WriteLoad } from '../src/drivers/postgres/load.ts';
import type { Step } from '../src/domain/types.ts';
import { makeTarget } from '../test/postgres/fixtures.ts';
import { makeUpgrade, planRolling, runSteps, settleReplicas } from './driver-steps.ts';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg('runs', 3);
const INTERVAL = arg('interval', 3);
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const POOLER = process.argv.includes('--pooler') ? [process.argv[process.argv.indexOf('--pooler') + 1] === 'on'] : [false, true];

/**
 * Where one upgrade's time went. Every figure is in ms and comes from the steps' own start and
 * end times (what the store records as started_at/ended_at) and from what the steps report.
 *   total     first step started (precheck) -> last step ended (finalize)
 *   restarts  the servers' own stop and start (SIGINT -> postmaster gone, spawn -> accepting
 *             connections), every node, plus the switchover's outage (old primary stop -> new
 *             primary promoted): what no orchestrator can avoid
 *   backup    the backup step
 *   precheck  the precheck step
 *   overhead  total - restarts - backup - precheck: the orchestrator's own time, i.e. the rest of
 *             every step (finding the primary, slots, standby config, first query on a restarted
 *             server, catch-up waits, checks) plus the time between steps
 */
interface Breakdown {
  totalMs: number;
  restartsMs: number;
  backupMs: number;
  precheckMs: number;
  overheadMs: number;
  overheadPct: number;
  /** the overhead by step action (each step's time less its restart part), summed over the nodes */
  overheadBy: Record<string, number>;
  /** the overhead between steps (one step ended -> the next started) */
  betweenMs: number;
}

interface RunFigures extends Breakdown {
  clientOutageMs: number;
  serverOutageMs: number;
  stallMs: number;
  errors: number;
  lost: number;
  acked: number;
}

/** the overhead aim of the issue: under this share of the whole upgrade */
const AIM_PCT = 10;

async function oneRun(from: string, to: string, pooler: boolean, n: number): Promise<RunFigures> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'liftgate-pg-bench-'));
  chmodSync(dir, 0o755);
  const driver = new PostgresDriver({ dataDir: dir });
  const target = makeTarget(`bench${n}`, from, { provision: true, replicas: 2, pooler });
  try {
    const p = await driver.provision(target);
    target.nodes = p.nodes;
    target.driverConfig = p.driverConfig;
    const poolPort = p.driverConfig.poolerPort as number | null;
    const load = new WriteLoad(() => (poolPort ? [poolPort] : target.nodes.map((x) => x.port!)), INTERVAL);
    await load.start();
    await new Promise((r) => setTimeout(r, 300)); // steady state before the upgrade
    const upgrade = makeUpgrade(target, to, { stepTimeoutSeconds: 600 });
    const steps = planRolling(upgrade, target.nodes);
    const times = new Map<string, { start: number; end: number; restartMs: number }>();
    const out = await runSteps(driver, target, upgrade, steps, (s, ms, r) => {
      const end = Date.now();
      // the part of the step that is the servers' own restart (see Breakdown)
      const restartMs =
        s.action === 'stop' || s.action === 'start'
          ? Number(r?.data?.serverMs ?? 0)
          : s.action === 'switchover'
            ? Number(r?.data?.outageMs ?? 0)
            : 0;
      times.set(s.id, { start: end - ms, end, restartMs });
      if (process.env.LIFTGATE_TEST_VERBOSE === '1') console.error(`[${s.name}] ${ms} ms, of which restart ${restartMs} ms`);
    });
    await new Promise((r) => setTimeout(r, 300));
    const stats = await load.stop();
    if (out.failed) throw new Error(`${out.failed.step.name}: ${out.failed.error.message}`);
    const sw = steps.find((s) => s.action === 'switchover')!;
    const swT = times.get(sw.id)!;
    const swData = out.timings.find((t) => t.name === sw.name)!.data as { outageMs: number; stallMs: number };
    await settleReplicas(driver, target, upgrade);
    let lost = 0;
    for (const node of target.nodes) lost = Math.max(lost, (await missingOn(node.port!, stats.acked)).length);
    return {
      ...breakdown(steps, times),
      clientOutageMs: load.gapWithin(swT.start, swT.end + 500),
      serverOutageMs: swData.outageMs,
      stallMs: swData.stallMs,
      errors: stats.errors,
      lost,
      acked: stats.acked.length,
    };
  } finally {
    await driver.destroy(target).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

function breakdown(steps: Step[], times: Map<string, { start: number; end: number; restartMs: number }>): Breakdown {
  const t = (s: Step) => times.get(s.id)!;
  const dur = (s: Step): number => t(s).end - t(s).start;
  const one = (action: string): number => dur(steps.find((s) => s.action === action)!);
  const totalMs = t(steps[steps.length - 1]!).end - t(steps[0]!).start;
  const restartsMs = steps.reduce((a, s) => a + t(s).restartMs, 0);
  const backupMs = one('backup');
  const precheckMs = one('precheck');
  const overheadMs = totalMs - restartsMs - backupMs - precheckMs;
  const overheadBy: Record<string, number> = {};
  for (const s of steps) {
    if (s.action === 'backup' || s.action === 'precheck') continue;
    overheadBy[s.action] = (overheadBy[s.action] ?? 0) + dur(s) - t(s).restartMs;
  }
  const betweenMs = steps.slice(1).reduce((a, s, i) => a + (t(s).start - t(steps[i]!).end), 0);
  return {
    totalMs,
    restartsMs,
    backupMs,
    precheckMs,
    overheadMs,
    overheadPct: (100 * overheadMs) / totalMs,
    overheadBy,
    betweenMs,
  };
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** "total 452 ms = restarts 130 + backup 160 + precheck 70 + overhead 92 (20.4%, aim < 10%)" */
function breakdownLine(b: Breakdown): string {
  const by = Object.entries(b.overheadBy)
    .sort((x, y) => y[1] - x[1])
    .map(([a, ms]) => `${a} ${ms}`)
    .join(', ');
  return (
    `total ${b.totalMs} ms = restarts ${b.restartsMs} + backup ${b.backupMs} + precheck ${b.precheckMs} + overhead ${b.overheadMs} ` +
    `(${b.overheadPct.toFixed(1)}% of total, aim < ${AIM_PCT}%); overhead by step action: ${by}; between steps ${b.betweenMs}`
  );
}

async function main(): Promise<void> {
  const driver = new PostgresDriver();
  const have = driver.installedVersions();
  const pairs = [
    ['16.13', '16.14'],
    ['17.9', '17.10'],
  ].filter(([a, b]) => have.includes(a!) && have.includes(b!) && (!ONLY || a!.startsWith(ONLY))) as [string, string][];
  console.log(
    `machine: ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}; ${RUNS} runs per row; one INSERT every ${INTERVAL} ms`,
  );
  console.log(
    `overhead = total - restarts - backup - precheck (ms): total = precheck started -> finalize ended; restarts = the servers' own stop and start, every node, plus the switchover's outage (old primary stop -> new primary promoted); the rest of every step and the time between steps is overhead. Aim: under ${AIM_PCT}% of the total.`,
  );
  const rows: { label: string; rs: RunFigures[] }[] = [];
  let n = 0;
  for (const [from, to] of pairs) {
    for (const pooler of POOLER) {
      const label = `${from} -> ${to} | ${pooler ? 'pgbouncer' : 'none'}`;
      const rs: RunFigures[] = [];
      for (let i = 0; i < RUNS; i++) {
        const r = await oneRun(from, to, pooler, n++);
        rs.push(r);
        console.log(`run ${i + 1}/${RUNS} ${from} -> ${to} pooler ${pooler ? 'pgbouncer' : 'none'}: ${breakdownLine(r)}`);
      }
      rows.push({ label, rs });
    }
  }
  console.log('');
  console.log(
    '| upgrade | pooler | runs | outage p50 / max (client) | outage p50 / max (server stop->promoted) | pooler stall p50 / max | client errors | acked writes | lost |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const { label, rs } of rows) {
    const col = (f: (r: RunFigures) => number): number[] => rs.map(f);
    const p50max = (f: (r: RunFigures) => number): string => `${pct(col(f), 50)} / ${Math.max(...col(f))} ms`;
    const sum = (f: (r: RunFigures) => number): number => col(f).reduce((a, b) => a + b, 0);
    console.log(
      `| ${label} | ${rs.length} | ${p50max((r) => r.clientOutageMs)} | ${p50max((r) => r.serverOutageMs)} | ` +
        `${label.endsWith('pgbouncer') ? p50max((r) => r.stallMs) : '-'} | ${sum((r) => r.errors)} | ${sum((r) => r.acked)} | ${sum((r) => r.lost)} |`,
    );
  }
  console.log('');
  console.log(
    `| upgrade | pooler | runs | total p50 | restarts p50 | backup p50 | precheck p50 | overhead p50 | overhead p50 (% of total) | aim | overhead by step action p50 |`,
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const { label, rs } of rows) {
    const p50 = (f: (r: RunFigures) => number): number => pct(rs.map(f), 50);
    const actions = Object.keys(rs[0]!.overheadBy);
    const by = actions
      .map((a) => [a, p50((r) => r.overheadBy[a] ?? 0)] as const)
      .sort((x, y) => y[1] - x[1])
      .map(([a, ms]) => `${a} ${ms}`)
      .join(', ');
    console.log(
      `| ${label} | ${rs.length} | ${p50((r) => r.totalMs)} ms | ${p50((r) => r.restartsMs)} ms | ${p50((r) => r.backupMs)} ms | ` +
        `${p50((r) => r.precheckMs)} ms | ${p50((r) => r.overheadMs)} ms | ${p50((r) => r.overheadPct).toFixed(1)}% | < ${AIM_PCT}% | ${by}; between steps ${p50((r) => r.betweenMs)} |`,
    );
  }
}

if (process.argv.includes('--engine')) {
  // the same upgrade through the executor: what it adds between the steps
  const { engineBench } = await import('./postgres-engine.ts');
  await engineBench().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
} else if (process.argv.includes('--major')) {
  // major versions by blue/green: their own benchmark, same command
  await import('./postgres-major.ts');
} else {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
