// Replica benchmark (not a test): real `liftgate serve` processes on one PostgreSQL.
// 1. Throughput with 1, 2 and 3 replicas: the same fleet of rolling upgrades (21 zero-length
//    steps each), steps/s from the first step's start to the last step's end.
// 2. Takeover after SIGKILL, with the default executor timeout (5 s) unless told otherwise: a
//    replica holding running steps is killed; the time until another replica declared it lost and
//    took all its steps back, over several kills (p50 and max). The kills run on their own fleet
//    (--kill-targets upgrades, seeded again up to --reseeds times once it finished); the phase
//    ends after --kills kills, or earlier when no replica holds a running step (the fleet is done
//    and may not be seeded again, or none did for a minute) or a takeover did not come in time,
//    and says which.
// Every wait is bounded: a bound that runs out ends that part with a message, not the process.
// (--replicas "" skips the throughput part, --kills 0 the kill phase.)
// Usage: npm run bench:ha [-- --targets 300 --replicas 1,2,3 --kills 5 --timeout-ms 5000
//          --kill-targets 60 --reseeds 2]
import { parseArgs } from 'node:util';
import { createContext } from '../src/app/context.ts';
import { SETTLED_UPGRADE_STATES } from '../src/domain/types.ts';
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
    /** upgrades seeded for the kill phase, and how often it seeds that many again once they finished */
    'kill-targets': { type: 'string', default: '60' },
    reseeds: { type: 'string', default: '2' },
  },
});

/** how long the kill phase waits for a replica that holds a running step */
const VICTIM_WAIT_MS = 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function seed(store: StoreConfig, targets: number, at?: string, project?: string): Promise<void> {
  // an in-process context only to create the fleet; the servers run it
  const ctx = await createContext({ ...store.config, noExecutor: true });
  try {
    await seedFleet(ctx, targets, { at, project });
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

interface Takeovers {
  times: number[];
  /** why the kill phase ended */
  reason: string;
  /** the fleet after the kills: finished, or what kept it from finishing */
  after: string;
}

/**
 * A live replica that holds running steps now, once one does: null when none did within
 * `waitMs`, or when the fleet has nothing left to run (then `idle` is set).
 */
async function victimOf(obs: Store, live: Server[], waitMs: number): Promise<{ victim: Server; id: string } | { idle: boolean }> {
  const until = performance.now() + waitMs;
  for (;;) {
    for (const s of live) {
      const sid = await executorOf(obs, s.pid);
      if (!sid) continue;
      const held = await obs.db
        .selectFrom('steps')
        .select('id')
        .where('lease_owner', '=', sid)
        .where('state', '=', 'running')
        .limit(1)
        .executeTakeFirst();
      if (held) return { victim: s, id: sid };
    }
    const open = await obs.db
      .selectFrom('upgrades')
      .select('id')
      .where('state', 'not in', SETTLED_UPGRADE_STATES)
      .limit(1)
      .executeTakeFirst();
    if (!open) return { idle: true };
    if (performance.now() > until) return { idle: false };
    await sleep(50);
  }
}

async function takeovers(kills: number, timeoutMs: string, fleet: number, reseeds: number): Promise<Takeovers> {
  const store = await freshStore('postgres');
  const env = { LIFTGATE_SIM_TIME_SCALE: '0.01', LIFTGATE_EXECUTOR_TIMEOUT_MS: timeoutMs };
  const servers: Server[] = [];
  let obs: Store | null = null;
  const times: number[] = [];
  // a takeover needs the lost replica declared lost (the executor timeout) and its steps recovered
  const takeoverBoundMs = Math.max(120_000, 10 * Number(timeoutMs));
  let reason = `${kills} kills done`;
  let after = '';
  try {
    for (let i = 0; i < 3; i++) servers.push(await startServer(store, env));
    await Promise.all(servers.map((s) => s.waitUp()));
    obs = await openStore(store.config);
    await seed(store, fleet);
    let seeded = 0;
    let live = [...servers];
    for (let k = 0; k < kills; k++) {
      // the victim is a replica that holds running steps right now
      let found = await victimOf(obs, live, VICTIM_WAIT_MS);
      while ('idle' in found && found.idle && seeded < reseeds) {
        seeded++;
        console.log(`  the fleet finished after ${k} kills; seeding ${fleet} more upgrades (${seeded} of ${reseeds})`);
        await seed(store, fleet, undefined, `bench${seeded + 1}`);
        found = await victimOf(obs, live, VICTIM_WAIT_MS);
      }
      if (!('victim' in found)) {
        reason = found.idle
          ? `stopped after ${k} of ${kills} kills: the fleet finished (${seeded} reseeds of ${reseeds} allowed) and no replica holds a running step`
          : `stopped after ${k} of ${kills} kills: no replica held a running step within ${VICTIM_WAIT_MS / 1000} s`;
        break;
      }
      const { victim, id } = found;
      const t0 = performance.now();
      victim.child.kill('SIGKILL');
      let ms: number;
      try {
        ms = await takenOver(obs, id, t0, takeoverBoundMs);
      } catch (err) {
        reason = `stopped at kill ${k + 1} of ${kills}: ${err instanceof Error ? err.message : String(err)}`;
        break;
      }
      times.push(ms);
      console.log(`  kill ${k + 1}: taken over in ${(ms / 1000).toFixed(2)} s`);
      const replacement = await startServer(store, env);
      servers.push(replacement);
      await replacement.waitUp();
      live = live.filter((s) => s !== victim).concat(replacement);
    }
    try {
      await allDone(obs, 300_000);
      after = 'every upgrade succeeded';
    } catch (err) {
      after = err instanceof Error ? err.message : String(err);
    }
    return { times, reason, after };
  } finally {
    killAll(servers);
    await obs?.close();
    await store.cleanup();
  }
}

const targets = Number(values.targets);
console.log(`machine: ${machine()}`);
const replicaCounts = values.replicas.split(',').filter(Boolean).map(Number);
if (replicaCounts.length > 0) {
  console.log(`throughput: ${targets} rolling upgrades x ${STEPS_PER_UPGRADE} zero-length steps, PostgreSQL`);
  console.log('replicas   steps   seconds   steps/s');
}
const rates: number[] = [];
for (const n of replicaCounts) {
  let r: { steps: number; secs: number };
  try {
    r = await throughput(n, targets);
  } catch (err) {
    console.log(`${String(n).padStart(8)}  failed: ${err instanceof Error ? err.message : String(err)}`);
    continue;
  }
  rates.push(r.steps / r.secs);
  console.log(
    `${String(n).padStart(8)}  ${String(r.steps).padStart(6)}  ${r.secs.toFixed(1).padStart(8)}  ${(r.steps / r.secs).toFixed(0).padStart(8)}`,
  );
}
if (rates.length > 1) console.log(`scaling: ${rates.map((r) => (r / rates[0]).toFixed(2)).join(' : ')}`);
if (Number(values.kills) > 0) {
  console.log(`takeover after SIGKILL (3 replicas, LIFTGATE_EXECUTOR_TIMEOUT_MS=${values['timeout-ms']}):`);
  const t = await takeovers(Number(values.kills), values['timeout-ms'], Number(values['kill-targets']), Number(values.reseeds));
  console.log(
    t.times.length > 0
      ? `takeover p50 ${(median(t.times) / 1000).toFixed(2)} s, max ${(Math.max(...t.times) / 1000).toFixed(2)} s over ${t.times.length} kills`
      : 'no takeover measured',
  );
  console.log(`kill phase: ${t.reason}; after it: ${t.after}`);
}
process.exit(0);
