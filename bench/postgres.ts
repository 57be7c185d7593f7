// Benchmark (not a test): repeated rolling minor upgrades of a real 3-node cluster under a constant
// write load, with and without PgBouncer. Prints the write outage per switchover (client-observed
// gap between acknowledged INSERTs, and server-side stop->promoted), client-visible errors, lost
// acknowledged writes, and total upgrade time against the sum of the restarts it cannot avoid.
//   node --import tsx bench/postgres.ts [--runs N] [--interval MS]
// With --major it runs bench/postgres-major.ts instead (blue/green upgrades across major versions).
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PostgresDriver } from '../src/drivers/postgres/driver.ts';
import { missingOn, WriteLoad } from '../src/drivers/postgres/load.ts';
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

interface RunFigures {
  clientOutageMs: number;
  serverOutageMs: number;
  stallMs: number;
  errors: number;
  lost: number;
  acked: number;
  totalMs: number;
  restartsMs: number;
  backupMs: number;
  precheckMs: number;
  /** time per step action, summed over the nodes (where the overhead goes) */
  byAction: Record<string, number>;
  /** overhead by the formula used before (see docs/postgres-driver.md), for comparison */
  overheadOldMs: number;
}

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
    const times = new Map<string, { start: number; end: number; serverMs: number }>();
    const t0 = Date.now();
    const out = await runSteps(driver, target, upgrade, steps, (s, ms, r) =>
      times.set(s.id, { start: Date.now() - ms, end: Date.now(), serverMs: Number(r?.data?.serverMs ?? 0) }),
    );
    const totalMs = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 300));
    const stats = await load.stop();
    if (out.failed) throw new Error(`${out.failed.step.name}: ${out.failed.error.message}`);
    const sw = steps.find((s) => s.action === 'switchover')!;
    const swT = times.get(sw.id)!;
    const swData = out.timings.find((t) => t.name === sw.name)!.data as { outageMs: number; stallMs: number };
    const dur = (s: (typeof steps)[number]): number => {
      const t = times.get(s.id)!;
      return t.end - t.start;
    };
    // what no orchestrator can avoid: every node's server stop and start on the new binaries, timed
    // by the server itself (SIGINT -> postmaster gone, spawn -> accepting connections), plus the old
    // primary's stop through the promotion (the switchover's outage). The rest of those steps
    // (finding the primary, slots, config, checks) is orchestration and stays in the overhead.
    // The old primary's own stop step finds it already stopped (serverMs 0): counted once.
    const restartsMs =
      steps.filter((s) => s.action === 'stop' || s.action === 'start').reduce((a, s) => a + times.get(s.id)!.serverMs, 0) +
      swData.outageMs;
    // the formula used before: whole stop/start step durations, except the switchover target's
    const oldRestartsMs =
      steps
        .filter(
          (s) =>
            (s.action === 'stop' || s.action === 'start') &&
            s.node !== sw.params.to &&
            !s.log.some((l) => l.includes('already stopped')),
        )
        .reduce((a, s) => a + dur(s), 0) + swData.outageMs;
    await settleReplicas(driver, target, upgrade);
    let lost = 0;
    for (const node of target.nodes) lost = Math.max(lost, (await missingOn(node.port!, stats.acked)).length);
    return {
      clientOutageMs: load.gapWithin(swT.start, swT.end + 500),
      serverOutageMs: swData.outageMs,
      stallMs: swData.stallMs,
      errors: stats.errors,
      lost,
      acked: stats.acked.length,
      totalMs,
      restartsMs,
      backupMs: dur(steps.find((s) => s.action === 'backup')!),
      precheckMs: dur(steps.find((s) => s.action === 'precheck')!),
      overheadOldMs:
        totalMs -
        oldRestartsMs -
        dur(steps.find((s) => s.action === 'backup')!) -
        dur(steps.find((s) => s.action === 'precheck')!),
      byAction: steps.reduce<Record<string, number>>((a, s) => ({ ...a, [s.action]: (a[s.action] ?? 0) + dur(s) }), {}),
    };
  } finally {
    await driver.destroy(target).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function main(): Promise<void> {
  const driver = new PostgresDriver();
  const have = driver.installedVersions();
  const pairs = [
    ['16.13', '16.14'],
    ['17.9', '17.10'],
  ].filter(([a, b]) => have.includes(a!) && have.includes(b!) && (!ONLY || a!.startsWith(ONLY))) as [string, string][];
  console.log(
    `machine: ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; ${RUNS} runs per row; one INSERT every ${INTERVAL} ms`,
  );
  console.log(
    '| upgrade | pooler | runs | outage p50 / max (client) | outage p50 / max (server stop->promoted) | pooler stall p50 / max | client errors | acked writes | lost | upgrade total p50 | restarts p50 | backup p50 | overhead (total - restarts - backup - precheck) |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  let n = 0;
  for (const [from, to] of pairs) {
    for (const pooler of POOLER) {
      const rs: RunFigures[] = [];
      for (let i = 0; i < RUNS; i++) rs.push(await oneRun(from, to, pooler, n++));
      const col = (f: (r: RunFigures) => number): number[] => rs.map(f);
      const over = rs.map((r) => r.totalMs - r.restartsMs - r.backupMs - r.precheckMs);
      const overPct = rs.map((r) => (100 * (r.totalMs - r.restartsMs - r.backupMs - r.precheckMs)) / r.totalMs);
      console.log(
        `| ${from} -> ${to} | ${pooler ? 'pgbouncer' : 'none'} | ${RUNS} | ${pct(
          col((r) => r.clientOutageMs),
          50,
        )} / ${Math.max(...col((r) => r.clientOutageMs))} ms | ` +
          `${pct(
            col((r) => r.serverOutageMs),
            50,
          )} / ${Math.max(...col((r) => r.serverOutageMs))} ms | ` +
          `${
            pooler
              ? `${pct(
                  col((r) => r.stallMs),
                  50,
                )} / ${Math.max(...col((r) => r.stallMs))} ms`
              : '-'
          } | ` +
          `${col((r) => r.errors).reduce((a, b) => a + b, 0)} | ${col((r) => r.acked).reduce((a, b) => a + b, 0)} | ${col((r) => r.lost).reduce((a, b) => a + b, 0)} | ` +
          `${pct(
            col((r) => r.totalMs),
            50,
          )} ms | ${pct(
            col((r) => r.restartsMs),
            50,
          )} ms | ${pct(
            col((r) => r.backupMs),
            50,
          )} ms | ${pct(over, 50)} ms (${pct(overPct, 50).toFixed(0)}%) |`,
      );
      const actions = Object.keys(rs[0]!.byAction);
      console.error(
        `  per action p50 (ms, summed over nodes): ${actions
          .map(
            (a) =>
              `${a} ${pct(
                col((r) => r.byAction[a] ?? 0),
                50,
              )}`,
          )
          .join(', ')}; ` +
          `overhead by the previous formula p50 ${pct(
            col((r) => r.overheadOldMs),
            50,
          )} ms`,
      );
    }
  }
}

if (process.argv.includes('--major')) {
  // major versions by blue/green: their own benchmark, same command
  await import('./postgres-major.ts');
} else {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
