// Estimates on real stores: samples recorded once per succeeded step with the step's own
// duration, the estimate made at start recorded, and its error computed against the actual
// duration once the upgrade ends; the median per engine in GET /v1/estimates and /metrics.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect, seedSim, startApp, until, type TestApp } from '../helpers/harness.ts';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

forEachDialect('estimates recorded', (dialect) => {
  let t: TestApp;
  before(async () => {
    t = await startApp(dialect);
  });
  after(async () => t.close());

  const run = async (target: string) => {
    const res = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: target, toVersion: '7.10.3', mode: 'rolling' });
    assert.equal(res.status, 202, res.body);
    return until(async () => {
      const u = (await t.call('GET', `/v1/projects/acme/upgrades/${res.json.id}`)).json;
      return u.state === 'succeeded' ? u : null;
    }, 'upgrade to succeed');
  };

  test('each succeeded step is one sample of its own duration, keyed by engine, action and role', async () => {
    await seedSim(t, { target: 'es-a' });
    const u = await run('es-a');
    await t.ctx.estimates.settle();
    const rows = await t.ctx.store.db.selectFrom('step_durations').selectAll().execute();
    const steps = u.stages.flatMap((s: any) => s.steps);
    assert.equal(rows.length, steps.length);
    const roles = new Map([
      ['es-a-1', 'leader'],
      ['es-a-2', 'follower'],
      ['es-a-3', 'follower'],
    ]);
    for (const s of steps) {
      const r = rows.find((x) => x.step_id === s.id);
      assert.ok(r, `sample of ${s.name}`);
      assert.equal(r.engine, 'elasticsearch');
      assert.equal(r.action, s.action);
      const seconds = (Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000;
      assert.ok(Math.abs(Number(r.seconds) - seconds) < 1e-6, `${s.name}: ${r.seconds} vs ${seconds}`);
      // the switchover makes es-a-2 the leader; a node step keeps the role the node had when sampled
      if (s.node === null) assert.equal(r.role, '*');
      else assert.ok(['leader', 'follower'].includes(r.role) && roles.has(s.node));
    }
  });

  test('the estimate made at start and its error are recorded once the upgrade ends', async () => {
    // a known model: every step of this engine took 2 s, 50 times (the model's window); the few
    // near-instant samples the upgrades below add fall in the trimmed tail, so 2 s stays the answer
    const db = t.ctx.store.db;
    const actions = ['precheck', 'backup', 'drain', 'stop', 'install', 'start', 'verify', 'rejoin', 'switchover', 'finalize'];
    let n = 0;
    for (const action of actions) {
      for (const role of ['*', 'leader', 'follower']) {
        for (let i = 0; i < 50; i++) {
          await db
            .insertInto('step_durations')
            .values({
              step_id: `seed-${n++}`,
              engine: 'opensearch',
              driver: 'sim',
              action,
              role,
              seconds: 2,
              ended_at: new Date().toISOString(),
            })
            .execute();
        }
      }
    }
    await t.ctx.estimates.model.refresh(true);
    const finished = [];
    for (const target of ['os-b', 'os-c']) {
      await seedSim(t, { target, engine: 'opensearch' });
      finished.push(await run(target));
    }
    await t.ctx.estimates.settle();
    const recs = await db.selectFrom('estimate_records').selectAll().where('engine', '=', 'opensearch').execute();
    assert.equal(recs.length, 2);
    const errors: number[] = [];
    for (const u of finished) {
      const rec = recs.find((r) => r.subject_id === u.id);
      assert.ok(rec);
      // oracle: stages in order, lanes of a stage in parallel, 2 s per step; the sim's steps of one stage share a lane
      const expected = u.stages.reduce((sum: number, s: any) => {
        const lanes = new Map<string, number>();
        for (const st of s.steps) lanes.set(st.lane, (lanes.get(st.lane) ?? 0) + 2);
        return sum + Math.max(0, ...lanes.values());
      }, 0);
      assert.ok(expected > 0);
      assert.equal(Number(rec.predicted_seconds), expected);
      const actual = (Date.parse(u.endedAt) - Date.parse(u.startedAt)) / 1000;
      assert.ok(Math.abs(Number(rec.actual_seconds) - actual) < 1e-6);
      const err = (Math.abs(expected - actual) / actual) * 100;
      assert.ok(Math.abs(Number(rec.abs_error_pct) - err) < 1e-6, `${rec.abs_error_pct} vs ${err}`);
      assert.equal(rec.outcome, 'succeeded');
      errors.push(err);
    }
    const res = await t.call('GET', '/v1/estimates');
    assert.equal(res.status, 200, res.body);
    const es = res.json.engines.find((e: any) => e.engine === 'opensearch');
    assert.equal(es.measured, 2);
    assert.ok(Math.abs(es.medianAbsErrorPercent - median(errors)) < 0.01);
    assert.ok(res.json.model.some((m: any) => m.engine === 'opensearch' && m.action === 'install'));
    const metrics = (await t.call('GET', '/metrics')).body;
    const line = metrics.split('\n').find((l) => l.startsWith('liftgate_estimate_median_abs_error_percent{engine="opensearch"}'));
    assert.ok(line, metrics);
    assert.ok(Math.abs(Number(line.split(' ')[1]) - median(errors)) < 0.01);
  });

  test('a scheduled upgrade shows when it will complete, counting the wait for its start', async () => {
    await seedSim(t, { target: 'os-d', engine: 'opensearch' });
    const at = new Date(Date.now() + 3600_000).toISOString();
    const res = await t.call('POST', '/v1/projects/acme/upgrades', {
      targetId: 'os-d',
      toVersion: '7.10.3',
      mode: 'rolling',
      schedule: { kind: 'at', at },
    });
    assert.equal(res.status, 202, res.body);
    const u = (await t.call('GET', `/v1/projects/acme/upgrades/${res.json.id}`)).json;
    assert.equal(u.state, 'scheduled');
    assert.ok(u.estimate, 'estimate present');
    // 2 s per learned step after the start time (the model from the test above)
    const plan = u.stages.reduce((sum: number, s: any) => {
      const lanes = new Map<string, number>();
      for (const st of s.steps) lanes.set(st.lane, (lanes.get(st.lane) ?? 0) + 2);
      return sum + Math.max(0, ...lanes.values());
    }, 0);
    assert.ok(Math.abs(Date.parse(u.estimate.completesAt) - (Date.parse(at) + plan * 1000)) < 2000, JSON.stringify(u.estimate));
    assert.match(u.estimate.basis, /waits until/);
    await t.call('POST', `/v1/projects/acme/upgrades/${res.json.id}/actions`, { action: 'cancel' });
    const cancelled = (await t.call('GET', `/v1/projects/acme/upgrades/${res.json.id}`)).json;
    assert.equal(cancelled.estimate, null);
  });
});
