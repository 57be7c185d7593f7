// A cancel never leaves a node out of service. A rolling upgrade of a three-node sim cluster is
// cancelled at each point of its plan: after each step kind on a node (its next step failed), with
// a step running (one the driver lets a cancel stop, and one it does not), while paused, after a
// failed switchover, and a stop-service upgrade after its stop stage. Each time the cancel must end
// `cancelled` with every node running and healthy in the sim's own node table (what the simulated
// system is, not what Liftgate recorded), and the upgrade's answer must say what was done per
// node. Time for step timeouts comes from a ManualClock the test moves.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../src/domain/clock.ts';
import { applyAction } from '../../src/engine/operations.ts';
import { forEachDialect, seedSim, startApp, until, upgradeCalls, type TestApp } from '../helpers/harness.ts';
import { simDb } from '../../src/drivers/sim/tables.ts';

forEachDialect('cancel restores', (dialect) => {
  let t: TestApp;
  const clock = new ManualClock('2026-03-02T10:00:00.000Z');
  before(async () => {
    t = await startApp(dialect, { clock });
  });
  after(async () => t.close());

  const { start, get, waitState, act, ...calls } = upgradeCalls(() => t);
  const fault = async (target: string, f: Record<string, unknown>) => {
    const res = await calls.fault(target, f);
    assert.equal(res.status, 201, res.body);
  };
  const steps = (u: any) => u.stages.flatMap((s: any) => s.steps);
  const runningStep = (id: string, action: string, node: string) =>
    until(
      async () => steps(await get(id)).find((s: any) => s.action === action && s.node === node && s.state === 'running'),
      `${action} on ${node} running`,
    );
  /** the simulated system itself: every node runs and is healthy */
  const assertServing = async (target: string) => {
    const nodes = await simDb(t.ctx.store.db).selectFrom('sim_nodes').selectAll().where('target_id', '=', target).execute();
    assert.equal(nodes.length, 3);
    for (const n of nodes)
      assert.ok(n.running === 1 && n.health === 'healthy', `${n.node} is ${n.health} (running ${n.running})`);
    const view = (await t.call('GET', `/v1/projects/acme/targets/${target}`)).json;
    assert.ok(
      view.nodes.every((n: any) => n.health === 'healthy'),
      JSON.stringify(view.nodes),
    );
    return nodes;
  };
  const cancel = async (id: string) => {
    const res = await act(id, 'cancel');
    assert.equal(res.status, 200, res.body);
    assert.ok(['cancelling', 'cancelled'].includes(res.json.state), res.json.state);
    return res.json;
  };
  const restores = (u: any) => u.restores.map((r: any) => [r.node, r.state, r.summary]);

  // the rolling plan of a leader X-1 and followers: X-2, then X-3, a switchover of X-1 to
  // X-2, then X-1. A failed step has no effect, so "X failed" is the node as the step before left it.
  const afterEachStep: { name: string; fault: { node?: string; step: string; kind?: string }; restored: [string, string][] }[] = [
    { name: 'drain failed', fault: { node: '-2', step: 'drain' }, restored: [['-2', 'in service on 7.10.2; nothing to do']] },
    { name: 'after drain', fault: { node: '-2', step: 'stop' }, restored: [['-2', 'in service on 7.10.2; nothing to do']] },
    { name: 'after stop', fault: { node: '-2', step: 'install' }, restored: [['-2', 'started on 7.10.2; it was stopped']] },
    { name: 'after install', fault: { node: '-2', step: 'start' }, restored: [['-2', 'started on 7.10.3; it was stopped']] },
    {
      name: 'after start (verify crashed the node)',
      fault: { node: '-2', step: 'verify', kind: 'crash' },
      restored: [['-2', 'started on 7.10.3; it was crashed']],
    },
    { name: 'after verify', fault: { node: '-2', step: 'rejoin' }, restored: [['-2', 'in service on 7.10.3; nothing to do']] },
    {
      name: 'after the first node rejoined',
      fault: { node: '-3', step: 'drain' },
      restored: [['-3', 'in service on 7.10.2; nothing to do']],
    },
    {
      name: 'switchover failed',
      fault: { step: 'switchover' },
      restored: [
        ['-1', 'in service on 7.10.2; nothing to do'],
        ['-2', 'in service on 7.10.3; nothing to do'],
      ],
    },
    {
      name: 'after the switchover',
      fault: { node: '-1', step: 'install' },
      restored: [['-1', 'started on 7.10.2; it was stopped']],
    },
    { name: 'finalize failed (every node done)', fault: { step: 'finalize' }, restored: [] },
  ];
  afterEachStep.forEach((c, i) => {
    test(`cancel ${c.name}: every node serves again and the cancel ends cancelled`, async () => {
      const target = `step-${i}`;
      await seedSim(t, { target });
      await fault(target, {
        step: c.fault.step,
        kind: c.fault.kind ?? 'fail',
        ...(c.fault.node ? { node: `${target}${c.fault.node}` } : {}),
      });
      const id = await start(target);
      await waitState(id, 'failed');
      const answer = await cancel(id);
      const expected = c.restored.map(([n, summary]) => [`${target}${n}`, 'succeeded', summary]);
      // the answer to the cancel names the nodes it brings back
      assert.deepEqual(
        answer.restores.map((r: any) => r.node),
        expected.map((e) => e[0]),
      );
      if (expected.length === 0) assert.equal(answer.state, 'cancelled');
      const u = await waitState(id, 'cancelled');
      assert.deepEqual(restores(u), expected);
      assert.ok(!steps(u).some((s: any) => ['pending', 'running'].includes(s.state)));
      await assertServing(target);
      // the trail says it per node too
      const ev = (await t.call('GET', `/v1/projects/acme/events?upgrade=${id}&type=upgrade.cancel,upgrade.cancelled`)).json.items;
      if (expected.length > 0) {
        const done = ev.find((e: any) => e.type === 'upgrade.cancelled');
        assert.deepEqual(
          done.data.restored.map((r: any) => [r.node, r.state, r.summary]),
          expected,
        );
      } else
        assert.deepEqual(
          ev.map((e: any) => [e.type, e.toState]),
          [['upgrade.cancel', 'cancelled']],
        );
    });
  });

  for (const action of ['stop', 'start']) {
    test(`cancel while ${action} runs: the step is stopped, its holder fenced out, the node serves again`, async () => {
      const target = `run-${action}`;
      await seedSim(t, { target });
      await fault(target, { node: `${target}-2`, step: action, kind: 'hang' });
      const id = await start(target);
      const hung = await runningStep(id, action, `${target}-2`);
      const answer = await cancel(id);
      assert.deepEqual(
        answer.restores.map((r: any) => r.node),
        [`${target}-2`],
      );
      const u = await waitState(id, 'cancelled');
      const stopped = steps(u).find((s: any) => s.id === hung.id);
      assert.equal(stopped.state, 'cancelled');
      assert.match(stopped.log.join('\n'), /fenced out/);
      assert.deepEqual(restores(u), [
        [
          `${target}-2`,
          'succeeded',
          action === 'stop' ? 'in service on 7.10.2; nothing to do' : 'started on 7.10.3; it was stopped',
        ],
      ]);
      await assertServing(target);
      // the holder does not go on: its call was aborted, and nothing it did landed
      const calls = await until(async () => {
        const rows = await simDb(t.ctx.store.db)
          .selectFrom('sim_invocations')
          .selectAll()
          .where('step_id', '=', hung.id)
          .execute();
        return rows.length === 1 && rows[0].outcome !== null && rows;
      }, 'the hung call to end');
      assert.equal(calls[0].outcome, 'failed: step aborted');
      const fx = await simDb(t.ctx.store.db).selectFrom('sim_effects').selectAll().where('step_id', '=', hung.id).execute();
      assert.deepEqual(fx, []);
    });
  }

  test('cancel while a step runs that its driver does not let a cancel stop: it finishes (here: times out) first', async () => {
    const target = 'run-install';
    await seedSim(t, { target });
    await fault(target, { node: `${target}-2`, step: 'install', kind: 'hang' });
    const id = await start(target, { options: { timeouts: { install: 5 } } });
    const install = await runningStep(id, 'install', `${target}-2`);
    const answer = await cancel(id);
    // the install cannot end before the clock moves, so the cancel is still waiting for it
    assert.equal(answer.state, 'cancelling');
    assert.deepEqual(
      answer.restores.map((r: any) => [r.node, r.state]),
      [[`${target}-2`, 'pending']],
    );
    assert.equal(steps(answer).find((s: any) => s.id === install.id).state, 'running');
    const ev = (await t.call('GET', `/v1/projects/acme/events?upgrade=${id}&type=upgrade.cancel`)).json.items;
    assert.deepEqual(ev[0].data.waitingFor, [`Install 7.10.3 on ${target}-2`]);
    clock.advance(5_000);
    const u = await waitState(id, 'cancelled');
    const ended = steps(u).find((s: any) => s.id === install.id);
    assert.equal(ended.state, 'failed');
    assert.match(ended.error, /STEP_TIMEOUT/);
    const restore = steps(u).find((s: any) => s.action === 'restore');
    assert.ok(restore.startedAt >= ended.endedAt, 'the restore started only after the install ended');
    assert.deepEqual(restores(u), [[`${target}-2`, 'succeeded', 'started on 7.10.2; it was stopped']]);
    assert.equal(u.errorCode, null);
    await assertServing(target);
  });

  test('cancel while paused (a step still running), and before the upgrade started', async () => {
    const target = 'paused';
    await seedSim(t, { target });
    await fault(target, { node: `${target}-2`, step: 'start', kind: 'hang' });
    const id = await start(target);
    await runningStep(id, 'start', `${target}-2`);
    assert.equal((await act(id, 'pause')).json.state, 'paused');
    await cancel(id);
    const u = await waitState(id, 'cancelled');
    assert.deepEqual(restores(u), [[`${target}-2`, 'succeeded', 'started on 7.10.3; it was stopped']]);
    await assertServing(target);

    await seedSim(t, { target: 'unstarted' });
    await t.ctx.executor.stop();
    try {
      const later = await start('unstarted');
      assert.equal((await act(later, 'pause')).json.state, 'paused');
      const answer = await cancel(later);
      assert.equal(answer.state, 'cancelled');
      assert.deepEqual(answer.restores, []);
    } finally {
      t.ctx.executor.start();
    }
    await assertServing('unstarted');
  });

  test('stop_service: a cancel after the stop stage starts every node, the leader first; a rollback after it still works', async () => {
    const target = 'stopsvc';
    await seedSim(t, { target });
    await fault(target, { node: `${target}-1`, step: 'install', kind: 'fail' });
    const id = await start(target, { mode: 'stop_service' });
    await waitState(id, 'failed');
    const answer = await cancel(id);
    assert.deepEqual(
      answer.restores.map((r: any) => r.node),
      [`${target}-1`, `${target}-2`, `${target}-3`],
    );
    const u = await waitState(id, 'cancelled');
    assert.deepEqual(u.restores[0].summary, 'started on 7.10.2; it was stopped');
    for (const r of u.restores.slice(1)) assert.match(r.summary, /^started on 7\.10\.[23]; it was stopped$/);
    await assertServing(target);
    // the restores are reversed first (the nodes they started are stopped again), then the plan's steps
    assert.equal((await act(id, 'rollback')).status, 200);
    await waitState(id, 'rolled_back');
    const nodes = await assertServing(target);
    assert.ok(nodes.every((n) => n.version === '7.10.2'));
  });

  test('a restore that fails fails the upgrade with RESTORE_FAILED; a cancel again brings the node back', async () => {
    const target = 'restore-fail';
    await seedSim(t, { target });
    await fault(target, { node: `${target}-2`, step: 'install', kind: 'fail' });
    await fault(target, { node: `${target}-2`, step: 'restore', kind: 'fail' });
    const id = await start(target);
    await waitState(id, 'failed');
    await cancel(id);
    const failed = await waitState(id, 'failed');
    assert.equal(failed.errorCode, 'RESTORE_FAILED');
    assert.match(failed.error, new RegExp(`could not bring ${target}-2 back into service`));
    assert.equal(failed.restores[0].state, 'failed');
    // the node is honestly still down, and retry or skip would walk past that
    const down = await simDb(t.ctx.store.db)
      .selectFrom('sim_nodes')
      .selectAll()
      .where('node', '=', `${target}-2`)
      .executeTakeFirstOrThrow();
    assert.equal(down.running, 0);
    for (const a of ['retry', 'skip']) {
      const r = await act(id, a);
      assert.deepEqual([r.status, r.json.error.code], [409, 'INVALID_STATE']);
      assert.match(r.json.error.message, /request cancel again/);
    }
    const again = await cancel(id);
    assert.equal(again.restores[0].node, `${target}-2`);
    const u = await waitState(id, 'cancelled');
    assert.deepEqual(restores(u), [[`${target}-2`, 'succeeded', 'started on 7.10.2; it was stopped']]);
    await assertServing(target);
  });

  test('a cancelling upgrade still holds its target', async () => {
    const target = 'holds';
    await seedSim(t, { target });
    await fault(target, { node: `${target}-2`, step: 'install', kind: 'hang' });
    const id = await start(target, { options: { timeouts: { install: 5 } } });
    await runningStep(id, 'install', `${target}-2`);
    assert.equal((await cancel(id)).state, 'cancelling');
    const second = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: target, toVersion: '7.11.0' });
    assert.deepEqual([second.status, second.json.error.code], [409, 'TARGET_BUSY']);
    clock.advance(5_000);
    await waitState(id, 'cancelled');
    await assertServing(target);
  });
});

// A holder in another process learns of the cancel from its lease: here the cancel is applied
// without telling this process's executor (as a cancel through another replica would be), so only
// the holder's next lease renewal, which finds the step no longer its own, can stop its call.
forEachDialect('cancel fences a holder that was not told', (dialect) => {
  let t: TestApp;
  const clock = new ManualClock('2026-03-02T10:00:00.000Z');
  before(async () => {
    // renewals every 100 ms (a third of the lease); leases read the ManualClock, so none expires
    t = await startApp(dialect, { clock, executor: { pollMs: 20, leaseMs: 300 } });
  });
  after(async () => t.close());

  test('the holder’s heartbeat finds the step cancelled and aborts its call', async () => {
    await seedSim(t, { target: 'far' });
    const f = await t.call('POST', '/v1/projects/acme/targets/far/faults', { node: 'far-2', step: 'start', kind: 'hang' });
    assert.equal(f.status, 201, f.body);
    const res = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: 'far', toVersion: '7.10.3' });
    assert.equal(res.status, 202, res.body);
    const id = res.json.id as string;
    const get = async () => (await t.call('GET', `/v1/projects/acme/upgrades/${id}`)).json;
    const hung = await until(
      async () =>
        (await get()).stages.flatMap((s: any) => s.steps).find((s: any) => s.action === 'start' && s.state === 'running'),
      'the hung start',
    );
    const executor = t.ctx.executor;
    await applyAction(
      { store: t.ctx.store, drivers: t.ctx.drivers, clock, executor: { touch: (u) => executor.touch(u) } },
      'acme',
      id,
      'cancel',
      'elsewhere',
    );
    const calls = await until(async () => {
      const rows = await simDb(t.ctx.store.db).selectFrom('sim_invocations').selectAll().where('step_id', '=', hung.id).execute();
      return rows.length === 1 && rows[0].outcome !== null && rows;
    }, 'the hung call to end');
    assert.equal(calls[0].outcome, 'failed: step aborted');
    await until(async () => (await get()).state === 'cancelled', 'the cancel to end');
    const nodes = await simDb(t.ctx.store.db).selectFrom('sim_nodes').selectAll().where('target_id', '=', 'far').execute();
    for (const n of nodes) assert.ok(n.running === 1 && n.health === 'healthy', `${n.node} is ${n.health}`);
  });
});
