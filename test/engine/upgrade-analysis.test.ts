// Analysis checks on a lone upgrade (options.analysis with options.bakeMinutes): after its own
// steps (before the finalize that commits it) the upgrade bakes in a step the executor runs, sampling its checks on the injected
// clock. A `regress` fault armed on a step raises an SLI of the sim target, so the bake fails with
// the check, the value and the bound, and onFailure rollback rolls the upgrade back; a healthy
// upgrade succeeds only once the bake ends; a check that cannot be evaluated pauses it (onError
// pause) until an operator resumes; the bake's end survives a restart of the process.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../src/domain/clock.ts';
import { createContext } from '../../src/app/context.ts';
import type { AppContext } from '../../src/service/app-context.ts';
import { addCatalogVersion } from '../../src/service/catalog.ts';
import { createProject } from '../../src/service/projects.ts';
import { createTarget } from '../../src/service/targets.ts';
import { createUpgrade } from '../../src/service/upgrades.ts';
import { forEachDialect, freshStore, until, type StoreConfig } from '../helpers/harness.ts';
import { checkEventsAgainstTable } from '../helpers/transitions.ts';
import { P, fleetEnv, type FleetEnv } from '../fleet/helpers.ts';

const lag = (extra: Record<string, unknown> = {}) => ({ name: 'refused', sli: 'failed_connections', max: 0, ...extra });

forEachDialect('analysis on a lone upgrade', (dialect) => {
  let env: FleetEnv;
  before(async () => {
    env = await fleetEnv(dialect, { start: '2026-12-01T10:00:00Z' });
  });
  after(async () => env.close());

  const start = async (targetId: string, options: Record<string, unknown>) => {
    const res = await env.call('POST', `/v1/projects/${P}/upgrades`, { targetId, toVersion: '7.10.3', mode: 'rolling', options });
    assert.equal(res.status, 202, res.body);
    return res.json;
  };
  /** the bake's stage: the one before the last (Finalize commits the upgrade after the bake) */
  const bakeStage = (u: any) => u.stages[u.stages.length - 2];
  const bakeStep = (u: any) => bakeStage(u).steps[0];
  /** the upgrade once its bake runs and has stored its end (and sampled `at` when given) */
  const baking = (id: string, at?: string) =>
    until(async () => {
      const u = await env.upgrade(id);
      const s = bakeStep(u);
      const sampled = !at || s.progress?.checks?.every((c: any) => c.last?.at === at);
      return s.state === 'running' && s.progress?.until && sampled && u;
    }, `the bake of ${id} running`);

  test('a regressed SLI fails the bake with the check, the value and the bound; onFailure rollback rolls it back', async () => {
    await env.addTarget('u-bad');
    const fault = await env.call('POST', `/v1/projects/${P}/targets/u-bad/faults`, {
      step: 'verify',
      kind: 'regress',
      sli: 'failed_connections',
      value: 7,
    });
    assert.equal(fault.status, 201, fault.body);
    const created = await start('u-bad', { analysis: [lag({ intervalSeconds: 30 })], bakeMinutes: 10, onFailure: 'rollback' });
    assert.equal(bakeStage(created).steps.length, 1);
    assert.equal(created.stages[created.stages.length - 1].steps[0].action, 'finalize');
    assert.equal(bakeStep(created).action, 'bake');
    assert.equal(bakeStep(created).node, null);
    assert.equal(bakeStep(created).params.bakeMinutes, 10);
    await env.waitUpgrade(created.id, ['rolled_back']);
    const failed = (await env.call('GET', `/v1/projects/${P}/events?limit=1000`)).json.items.filter(
      (e: any) => e.upgradeId === created.id && e.type === 'upgrade.failed',
    );
    assert.equal(failed.length, 1);
    assert.equal(failed[0].message, 'analysis "refused": 7 > max 0');
    assert.equal(failed[0].data.code, 'ANALYSIS_FAILED');
    const target = (await env.call('GET', `/v1/projects/${P}/targets/u-bad`)).json;
    assert.equal(target.version, '7.10.2', 'the rollback put the old version back');
    const table = await checkEventsAgainstTable(env.t.ctx.store.db);
    assert.deepEqual(table.violations, []);
  });

  test('onFailure stop: the upgrade fails in its bake, its error names the check', async () => {
    await env.addTarget('u-stop');
    await env.call('POST', `/v1/projects/${P}/targets/u-stop/faults`, {
      step: 'verify',
      kind: 'regress',
      sli: 'failed_connections',
      value: 3,
    });
    const created = await start('u-stop', { analysis: [lag()], bakeMinutes: 5 });
    const failed = await env.waitUpgrade(created.id, ['failed']);
    assert.equal(failed.errorCode, 'ANALYSIS_FAILED');
    assert.match(failed.error, /Bake failed: analysis "refused": 3 > max 0$/);
    const s = bakeStep(failed);
    assert.equal(s.state, 'failed');
    assert.equal(s.error, 'ANALYSIS_FAILED: analysis "refused": 3 > max 0');
    assert.equal(s.progress.checks[0].last.outcome, 'fail');
    assert.equal(s.progress.checks[0].last.value, 3);
    // an operator's retry bakes again in full (the failed bake's end is not kept); still regressed, it fails again
    await env.advance(60_000);
    const res = await env.call('POST', `/v1/projects/${P}/upgrades/${created.id}/actions`, { action: 'retry' });
    assert.equal(res.status, 200, res.body);
    const again = await until(async () => {
      const u = await env.upgrade(created.id);
      return u.state === 'failed' && bakeStep(u).attempts === 2 && u;
    }, 'the retried bake failed again');
    assert.equal(Date.parse(bakeStep(again).progress.until), env.clock.now().getTime() + 5 * 60_000);
    assert.equal(again.errorCode, 'ANALYSIS_FAILED');
  });

  test('a healthy upgrade runs through its bake and succeeds only when the bake ends', async () => {
    await env.addTarget('u-good');
    const created = await start('u-good', { analysis: [lag({ intervalSeconds: 60 })], bakeMinutes: 10 });
    // the estimate counts the bake (the sim's own steps take no time here)
    assert.equal(created.estimate.remainingSeconds, 600, created.estimate.basis);
    const first = await baking(created.id);
    assert.equal(first.state, 'running');
    const s = bakeStep(first);
    assert.equal(Date.parse(s.progress.until) - Date.parse(s.startedAt), 10 * 60_000);
    // nine minutes in: sampled again, still baking
    await env.advance(9 * 60_000);
    const mid = await baking(created.id, env.clock.now().toISOString());
    assert.equal(mid.state, 'running');
    assert.equal(bakeStep(mid).progress.checks[0].last.outcome, 'pass');
    assert.equal(bakeStep(mid).progress.until, s.progress.until, 'the end does not move');
    await env.advance(60_000);
    const done = await env.waitUpgrade(created.id, ['succeeded']);
    assert.equal(bakeStep(done).state, 'succeeded');
    assert.equal(bakeStep(done).result.checks[0].last.outcome, 'pass');
    assert.equal(Date.parse(bakeStep(done).endedAt), Date.parse(s.progress.until));
  });

  test('a check that cannot be evaluated pauses the upgrade (onError pause); resumed, it bakes on', async () => {
    // a Prometheus nobody listens on: the check cannot be evaluated
    await env.addTarget('u-pause');
    const prom = { name: 'errors', prometheus: { url: 'http://127.0.0.1:9', query: 'up', max: 1 } };
    const created = await start('u-pause', { analysis: [prom], bakeMinutes: 10 });
    const paused = await env.waitUpgrade(created.id, ['paused']);
    assert.match(
      paused.pendingReason,
      /^paused: analysis "errors" could not be evaluated: Prometheus at http:\/\/127\.0\.0\.1:9 is unreachable/,
    );
    const s = bakeStep(paused);
    assert.equal(s.state, 'pending');
    assert.equal(s.progress.checks[0].last.outcome, 'error');
    const until0 = s.progress.until;
    const res = await env.call('POST', `/v1/projects/${P}/upgrades/${created.id}/actions`, { action: 'resume' });
    assert.equal(res.status, 200, res.body);
    // it samples again one interval after its last sample, still cannot, and pauses again: the
    // end it keeps is the first one
    await env.advance(10_000);
    await until(async () => {
      const u = await env.upgrade(created.id);
      return u.state === 'paused' && bakeStep(u).attempts === 2 && u;
    }, 'paused again');
    assert.equal(bakeStep(await env.upgrade(created.id)).progress.until, until0);
    await env.addTarget('u-fail');
    const failFast = await start('u-fail', {
      analysis: [{ ...prom, onError: 'fail' }],
      bakeMinutes: 10,
    });
    const failed = await env.waitUpgrade(failFast.id, ['failed']);
    assert.equal(failed.errorCode, 'ANALYSIS_UNAVAILABLE');
    const table = await checkEventsAgainstTable(env.t.ctx.store.db);
    assert.deepEqual(table.violations, []);
    assert.ok(table.seen.has('upgrade.analysis_pause') && table.seen.has('step.bake_pause'));
  });

  test('options.analysis without options.bakeMinutes (and the reverse) is refused with 400', async () => {
    await env.addTarget('u-v');
    const refused = async (options: Record<string, unknown>) => {
      const res = await env.call('POST', `/v1/projects/${P}/upgrades`, { targetId: 'u-v', toVersion: '7.10.3', options });
      assert.equal(res.status, 400, res.body);
      assert.equal(res.json.error.code, 'VALIDATION_FAILED');
      return res.json.error.message as string;
    };
    assert.match(await refused({ analysis: [lag()] }), /give options\.bakeMinutes/);
    assert.match(await refused({ bakeMinutes: 5 }), /give the checks in options\.analysis, or leave bakeMinutes out/);
    assert.match(await refused({ analysis: [], bakeMinutes: 5 }), /options\.analysis is empty/);
    assert.match(
      await refused({ analysis: [lag({ sli: 'latency' })], bakeMinutes: 5 }),
      /options\/analysis\/0\/sli must be one of/,
    );
    assert.equal((await env.call('GET', `/v1/projects/${P}/upgrades?target=u-v`)).json.items.length, 0);
  });
});

forEachDialect('a lone upgrade\u2019s bake across a restart', (dialect) => {
  let store: StoreConfig;
  const clock = new ManualClock('2026-12-02T10:00:00.000Z');
  const open = () =>
    createContext({ ...store.config, simTimeScale: 0, clock, closeGraceMs: 0, executor: { pollMs: 20, leaseMs: 30_000 } });
  before(async () => {
    store = await freshStore(dialect);
  });
  after(async () => store.cleanup());

  test('a restart during the bake resumes it at its stored end, not from zero', async () => {
    let ctx: AppContext = await open();
    await createProject(ctx, { id: 'p' });
    for (const v of ['1.0.0', '1.1.0']) await addCatalogVersion(ctx, 'sim', { version: v });
    await createTarget(
      ctx,
      'p',
      { id: 'r', kind: 'cluster', engine: 'sim', version: '1.0.0', nodes: [{ name: 'r1', role: 'leader', zone: 'z1' }] },
      't',
    );
    const u = await createUpgrade(
      ctx,
      'p',
      { targetId: 'r', toVersion: '1.1.0', mode: 'rolling', options: { analysis: [lag()], bakeMinutes: 10 } },
      't',
    );
    const bake = () =>
      ctx.store.db
        .selectFrom('steps')
        .selectAll()
        .where('upgrade_id', '=', u.id)
        .where('action', '=', 'bake')
        .executeTakeFirstOrThrow();
    const stored = await until(async () => {
      const s = await bake();
      return s.state === 'running' && s.progress && (JSON.parse(s.progress).until as string);
    }, 'the bake running with its end stored');
    assert.equal(Date.parse(stored), clock.now().getTime() + 10 * 60_000);
    // six minutes into the bake the process stops without recording anything (its call aborted)
    clock.advance(6 * 60_000);
    await ctx.close();
    // its lease runs out while it is down; the restarted process takes the step back
    clock.advance(31_000);
    ctx = await open();
    try {
      const resumed = await until(async () => {
        const s = await bake();
        return s.state === 'running' && s.recoveries === 1 && s;
      }, 'the bake taken back and running again');
      assert.equal(JSON.parse(resumed.progress as string).until, stored, 'the bake keeps its end');
      // what is left of the bake, not ten minutes more: it ends at the stored time
      clock.set(stored);
      const done = await until(async () => {
        const row = await ctx.store.db.selectFrom('upgrades').select('state').where('id', '=', u.id).executeTakeFirstOrThrow();
        return row.state === 'succeeded' && row;
      }, 'the upgrade succeeded at the stored end');
      assert.equal(done.state, 'succeeded');
      const table = await checkEventsAgainstTable(ctx.store.db);
      assert.deepEqual(table.violations, []);
    } finally {
      await ctx.close();
    }
  });
});
