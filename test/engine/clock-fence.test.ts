// The injected clock decides what is due and what has expired, and the fencing token makes a
// holder that lost its step harmless. Real stores (both dialects), no sleeping for time to pass.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ManualClock, isoIn } from '../../src/domain/clock.ts';
import type { SimDriver } from '../../src/drivers/sim/sim-driver.ts';
import { claimSteps, moveStep } from '../../src/engine/core/writes.ts';
import { addCatalogVersion } from '../../src/service/catalog.ts';
import { createContext } from '../../src/app/context.ts';
import type { AppContext } from '../../src/service/app-context.ts';
import { createProject } from '../../src/service/projects.ts';
import { createTarget } from '../../src/service/targets.ts';
import { createUpgrade, getUpgrade } from '../../src/service/upgrades.ts';
import { toStep, toUpgrade } from '../../src/store/mappers.ts';
import { forEachDialect, freshStore, type StoreConfig } from '../helpers/harness.ts';
import { simDb } from '../../src/drivers/sim/tables.ts';

forEachDialect('clock and fence', (dialect) => {
  let store: StoreConfig;
  let ctx: AppContext;
  // a Saturday, 01:00 UTC
  const clock = new ManualClock('2026-01-03T01:00:00.000Z');
  before(async () => {
    store = await freshStore(dialect);
    ctx = await createContext({ ...store.config, simTimeScale: 0, noExecutor: true, clock, executor: { leaseMs: 30_000 } });
    await createProject(ctx, { id: 'p' });
    for (const v of ['1.0.0', '1.1.0']) await addCatalogVersion(ctx, 'sim', { version: v });
  });
  after(async () => {
    await ctx.close();
    await store.cleanup();
  });

  const target = (id: string, window: { start: string; end: string } | null = null) =>
    createTarget(
      ctx,
      'p',
      {
        id,
        kind: 'cluster',
        engine: 'sim',
        version: '1.0.0',
        maintenanceWindow: window,
        nodes: [
          { name: `${id}1`, role: 'leader', zone: 'z1' },
          { name: `${id}2`, role: 'follower', zone: 'z2' },
        ],
      },
      't',
    );

  test('a window upgrade waits until the clock reaches the window, then starts', async () => {
    await target('w', { start: '02:00', end: '04:00' });
    const u = await createUpgrade(
      ctx,
      'p',
      { targetId: 'w', toVersion: '1.1.0', mode: 'rolling', schedule: { kind: 'window' } },
      't',
    );
    assert.equal(u.state, 'scheduled');
    assert.equal(u.notBefore, '2026-01-03T02:00:00.000Z');
    await ctx.executor.housekeeping();
    assert.equal((await getUpgrade(ctx, 'p', u.id)).state, 'scheduled', 'nothing is due at 01:00');
    clock.advance(65 * 60_000); // 02:05, inside the window
    await ctx.executor.housekeeping();
    assert.equal((await getUpgrade(ctx, 'p', u.id)).state, 'ready');
  });

  test('a window that passed while nobody ran is not used: the upgrade waits for the next one', async () => {
    clock.set('2026-01-04T01:00:00.000Z');
    await target('m', { start: '02:00', end: '03:00' });
    const u = await createUpgrade(
      ctx,
      'p',
      { targetId: 'm', toVersion: '1.1.0', mode: 'rolling', schedule: { kind: 'window' } },
      't',
    );
    clock.set('2026-01-04T05:00:00.000Z'); // the executor was down through the whole window
    await ctx.executor.housekeeping();
    const after = await getUpgrade(ctx, 'p', u.id);
    assert.equal(after.state, 'scheduled');
    assert.equal(after.notBefore, '2026-01-05T02:00:00.000Z');
  });

  test('a lease expires when the clock passes it; the recovered step is fenced against its old holder', async () => {
    clock.set('2026-01-05T10:00:00.000Z');
    await target('l');
    const u = await createUpgrade(ctx, 'p', { targetId: 'l', toVersion: '1.1.0', mode: 'rolling' }, 't');
    // a holder that then dies: upgrade started, its first step claimed under a 30 s lease
    await ctx.store.db.updateTable('upgrades').set({ state: 'prechecking' }).where('id', '=', u.id).execute();
    const [row] = await claimSteps(ctx.store, {
      owner: 'dead',
      at: clock.now().toISOString(),
      leaseUntil: isoIn(clock, 30_000),
      limit: 1,
      only: [u.id],
    });
    assert.ok(row);
    const held = toStep(row);
    assert.equal(held.fence, 1);
    clock.advance(29_000);
    await ctx.executor.housekeeping();
    let now = await ctx.store.db.selectFrom('steps').selectAll().where('id', '=', held.id).executeTakeFirstOrThrow();
    assert.equal(now.state, 'running', 'the lease has not expired yet');
    clock.advance(2_000);
    await ctx.executor.housekeeping();
    now = await ctx.store.db.selectFrom('steps').selectAll().where('id', '=', held.id).executeTakeFirstOrThrow();
    assert.equal(now.state, 'pending', 'the idempotent precheck is re-queued');
    assert.ok(now.fence > held.fence, 'recovery moved the fence on');
    // the old holder wakes up and reports success: refused, even once the step is running again
    const [again] = await claimSteps(ctx.store, {
      owner: 'dead',
      at: clock.now().toISOString(),
      leaseUntil: isoIn(clock, 30_000),
      limit: 1,
      only: [u.id],
    });
    assert.equal(again.id, held.id);
    const outcome = (fence: number) =>
      moveStep(ctx.store.db, clock, 'succeed', {
        by: 'executor',
        u,
        step: held,
        from: 'running',
        to: 'succeeded',
        leaseOwner: 'dead',
        fence,
      });
    const stale = await outcome(held.fence);
    assert.equal(stale, false, 'a write under the old fence changes nothing');
    const fresh = await outcome(again.fence);
    assert.equal(fresh, true);
  });

  if (dialect === 'sqlite') {
    test('a claim that waited for the store is judged at the time it runs: no step starts after its window closed meanwhile', async () => {
      clock.set('2026-01-10T02:30:00.000Z'); // inside the 02:00-04:00 window
      await target('q', { start: '02:00', end: '04:00' });
      const u = await createUpgrade(
        ctx,
        'p',
        { targetId: 'q', toVersion: '1.1.0', mode: 'rolling', schedule: { kind: 'window' } },
        't',
      );
      await ctx.executor.housekeeping();
      assert.equal((await getUpgrade(ctx, 'p', u.id)).runUntil, '2026-01-10T04:00:00.000Z');
      await ctx.store.db.updateTable('upgrades').set({ state: 'prechecking' }).where('id', '=', u.id).execute();
      // another unit of work holds the single-writer store while the claim is asked for
      let release = () => {};
      let holding = () => {};
      const held = new Promise<void>((r) => (release = r));
      const started = new Promise<void>((r) => (holding = r));
      const busy = ctx.store.db.transaction().execute(async () => {
        holding();
        await held;
      });
      await started;
      const claim = claimSteps(ctx.store, {
        owner: 'x',
        at: () => clock.now().toISOString(),
        leaseUntil: () => isoIn(clock, 30_000),
        limit: 1,
        only: [u.id],
      });
      clock.set('2026-01-10T04:00:00.000Z'); // the window closes while the claim waits
      release();
      await busy;
      assert.deepEqual(await claim, [], 'judged at 04:00, when its window had closed');
    });
  }

  test('the sim refuses an effect from a stale fence and logs every call', async () => {
    const t = await target('s');
    const u = await createUpgrade(ctx, 'p', { targetId: 's', toVersion: '1.1.0', mode: 'rolling' }, 't');
    const row = await ctx.store.db
      .selectFrom('steps')
      .selectAll()
      .where('upgrade_id', '=', u.id)
      .where('action', '=', 'drain')
      .orderBy('seq')
      .executeTakeFirstOrThrow();
    const step = toStep(row);
    const sim = ctx.drivers.get('sim') as SimDriver;
    const up = toUpgrade(await ctx.store.db.selectFrom('upgrades').selectAll().where('id', '=', u.id).executeTakeFirstOrThrow());
    const ctxFor = (fence: number, owner: string) => ({
      upgrade: up,
      target: t,
      step,
      hop: { fromVersion: '1.0.0', toVersion: '1.1.0', release: '' },
      log: () => {},
      signal: new AbortController().signal,
      fence,
      owner,
    });
    await sim.execute(ctxFor(2, 'new'));
    await assert.rejects(sim.execute(ctxFor(1, 'stale')), (e: Error & { code?: string }) => e.code === 'FENCED');
    const calls = await simDb(ctx.store.db)
      .selectFrom('sim_invocations')
      .selectAll()
      .where('step_id', '=', step.id)
      .orderBy('id')
      .execute();
    assert.deepEqual(
      calls.map((c) => [c.call, c.fence, c.owner, c.outcome]),
      [
        ['execute', 2, 'new', 'applied'],
        ['execute', 1, 'stale', 'fenced'],
      ],
    );
    const effects = await simDb(ctx.store.db).selectFrom('sim_effects').selectAll().where('step_id', '=', step.id).execute();
    assert.equal(effects.length, 1);
  });

  test('recovery fences a slow holder out before it asks the driver: an effect that arrives after reconcile is refused', async () => {
    clock.set('2026-01-06T10:00:00.000Z');
    await target('x');
    const u = await createUpgrade(ctx, 'p', { targetId: 'x', toVersion: '1.1.0', mode: 'rolling' }, 't');
    const install = toStep(
      await ctx.store.db
        .selectFrom('steps')
        .selectAll()
        .where('upgrade_id', '=', u.id)
        .where('action', '=', 'install')
        .orderBy('seq')
        .executeTakeFirstOrThrow(),
    );
    // the fixture: the install (not idempotent) runs under holder 'slow' at fence 1, whose lease
    // has run out; the holder is not dead, only late
    await ctx.store.db
      .updateTable('upgrades')
      .set({ state: 'running', current_stage: install.stageIndex })
      .where('id', '=', u.id)
      .execute();
    await ctx.store.db
      .updateTable('stages')
      .set({ state: 'running' })
      .where('upgrade_id', '=', u.id)
      .where('idx', '=', install.stageIndex)
      .execute();
    await ctx.store.db
      .updateTable('steps')
      .set({ state: 'running', lease_owner: 'slow', fence: 1, lease_expires_at: isoIn(clock, -1000) })
      .where('id', '=', install.id)
      .execute();
    // the late holder reaches its effect just after recovery asked whether it had taken effect
    const sim = ctx.drivers.get('sim') as SimDriver;
    const reconcile = sim.reconcile.bind(sim);
    let late: string | undefined;
    sim.reconcile = async (c) => {
      const verdict = await reconcile(c);
      late = await sim.execute({ ...c, fence: 1, owner: 'slow' }).then(
        () => 'applied',
        (e: Error & { code?: string }) => e.code ?? e.message,
      );
      return verdict;
    };
    try {
      await ctx.executor.housekeeping();
    } finally {
      sim.reconcile = reconcile;
    }
    assert.equal(late, 'FENCED', 'the late holder was refused');
    const now = await ctx.store.db.selectFrom('steps').selectAll().where('id', '=', install.id).executeTakeFirstOrThrow();
    assert.equal(now.state, 'pending', 'not applied, so re-queued');
    assert.ok(now.fence >= 2);
    assert.equal(
      (await simDb(ctx.store.db).selectFrom('sim_effects').selectAll().where('step_id', '=', install.id).execute()).length,
      0,
    );
    const calls = await simDb(ctx.store.db).selectFrom('sim_invocations').selectAll().where('step_id', '=', install.id).execute();
    assert.deepEqual(
      calls.map((c) => [c.fence, c.owner, c.outcome]),
      [[1, 'slow', 'fenced']],
    );
  });
});
