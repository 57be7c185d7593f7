// High availability, with real processes on the real PostgreSQL: three replicas share a rolling
// upgrade of 100 simulated 3-node clusters while replicas are SIGKILLed (and replaced) or frozen
// with SIGSTOP and woken with SIGCONT after another replica took their work over, at seeded
// random moments (LIFTGATE_HA_SEED replays a run; SIGSTOP and SIGKILL alternate). Every upgrade must finish, every simulated
// effect must be applied exactly once, no step outcome may be recorded twice, and a replica woken
// after the takeover must record nothing stale. Takeover times are printed, not asserted.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { openStore, type Store } from '../../src/store/open.ts';
import { executorOf, median, prng, takenOver } from '../helpers/chaos.ts';
import { freshStore, until, type StoreConfig } from '../helpers/harness.ts';
import { killAll, startServer, type Server } from '../helpers/servers.ts';
import { simDb } from '../../src/drivers/sim/tables.ts';

const SEED = Number(process.env.LIFTGATE_HA_SEED ?? 20261201);
const TARGETS = 100;
const EVENTS = 4;
const ENV = { LIFTGATE_EXECUTOR_TIMEOUT_MS: '1000', LIFTGATE_SIM_TIME_SCALE: '0.003' };

const NON_IDEMPOTENT = ['install', 'switchover', 'relocate'];

const servers: Server[] = [];
let store: StoreConfig | null = null;
let observer: Store | null = null;
after(async () => {
  killAll(servers);
  await observer?.close();
  await store?.cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function remaining(s: Store): Promise<{ open: number; failed: string[] }> {
  const rows = await s.db.selectFrom('upgrades').select(['id', 'state', 'error']).where('state', '!=', 'succeeded').execute();
  return {
    open: rows.length,
    failed: rows.filter((r) => r.state === 'failed').map((r) => `${r.id}: ${r.error}`),
  };
}

test('three replicas through SIGKILL and SIGSTOP/SIGCONT: every upgrade finishes, every effect once, nothing stale', async (t) => {
  store = await freshStore('postgres');
  const replicas = await Promise.all([1, 2, 3].map(() => startServer(store as StoreConfig, ENV)));
  servers.push(...replicas);
  await Promise.all(replicas.map((r) => r.waitUp()));
  observer = await openStore(store.config);
  const obs = observer;

  const api = replicas[0];
  assert.equal((await api.api('POST', '/v1/projects', { id: 'ha' })).status, 201);
  for (const v of ['1.0.0', '1.1.0']) await api.api('POST', '/v1/catalog/sim/versions', { version: v, release: `r${v}` });
  for (let i = 0; i < TARGETS; i++) {
    // requests spread over the replicas: any of them takes any request
    const via = replicas[i % replicas.length];
    const id = `c${i}`;
    const tr = await via.api('POST', '/v1/projects/ha/targets', {
      id,
      kind: 'cluster',
      engine: 'sim',
      version: '1.0.0',
      nodes: [
        { name: `${id}-1`, role: 'leader', zone: 'z1' },
        { name: `${id}-2`, role: 'follower', zone: 'z2' },
        { name: `${id}-3`, role: 'follower', zone: 'z3' },
      ],
    });
    assert.equal(tr.status, 201);
    const ur = await via.api('POST', '/v1/projects/ha/upgrades', { targetId: id, toVersion: '1.1.0' });
    assert.equal(ur.status, 202);
  }

  const rnd = prng(SEED);
  const takeovers: { how: string; ms: number }[] = [];
  let live = [...replicas];
  for (let e = 0; e < EVENTS && (await remaining(obs)).open > 0; e++) {
    await sleep(300 + rnd() * 1200);
    const victim = live[Math.floor(rnd() * live.length)];
    const id = await executorOf(obs, victim.pid);
    assert.ok(id, `replica ${victim.pid} is registered`);
    const held = await obs.db
      .selectFrom('steps')
      .select('id')
      .where('lease_owner', '=', id)
      .where('state', 'in', ['running', 'rolling_back'])
      .execute();
    const freeze = e % 2 === 0;
    const t0 = performance.now();
    victim.child.kill(freeze ? 'SIGSTOP' : 'SIGKILL');
    const ms = await takenOver(obs, id, t0);
    takeovers.push({ how: freeze ? 'SIGSTOP' : 'SIGKILL', ms });
    t.diagnostic(
      `${freeze ? 'SIGSTOP' : 'SIGKILL'} of replica ${victim.pid} holding ${held.length} steps: taken over in ${ms.toFixed(0)} ms`,
    );
    if (freeze) {
      // woken after the takeover: everything it still had in flight is stale now; it rejoins
      await sleep(rnd() * 500);
      victim.child.kill('SIGCONT');
      const rejoined = await until(
        async () => {
          if (!victim.alive()) throw new Error(`the woken replica exited:\n${victim.output().slice(-3000)}`);
          return executorOf(obs, victim.pid);
        },
        'the woken replica rejoined',
        2400,
        50,
      );
      assert.notEqual(rejoined, id, 'a woken replica rejoins under a new id');
    } else {
      live = live.filter((r) => r !== victim);
      const replacement = await startServer(store, ENV);
      servers.push(replacement);
      replacement
        .waitUp()
        .then(() => live.push(replacement))
        .catch(() => {}); // killed at the end of the test before it was up
    }
  }

  const deadline = performance.now() + 300_000;
  for (;;) {
    const r = await remaining(obs);
    assert.deepEqual(r.failed, [], 'no upgrade fails');
    if (r.open === 0) break;
    assert.ok(performance.now() < deadline, `${r.open} upgrades still open`);
    await sleep(200);
  }
  t.diagnostic(
    `takeover p50 ${median(takeovers.map((x) => x.ms)).toFixed(0)} ms over ${takeovers.length} (${takeovers.map((x) => `${x.how} ${x.ms.toFixed(0)}`).join(', ')})`,
  );
  assert.ok(takeovers.length >= 2, 'at least one SIGSTOP and one SIGKILL happened while upgrades ran');

  // every effect exactly once
  const steps = await obs.db.selectFrom('steps').select(['id', 'name', 'node', 'action']).execute();
  assert.equal(steps.length, TARGETS * 21);
  const effects = await simDb(obs.db).selectFrom('sim_effects').select(['step_id', 'effect']).execute();
  const byStep = new Map<string, number>();
  for (const x of effects) byStep.set(x.step_id, (byStep.get(x.step_id) ?? 0) + 1);
  for (const s of steps.filter((x) => x.action !== 'precheck')) {
    assert.equal(byStep.get(s.id), 1, `${s.name} on ${s.node} applied ${byStep.get(s.id) ?? 0} times`);
  }
  assert.equal(effects.length, TARGETS * 20);
  // no outcome recorded twice (a stale holder's write would be a second one)
  const succeeded = await obs.db.selectFrom('events').select('step_id').where('type', '=', 'step.succeeded').execute();
  const outcomes = new Map<string, number>();
  for (const x of succeeded) outcomes.set(x.step_id as string, (outcomes.get(x.step_id as string) ?? 0) + 1);
  for (const s of steps) assert.equal(outcomes.get(s.id), 1, `${s.name} on ${s.node} recorded ${outcomes.get(s.id) ?? 0} times`);

  // From the invocation log (every driver call, no unique key): a non-idempotent step reached its
  // effect once, and the call that applied it held the step's last fence, or recovery found that
  // call's effect and recorded the step as done (recovery fences the holder out, then asks the
  // driver, then records: the fence moves on twice). A holder that applied after recovery had
  // judged the step not applied would show an older fence on a step that was re-queued.
  // (Idempotent steps are re-queued without a look, so an effect applied just before a freeze
  // and found again by the re-run is legitimate there.)
  const fences = new Map(
    (await obs.db.selectFrom('steps').select(['id', 'fence']).execute()).map((r) => [r.id, r.fence] as const),
  );
  const recoveredDone = new Set(
    (
      await obs.db
        .selectFrom('events')
        .select('step_id')
        // recovery found the effect and recorded the step done (an outcome of the recovery)
        .where('type', '=', 'step.succeeded')
        .where('actor', '=', 'recovery')
        .execute()
    ).map((r) => r.step_id as string),
  );
  const calls = await simDb(obs.db).selectFrom('sim_invocations').selectAll().where('call', '=', 'execute').execute();
  const reached = new Map<string, number>();
  let fenced = 0;
  for (const c of calls) {
    if (c.outcome === 'fenced') fenced++;
    if (!NON_IDEMPOTENT.includes(c.action)) continue;
    if (c.outcome === 'applied' || c.outcome === 'already_applied') reached.set(c.step_id, (reached.get(c.step_id) ?? 0) + 1);
    if (c.outcome !== 'applied') continue;
    const final = fences.get(c.step_id) as number;
    const ok = c.fence === final || (recoveredDone.has(c.step_id) && c.fence < final);
    assert.ok(ok, `${c.action} on ${c.node} applied by ${c.owner} at fence ${c.fence}, but the step ended at fence ${final}`);
  }
  for (const s of steps.filter((x) => NON_IDEMPOTENT.includes(x.action))) {
    assert.equal(reached.get(s.id), 1, `non-idempotent ${s.name} on ${s.node} reached its effect ${reached.get(s.id)} times`);
  }
  t.diagnostic(`${calls.length} execute calls, ${fenced} refused as stale (fenced)`);
  const nodes = await simDb(obs.db).selectFrom('sim_nodes').select(['node', 'version']).execute();
  assert.equal(nodes.length, TARGETS * 3);
  assert.ok(
    nodes.every((n) => n.version === '1.1.0'),
    'every node runs the new version',
  );
});
