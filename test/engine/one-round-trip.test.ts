// On PostgreSQL a step's success is one round trip: one call of the state core's server-side
// function, no BEGIN or COMMIT around it, with the same moves and events as the long way (the
// step, its stage, the upgrade), the same guard on lease owner and fence, and the long way in one
// transaction when the upgrade is not running (here: paused while its step ran).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { coreEnv } from '../../src/service/app-context.ts';
import { toStep, toUpgrade } from '../../src/store/mappers.ts';
import { countStatements, statementsBetween, statementsRun } from '../../src/store/query-profile.ts';
import { startUpgrade, recordSuccessInOne } from '../../src/engine/core/progress.ts';
import { ensureStepSucceededFn } from '../../src/engine/core/functions.ts';
import { claimSteps } from '../../src/engine/core/writes.ts';
import { seedSim, startApp, stopBackground, upgradeCalls, type TestApp } from '../helpers/harness.ts';

countStatements();

let t: TestApp;
const calls = upgradeCalls(() => t);
const OWNER = 'executor-test';

before(async () => {
  t = await startApp('postgres');
  await stopBackground(t);
  await seedSim(t);
  // the executor is stopped: this test claims and records by hand, as the executor would
  await t.ctx.store.db.insertInto('executors').values(executorRow()).execute();
});
after(() => t.close());

function executorRow() {
  const now = new Date().toISOString();
  return { id: OWNER, host: 'test', pid: process.pid, state: 'running', started_at: now, heartbeat_at: now, beats: 0 };
}

async function claimOne(upgradeId: string) {
  const [row] = await claimSteps(t.ctx.store, {
    owner: OWNER,
    at: new Date().toISOString(),
    leaseUntil: new Date(Date.now() + 60_000).toISOString(),
    limit: 1,
    only: [upgradeId],
    registered: true,
  });
  assert.ok(row, 'a step to claim');
  return toStep(row);
}

async function upgradeRow(id: string) {
  return t.ctx.store.db.selectFrom('upgrades').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

async function eventsAfter(upgradeId: string, id: number) {
  const rows = await t.ctx.store.db
    .selectFrom('events')
    .select(['id', 'type', 'from_state', 'to_state', 'step_id'])
    .where('upgrade_id', '=', upgradeId)
    .where('id', '>', id)
    .orderBy('id')
    .execute();
  return rows.map((r) => `${r.type} ${r.from_state}->${r.to_state}`);
}

async function lastEventId(): Promise<number> {
  const r = await t.ctx.store.db
    .selectFrom('events')
    .select((eb) => eb.fn.max<number>('id').as('m'))
    .executeTakeFirstOrThrow();
  return Number(r.m ?? 0);
}

function record(step: ReturnType<typeof toStep>, upgrade: ReturnType<typeof toUpgrade>, fence = step.fence) {
  const env = coreEnv(t.ctx);
  return recordSuccessInOne(
    t.ctx.store,
    t.ctx.store,
    env,
    { step, upgrade, leaseOwner: OWNER, fence, by: 'executor', log: ['ran'], result: { ok: 1 } },
    { facts: [{ name: 'es-1-1', health: 'healthy', version: '7.10.3' }] },
  );
}

test("a step's success is one statement, with its event, node facts and the stage's and upgrade's advance", async () => {
  const id = await calls.start('es-1');
  const u = toUpgrade(await upgradeRow(id));
  await t.ctx.store.db.transaction().execute((trx) => startUpgrade(trx, coreEnv(t.ctx), u));
  const precheck = await claimOne(id);
  assert.equal(precheck.action, 'precheck');
  await ensureStepSucceededFn(t.ctx.store.db, t.ctx.store);
  const from = await lastEventId();
  const upgrade = toUpgrade(await upgradeRow(id));
  const counts = statementsRun();
  const done = await record(precheck, upgrade);
  const d = statementsBetween(counts, statementsRun());
  assert.deepEqual(done, { recorded: true, advanced: true });
  assert.equal(d.total, 1, 'one statement');
  assert.equal(d.begin + d.commit, 0, 'no transaction control around it');
  // the same moves and events as the long way: the step, the precheck stage, the upgrade, the next stage
  assert.deepEqual(await eventsAfter(id, from), [
    'step.succeeded running->succeeded',
    'stage.succeeded running->succeeded',
    'upgrade.prechecked prechecking->running',
    'stage.started pending->running',
  ]);
  const after = await upgradeRow(id);
  assert.equal(after.state, 'running');
  assert.equal(after.current_stage, 1);
  const step = await t.ctx.store.db.selectFrom('steps').selectAll().where('id', '=', precheck.id).executeTakeFirstOrThrow();
  assert.equal(step.state, 'succeeded');
  assert.equal(step.lease_owner, null);
  assert.deepEqual(JSON.parse(step.result as string), { ok: 1 });
  assert.deepEqual(JSON.parse(step.log as string), ['ran']);
  const node = await t.ctx.store.db
    .selectFrom('nodes')
    .selectAll()
    .where('target_id', '=', 'es-1')
    .where('name', '=', 'es-1-1')
    .executeTakeFirstOrThrow();
  assert.equal(node.version, '7.10.3', 'the node facts are recorded in the same call');
});

test('an outcome under a stale fence changes nothing; a paused upgrade takes the long way, in one transaction', async () => {
  const [u] = await t.ctx.store.db.selectFrom('upgrades').selectAll().where('state', '=', 'running').execute();
  const step = await claimOne(u.id);
  const from = await lastEventId();
  assert.deepEqual(await record(step, toUpgrade(u), step.fence - 1), { recorded: false, advanced: false });
  assert.deepEqual(await eventsAfter(u.id, from), [], 'no event for a lost outcome');
  const still = await t.ctx.store.db.selectFrom('steps').select('state').where('id', '=', step.id).executeTakeFirstOrThrow();
  assert.equal(still.state, 'running');

  assert.equal((await calls.act(u.id, 'pause')).status, 200);
  const paused = toUpgrade(await upgradeRow(u.id));
  const counts = statementsRun();
  const done = await record(step, paused);
  const d = statementsBetween(counts, statementsRun());
  assert.deepEqual(done, { recorded: true, advanced: false });
  assert.equal(d.begin, 1, 'the long way is one transaction');
  assert.equal(d.commit, 1);
  assert.equal((await upgradeRow(u.id)).state, 'paused', 'a paused upgrade does not advance');
  const events = await eventsAfter(u.id, from);
  assert.ok(events.includes('step.succeeded running->succeeded'), events.join(', '));
});
