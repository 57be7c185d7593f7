// A step that keeps losing its executor is re-queued only so often: after the recovery limit
// (LIFTGATE_STEP_RECOVERY_LIMIT) it fails with STEP_RECOVERY_LIMIT. Real stores (both
// dialects), a dead holder simulated by claims under another owner, time from a ManualClock.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ManualClock, isoIn } from '../../src/domain/clock.ts';
import { DEFAULT_STEP_RECOVERY_LIMIT, recoveryLimitFromEnv } from '../../src/engine/core/recovery.ts';
import { claimRollbackSteps, claimSteps } from '../../src/engine/core/writes.ts';
import { addCatalogVersion } from '../../src/service/catalog.ts';
import { createContext } from '../../src/app/context.ts';
import type { AppContext } from '../../src/service/app-context.ts';
import { createProject } from '../../src/service/projects.ts';
import { createTarget } from '../../src/service/targets.ts';
import { createUpgrade, getUpgrade } from '../../src/service/upgrades.ts';
import { forEachDialect, freshStore, type StoreConfig } from '../helpers/harness.ts';
import { checkEventsAgainstTable } from '../helpers/transitions.ts';

test('LIFTGATE_STEP_RECOVERY_LIMIT: 5 by default, an integer from 1 to 1000 otherwise', () => {
  assert.equal(DEFAULT_STEP_RECOVERY_LIMIT, 5);
  assert.equal(recoveryLimitFromEnv({}), 5);
  assert.equal(recoveryLimitFromEnv({ LIFTGATE_STEP_RECOVERY_LIMIT: '3' }), 3);
  for (const bad of ['0', '-1', '2.5', 'many', '1001']) {
    assert.throws(() => recoveryLimitFromEnv({ LIFTGATE_STEP_RECOVERY_LIMIT: bad }), /LIFTGATE_STEP_RECOVERY_LIMIT/);
  }
});

forEachDialect('recovery limit', (dialect) => {
  let store: StoreConfig;
  let ctx: AppContext;
  const clock = new ManualClock('2026-02-02T10:00:00.000Z');
  const LIMIT = 2;
  before(async () => {
    store = await freshStore(dialect);
    ctx = await createContext({
      ...store.config,
      simTimeScale: 0,
      noExecutor: true,
      clock,
      executor: { leaseMs: 30_000, recoveryLimit: LIMIT },
    });
    await createProject(ctx, { id: 'p' });
    for (const v of ['1.0.0', '1.1.0']) await addCatalogVersion(ctx, 'sim', { version: v });
  });
  after(async () => {
    await ctx.close();
    await store.cleanup();
  });

  test(`after ${LIMIT} recoveries the step fails with STEP_RECOVERY_LIMIT instead of being re-queued`, async () => {
    await createTarget(
      ctx,
      'p',
      { id: 'r', kind: 'cluster', engine: 'sim', version: '1.0.0', nodes: [{ name: 'r1', role: 'leader', zone: 'z1' }] },
      't',
    );
    const u = await createUpgrade(ctx, 'p', { targetId: 'r', toVersion: '1.1.0', mode: 'rolling' }, 't');
    // as if an executor had started it: its precheck step is claimable
    await ctx.store.db.updateTable('upgrades').set({ state: 'prechecking' }).where('id', '=', u.id).execute();
    const die = async () => {
      const [row] = await claimSteps(ctx.store, {
        owner: 'dies-every-time',
        at: clock.now().toISOString(),
        leaseUntil: isoIn(clock, 30_000),
        limit: 1,
        only: [u.id],
      });
      assert.ok(row, 'the step is claimable again');
      clock.advance(31_000);
      await ctx.executor.housekeeping();
      return ctx.store.db.selectFrom('steps').selectAll().where('id', '=', row.id).executeTakeFirstOrThrow();
    };
    for (let i = 1; i <= LIMIT; i++) {
      const st = await die();
      assert.equal(st.state, 'pending', `recovery ${i} re-queues it`);
      assert.equal(st.recoveries, i);
    }
    const st = await die();
    assert.equal(st.state, 'failed');
    assert.match(st.error ?? '', /^STEP_RECOVERY_LIMIT: /);
    assert.equal(st.recoveries, LIMIT + 1);
    const after = await getUpgrade(ctx, 'p', u.id);
    assert.equal(after.state, 'failed');
    assert.equal(after.errorCode, 'STEP_RECOVERY_LIMIT');
    const events = await ctx.store.db
      .selectFrom('events')
      .select(['type', 'actor', 'from_state', 'to_state'])
      .where('step_id', '=', st.id)
      .where('actor', '=', 'recovery')
      .orderBy('id')
      .execute();
    assert.deepEqual(
      events.map((e) => `${e.type} ${e.from_state}->${e.to_state}`),
      ['step.recovered running->pending', 'step.recovered running->pending', 'step.failed running->failed'],
    );
  });

  test('a reversal whose holder died is handed back to be reversed again, fenced off from the holder', async () => {
    await createTarget(
      ctx,
      'p',
      { id: 'b', kind: 'cluster', engine: 'sim', version: '1.0.0', nodes: [{ name: 'b1', role: 'leader', zone: 'z1' }] },
      't',
    );
    const u = await createUpgrade(ctx, 'p', { targetId: 'b', toVersion: '1.1.0', mode: 'rolling' }, 't');
    // as if its precheck had completed and an operator had asked for a rollback
    await ctx.store.db.updateTable('upgrades').set({ state: 'rolling_back' }).where('id', '=', u.id).execute();
    await ctx.store.db
      .updateTable('steps')
      .set({ state: 'succeeded', rollback_order: 1 })
      .where('upgrade_id', '=', u.id)
      .where('action', '=', 'precheck')
      .execute();
    const [row] = await claimRollbackSteps(ctx.store, {
      owner: 'dies-while-reversing',
      at: clock.now().toISOString(),
      leaseUntil: isoIn(clock, 30_000),
      limit: 10,
    });
    assert.equal(row?.upgrade_id, u.id);
    clock.advance(31_000);
    await ctx.executor.housekeeping();
    const st = await ctx.store.db.selectFrom('steps').selectAll().where('id', '=', row.id).executeTakeFirstOrThrow();
    assert.equal(st.state, 'succeeded', 'to be reversed again');
    assert.equal(st.lease_owner, null);
    assert.ok(st.fence > row.fence, 'the dead holder is fenced off');
    const ev = await ctx.store.db
      .selectFrom('events')
      .select(['type', 'actor', 'from_state', 'to_state'])
      .where('step_id', '=', st.id)
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    assert.deepEqual(ev, { type: 'step.recovered', actor: 'recovery', from_state: 'rolling_back', to_state: 'succeeded' });
    assert.deepEqual((await checkEventsAgainstTable(ctx.store.db)).violations, []);
  });
});
