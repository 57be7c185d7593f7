// options.onFailure: "stop" (default) leaves a failed upgrade to an operator; "rollback" rolls a
// failed upgrade back by itself when its completed steps are reversible, recorded as the policy's
// doing. Real stores (both dialects), through the native API.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect, seedSim, startApp, until, type TestApp } from '../helpers/harness.ts';
import { checkEventsAgainstTable } from '../helpers/transitions.ts';

forEachDialect('failure policy', (dialect) => {
  let t: TestApp;
  before(async () => {
    t = await startApp(dialect);
  });
  after(async () => t.close());

  const start = async (target: string, options: Record<string, unknown>) => {
    const res = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: target, toVersion: '7.10.3', options });
    assert.equal(res.status, 202, res.body);
    return res.json.id as string;
  };
  const get = async (id: string) => (await t.call('GET', `/v1/projects/acme/upgrades/${id}`)).json;
  const settled = (id: string) =>
    until(async () => {
      const u = await get(id);
      return ['failed', 'rolled_back', 'succeeded'].includes(u.state) ? u : null;
    }, `upgrade ${id} to settle`);
  const events = async (id: string) =>
    (await t.call('GET', `/v1/projects/acme/events?upgrade=${id}&limit=1000`)).json.items as any[];
  const fault = (target: string, f: Record<string, unknown>) => t.call('POST', `/v1/projects/acme/targets/${target}/faults`, f);

  test('onFailure=rollback: the failed upgrade is rolled back by itself, and the trail says the policy did it', async () => {
    await seedSim(t, { target: 'auto-1' });
    await fault('auto-1', { node: 'auto-1-3', step: 'start', kind: 'fail' });
    const id = await start('auto-1', { onFailure: 'rollback' });
    const u = await settled(id);
    assert.equal(u.state, 'rolled_back');
    const target = (await t.call('GET', '/v1/projects/acme/targets/auto-1')).json;
    assert.equal(target.version, '7.10.2');
    const ev = await events(id);
    const failed = ev.find((e) => e.type === 'upgrade.failed');
    const rollback = ev.find((e) => e.type === 'upgrade.rollback');
    assert.ok(failed && rollback, ev.map((e) => e.type).join(', '));
    assert.equal(rollback.actor, 'policy');
    assert.equal(rollback.fromState, 'failed');
    assert.equal(rollback.toState, 'rolling_back');
    assert.equal(rollback.data.failure, 'SIM_FAULT');
    assert.ok(ev.some((e) => e.type === 'step.rolled_back'));
    assert.ok(ev.some((e) => e.type === 'upgrade.rolled_back'));
    // recorded after the failure it answers, in the same transaction (nothing of the executor between)
    const i = ev.indexOf(failed);
    assert.ok(ev.indexOf(rollback) > i);
    assert.ok(ev.slice(i + 1, ev.indexOf(rollback)).every((e) => e.actor === 'policy'));
  });

  test('onFailure=rollback with an irreversible completed step: it stays failed, and says why', async () => {
    await seedSim(t, { target: 'auto-2' });
    await t.ctx.store.db
      .updateTable('targets')
      .set({ driver_config: JSON.stringify({ irreversibleSteps: ['install'] }) })
      .where('id', '=', 'auto-2')
      .execute();
    await fault('auto-2', { node: 'auto-2-3', step: 'start', kind: 'fail' });
    const id = await start('auto-2', { onFailure: 'rollback' });
    const u = await settled(id);
    assert.equal(u.state, 'failed');
    assert.equal(u.errorCode, 'SIM_FAULT');
    const refused = (await events(id)).find((e) => e.type === 'upgrade.rollback_refused');
    assert.ok(refused);
    assert.equal(refused.actor, 'policy');
    assert.equal(refused.data.code, 'ROLLBACK_BLOCKED');
    assert.match(refused.message, /cannot be reversed/);
  });

  test('onFailure=stop (the default): a failed upgrade waits for an operator', async () => {
    await seedSim(t, { target: 'stop-1' });
    await fault('stop-1', { node: 'stop-1-3', step: 'start', kind: 'fail' });
    const id = await start('stop-1', {});
    const u = await settled(id);
    assert.equal(u.state, 'failed');
    assert.ok(!(await events(id)).some((e) => e.actor === 'policy'));
    const check = await checkEventsAgainstTable(t.ctx.store.db);
    assert.deepEqual(check.violations, []);
  });

  test('onFailure other than stop or rollback is refused with VALIDATION_FAILED', async () => {
    await seedSim(t, { target: 'bad-1' });
    const res = await t.call('POST', '/v1/projects/acme/upgrades', {
      targetId: 'bad-1',
      toVersion: '7.10.3',
      options: { onFailure: 'retry' },
    });
    assert.equal(res.status, 400);
    assert.equal(res.json.error.code, 'VALIDATION_FAILED');
  });
});
