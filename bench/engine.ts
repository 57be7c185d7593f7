// Engine benchmark (not a test): N simulated targets x 3 nodes, zero-length steps, one rolling
// upgrade each, on SQLite and on PostgreSQL; every fleet size and dialect in one run. Prints step
// transitions per second (a step makes two: claimed, then its outcome), peak RSS and statements
// per transition, and for each dialect the largest fleet's rate against the smallest's (the aim:
// 5,000 transitions/s at 1,000 targets on SQLite, and within 10% of that at 10,000).
// Usage: npm run bench [-- --targets 1000,10000 --dialects sqlite,postgres --concurrency 256 --driver sim]
import { parseArgs } from 'node:util';
import { freshStore, type Dialect } from '../test/helpers/harness.ts';
import { machine, runSeededFleet } from './lib/fleet.ts';
import { NoopDriver } from './lib/noop-driver.ts';

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: '1000,10000' },
    dialects: { type: 'string', default: 'sqlite,postgres' },
    /** the executor's concurrency */
    concurrency: { type: 'string', default: '256' },
    /** sim (a simulated cluster, its effects in the store) or noop (bench/lib/noop-driver.ts) */
    driver: { type: 'string', default: 'sim' },
    /** a fleet still running after this many seconds is stopped and reported as such */
    'max-secs': { type: 'string', default: '1800' },
  },
});
if (values.driver !== 'sim' && values.driver !== 'noop') throw new Error(`--driver is sim or noop, not ${values.driver}`);

async function run(dialect: Dialect, n: number) {
  const store = await freshStore(dialect);
  try {
    return await runSeededFleet(
      store,
      n,
      Number(values.concurrency),
      async (ctx, { secs, peakRssMb, statements, stopped }) => {
        const done = await ctx.store.db
          .selectFrom('upgrades')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('state', '=', 'succeeded')
          .executeTakeFirstOrThrow();
        const transitions = ctx.executor.transitions;
        return {
          dialect,
          targets: n,
          succeeded: Number(done.n),
          transitions,
          secs,
          perSec: transitions / secs,
          peakRssMb,
          statements,
          stopped,
        };
      },
      { maxSecs: Number(values['max-secs']), ...(values.driver === 'noop' ? { driver: new NoopDriver() } : {}) },
    );
  } finally {
    await store.cleanup();
  }
}

console.log(`machine: ${machine()}`);
console.log(`driver ${values.driver}, executor concurrency ${values.concurrency}`);
console.log('dialect   targets  upgrades ok  step transitions   seconds   transitions/s   peak RSS MiB   statements/transition');
const sizes = values.targets.split(',').map(Number);
const notes: string[] = [];
for (const dialect of values.dialects.split(',') as Dialect[]) {
  const rates: number[] = [];
  for (const n of sizes) {
    const r = await run(dialect, n);
    rates.push(r.perSec);
    const s = r.statements;
    const per = (x: number) => (r.transitions > 0 ? (x / r.transitions).toFixed(2) : '-');
    console.log(
      `${r.dialect.padEnd(9)} ${String(r.targets).padStart(7)}  ${String(r.succeeded).padStart(11)}  ${String(r.transitions).padStart(16)}  ${r.secs.toFixed(1).padStart(8)}  ${r.perSec.toFixed(0).padStart(14)}  ${r.peakRssMb.toFixed(0).padStart(13)}  ${per(s.total).padStart(22)} (${per(s.begin + s.commit + s.rollback + s.savepoint)} tx)`,
    );
    if (r.stopped) notes.push(`${dialect} ${n} targets: ${r.stopped}`);
  }
  if (sizes.length > 1) {
    const [first, last] = [rates[0], rates[rates.length - 1]];
    notes.push(
      `${dialect}: ${sizes[sizes.length - 1]} targets at ${((100 * last) / first).toFixed(0)}% of the rate at ${sizes[0]} targets`,
    );
  }
}
for (const n of notes) console.log(n);
console.log(
  'statements/transition: every statement the process sent to its store during the run (executor, heartbeats, ' +
    'housekeeping, estimates; BEGIN / COMMIT / ROLLBACK / SAVEPOINT / RELEASE included, and shown apart as "tx"), ' +
    'over the step transitions.',
);
