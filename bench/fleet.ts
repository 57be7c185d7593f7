// Fleet benchmark (not a test): one batch upgrades N simulated 3-node targets in three waves
// (1 target, 10%, the rest; maxConcurrency 500) on a real `liftgate serve` process (time scale 0,
// rate limits off), on SQLite and on PostgreSQL. Meanwhile a second process (autocannon) reads
// status at a steady rate: the native batch and upgrade, and ACK's upgrade status of a cluster
// (signed per request). Prints targets upgraded per minute, step transitions per second, the
// server's peak RSS and p50/p99 status latency during the run. Aims: peak RSS under 500 MB,
// status p99 under 50 ms.
// A batch still running after --max-secs is reported with what it did by then (state "stopped").
// Usage: npm run bench:fleet [-- --targets 10000 --dialects sqlite,postgres --rate 20 --concurrency 500 --profile dir
//          --max-secs 3600]
import { fork } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createBatch } from '../src/service/batch-actions.ts';
import { createContext } from '../src/app/context.ts';
import { openStore } from '../src/store/open.ts';
import { freshStore, type Dialect } from '../test/helpers/harness.ts';
import { SERVER_TOKEN, startServer } from '../test/helpers/servers.ts';
import { machine, peakRssOf, seedFleet } from './lib/fleet.ts';
import type { LoadResult, LoadSpec } from './lib/status-load.ts';

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: '10000' },
    dialects: { type: 'string', default: 'sqlite,postgres' },
    rate: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '500' },
    /** write a CPU profile of the server into this folder, and print its costliest queries */
    profile: { type: 'string' },
    /** a batch still running after this many seconds is stopped and reported as such */
    'max-secs': { type: 'string', default: '3600' },
  },
});
const MAX_SECS = Number(values['max-secs']);
const N = Number(values.targets);
const RATE = Number(values.rate);
const CONCURRENCY = Number(values.concurrency);
const P = 'bench';
/** the aim for the status reads' p99 */
const P99_AIM_MS = 50;
const FINAL = new Set(['succeeded', 'failed', 'cancelled', 'halted']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Figures {
  dialect: Dialect;
  state: string;
  upgraded: number;
  secs: number;
  perMinute: number;
  transitions: number;
  transitionsPerSec: number;
  peakRssMb: number;
  load: LoadResult[];
  loadAvg: string;
}

/** The status readers in their own process; resolves once they send requests. */
async function startLoad(spec: LoadSpec): Promise<{ stop(): Promise<LoadResult[]> }> {
  const child = fork(path.join(import.meta.dirname, 'lib/status-load.ts'), [JSON.stringify(spec)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the load process did not start within 60 s'));
    }, 60_000);
    child.once('message', () => (clearTimeout(t), resolve()));
    child.once('exit', (code) => (clearTimeout(t), reject(new Error(`the load process exited (${code}) before it started`))));
  });
  return {
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.send('stop');
      // its results are printed as it stops; one that does not stop within a minute is killed
      if ((await Promise.race([exited.then(() => true), sleep(60_000).then(() => false)])) === false) {
        console.error('the load process did not stop within 60 s; killed (its figures may be missing)');
        child.kill('SIGKILL');
        await exited;
      }
      return out
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as LoadResult);
    },
  };
}

async function run(dialect: Dialect): Promise<Figures> {
  const store = await freshStore(dialect);
  let batchId = '';
  // an in-process context only to create the fleet and the batch (held until released below)
  const seedCtx = await createContext({ ...store.config, noExecutor: true, log: () => {} });
  const t0 = performance.now();
  try {
    await seedFleet(seedCtx, N, { upgrades: false });
    const b = await createBatch(
      seedCtx,
      P,
      {
        name: `bench ${N}`,
        selector: { engine: 'sim' },
        toVersion: '1.1.0',
        mode: 'rolling',
        schedule: { kind: 'at', at: new Date(Date.now() + 24 * 3600_000).toISOString() },
        waves: [
          { name: 'canary', targets: 1 },
          { name: 'early', targets: '10%', maxConcurrency: CONCURRENCY },
          { name: 'rest', targets: '100%', maxConcurrency: CONCURRENCY },
        ],
        failureThreshold: { targets: '1%' },
      },
      'bench',
    );
    batchId = b.id;
  } finally {
    await seedCtx.close();
  }
  console.error(`${dialect}: ${N} targets and their held upgrades created in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

  const server = await startServer(
    store,
    {
      LIFTGATE_RATE_LIMITS: 'off',
      LIFTGATE_SIM_TIME_SCALE: '0',
      LIFTGATE_LOG: '0',
      ...(values.profile ? { LIFTGATE_QUERY_PROFILE: '1' } : {}),
    },
    values.profile ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : [],
  );
  const obs = await openStore(store.config);
  try {
    await server.waitUp();
    const key = (await server.api('POST', `/v1/projects/${P}/access-keys`, { name: 'bench' })).json as {
      accessKeyId: string;
      accessKeySecret: string;
    };
    // a target of the last wave: held, then released, running and done during the run
    const last = `t${N - 1}`;
    const upgrade = (await server.api('GET', `/v1/projects/${P}/upgrades?target=${last}`)).json.items[0].id as string;
    const load = await startLoad({
      url: `http://127.0.0.1:${server.port}`,
      token: SERVER_TOKEN,
      accessKey: key,
      rate: RATE,
      endpoints: [
        { name: 'GET /v1/.../batches/{id}', path: `/v1/projects/${P}/batches/${batchId}`, auth: 'bearer' },
        { name: 'GET /v1/.../upgrades/{id}', path: `/v1/projects/${P}/upgrades/${upgrade}`, auth: 'bearer' },
        { name: 'ACK GET .../upgrade/status', path: `/api/v2/clusters/${last}/upgrade/status`, auth: 'acs3' },
      ],
    });
    // release: the batch's start time is now
    const released = new Date().toISOString();
    await obs.db.updateTable('batches').set({ not_before: released }).where('id', '=', batchId).execute();
    const start = performance.now();
    let state = 'scheduled';
    let lastReport = start;
    for (;;) {
      await sleep(1000);
      const b = (await server.api('GET', `/v1/projects/${P}/batches/${batchId}`)).json;
      state = b.state;
      if (FINAL.has(state)) break;
      if (performance.now() - start > MAX_SECS * 1000) {
        console.error(`${dialect}: the batch is still ${state} after ${MAX_SECS} s (--max-secs); stopped there`);
        state = `stopped (still ${state} after ${MAX_SECS} s)`;
        break;
      }
      if (performance.now() - lastReport > 30_000) {
        lastReport = performance.now();
        const done = (b.waves as { counts: Record<string, number> }[]).reduce((n, w) => n + (w.counts.succeeded ?? 0), 0);
        console.error(`${dialect}: ${((lastReport - start) / 1000).toFixed(0)} s, ${done} upgraded, batch ${state}`);
      }
      if (!server.alive()) throw new Error(`the server exited:\n${server.output()}`);
    }
    const secs = (performance.now() - start) / 1000;
    const loadResults = await load.stop();
    const peakRssMb = peakRssOf(server.pid) ?? NaN;
    const upgraded = Number(
      (
        await obs.db
          .selectFrom('upgrades')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('batch_id', '=', batchId)
          .where('state', '=', 'succeeded')
          .executeTakeFirstOrThrow()
      ).n,
    );
    // each finished step made two transitions (pending -> running -> its outcome), as in bench:engine
    const transitions =
      2 *
      Number(
        (
          await obs.db
            .selectFrom('steps as s')
            .innerJoin('upgrades as u', 'u.id', 's.upgrade_id')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('u.batch_id', '=', batchId)
            .where('s.state', 'in', ['succeeded', 'failed', 'skipped', 'cancelled'])
            .executeTakeFirstOrThrow()
        ).n,
      );
    const avg = (await import('node:os')).loadavg();
    return {
      dialect,
      state,
      upgraded,
      secs,
      perMinute: upgraded / (secs / 60),
      transitions,
      transitionsPerSec: transitions / secs,
      peakRssMb,
      load: loadResults,
      loadAvg: avg.map((x) => x.toFixed(1)).join(' '),
    };
  } finally {
    server.child.kill('SIGTERM');
    if ((await Promise.race([server.exited.then(() => true), sleep(30_000).then(() => false)])) === false) {
      console.error(`${dialect}: the server did not exit within 30 s of SIGTERM; killed`);
      server.child.kill('SIGKILL');
      await server.exited;
    }
    if (values.profile) console.error(`${dialect}: the server's costliest queries\n${server.output()}`);
    await obs.close();
    await store.cleanup();
  }
}

console.log(`machine: ${machine()}`);
console.log(
  `one batch of ${N} simulated 3-node targets, waves 1 / 10% / rest, maxConcurrency ${CONCURRENCY}; status read at ${RATE} requests/s per endpoint`,
);
for (const dialect of values.dialects.split(',') as Dialect[]) {
  const r = await run(dialect);
  console.log(
    `\n${r.dialect}: batch ${r.state} in ${r.secs.toFixed(1)} s; ${r.upgraded} targets upgraded (${r.perMinute.toFixed(0)}/min); ` +
      `${r.transitions} step transitions (${r.transitionsPerSec.toFixed(0)}/s); server peak RSS ${r.peakRssMb.toFixed(0)} MiB; load average at the end ${r.loadAvg}`,
  );
  console.log(
    `  endpoint                       requests  non-2xx  errors   p50 ms   p99 ms   max ms  p99 against the ${P99_AIM_MS} ms aim`,
  );
  for (const l of r.load) {
    const aim = l.p99 <= P99_AIM_MS ? 'met' : `missed (${(l.p99 / P99_AIM_MS).toFixed(1)}x)`;
    console.log(
      `  ${l.name.padEnd(29)} ${String(l.requests).padStart(9)} ${String(l.non2xx).padStart(8)} ${String(l.errors).padStart(7)} ${l.p50.toFixed(1).padStart(8)} ${l.p99.toFixed(1).padStart(8)} ${l.max.toFixed(1).padStart(8)}  ${aim}`,
    );
  }
}
