// Engine benchmark (not a test): N simulated targets x 3 nodes, zero-length steps, one rolling
// upgrade each, on SQLite and on PostgreSQL. Prints step transitions per second and peak RSS.
// Usage: npm run bench [-- --targets 1000,10000 --dialects sqlite,postgres]
import os from 'node:os';
import { parseArgs } from 'node:util';
import { createContext } from '../src/service/context.ts';
import { addCatalogVersion } from '../src/service/catalog.ts';
import { createProject } from '../src/service/projects.ts';
import { createTarget } from '../src/service/targets.ts';
import { createUpgrade } from '../src/service/upgrades.ts';
import { freshStore, type Dialect } from '../test/helpers/harness.ts';

const { values } = parseArgs({
  options: { targets: { type: 'string', default: '1000,10000' }, dialects: { type: 'string', default: 'sqlite,postgres' } },
});

async function run(dialect: Dialect, n: number) {
  const store = await freshStore(dialect);
  const ctx = await createContext({
    ...store.config,
    simTimeScale: 0,
    noExecutor: true,
    executor: { concurrency: 256, pollMs: 5 },
  });
  try {
    await createProject(ctx, { id: 'bench' });
    await addCatalogVersion(ctx, 'sim', { version: '1.0.0' });
    await addCatalogVersion(ctx, 'sim', { version: '1.1.0' });
    for (let i = 0; i < n; i++) {
      const id = `t${i}`;
      await createTarget(
        ctx,
        'bench',
        {
          id,
          kind: 'cluster',
          engine: 'sim',
          version: '1.0.0',
          nodes: [
            { name: `${id}a`, role: 'leader', zone: 'z1' },
            { name: `${id}b`, role: 'follower', zone: 'z2' },
            { name: `${id}c`, role: 'follower', zone: 'z3' },
          ],
        },
        'bench',
      );
      await createUpgrade(ctx, 'bench', { targetId: id, toVersion: '1.1.0', mode: 'rolling' }, 'bench');
    }
    global.gc?.();
    let peak = process.memoryUsage().rss;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    const t0 = performance.now();
    ctx.executor.start();
    await ctx.executor.idle();
    const secs = (performance.now() - t0) / 1000;
    clearInterval(sampler);
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
      peakRssMb: peak / 1048576,
    };
  } finally {
    await ctx.close();
    await store.cleanup();
  }
}

console.log(
  `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
);
console.log('dialect   targets  upgrades ok  step transitions   seconds   transitions/s   peak RSS MiB');
for (const dialect of values.dialects.split(',') as Dialect[]) {
  for (const n of values.targets.split(',').map(Number)) {
    const r = await run(dialect, n);
    console.log(
      `${r.dialect.padEnd(9)} ${String(r.targets).padStart(7)}  ${String(r.succeeded).padStart(11)}  ${String(r.transitions).padStart(16)}  ${r.secs.toFixed(1).padStart(8)}  ${r.perSec.toFixed(0).padStart(14)}  ${r.peakRssMb.toFixed(0).padStart(13)}`,
    );
  }
}
