// Automatic retry of transient step failures (options.retry, src/engine/core/retry.ts): a step
// its driver declares safe to run again that fails with a transient error is pending again after
// a backoff, read on the injected clock (the test moves a ManualClock instead of sleeping), and
// runs again; anything else fails as before. Real stores (both dialects), a real executor, the
// sim driver's transient faults, through the native API. The sim's invocation log counts every
// call, so a second run (or a missing one) shows.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../src/domain/clock.ts';
import { DEFAULT_STEP_RETRY } from '../../src/drivers/driver.ts';
import { backoffSeconds, retryOf } from '../../src/engine/core/retry.ts';
import { claimSteps } from '../../src/engine/core/writes.ts';
import { simDb } from '../../src/drivers/sim/tables.ts';
import { forEachDialect, seedSim, startApp, until, upgradeCalls, type TestApp } from '../helpers/harness.ts';
import { checkEventsAgainstTable } from '../helpers/transitions.ts';

const SAFE = { idempotent: true, reversible: true, interruptible: true };
const UNSAFE = { idempotent: false, reversible: true, interruptible: false };

test('retryOf: the driver decides whether, the upgrade how often and how long apart', () => {
  assert.deepEqual(retryOf({}, 'verify', SAFE), DEFAULT_STEP_RETRY);
  assert.equal(retryOf({}, 'install', UNSAFE), null);
  assert.equal(retryOf({ retry: { attempts: 5 } }, 'install', UNSAFE), null, 'options never make an unsafe step retried');
  assert.equal(retryOf({}, 'verify', { ...SAFE, retry: false }), null);
  assert.deepEqual(retryOf({}, 'cutover', { ...UNSAFE, retry: { attempts: 2, backoffSeconds: 1, maxBackoffSeconds: 1 } }), {
    attempts: 2,
    backoffSeconds: 1,
    maxBackoffSeconds: 1,
  });
  assert.equal(retryOf({ retry: { attempts: 1 } }, 'verify', SAFE), null);
  const o = { retry: { attempts: 4, backoffSeconds: 10, actions: { verify: { attempts: 6, maxBackoffSeconds: 20 } } } };
  assert.deepEqual(retryOf(o, 'verify', SAFE), { attempts: 6, backoffSeconds: 10, maxBackoffSeconds: 20 });
  assert.deepEqual(retryOf(o, 'drain', SAFE), { attempts: 4, backoffSeconds: 10, maxBackoffSeconds: 300 });
  // a start longer than the default cap is not cut by it
  assert.deepEqual(retryOf({ retry: { backoffSeconds: 600 } }, 'drain', SAFE), {
    attempts: 3,
    backoffSeconds: 600,
    maxBackoffSeconds: 600,
  });
  const r = { attempts: 6, backoffSeconds: 5, maxBackoffSeconds: 30 };
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((n) => backoffSeconds(r, n)),
    [5, 10, 20, 30, 30],
  );
});

forEachDialect('step retry', (dialect) => {
  let t: TestApp;
  const clock = new ManualClock('2026-03-02T10:00:00.000Z');
  before(async () => {
    // a lease far longer than the test moves the clock, so no recovery interferes
    t = await startApp(dialect, { clock, executor: { pollMs: 20, leaseMs: 24 * 3600_000 } });
  });
  after(async () => t.close());

  const { start, get, waitState, fault: addFault } = upgradeCalls(() => t);
  const fault = async (target: string, f: Record<string, unknown>) => {
    const res = await addFault(target, f);
    assert.equal(res.status, 201, res.body);
  };
  const stepOf = async (upgradeId: string, action: string, node: string) => {
    const u = await get(upgradeId);
    return u.stages.flatMap((s: any) => s.steps).find((s: any) => s.action === action && s.node === node);
  };
  const stepRow = (upgradeId: string, action: string, node: string) =>
    t.ctx.store.db
      .selectFrom('steps')
      .selectAll()
      .where('upgrade_id', '=', upgradeId)
      .where('action', '=', action)
      .where('node', '=', node)
      .executeTakeFirstOrThrow();
  const invocations = (stepId: string) =>
    simDb(t.ctx.store.db)
      .selectFrom('sim_invocations')
      .select(['fence', 'outcome'])
      .where('step_id', '=', stepId)
      .where('call', '=', 'execute')
      .orderBy('id')
      .execute();
  const stepEvents = async (upgradeId: string, stepId: string) =>
    ((await t.call('GET', `/v1/projects/acme/events?upgrade=${upgradeId}&limit=1000`)).json.items as any[]).filter(
      (e) => e.stepId === stepId,
    );
  /** waits until the step is pending after its n-th automatic retry; returns when it may run again */
  const retrying = async (upgradeId: string, action: string, node: string, n: number) => {
    const row = await until(async () => {
      const s = await stepRow(upgradeId, action, node);
      return s.state === 'pending' && s.auto_retries === n && s.not_before ? s : null;
    }, `${action} on ${node} to wait for retry ${n}`);
    return row.not_before as string;
  };

  test('a step that fails once with a transient error runs again after its backoff, and the upgrade succeeds', async () => {
    await seedSim(t, { target: 'once' });
    await fault('once', { node: 'once-2', step: 'verify', kind: 'fail', transient: true });
    const id = await start('once');
    const failedAt = clock.now().getTime();
    const notBefore = await retrying(id, 'verify', 'once-2', 1);
    // the default: 5 s after the failure (the clock has not moved since the upgrade started)
    assert.equal(Date.parse(notBefore) - failedAt, 5_000);
    const waiting = await stepOf(id, 'verify', 'once-2');
    assert.equal(waiting.state, 'pending');
    assert.equal(waiting.notBefore, notBefore);
    assert.equal((await get(id)).state, 'running', 'the upgrade keeps running while the step waits');

    clock.advance(5_000);
    const u = await waitState(id, 'succeeded');
    const step = u.stages.flatMap((s: any) => s.steps).find((s: any) => s.action === 'verify' && s.node === 'once-2');
    assert.equal(step.state, 'succeeded');
    assert.equal(step.attempts, 2);
    assert.equal(step.notBefore, null);
    const log = (u.stages.flatMap((s: any) => s.steps).find((s: any) => s.id === step.id).log ?? []) as string[];
    assert.ok(
      log.some((l) =>
        /attempt 1 of 3 failed: SIM_FAULT: injected transient failure of verify on once-2; retrying in 5 s/.test(l),
      ),
      log.join('\n'),
    );
    // the oracle: the driver was called exactly twice, the first call failed, the second applied
    const calls = await invocations(step.id);
    assert.equal(calls.length, 2, JSON.stringify(calls));
    assert.match(calls[0].outcome ?? '', /^failed: injected transient failure/);
    assert.equal(calls[1].outcome, 'applied');
    const types = (await stepEvents(id, step.id)).map((e) => e.type);
    assert.deepEqual(types, ['step.started', 'step.retrying', 'step.started', 'step.succeeded']);
    const ev = (await stepEvents(id, step.id)).find((e) => e.type === 'step.retrying');
    assert.equal(ev.actor, 'executor');
    assert.equal(ev.fromState, 'running');
    assert.equal(ev.toState, 'pending');
    assert.deepEqual(
      { ...ev.data, error: undefined },
      { code: 'SIM_FAULT', attempt: 1, attempts: 3, backoffSeconds: 5, notBefore, error: undefined },
    );
    assert.match(ev.message, /^Health check on once-2: attempt 1 of 3 failed: SIM_FAULT: .*; retrying in 5 s$/);
  });

  test('the step is not claimed again before its backoff ends', async () => {
    await seedSim(t, { target: 'wait' });
    await fault('wait', { node: 'wait-3', step: 'drain', kind: 'health_timeout', transient: true });
    const id = await start('wait', { options: { retry: { backoffSeconds: 60 } } });
    const notBefore = await retrying(id, 'drain', 'wait-3', 1);
    const row = await stepRow(id, 'drain', 'wait-3');
    // halfway through the backoff the claim statement itself passes it over
    clock.advance(30_000);
    const claim = (at: string) => claimSteps(t.ctx.store, { owner: 'probe', at, leaseUntil: at, limit: 10, only: [id] });
    assert.deepEqual(await claim(clock.now().toISOString()), []);
    assert.equal((await stepRow(id, 'drain', 'wait-3')).state, 'pending');
    clock.advance(30_000);
    await waitState(id, 'succeeded');
    // claimed again at (or after) the end of its backoff, on the injected clock
    const started = (await stepEvents(id, row.id)).filter((e) => e.type === 'step.started');
    assert.equal(started.length, 2);
    assert.ok(started[1].createdAt >= notBefore, `${started[1].createdAt} >= ${notBefore}`);
    assert.equal((await invocations(row.id)).length, 2);
  });

  test('a step that is not safe to run again is not retried after a transient failure', async () => {
    await seedSim(t, { target: 'unsafe' });
    // the sim's install is not idempotent
    await fault('unsafe', { node: 'unsafe-2', step: 'install', kind: 'fail', transient: true });
    const id = await start('unsafe');
    const u = await waitState(id, 'failed');
    assert.equal(u.errorCode, 'SIM_FAULT');
    assert.doesNotMatch(u.error, /attempts/);
    const row = await stepRow(id, 'install', 'unsafe-2');
    assert.equal(row.state, 'failed');
    assert.equal(row.attempts, 1);
    assert.equal((await invocations(row.id)).length, 1);
    assert.ok(!(await stepEvents(id, row.id)).some((e) => e.type === 'step.retrying'));
  });

  test('when its attempts run out the step fails, saying how many it had', async () => {
    await seedSim(t, { target: 'spent' });
    await fault('spent', { node: 'spent-2', step: 'verify', kind: 'fail', transient: true, times: 3 });
    const id = await start('spent');
    clock.set(await retrying(id, 'verify', 'spent-2', 1));
    clock.set(await retrying(id, 'verify', 'spent-2', 2));
    const u = await waitState(id, 'failed');
    assert.equal(u.errorCode, 'SIM_FAULT');
    assert.match(u.error, /after 3 attempts/);
    const row = await stepRow(id, 'verify', 'spent-2');
    assert.equal(row.attempts, 3);
    assert.match(row.error ?? '', /after 3 attempts/);
    assert.equal((await invocations(row.id)).length, 3);
    const waits = (await stepEvents(id, row.id)).filter((e) => e.type === 'step.retrying').map((e) => e.data.backoffSeconds);
    assert.deepEqual(waits, [5, 10], 'the backoff doubles');
    // an operator's retry starts the count afresh: one more transient failure is retried again
    await fault('spent', { node: 'spent-2', step: 'verify', kind: 'fail', transient: true });
    const res = await t.call('POST', `/v1/projects/acme/upgrades/${id}/actions`, { action: 'retry' });
    assert.equal(res.status, 200, res.body);
    clock.set(await retrying(id, 'verify', 'spent-2', 1));
    await waitState(id, 'succeeded');
    assert.equal((await invocations(row.id)).length, 5);
  });

  test('attempts 1 turns automatic retries off', async () => {
    await seedSim(t, { target: 'off' });
    await fault('off', { node: 'off-2', step: 'verify', kind: 'fail', transient: true });
    const id = await start('off', { options: { retry: { attempts: 1 } } });
    const u = await waitState(id, 'failed');
    assert.equal(u.errorCode, 'SIM_FAULT');
    const row = await stepRow(id, 'verify', 'off-2');
    assert.equal(row.attempts, 1);
    assert.equal((await invocations(row.id)).length, 1);
  });

  test('a failure not marked transient fails the step at once', async () => {
    await seedSim(t, { target: 'hard' });
    await fault('hard', { node: 'hard-2', step: 'verify', kind: 'fail' });
    const id = await start('hard');
    await waitState(id, 'failed');
    const row = await stepRow(id, 'verify', 'hard-2');
    assert.equal((await invocations(row.id)).length, 1);
    assert.equal(row.auto_retries, 0);
  });

  test('a batch gives its upgrades its retry options', async () => {
    await seedSim(t, { target: 'b-1' });
    const res = await t.call('POST', '/v1/projects/acme/batches', {
      name: 'retry off',
      targetIds: ['b-1'],
      toVersion: '7.10.3',
      waves: [{ name: 'all', targets: '100%' }],
      upgradeOptions: { retry: { attempts: 1 } },
    });
    assert.equal(res.status, 201, res.body);
    const row = await t.ctx.store.db
      .selectFrom('upgrades')
      .select('options')
      .where('batch_id', '=', res.json.id)
      .executeTakeFirstOrThrow();
    assert.deepEqual(JSON.parse(row.options).retry, { attempts: 1 });
    const bad = await t.call('POST', '/v1/projects/acme/batches', {
      name: 'bad',
      targetIds: ['b-1'],
      toVersion: '7.10.3',
      waves: [{ name: 'all', targets: '100%' }],
      upgradeOptions: { retry: { tries: 2 } },
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'VALIDATION_FAILED');
  });

  test('retry options that cannot work are refused, saying what to change', async () => {
    await seedSim(t, { target: 'bad' });
    const refused = async (options: Record<string, unknown>, message: RegExp) => {
      const res = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: 'bad', toVersion: '7.10.3', options });
      assert.equal(res.status, 400, res.body);
      assert.equal(res.json.error.code, 'VALIDATION_FAILED');
      assert.match(res.json.error.message, message);
    };
    await refused({ retry: { backoffSeconds: 60, maxBackoffSeconds: 10 } }, /options\.retry\.maxBackoffSeconds \(10\) is below/);
    await refused({ retry: { actions: { install: { attempts: 3 } } } }, /options\.retry\.actions\.install: the sim driver never/);
    await refused({ retry: { attempts: 0 } }, /attempts/);
    await refused({ retry: { actions: { nosuch: { attempts: 2 } } } }, /nosuch/);
    const hang = await t.call('POST', '/v1/projects/acme/targets/bad/faults', { step: 'drain', kind: 'hang', transient: true });
    assert.equal(hang.status, 400, hang.body);
    assert.match(hang.json.error.message, /cannot be transient/);
  });

  test('every recorded transition is in the table', async () => {
    const check = await checkEventsAgainstTable(t.ctx.store.db);
    assert.deepEqual(check.violations, []);
    assert.ok(check.seen.has('step.retry_auto'));
  });
});
