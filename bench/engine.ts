// Engine benchmark (not a test): N simulated targets x 3 nodes, zero-length steps, one rolling
// upgrade each, on SQLite and on PostgreSQL. Prints step transitions per second and peak RSS.
// Usage: npm run bench [-- --targets 1000,10000 --dialects sqlite,postgres]
import { parseArgs } from 'node:util';
import { freshStore, type Dialect } from '../test/helpers/harness.ts';
import { machine, runSeededFleet } from './lib/fleet.ts';

const { values } = parseArgs({
  options: { targets: { type: 'string', default: '1000,10000' }, dialects: { type: 'string', default: 'sqlite,postgres' } },
});

async function run(dialect: Dialect, n: number) {
  const store = await freshStore(dialect);
  try {
    return await runSeededFleet(store, n, 256, async (ctx, { secs, peakRssMb }) => {
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
      };
    });
  } finally {
    await store.cleanup();
  }
}

console.log(`machine: ${machine()}`);
console.log('dialect   targets  upgrades ok  step transitions   seconds   transitions/s   peak RSS MiB');
for (const dialect of values.dialects.split(',') as Dialect[]) {
  for (const n of values.targets.split(',').map(Number)) {
    const r = await run(dialect, n);
    console.log(
      `${r.dialect.padEnd(9)} ${String(r.targets).padStart(7)}  ${String(r.succeeded).padStart(11)}  ${String(r.transitions).padStart(16)}  ${r.secs.toFixed(1).padStart(8)}  ${r.perSec.toFixed(0).padStart(14)}  ${r.peakRssMb.toFixed(0).padStart(13)}`,
    );
  }
}
