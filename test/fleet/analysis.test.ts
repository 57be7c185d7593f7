// Analysis checks judged during a wave's bake, through the native API on the injected clock: an
// sli check the sim driver measures, made to regress by a `regress` fault armed on the canary's
// upgrade; the batch halts with the check, the value and the bound in its reason, and with
// upgradeOptions.onFailure rollback the canary's upgrade is rolled back. A check that passes lets
// the batch go on; the request's shape is validated with messages that say what to fix.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect } from '../helpers/harness.ts';
import { checkEventsAgainstTable } from '../helpers/transitions.ts';
import { P, events, fleetEnv, type FleetEnv } from './helpers.ts';

forEachDialect('analysis checks (sli)', (dialect) => {
  let env: FleetEnv;
  before(async () => {
    env = await fleetEnv(dialect, { start: '2026-12-01T10:00:00Z' });
  });
  after(async () => env.close());

  const create = async (body: Record<string, unknown>) => {
    const res = await env.call('POST', `/v1/projects/${P}/batches`, { toVersion: '7.10.3', mode: 'rolling', ...body });
    assert.equal(res.status, 201, res.body);
    return res.json;
  };
  const upgradesOf = async (batchId: string) =>
    (await env.call('GET', `/v1/projects/${P}/batches/${batchId}/upgrades?limit=500`)).json.items as any[];

  test('a regressed SLI fails the canary during the bake: the batch halts, the canary is rolled back', async () => {
    await env.addTarget('s-canary');
    await env.addTarget('s-rest');
    const fault = await env.call('POST', `/v1/projects/${P}/targets/s-canary/faults`, {
      step: 'verify',
      kind: 'regress',
      sli: 'failed_connections',
      value: 7,
    });
    assert.equal(fault.status, 201, fault.body);
    const b = await create({
      name: 'sli regress',
      targetIds: ['s-canary', 's-rest'],
      waves: [
        {
          name: 'canary',
          targets: 1,
          bakeMinutes: 10,
          analysis: [{ name: 'refused connections', sli: 'failed_connections', max: 0, intervalSeconds: 30 }],
        },
        { name: 'rest', targets: '100%' },
      ],
      upgradeOptions: { onFailure: 'rollback' },
    });
    assert.deepEqual(b.waves[0].analysis[0], {
      name: 'refused connections',
      kind: 'sli',
      url: null,
      query: null,
      sli: 'failed_connections',
      min: null,
      max: 0,
      onError: 'pause',
      intervalSeconds: 30,
      outcome: 'pending',
      lastValue: null,
      lastAt: null,
      reason: null,
    });
    await env.waitBatch(b.id, ['baking']);
    // one interval into the bake: the first sample
    await env.advance(30_000);
    const halted = await env.waitBatch(b.id, ['halted']);
    assert.equal(halted.pendingReason, 'halted: analysis "refused connections": 7 > max 0; 1 of 1 allowed failures');
    const w = halted.waves[0];
    assert.equal(w.state, 'failed');
    assert.equal(w.analysis[0].outcome, 'fail');
    assert.equal(w.analysis[0].lastValue, 7);
    assert.deepEqual(w.analysisFailures, [
      { target: 's-canary', check: 'refused connections', reason: 'analysis "refused connections": 7 > max 0', rolledBack: true },
    ]);
    const ups = await upgradesOf(b.id);
    const canary = ups.find((u) => u.targetId === 's-canary');
    const rest = ups.find((u) => u.targetId === 's-rest');
    await env.waitUpgrade(canary.id, ['rolled_back']);
    assert.equal((await env.upgrade(rest.id)).state, 'scheduled', 'the next wave never started');
    const target = (await env.call('GET', `/v1/projects/${P}/targets/s-canary`)).json;
    assert.equal(target.version, '7.10.2', 'the rollback put the old version back');
    const failed = (await events(env)).filter((e) => e.type === 'batch.analysis_failed');
    assert.equal(failed.length, 1);
    assert.deepEqual(
      { check: failed[0].data.check, value: failed[0].data.value, bound: failed[0].data.bound, targets: failed[0].data.targets },
      { check: 'refused connections', value: 7, bound: 0, targets: ['s-canary'] },
    );
    assert.equal((await env.batch(b.id)).failures, 1, 'the rolled-back target counts once');
    const table = await checkEventsAgainstTable(env.t.ctx.store.db);
    assert.deepEqual(table.violations, []);
    assert.ok(table.seen.has('upgrade.revert'), 'the rollback of a succeeded upgrade is its own rule');
  });

  test('a check within its bounds lets the batch go on after the bake', async () => {
    await env.addTarget('s-ok-1', { driverConfig: { lagMs: 1500 } });
    await env.addTarget('s-ok-2');
    const b = await create({
      name: 'sli ok',
      targetIds: ['s-ok-1', 's-ok-2'],
      waves: [
        { name: 'canary', targets: 1, bakeMinutes: 1 },
        { name: 'rest', targets: '100%' },
      ],
      upgradeOptions: { analysis: [{ name: 'lag', sli: 'replication_lag_seconds', max: 5, min: 0 }] },
    });
    await env.waitBatch(b.id, ['baking']);
    await env.advance(61_000);
    const done = await env.waitBatch(b.id, ['succeeded']);
    assert.equal(done.waves[0].analysis[0].outcome, 'pass');
    assert.equal(done.waves[0].analysis[0].lastValue, 1.5, 'the sim node measures its lag_ms');
    assert.deepEqual(done.waves[1].analysis, [], 'a wave without a bake is not judged');
  });
});
