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

  test('onFailure stop: the failed canary stays upgraded and counts as a failure; a retry judges it again', async () => {
    await env.addTarget('s-stop');
    await env.addTarget('s-stop-2');
    const fault = await env.call('POST', `/v1/projects/${P}/targets/s-stop/faults`, {
      step: 'verify',
      kind: 'regress',
      sli: 'conflict_rate',
      value: 2.5,
    });
    assert.equal(fault.status, 201, fault.body);
    const b = await create({
      name: 'sli stop',
      targetIds: ['s-stop', 's-stop-2'],
      waves: [
        { name: 'canary', targets: 1, bakeMinutes: 10, analysis: [{ name: 'conflicts', sli: 'conflict_rate', max: 1 }] },
        { name: 'rest', targets: '100%' },
      ],
    });
    await env.waitBatch(b.id, ['baking']);
    await env.advance(10_000);
    const halted = await env.waitBatch(b.id, ['halted']);
    assert.equal(halted.pendingReason, 'halted: analysis "conflicts": 2.5 > max 1; 1 of 1 allowed failures');
    assert.equal(halted.failures, 1);
    assert.equal(halted.waves[0].analysisFailures[0].rolledBack, false);
    const canary = (await upgradesOf(b.id)).find((u) => u.targetId === 's-stop');
    assert.equal(canary.state, 'succeeded', 'onFailure stop: nothing is rolled back');
    const retried = await env.call('POST', `/v1/projects/${P}/batches/${b.id}/actions`, { action: 'retry' });
    assert.equal(retried.status, 200, retried.body);
    assert.deepEqual(retried.json.waves[0].analysisFailures, [], 'the retry forgets the failed targets');
    // the wave bakes again and the regression is still there
    await env.waitBatch(b.id, ['baking']);
    await env.advance(10_000);
    const again = await env.waitBatch(b.id, ['halted']);
    assert.equal(again.pendingReason, 'halted: analysis "conflicts": 2.5 > max 1; 1 of 1 allowed failures');
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
    // the batch's checks are judged in its waves' bakes: its upgrades get no bake step of their own
    for (const u of await upgradesOf(b.id)) {
      const detail = await env.upgrade(u.id);
      assert.ok(
        detail.stages.every((s: any) => s.steps.every((st: any) => st.action !== 'bake')),
        u.targetId,
      );
    }
  });

  test('bad checks are refused with 400 and what to fix', async () => {
    await env.addTarget('s-v');
    const wave = (analysis: unknown[], extra: Record<string, unknown> = {}) => ({
      name: 'bad',
      targetIds: ['s-v'],
      toVersion: '7.10.3',
      waves: [{ name: 'all', targets: '100%', bakeMinutes: 5, analysis, ...extra }],
    });
    const refused = async (body: unknown, url = `/v1/projects/${P}/batches`) => {
      const res = await env.call('POST', url, body);
      assert.equal(res.status, 400, res.body);
      assert.equal(res.json.error.code, 'VALIDATION_FAILED');
      return res.json.error.message as string;
    };
    const prom = (p: Record<string, unknown>) => ({ name: 'e', prometheus: { url: 'http://prom:9090', query: 'up', ...p } });
    const m1 = await refused(wave([{ name: 'x', sli: 'latency', max: 1 }]));
    for (const sli of ['replication_lag_seconds', 'rollback_rate', 'conflict_rate', 'failed_connections']) {
      assert.ok(m1.includes(sli), `the allowed SLIs are listed: ${m1}`);
    }
    assert.match(
      await refused(wave([{ name: 'x', sli: 'rollback_rate' }])),
      /waves\[0\]\.analysis\[0\] \("x"\): give a bound: "max".*"min"/,
    );
    assert.match(await refused(wave([prom({})])), /give a bound.*inside "prometheus"/);
    assert.match(
      await refused(wave([prom({ url: 'prom:9090', max: 1 })])),
      /prometheus\.url must start with http:\/\/ or https:\/\//,
    );
    assert.match(
      await refused(wave([prom({ url: 'not a url', max: 1 })])),
      /"not a url" is not a URL; write the Prometheus server's base/,
    );
    assert.match(
      await refused(wave([{ name: 'x', sli: 'rollback_rate', max: 1, prometheus: { url: 'http://p', query: 'up' } }])),
      /give either "prometheus".*or "sli".*exactly one/,
    );
    assert.match(await refused(wave([prom({ max: 2, min: 3 })])), /min 3 is above max 2/);
    assert.match(
      await refused(wave([prom({ max: 1 }), { name: 'e', sli: 'rollback_rate', max: 1 }])),
      /check names must be unique/,
    );
    assert.match(
      await refused(wave([prom({ max: 1 })], { bakeMinutes: 0 })),
      /has analysis checks but no bake: give it "bakeMinutes"/,
    );
    assert.match(
      await refused({
        ...wave([]),
        waves: [{ name: 'all', targets: '100%' }],
        upgradeOptions: { analysis: [{ name: 'lag', sli: 'replication_lag_seconds', max: 1 }] },
      }),
      /upgradeOptions\.analysis is judged while a wave bakes, and no wave has "bakeMinutes"/,
    );
    const onError = await refused(wave([{ name: 'x', sli: 'rollback_rate', max: 1, onError: 'ignore' }]));
    assert.ok(onError.includes('pause') && onError.includes('fail'), onError);
    // an upgrade alone bakes for options.bakeMinutes; without it its checks have no bake to judge
    assert.match(
      await refused(
        {
          targetId: 's-v',
          toVersion: '7.10.3',
          options: { analysis: [{ name: 'lag', sli: 'replication_lag_seconds', max: 1 }] },
        },
        `/v1/projects/${P}/upgrades`,
      ),
      /options\.analysis is judged while the upgrade bakes after its steps: give options\.bakeMinutes/,
    );
    // a regress fault names the indicator and its value
    assert.match(
      await refused({ step: 'verify', kind: 'regress' }, `/v1/projects/${P}/targets/s-v/faults`),
      /a regress fault needs "sli".*and "value"/,
    );
    assert.match(
      await refused({ step: 'verify', kind: 'fail', sli: 'rollback_rate', value: 1 }, `/v1/projects/${P}/targets/s-v/faults`),
      /belong to a regress fault/,
    );
    // nothing was created
    assert.equal((await env.call('GET', `/v1/projects/${P}/upgrades?target=s-v`)).json.items.length, 0);
  });
});
