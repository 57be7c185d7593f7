// Every operator action on real stores (both dialects), driven through the native API. Step
// timeouts are read on a ManualClock the test moves: a hung step times out when the test says so,
// never while a pause is still on its way.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../src/domain/clock.ts';
import { forEachDialect, seedSim, startApp, until, upgradeCalls, type TestApp } from '../helpers/harness.ts';
import { simDb } from '../../src/drivers/sim/tables.ts';

forEachDialect('operators', (dialect) => {
  let t: TestApp;
  const clock = new ManualClock('2026-03-02T10:00:00.000Z');
  before(async () => {
    t = await startApp(dialect, { clock });
  });
  after(async () => t.close());

  const { start, get, waitState, act, fault } = upgradeCalls(() => t);
  const effects = async (target: string) =>
    simDb(t.ctx.store.db).selectFrom('sim_effects').selectAll().where('target_id', '=', target).orderBy('id').execute();

  test('a rolling upgrade succeeds: followers first, leader last after a switchover, versions recorded', async () => {
    await seedSim(t, { target: 'ok-1' });
    const id = await start('ok-1');
    const u = await waitState(id, 'succeeded');
    const steps = u.stages.flatMap((s: any) => s.steps);
    assert.ok(steps.every((s: any) => s.state === 'succeeded'));
    const nodeOrder = [...new Set(steps.filter((s: any) => s.node).map((s: any) => s.node))];
    assert.deepEqual(nodeOrder, ['ok-1-2', 'ok-1-3', 'ok-1-1']);
    const sw = steps.find((s: any) => s.action === 'switchover');
    assert.deepEqual(sw.params, { from: 'ok-1-1', to: 'ok-1-2' });
    const target = (await t.call('GET', '/v1/projects/acme/targets/ok-1')).json;
    assert.equal(target.version, '7.10.3');
    assert.ok(target.nodes.every((n: any) => n.version === '7.10.3' && n.health === 'healthy'));
    assert.equal(target.nodes.find((n: any) => n.name === 'ok-1-2').role, 'leader');
    const ev = (await t.call('GET', `/v1/projects/acme/events?upgrade=${id}&limit=1000`)).json.items;
    assert.ok(ev.some((e: any) => e.type === 'upgrade.succeeded'));
    assert.ok(ev.every((e: any) => e.actor && e.createdAt));
  });

  test('a second upgrade of a busy target answers 409 TARGET_BUSY', async () => {
    await seedSim(t, { target: 'busy-1' });
    await fault('busy-1', { step: 'drain', kind: 'fail' });
    const id = await start('busy-1');
    await waitState(id, 'failed');
    const res = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: 'busy-1', toVersion: '7.11.0' });
    assert.equal(res.status, 409);
    assert.equal(res.json.error.code, 'TARGET_BUSY');
    // it names the target and the upgrade that holds it by its short reference
    const ref = (await t.call('GET', `/v1/projects/acme/upgrades/${id}`)).json.ref;
    assert.match(ref, /^up-\d+$/);
    assert.equal(
      res.json.error.message,
      `target busy-1 is busy with upgrade ${ref} (failed, 7.10.2 -> 7.10.3); wait for it, or cancel it`,
    );
    assert.deepEqual(res.json.error.details, { targetId: 'busy-1', upgradeId: id, upgradeRef: ref });
    // the failed drain may have left its node out of traffic: the cancel brings it back first
    const cancel = await act(id, 'cancel');
    assert.ok(['cancelling', 'cancelled'].includes(cancel.json.state), cancel.body);
    await waitState(id, 'cancelled');
    const again = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: 'busy-1', toVersion: '7.10.3' });
    assert.equal(again.status, 202);
  });

  test('pause lets the running step finish and starts nothing new; resume carries on', async () => {
    await seedSim(t, { target: 'pause-1' });
    await fault('pause-1', { node: 'pause-1-2', step: 'stop', kind: 'hang' });
    const id = await start('pause-1', { options: { stepTimeoutSeconds: 1 } });
    await until(
      async () =>
        (await get(id)).stages.flatMap((s: any) => s.steps).find((s: any) => s.action === 'stop' && s.state === 'running'),
      'hang',
    );
    assert.equal((await act(id, 'pause')).json.state, 'paused');
    // the hung step times out and fails; nothing after it started
    clock.advance(1_000);
    const failed = await waitState(id, 'failed');
    const steps = failed.stages.flatMap((s: any) => s.steps);
    assert.equal(steps.find((s: any) => s.action === 'stop' && s.node === 'pause-1-2').state, 'failed');
    assert.match(failed.error, /did not finish within 1 s/);
    assert.equal(steps.filter((s: any) => s.state === 'running').length, 0);
    assert.equal((await act(id, 'retry')).json.state, 'running');
    await waitState(id, 'succeeded');
  });

  test('pause then resume', async () => {
    await seedSim(t, { target: 'pause-2' });
    await fault('pause-2', { node: 'pause-2-3', step: 'install', kind: 'hang' });
    const id = await start('pause-2', { options: { stepTimeoutSeconds: 2 } });
    await until(
      async () =>
        (await get(id)).stages
          .flatMap((s: any) => s.steps)
          .find((s: any) => s.action === 'install' && s.node === 'pause-2-3' && s.state === 'running'),
      'hang',
    );
    assert.equal((await act(id, 'pause')).json.state, 'paused');
    assert.equal((await act(id, 'pause')).status, 409);
    const res = await act(id, 'resume');
    assert.equal(res.status, 200);
    assert.equal(res.json.state, 'running');
    clock.advance(2_000);
    const failed = await waitState(id, 'failed');
    assert.equal(failed.errorCode, 'STEP_TIMEOUT');
    await act(id, 'retry');
    await waitState(id, 'succeeded');
  });

  test('an upgrade paused before the executor started it stays unstarted; resume makes it ready again', async () => {
    await seedSim(t, { target: 'pause-3' });
    // the executor is stopped, so the upgrade is certainly still `ready` when the pause arrives
    await t.ctx.executor.stop();
    let id: string;
    try {
      id = await start('pause-3');
      assert.equal((await get(id)).state, 'ready');
      const paused = await act(id, 'pause');
      assert.equal(paused.status, 200, paused.body);
      assert.equal(paused.json.state, 'paused');
      const u = await get(id);
      assert.equal(u.startedAt, null);
      assert.deepEqual(u.allowedActions, ['resume', 'cancel', 'rollback']);
      assert.ok(u.stages.every((s: any) => s.state === 'pending'));
      const resumed = await act(id, 'resume');
      assert.equal(resumed.status, 200, resumed.body);
      assert.equal(resumed.json.state, 'ready');
    } finally {
      t.ctx.executor.start();
    }
    const done = await waitState(id, 'succeeded');
    assert.ok(done.startedAt);
    const types = (await t.call('GET', `/v1/projects/acme/events?upgrade=${id}&limit=1000`)).json.items.map((e: any) => e.type);
    const at = (type: string) => types.indexOf(type);
    assert.ok(at('upgrade.pause') >= 0 && at('upgrade.pause') < at('upgrade.resume'));
    assert.ok(at('upgrade.resume') < at('upgrade.started'), 'started only after the resume');
  });
  test('retry re-runs only the failed step; succeeded ones keep their single effect', async () => {
    await seedSim(t, { target: 'retry-1' });
    await fault('retry-1', { node: 'retry-1-3', step: 'start', kind: 'fail', times: 2 });
    const id = await start('retry-1');
    let u = await waitState(id, 'failed');
    assert.equal(u.errorCode, 'SIM_FAULT');
    const failedStep = u.stages.flatMap((s: any) => s.steps).find((s: any) => s.state === 'failed');
    assert.equal(failedStep.node, 'retry-1-3');
    assert.equal((await act(id, 'retry')).status, 200);
    u = await waitState(id, 'failed');
    assert.equal((await act(id, 'retry')).status, 200);
    u = await waitState(id, 'succeeded');
    assert.equal(u.retries, 2);
    const step = u.stages.flatMap((s: any) => s.steps).find((s: any) => s.id === failedStep.id);
    assert.equal(step.attempts, 3);
    const fx = await effects('retry-1');
    const perStep = new Map<string, number>();
    for (const e of fx) perStep.set(`${e.step_id}:${e.effect}`, (perStep.get(`${e.step_id}:${e.effect}`) ?? 0) + 1);
    assert.ok([...perStep.values()].every((n) => n === 1));
    assert.equal(perStep.size, u.stages.flatMap((s: any) => s.steps).filter((s: any) => s.action !== 'precheck').length);
  });

  test('skip marks the failed step skipped and goes on', async () => {
    await seedSim(t, { target: 'skip-1' });
    await fault('skip-1', { node: 'skip-1-2', step: 'rejoin', kind: 'fail' });
    const id = await start('skip-1');
    await waitState(id, 'failed');
    assert.equal((await act(id, 'skip')).status, 200);
    const u = await waitState(id, 'succeeded');
    const skipped = u.stages.flatMap((s: any) => s.steps).filter((s: any) => s.state === 'skipped');
    assert.deepEqual(
      skipped.map((s: any) => [s.node, s.action]),
      [['skip-1-2', 'rejoin']],
    );
  });

  test('cancel stops a failed upgrade; pending steps are cancelled; the stopped node is started again', async () => {
    await seedSim(t, { target: 'cancel-1' });
    await fault('cancel-1', { node: 'cancel-1-2', step: 'install', kind: 'fail' });
    const id = await start('cancel-1');
    await waitState(id, 'failed');
    const res = await act(id, 'cancel');
    assert.equal(res.status, 200, res.body);
    assert.ok(['cancelling', 'cancelled'].includes(res.json.state), res.json.state);
    assert.deepEqual(
      res.json.restores.map((r: any) => [r.node, r.reason]),
      [['cancel-1-2', 'after Install 7.10.3 (failed)']],
    );
    const u = await waitState(id, 'cancelled');
    const planned = u.stages.slice(0, -1).flatMap((s: any) => s.steps);
    const states = new Set(planned.map((s: any) => s.state));
    assert.ok(states.has('cancelled'));
    assert.ok(!states.has('pending'));
    assert.equal(u.stages.at(-1).name, 'Restore service');
    assert.equal(u.stageCount, u.stages.length);
    assert.deepEqual(
      u.restores.map((r: any) => [r.node, r.state, r.summary]),
      [['cancel-1-2', 'succeeded', 'started on 7.10.2; it was stopped']],
    );
    const nodes = await simDb(t.ctx.store.db).selectFrom('sim_nodes').selectAll().where('target_id', '=', 'cancel-1').execute();
    assert.ok(
      nodes.every((n) => n.running === 1 && n.health === 'healthy'),
      JSON.stringify(nodes),
    );
    assert.equal((await act(id, 'resume')).json.error.code, 'INVALID_STATE');
  });

  test('rollback reverses completed steps newest first and restores the old version', async () => {
    await seedSim(t, { target: 'rb-1' });
    await fault('rb-1', { node: 'rb-1-3', step: 'verify', kind: 'crash' });
    const id = await start('rb-1');
    await waitState(id, 'failed');
    const res = await act(id, 'rollback');
    assert.equal(res.status, 200, res.body);
    const u = await waitState(id, 'rolled_back');
    const steps = u.stages.flatMap((s: any) => s.steps);
    assert.ok(steps.filter((s: any) => s.state === 'rolled_back').length >= 10);
    const target = (await t.call('GET', '/v1/projects/acme/targets/rb-1')).json;
    assert.equal(target.version, '7.10.2');
    assert.ok(
      target.nodes.every((n: any) => n.version === '7.10.2'),
      JSON.stringify(target.nodes),
    );
    assert.ok(target.nodes.filter((n: any) => n.name !== 'rb-1-3').every((n: any) => n.health === 'healthy'));
    const fx = await effects('rb-1');
    const rollbacks = fx.filter((e) => e.effect.startsWith('rollback:')).map((e) => e.step_id);
    assert.equal(new Set(rollbacks).size, rollbacks.length);
    // newest first: the reversal order is the reverse of the completion order
    const forward = fx.filter((e) => !e.effect.startsWith('rollback:')).map((e) => e.step_id);
    assert.deepEqual(rollbacks, forward.filter((s) => rollbacks.includes(s)).reverse());
  });

  test('rollback is refused, naming the blocking step, when a completed step cannot be reversed', async () => {
    await seedSim(t, { target: 'rb-2' });
    await t.ctx.store.db
      .updateTable('targets')
      .set({ driver_config: JSON.stringify({ irreversibleSteps: ['install'] }) })
      .where('id', '=', 'rb-2')
      .execute();
    await fault('rb-2', { node: 'rb-2-3', step: 'start', kind: 'fail' });
    const id = await start('rb-2');
    await waitState(id, 'failed');
    const res = await act(id, 'rollback');
    assert.equal(res.status, 409);
    assert.equal(res.json.error.code, 'ROLLBACK_BLOCKED');
    assert.match(res.json.error.message, /Install 7\.10\.3.* on rb-2-/);
    assert.equal((await get(id)).state, 'failed');
  });

  test('stop_service stops every node, installs, starts and verifies them together', async () => {
    await seedSim(t, { target: 'ss-1' });
    const id = await start('ss-1', { mode: 'stop_service' });
    const u = await waitState(id, 'succeeded');
    assert.deepEqual(
      u.stages.map((s: any) => s.steps.map((st: any) => st.action)[0]),
      ['precheck', 'backup', 'stop', 'install', 'start', 'verify', 'finalize'],
    );
    assert.equal(u.stages[2].steps.length, 3);
  });

  test('az_migration moves the nodes of one zone to another', async () => {
    await seedSim(t, {
      target: 'az-1',
      nodes: [
        { name: 'az-1-1', role: 'data', zone: 'a' },
        { name: 'az-1-2', role: 'data', zone: 'b' },
        { name: 'az-1-3', role: 'data', zone: 'a' },
      ],
    });
    const res = await t.call('POST', '/v1/projects/acme/upgrades', {
      targetId: 'az-1',
      mode: 'az_migration',
      options: { sourceAz: 'a', targetAz: 'c' },
    });
    assert.equal(res.status, 202, res.body);
    await waitState(res.json.id, 'succeeded');
    const target = (await t.call('GET', '/v1/projects/acme/targets/az-1')).json;
    assert.deepEqual(
      target.nodes.map((n: any) => n.zone),
      ['c', 'b', 'c'],
    );
    assert.equal(target.version, '7.10.2');
  });

  test('a failing precheck stops the upgrade unless forced', async () => {
    await seedSim(t, { target: 'pc-1' });
    await simDb(t.ctx.store.db)
      .updateTable('sim_nodes')
      .set({ disk_free_pct: 5 })
      .where('target_id', '=', 'pc-1')
      .where('node', '=', 'pc-1-2')
      .execute();
    const id = await start('pc-1');
    const u = await waitState(id, 'failed');
    assert.equal(u.errorCode, 'PRECHECK_FAILED');
    const report = (await t.call('GET', `/v1/projects/acme/prechecks/${u.precheckReportId}`)).json;
    assert.equal(report.state, 'failed');
    assert.ok(report.items.some((i: any) => i.name === 'disk_space' && i.status === 'fail' && i.node === 'pc-1-2'));
    await act(id, 'cancel');
    const forced = await start('pc-1', { force: true });
    await waitState(forced, 'succeeded');
  });
});
