// Replica benchmark (not a test): real `liftgate serve` processes on one PostgreSQL.
// 1. Throughput with 1, 2 and 3 replicas: the same fleet of rolling upgrades (21 zero-length
//    steps each), steps/s from the first step's start to the last step's end.
// 2. Takeover after SIGKILL, with the default executor timeout (5 s) unless told otherwise: a
//    replica holding running steps is killed; the time until another replica declared it lost and
//    took all its steps back, over several kills (p50 and max).
// Usage: npm run bench:ha [-- --targets 300 --replicas 1,2,3 --kills 5 --timeout-ms 5000]
import { parseArgs } from 'node:util';
import { createContext } from '../src/app/context.ts';
import { openStore, type Store } from '../src/store/open.ts';
import { executorOf, median, takenOver } from '../test/helpers/chaos.ts';
import { freshStore, type StoreConfig } from '../test/helpers/harness.ts';
import { killAll, startServer, type Server } from '../test/helpers/servers.ts';
import { machine, seedFleet, STEPS_PER_UPGRADE } from './lib/fleet.ts';

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: '300' },
    replicas: { type: 'string', default: '1,2,3' },
    kills: { type: 'string', default: '5' },
    'timeout-ms': { type: 'string', default: '5000' },
  },
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function seed(store: StoreConfig, targets: number, at?: string): Promise<void> {
  // an in-process context only to create the fleet; the servers run it
  const ctx = await createContext({ ...store.config, noExecutor: true });
  try {
    await seedFleet(ctx, targets, { at });
  } finally {
    await ctx.close();
  }
}

async function allDone(s: Store, deadlineMs: number): Promise<void> {
  const until = performance.now() + deadlineMs;
  for (;;) {
    const open = await s.db.selectFrom('upgrades').select('state').where('state', '!=', 'succeeded').execute();
    if (open.some((u) => u.state === 'failed')) throw new Error('an upgrade failed');
    if (open.length === 0) return;
    if (performance.now() > until) throw new Error(`${open.length} upgrades still open`);
    await sleep(100);
  }
}

async function throughput(replicas: number, targets: number): Promise<{ steps: number; secs: number }> {
  const store = await freshStore('postgres');
  const servers: Server[] = [];
  let obs: Store | null = null;
  try {
    // the fleet waits (scheduled an hour ahead) until every replica is up, then is released at once
    await seed(store, targets, new Date(Date.now() + 3600_000).toISOString());
    for (let i = 0; i < replicas; i++) servers.push(await startServer(store, { LIFTGATE_SIM_TIME_SCALE: '0' }));
    await Promise.all(servers.map((s) => s.waitUp()));
    obs = await openStore(store.config);
    await obs.db.updateTable('upgrades').set({ not_before: new Date().toISOString() }).where('state', '=', 'scheduled').execute();
    await allDone(obs, 600_000);
    const span = await obs.db
      .selectFrom('steps')
      .select((eb) => [eb.fn.min('started_at').as('first'), eb.fn.max('ended_at').as('last'), eb.fn.countAll<number>().as('n')])
      .executeTakeFirstOrThrow();
    const secs = (Date.parse(String(span.last)) - Date.parse(String(span.first))) / 1000;
    return { steps: Number(span.n), secs };
  } finally {
    killAll(servers);
    await obs?.close();
    await store.cleanup();
  }
}

async function takeovers(kills: number, timeoutMs: string): Promise<number[]> {
  const store = await freshStore('postgres');
  const env = { LIFTGATE_SIM_TIME_SCALE: '0.01', LIFTGATE_EXECUTOR_TIMEOUT_MS: timeoutMs };
  const servers: Server[] = [];
  let obs: Store | null = null;
  const times: number[] = [];
  try {
    for (let i = 0; i < 3; i++) servers.push(await startServer(store, env));
    await Promise.all(servers.map((s) => s.waitUp()));
    obs = await openStore(store.config);
    await seed(store, 60);
    let live = [...servers];
    for (let k = 0; k < kills; k++) {
      // the victim is a replica that holds running steps right now
      let victim: Server | null = null;
      let id: string | null = null;
      while (!victim) {
        for (const s of live) {
          const sid = await executorOf(obs, s.pid);
          const held = sid
            ? await obs.db
                .selectFrom('steps')
                .select('id')
                .where('lease_owner', '=', sid)
                .where('state', '=', 'running')
                .execute()
            : [];
          if (held.length > 0) {
            victim = s;
            id = sid;
            break;
          }
        }
        if (!victim) await sleep(50);
      }
      const t0 = performance.now();
      victim.child.kill('SIGKILL');
      const ms = await takenOver(obs, id as string, t0, 120_000);
      times.push(ms);
      console.log(`  kill ${k + 1}: taken over in ${(ms / 1000).toFixed(2)} s`);
      const replacement = await startServer(store, env);
      servers.push(replacement);
      await replacement.waitUp();
      live = live.filter((s) => s !== victim).concat(replacement);
    }
    await allDone(obs, 600_000);
    return times;
  } finally {
    killAll(servers);
    await obs?.close();
    await store.cleanup();
  }
}

const targets = Number(values.targets);
console.log(`machine: ${machine()}`);
console.log(`throughput: ${targets} rolling upgrades x ${STEPS_PER_UPGRADE} zero-length steps, PostgreSQL`);
console.log('replicas   steps   seconds   steps/s');
const rates: number[] = [];
for (const n of values.replicas.split(',').map(Number)) {
  const r = await throughput(n, targets);
  rates.push(r.steps / r.secs);
  console.log(
    `${String(n).padStart(8)}  ${String(r.steps).padStart(6)}  ${r.secs.toFixed(1).padStart(8)}  ${(r.steps / r.secs).toFixed(0).padStart(8)}`,
  );
}
if (rates.length > 1) console.log(`scaling: ${rates.map((r) => (r / rates[0]).toFixed(2)).join(' : ')}`);
console.log(`takeover after SIGKILL (3 replicas, LIFTGATE_EXECUTOR_TIMEOUT_MS=${values['timeout-ms']}):`);
const times = await takeovers(Number(values.kills), values['timeout-ms']);
console.log(
  `takeover p50 ${(median(times) / 1000).toFixed(2)} s, max ${(Math.max(...times) / 1000).toFixed(2)} s over ${times.length} kills`,
);
process.exit(0);
