// Peer benchmark (not a test): the same work, 1,000 chains of 21 sequential steps, on Liftgate
// with PostgreSQL, Liftgate with SQLite, and graphile-worker (the pinned devDependency) against
// the same PostgreSQL server, in one run. Each system runs in its own child process, so peak RSS
// is its own. A Liftgate chain is a rolling upgrade of a simulated 3-node cluster with zero-length
// steps; a graphile-worker chain is a job that, when it succeeds, adds the chain's next job.
// Usage: npm run bench:peer [-- --chains 1000 --systems graphile,postgres,sqlite --concurrency 256]
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Logger, makeWorkerUtils, run, type Task } from 'graphile-worker';
import { freshStore, PG_URL, type Dialect } from '../test/helpers/harness.ts';
import { machine, rssPeak, runSeededFleet, STEPS_PER_UPGRADE } from './lib/fleet.ts';

const { values } = parseArgs({
  options: {
    chains: { type: 'string', default: '1000' },
    systems: { type: 'string', default: 'graphile,postgres,sqlite' },
    // Liftgate's executor concurrency (as in `npm run bench`); graphile-worker's is below
    concurrency: { type: 'string', default: '256' },
    'graphile-concurrency': { type: 'string', default: '24' },
    child: { type: 'string' },
  },
});
const chains = Number(values.chains);
const steps = STEPS_PER_UPGRADE;

interface Result {
  system: string;
  steps: number;
  secs: number;
  peakRssMb: number;
  note: string;
}

async function liftgate(dialect: Dialect): Promise<Result> {
  const store = await freshStore(dialect);
  try {
    return await runSeededFleet(store, chains, Number(values.concurrency), async (ctx, { secs, peakRssMb }) => {
      const done = await ctx.store.db
        .selectFrom('steps')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('state', '=', 'succeeded')
        .executeTakeFirstOrThrow();
      return {
        system: `liftgate ${dialect}`,
        steps: Number(done.n),
        secs,
        peakRssMb,
        note: `executor concurrency ${values.concurrency}`,
      };
    });
  } finally {
    await store.cleanup();
  }
}

async function graphile(): Promise<Result> {
  const schema = `gw_bench_${randomBytes(4).toString('hex')}`;
  const concurrency = Number(values['graphile-concurrency']);
  const logger = new Logger(() => () => {});
  const common = { connectionString: PG_URL, schema, logger };
  const utils = await makeWorkerUtils(common);
  let done = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => (finish = r));
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
    await finished;
    const secs = (performance.now() - t0) / 1000;
    const peakRssMb = rss.stop();
    await runner.stop();
    return { system: 'graphile-worker 0.18.0', steps: done, secs, peakRssMb, note: `concurrency ${concurrency}` };
  } finally {
    await utils.release();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  }
}

async function child(system: string): Promise<void> {
  const r = system === 'graphile' ? await graphile() : await liftgate(system as Dialect);
  console.log(`RESULT ${JSON.stringify(r)}`);
  process.exit(0);
}

function parent(): void {
  console.log(`machine: ${machine()}`);
  console.log(`work: ${chains} chains x ${steps} sequential steps = ${chains * steps} steps per system`);
  const results: Result[] = [];
  for (const system of values.systems.split(',')) {
    const args = ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--child', system];
    for (const k of ['chains', 'concurrency', 'graphile-concurrency'] as const) args.push(`--${k}`, String(values[k]));
    const res = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const line = res.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`${system} printed no result (exit ${res.status}):\n${res.stdout}`);
    results.push(JSON.parse(line.slice(7)) as Result);
  }
  console.log('system                    steps   seconds   steps/s   peak RSS MiB   settings');
  for (const r of results) {
    console.log(
      `${r.system.padEnd(24)} ${String(r.steps).padStart(6)}  ${r.secs.toFixed(1).padStart(8)}  ${(r.steps / r.secs).toFixed(0).padStart(8)}  ${r.peakRssMb.toFixed(0).padStart(13)}   ${r.note}`,
    );
  }
  const rate = (name: string) => {
    const r = results.find((x) => x.system.startsWith(name));
    return r ? r.steps / r.secs : null;
  };
  const gw = rate('graphile');
  for (const name of ['liftgate postgres', 'liftgate sqlite']) {
    const lg = rate(name);
    if (gw && lg) console.log(`${name} / graphile-worker: ${(lg / gw).toFixed(2)}x`);
  }
}

if (values.child) await child(values.child);
else parent();
