// Batches and waves in the state core: every write of a wave is guarded on the state its writer
// read. A batch cancel used to set every unended wave to cancelled with one unguarded statement
// (WHERE state NOT IN ('succeeded', 'failed')), so a wave the scheduler had just moved on was
// overwritten. Now the cancel moves each wave from the state it read: a stale read changes
// nothing and appends no event, and a transition the table does not list is refused outright.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cancelWaves, moveBatch, moveWave } from '../../src/engine/core/batches.ts';
import { TransitionError } from '../../src/engine/core/table.ts';
import { P, fleetEnv, type FleetEnv } from '../fleet/helpers.ts';
import { forEachDialect } from '../helpers/harness.ts';

forEachDialect('batch core', (dialect) => {
  let env: FleetEnv;
  before(async () => {
    env = await fleetEnv(dialect, { start: '2026-12-01T10:00:00Z' });
  });
  after(async () => env.close());

  const waves = (batchId: string) =>
    env.t.ctx.store.db
      .selectFrom('batch_waves')
      .select(['idx', 'state'])
      .where('batch_id', '=', batchId)
      .orderBy('idx')
      .execute();
  const eventsOf = async (batchId: string) =>
    (await env.t.ctx.store.db.selectFrom('events').select(['type', 'data']).orderBy('id').execute()).filter(
      (e) => (JSON.parse(e.data) as { batchId?: string }).batchId === batchId,
    );

  test('a wave write from a stale state is refused and records nothing', async () => {
    for (let i = 1; i <= 2; i++) await env.addTarget(`st-${i}`);
    const res = await env.call('POST', `/v1/projects/${P}/batches`, {
      name: 'stale',
      toVersion: '7.10.3',
      targetIds: ['st-1', 'st-2'],
      schedule: { kind: 'at', at: '2027-01-01T00:00:00Z' },
      waves: [
        { name: 'one', targets: 1 },
        { name: 'two', targets: '100%' },
      ],
    });
    assert.equal(res.status, 201, res.body);
    const batchId = res.json.id as string;
    const db = env.t.ctx.store.db;
    const at = env.clock.now().toISOString();
    const by = { projectId: P, batchId, by: 'scheduler' as const, actor: 'scheduler', at };
    assert.deepEqual(
      (await waves(batchId)).map((w) => w.state),
      ['scheduled', 'scheduled'],
    );

    // a canceller read wave 1 as scheduled; meanwhile the scheduler started it
    assert.equal(await moveWave(db, 'start', { ...by, idx: 0, from: 'scheduled', to: 'running' }), true);
    const before = (await eventsOf(batchId)).length;
    const stale = await moveWave(db, 'cancel', {
      ...by,
      by: 'operator',
      actor: 'op',
      idx: 0,
      from: 'scheduled',
      to: 'cancelled',
    });
    assert.equal(stale, false, 'the stale cancel changed no row');
    assert.equal((await waves(batchId))[0].state, 'running', 'the wave keeps the state the scheduler gave it');
    assert.equal((await eventsOf(batchId)).length, before, 'no event for a transition that did not happen');

    // the same for the batch row: an operator who read it as running (it is scheduled) loses
    const staleBatch = await moveBatch(db, 'pause', {
      projectId: P,
      id: batchId,
      by: 'operator',
      actor: 'op',
      at,
      from: 'running',
      to: 'paused',
      message: 'stale pause',
    });
    assert.equal(staleBatch, false);
    assert.equal((await env.batch(batchId)).state, 'scheduled');

    // transitions the table does not list throw before any write
    await assert.rejects(moveWave(db, 'start', { ...by, idx: 1, from: 'succeeded', to: 'running' }), TransitionError);
    await assert.rejects(
      moveWave(db, 'cancel', { ...by, idx: 1, from: 'scheduled', to: 'cancelled' }),
      TransitionError,
      'cancel is an operator’s',
    );

    // the batch cancel moves each wave from the state it finds, with an event per wave
    const cancelled = await env.call('POST', `/v1/projects/${P}/batches/${batchId}/actions`, { action: 'cancel' });
    assert.equal(cancelled.status, 200, cancelled.body);
    assert.deepEqual(
      (await waves(batchId)).map((w) => w.state),
      ['cancelled', 'cancelled'],
    );
    const types = (await eventsOf(batchId)).map((e) => e.type);
    assert.equal(types.filter((t) => t === 'wave.cancelled').length, 2);
    // nothing left to cancel: a second pass changes nothing
    assert.equal(await cancelWaves(db, { ...by, by: 'operator', actor: 'op' }), 0);
  });
});
