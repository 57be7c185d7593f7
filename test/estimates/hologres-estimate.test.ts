// Hologres EstimatedUpgradeTime comes from the duration model: with a known model the three
// phases are the sums a person would add up over the upgrade's plan (through the vendor SDK).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect } from '../helpers/harness.ts';
import { createInstance, HOLO_VERSIONS, setupAlibaba, type AlibabaEnv } from '../families/alibaba/helpers.ts';

// seconds per action, the same for every role (50 samples each: the model's whole window)
const KNOWN: Record<string, number> = {
  precheck: 3,
  backup: 40,
  drain: 11,
  stop: 7,
  install: 100,
  start: 13,
  verify: 5,
  rejoin: 2,
  switchover: 1,
  finalize: 4,
};
const PHASE: Record<string, 'Stop' | 'Backup' | 'DoUpgrade' | null> = {
  precheck: null,
  backup: 'Backup',
  drain: 'Stop',
  stop: 'Stop',
  install: 'DoUpgrade',
  start: 'DoUpgrade',
  verify: 'DoUpgrade',
  rejoin: 'DoUpgrade',
  switchover: 'DoUpgrade',
  finalize: 'DoUpgrade',
};

forEachDialect('hologres EstimatedUpgradeTime', (dialect) => {
  let env: AlibabaEnv;
  before(async () => {
    env = await setupAlibaba(dialect);
    await createInstance(env, 'hg-est');
    const rows = [];
    for (const [action, seconds] of Object.entries(KNOWN)) {
      for (const role of ['*', 'leader', 'follower']) {
        for (let i = 0; i < 50; i++) {
          rows.push({
            step_id: `k-${action}-${role}-${i}`,
            engine: 'hologres',
            driver: 'sim',
            action,
            role,
            seconds,
            ended_at: new Date().toISOString(),
          });
        }
      }
    }
    for (let i = 0; i < rows.length; i += 200)
      await env.t.ctx.store.db
        .insertInto('step_durations')
        .values(rows.slice(i, i + 200))
        .execute();
  });
  after(() => env.close());

  test('the phases sum the modelled steps of the plan, per phase (stages in order, lanes in parallel)', async () => {
    const started = await env.native('POST', '/v1/projects/acme/upgrades', {
      targetId: 'hg-est',
      toVersion: HOLO_VERSIONS[1],
      mode: 'rolling',
    });
    assert.equal(started.status, 202);
    const u = await env.waitState(started.json.id, 'succeeded');
    await env.t.ctx.estimates.model.refresh(true);
    const expected = { Stop: 0, Backup: 0, DoUpgrade: 0 };
    for (const phase of ['Stop', 'Backup', 'DoUpgrade'] as const) {
      for (const s of u.stages) {
        const lanes = new Map<string, number>();
        for (const st of s.steps)
          if (PHASE[st.action] === phase) lanes.set(st.lane, (lanes.get(st.lane) ?? 0) + KNOWN[st.action]);
        expected[phase] += Math.max(0, ...lanes.values());
      }
    }
    assert.ok(expected.DoUpgrade > 300, 'three installs at least');
    const res = await env.hologresStatus('hg-est', { RegionId: 'cn-hangzhou' });
    assert.equal(res.statusCode, 200);
    const details = JSON.parse(res.body.Data[0].Details);
    assert.deepEqual(details.EstimatedUpgradeTime, {
      StopInstance: expected.Stop,
      BackupData: expected.Backup,
      UpgradeInstance: expected.DoUpgrade,
    });
  });
});
