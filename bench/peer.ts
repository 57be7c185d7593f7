// Peer benchmark (not a test): the same work, chains of 21 sequential steps (1,000 by default), on
// graphile-worker (the pinned devDependency) and on Liftgate with PostgreSQL and with SQLite, all
// against the same PostgreSQL server, at the same concurrency, in one run:
//   1. graphile-worker: a chain is a job that, when it succeeds, adds the chain's next job (the
//      job does nothing else);
//   2. Liftgate with a no-op driver (bench/lib/noop-driver.ts): every step returns at once and
//      writes nothing of its own, so a step costs the engine's work alone, like a job above;
//   3. Liftgate with the sim driver (a simulated 3-node cluster, zero-length steps, whose effects
//      and call log are rows in the same store), as a real driver's step would cost.
//   4. Liftgate with the no-op driver again at executor concurrency 256 (--also-concurrency,
//      --also-drivers): the engine claims and records more steps per statement when more run at
//      once. graphile-worker stays at the concurrency above (each of its workers holds a
//      connection; 256 would pass PostgreSQL's default max_connections).
// A Liftgate chain is one rolling upgrade (precheck, backup, six steps per node, switchover,
// finalize). Each row runs in its own child process, so its peak RSS is its own, and counts the
// statements that process sent to its database during the run.
// Usage: npm run bench:peer [-- --chains 1000 --concurrency 24 --systems graphile,postgres,sqlite
//          --drivers noop,sim --also-concurrency 256 --also-drivers noop --max-secs 900]
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Logger, makeWorkerUtils, run, type Task } from 'graphile-worker';
import { freshStore, PG_URL, type Dialect } from '../test/helpers/harness.ts';
import { machine, rssPeak, runSeededFleet, STEPS_PER_UPGRADE } from './lib/fleet.ts';
import { NoopDriver } from './lib/noop-driver.ts';

const { values } = parseArgs({
  options: {
    chains: { type: 'string', default: '1000' },
    /** graphile-worker's concurrency and Liftgate's executor concurrency, for every row */
    concurrency: { type: 'string', default: '24' },
    /** more Liftgate rows at these executor concurrencies (comma-separated; empty: none), after the rows above */
    'also-concurrency': { type: 'string', default: '256' },
    /** the drivers of those rows */
    'also-drivers': { type: 'string', default: 'noop' },
    systems: { type: 'string', default: 'graphile,postgres,sqlite' },
    /** Liftgate's drivers, in this order */
    drivers: { type: 'string', default: 'noop,sim' },
    /** a row still running after this many seconds is stopped and reported as such */
    'max-secs': { type: 'string', default: '900' },
    child: { type: 'string' },
  },
});
const chains = Number(values.chains);
const steps = STEPS_PER_UPGRADE;
const maxSecs = Number(values['max-secs']);

/** One row: a system, its driver and concurrency. */
interface Run {
  system: 'graphile' | Dialect;
  driver: 'noop' | 'sim' | 'job';
  concurrency: number;
}

interface Result {
  system: string;
  driver: string;
  concurrency: number;
  steps: number;
  secs: number;
  peakRssMb: number;
  /** statements sent during the run, and how many of them were BEGIN / COMMIT / ROLLBACK / SAVEPOINT / RELEASE */
  statements: number;
  txControl: number | null;
  /** why the row has no figures */
  failed?: string;
}

async function liftgate(r: Run): Promise<Result> {
  const dialect = r.system as Dialect;
  const store = await freshStore(dialect);
  try {
    return await runSeededFleet(
      store,
      chains,
      r.concurrency,
      async (ctx, { secs, peakRssMb, statements, stopped }) => {
        const done = await ctx.store.db
          .selectFrom('steps')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('state', '=', 'succeeded')
          .executeTakeFirstOrThrow();
        return {
          system: `liftgate ${dialect}`,
          driver: r.driver,
          concurrency: r.concurrency,
          steps: Number(done.n),
          secs,
          peakRssMb,
          statements: statements.total,
          txControl: statements.begin + statements.commit + statements.rollback + statements.savepoint,
          ...(stopped ? { failed: stopped } : {}),
        };
      },
      { maxSecs, ...(r.driver === 'noop' ? { driver: new NoopDriver() } : {}) },
    );
  } finally {
    await store.cleanup();
  }
}

/**
 * Counts every statement this process sends through node-postgres (graphile-worker's and ours):
 * Client.query is where Pool.query and graphile-worker's clients end up.
 */
function countPgQueries(): () => number {
  let n = 0;
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    n++;
    return query.apply(this, args);
  } as typeof pg.Client.prototype.query;
  return () => n;
}

async function graphile(r: Run): Promise<Result> {
  const queries = countPgQueries();
  const schema = `gw_bench_${randomBytes(4).toString('hex')}`;
  const concurrency = r.concurrency;
  const logger = new Logger(() => () => {});
  const common = { connectionString: PG_URL, schema, logger };
  const utils = await makeWorkerUtils(common);
  let done = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((res) => (finish = res));
  const step: Task = async (payload, helpers) => {
    const { chain, n } = payload as { chain: number; n: number };
    if (n + 1 < steps) await helpers.addJob('step', { chain, n: n + 1 });
  };
  try {
    await utils.migrate();
    const initial = Array.from({ length: chains }, (_, chain) => ({ identifier: 'step', payload: { chain, n: 0 } }));
    for (let i = 0; i < initial.length; i += 500) await utils.addJobs(initial.slice(i, i + 500));
    global.gc?.();
    const rss = rssPeak();
    const q0 = queries();
    const t0 = performance.now();
    const runner = await run({
      ...common,
      concurrency,
      maxPoolSize: concurrency + 2,
      noHandleSignals: true,
      pollInterval: 1000,
      taskList: { step },
    });
    runner.events.on('job:success', () => {
      if (++done === chains * steps) finish();
    });
    let failure = '';
    runner.events.on('job:error', ({ error }) => {
      failure = `a job failed: ${error instanceof Error ? error.message : String(error)}`;
      finish();
    });
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((res) => {
      timer = setTimeout(() => {
        failure = `stopped after ${maxSecs} s with ${done} of ${chains * steps} jobs done`;
        res();
      }, maxSecs * 1000);
    });
    await Promise.race([finished, bound]);
    clearTimeout(timer);
    const secs = (performance.now() - t0) / 1000;
    const statements = queries() - q0;
    const peakRssMb = rss.stop();
    await runner.stop();
    return {
      system: 'graphile-worker 0.18.0',
      driver: 'job',
      concurrency,
      steps: done,
      secs,
      peakRssMb,
      statements,
      txControl: null,
      ...(failure ? { failed: failure } : {}),
    };
  } finally {
    await utils.release();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  }
}

async function child(spec: string): Promise<void> {
  const r = JSON.parse(spec) as Run;
  const res = r.system === 'graphile' ? await graphile(r) : await liftgate(r);
  console.log(`RESULT ${JSON.stringify(res)}`);
  process.exit(0);
}

function runs(): Run[] {
  const systems = values.systems.split(',').filter(Boolean) as Run['system'][];
  const dialects = systems.filter((s): s is Dialect => s !== 'graphile');
  const drivers = (list: string) => list.split(',').filter(Boolean) as ('noop' | 'sim')[];
  const c = Number(values.concurrency);
  const out: Run[] = systems.includes('graphile') ? [{ system: 'graphile', driver: 'job', concurrency: c }] : [];
  for (const driver of drivers(values.drivers)) for (const system of dialects) out.push({ system, driver, concurrency: c });
  const also = values['also-concurrency'].split(',').filter(Boolean).map(Number);
  for (const concurrency of also.filter((x) => x !== c)) {
    for (const driver of drivers(values['also-drivers']))
      for (const system of dialects) out.push({ system, driver, concurrency });
  }
  return out;
}

const fmt = (x: number, digits = 0) =>
  x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function parent(): void {
  console.log(`machine: ${machine()}`);
  console.log(
    `work: ${chains} chains x ${steps} sequential steps = ${chains * steps} steps per row; ` +
      `concurrency ${values.concurrency} (graphile-worker's concurrency, Liftgate's executor concurrency)`,
  );
  const results: Result[] = [];
  for (const r of runs()) {
    const label = `${r.system === 'graphile' ? 'graphile-worker' : `liftgate ${r.system}`} ${r.driver} c=${r.concurrency}`;
    const args = ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--child', JSON.stringify(r)];
    for (const k of ['chains', 'max-secs'] as const) args.push(`--${k}`, String(values[k]));
    const t0 = performance.now();
    // the child stops itself at --max-secs; this bounds a child that hangs before or after its run
    const res = spawnSync(process.execPath, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: (maxSecs + 300) * 1000,
      killSignal: 'SIGKILL',
    });
    const line = res.stdout?.split('\n').find((l) => l.startsWith('RESULT '));
    const row: Result = line
      ? (JSON.parse(line.slice(7)) as Result)
      : {
          system: label,
          driver: r.driver,
          concurrency: r.concurrency,
          steps: 0,
          secs: (performance.now() - t0) / 1000,
          peakRssMb: NaN,
          statements: 0,
          txControl: null,
          failed: res.error ? `child stopped: ${res.error.message}` : `printed no result (exit ${res.status})`,
        };
    results.push(row);
    console.error(`${label}: ${row.failed ?? `${fmt(row.steps / row.secs)} steps/s`}`);
  }
  const gw = results.find((x) => x.driver === 'job' && !x.failed);
  const gwRate = gw ? gw.steps / gw.secs : null;
  const head = ['system', 'driver', 'concurrency', 'steps', 'secs', 'steps/s', 'vs graphile', 'peak RSS MiB', 'statements/step'];
  const rows = results.map((r) => {
    const rate = r.steps / r.secs;
    return [
      r.system,
      r.driver,
      String(r.concurrency),
      fmt(r.steps),
      fmt(r.secs, 1),
      r.failed ? '-' : fmt(rate),
      r.failed || !gwRate ? '-' : `${(rate / gwRate).toFixed(2)}x`,
      Number.isFinite(r.peakRssMb) ? fmt(r.peakRssMb) : '-',
      r.steps > 0
        ? `${(r.statements / r.steps).toFixed(1)}${r.txControl !== null ? ` (${(r.txControl / r.steps).toFixed(1)} tx)` : ''}`
        : '-',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  for (const r of results) if (r.failed) console.log(`${r.system} ${r.driver} c=${r.concurrency}: ${r.failed}`);
  console.log(
    'statements/step: the statements the row\u2019s process sent to its database from the first step to the last, ' +
      'over the steps done. Liftgate: every statement of its store (executor, heartbeats, housekeeping, estimates), ' +
      'BEGIN / COMMIT / ROLLBACK / SAVEPOINT / RELEASE included and shown apart as "tx". graphile-worker: every ' +
      'node-postgres query of its process (its SQL functions do more inside the server).',
  );
}

if (values.child) await child(values.child);
else parent();
