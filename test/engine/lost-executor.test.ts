// An executor declared lost (its heartbeat stopped changing, so another replica took its steps)
// claims nothing under its old id: until its next heartbeat finds it lost and it registers again,
// a step claimed under that id would be taken back by the next recovery sweep at once, and again
// and again, until the step fails with STEP_RECOVERY_LIMIT. Both dialects, the real executor.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect, seedSim, startApp, until, type TestApp } from '../helpers/harness.ts';
import { simDb } from '../../src/drivers/sim/tables.ts';

forEachDialect('an executor declared lost', (dialect) => {
  let t: TestApp;
  before(async () => {
    t = await startApp(dialect);
  });
  after(async () => t.close());

  test('claims nothing under its old id; it rejoins under a new one and the upgrade runs there', async () => {
    await seedSim(t, { target: 'lost-1' });
    const old = t.ctx.executor.owner;
    // declared lost as a leader does it for a replica whose heartbeat stopped
    await t.ctx.store.db.updateTable('executors').set({ state: 'lost' }).where('id', '=', old).execute();
    const res = await t.call('POST', '/v1/projects/acme/upgrades', { targetId: 'lost-1', toVersion: '7.10.3' });
    assert.equal(res.status, 202, res.body);
    const u = await until(async () => {
      const x = (await t.call('GET', `/v1/projects/acme/upgrades/${res.json.id}`)).json;
      return ['succeeded', 'failed'].includes(x.state) ? x : null;
    }, 'the upgrade to end');
    assert.equal(u.state, 'succeeded', JSON.stringify(u.error));
    assert.notEqual(t.ctx.executor.owner, old, 'it rejoined under a new id');
    const db = t.ctx.store.db;
    const underOld = await simDb(db).selectFrom('sim_invocations').select(['action', 'node']).where('owner', '=', old).execute();
    assert.deepEqual(underOld, [], 'no driver call under the lost id');
    const steps = await db.selectFrom('steps').select(['name', 'recoveries']).where('upgrade_id', '=', u.id).execute();
    assert.deepEqual(
      steps.filter((s) => Number(s.recoveries) > 0),
      [],
      'no step had to be recovered',
    );
  });
});
