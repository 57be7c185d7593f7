// A benchmark fleet: N simulated 3-node clusters on catalog versions 1.0.0 -> 1.1.0, each with
// one rolling upgrade (21 sequential steps: precheck, backup, six per node, switchover,
// finalize). Shared by bench (bench/engine.ts), bench:peer, bench:ha, bench:estimates and bench:fleet
// (which upgrades them in a batch).
import fs from 'node:fs';
import os from 'node:os';
import { createContext } from '../../src/app/context.ts';
import { AppError } from '../../src/domain/errors.ts';
import type { Driver } from '../../src/drivers/driver.ts';
import type { AppContext } from '../../src/service/app-context.ts';
import { countStatements, statementsBetween, statementsRun, type StatementCounts } from '../../src/store/query-profile.ts';
import type { StoreConfig } from '../../test/helpers/harness.ts';
import { addCatalogVersion } from '../../src/service/catalog.ts';
import { createProject } from '../../src/service/projects.ts';
import { createTarget } from '../../src/service/targets.ts';
import { createUpgrade } from '../../src/service/upgrades.ts';

export const STEPS_PER_UPGRADE = 21;

/**
 * `at`: schedule the upgrades for that time instead of now (a benchmark releases them together);
 * `upgrades: false`: the targets only; `driver`: the targets' driver (default sim), one the
 * context has installed.
 */
export async function seedFleet(
  ctx: AppContext,
  n: number,
  opts: { project?: string; at?: string; upgrades?: boolean; driver?: string } = {},
): Promise<void> {
  const project = opts.project ?? 'bench';
  const schedule = opts.at ? { kind: 'at' as const, at: opts.at } : undefined;
  await createProject(ctx, { id: project });
  // a second fleet in another project finds the versions there already
  for (const version of ['1.0.0', '1.1.0']) {
    await addCatalogVersion(ctx, 'sim', { version }).catch((err: unknown) => {
      if (!(err instanceof AppError && err.code === 'VERSION_EXISTS')) throw err;
    });
  }
  for (let i = 0; i < n; i++) {
    const id = `t${i}`;
    await createTarget(
      ctx,
      project,
      {
        id,
        kind: 'cluster',
        engine: 'sim',
        version: '1.0.0',
        ...(opts.driver ? { driver: opts.driver } : {}),
        nodes: [
          { name: `${id}a`, role: 'leader', zone: 'z1' },
          { name: `${id}b`, role: 'follower', zone: 'z2' },
          { name: `${id}c`, role: 'follower', zone: 'z3' },
        ],
      },
      'bench',
    );
    if (opts.upgrades === false) continue;
    await createUpgrade(
      ctx,
      project,
      { targetId: id, toVersion: '1.1.0', mode: 'rolling', ...(schedule ? { schedule } : {}) },
      'bench',
    );
  }
}

/** The peak resident set size of another process so far (VmHWM), in MiB; null once it is gone. */
export function peakRssOf(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Samples this process's RSS every 50 ms; answers the peak in MiB. */
export function rssPeak(): { stop(): number } {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  return {
    stop() {
      clearInterval(t);
      return Math.max(peak, process.memoryUsage().rss) / 1048576;
    },
  };
}

/** What one run of the executor over a seeded fleet measured. */
export interface FleetRun {
  secs: number;
  peakRssMb: number;
  /** the statements the process sent to its store during the run (see src/store/query-profile.ts) */
  statements: StatementCounts;
  /** set when the run was stopped at its bound (`maxSecs`) before the executor was idle */
  stopped?: string;
}

/**
 * Seeds `n` clusters into a fresh context on `store` (executor idle), then runs the executor
 * until nothing can move: the seconds it took, the peak RSS and the statements sent meanwhile
 * (every statement of the process: the executor's, its heartbeats', the housekeeping's and the
 * estimates'). `driver`: the targets' driver, installed beside sim (default: sim itself);
 * `maxSecs`: the run stops there if the executor is not idle yet (FleetRun.stopped says so).
 * `measure` reads the context after the run, before it closes.
 */
export async function runSeededFleet<T>(
  store: StoreConfig,
  n: number,
  concurrency: number,
  measure: (ctx: AppContext, run: FleetRun) => Promise<T>,
  opts: { driver?: Driver; maxSecs?: number } = {},
): Promise<T> {
  countStatements();
  const driver = opts.driver;
  const ctx = await createContext({
    ...store.config,
    simTimeScale: 0,
    noExecutor: true,
    executor: { concurrency, pollMs: 5 },
    ...(driver ? { extraDrivers: () => [driver] } : {}),
  });
  try {
    await seedFleet(ctx, n, driver ? { driver: driver.name } : {});
    global.gc?.();
    const rss = rssPeak();
    const before = statementsRun();
    const t0 = performance.now();
    ctx.executor.start();
    const maxSecs = opts.maxSecs ?? 3600;
    let timer: NodeJS.Timeout | undefined;
    const idle = await Promise.race([
      ctx.executor.idle().then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), maxSecs * 1000))),
    ]);
    clearTimeout(timer);
    const secs = (performance.now() - t0) / 1000;
    const statements = statementsBetween(before, statementsRun());
    const run: FleetRun = { secs, peakRssMb: rss.stop(), statements };
    if (!idle) run.stopped = `stopped after ${maxSecs} s: the executor was not idle yet`;
    return await measure(ctx, run);
  } finally {
    await ctx.close();
  }
}

export function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} cores (${cpus[0]?.model ?? '?'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}
