// Batches in waves through the native API, on the injected clock: the whole plan visible at
// creation, waves in order with at most maxConcurrency upgrades running (checked from the event
// order), a bake with its timer, an approval gate, a failure threshold that halts, pause, resume,
// cancel and retry, and the GaussDB batch seen as one kind of batch.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect, until } from '../helpers/harness.ts';
import { RULES } from '../../src/engine/core/table.ts';
import { checkEventsAgainstTable } from '../helpers/transitions.ts';
import { P, events, fleetEnv, type FleetEnv } from './helpers.ts';

const ENDED = ['succeeded', 'failed', 'cancelled', 'rolled_back'];

forEachDialect('batches', (dialect) => {
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
  const act = (id: string, action: string) => env.call('POST', `/v1/projects/${P}/batches/${id}/actions`, { action });
  const upgradesOf = async (batchId: string) =>
    (await env.call('GET', `/v1/projects/${P}/batches/${batchId}/upgrades?limit=500`)).json.items as any[];

  /** the most upgrades of one wave released and not yet ended at any point of the event log */
  async function peakConcurrency(batchId: string, wave: number): Promise<number> {
    const ups = await upgradesOf(batchId);
    const mine = new Set(ups.filter((u) => u.waveIndex === wave).map((u) => u.id));
    let open = 0;
    let peak = 0;
    for (const e of await events(env)) {
      if (!e.upgradeId || !mine.has(e.upgradeId)) continue;
      if (e.type === 'upgrade.released') peak = Math.max(peak, ++open);
      if (['upgrade.succeeded', 'upgrade.failed', 'upgrade.cancelled'].includes(e.type)) open--;
    }
    return peak;
  }

  test('waves in order, maxConcurrency respected, a bake with its timer, then the next wave', async () => {
    for (let i = 1; i <= 7; i++) await env.addTarget(`w-${i}`, { labels: { env: 'prod', group: 'waves' } });
    await env.addTarget('w-staging', { labels: { env: 'staging', group: 'waves' } });
    const b = await create({
      name: 'es 7.10.3',
      selector: { engine: 'elasticsearch', version: '7.10.2', labels: { env: 'prod', group: 'waves' } },
      schedule: { kind: 'now' },
      waves: [
        { name: 'canary', targets: 1 },
        { name: 'early', targets: '40%', maxConcurrency: '50%', bakeMinutes: 30 },
        { name: 'rest', targets: '100%', maxConcurrency: 2, bakeMinutes: 0 },
      ],
      failureThreshold: { targets: '30%' },
    });
    assert.deepEqual(
      b.waves.map((w: any) => [w.name, w.targets, w.maxConcurrency]),
      [
        ['canary', 1, 1],
        ['early', 3, 2],
        ['rest', 3, 2],
      ],
      '40% of 7 rounds up to 3; 50% of 3 rounds up to 2',
    );
    assert.equal(b.targets, 7, 'the staging target is not selected');
    assert.equal(b.failureLimit, 3);
    assert.ok('estimate' in b);
    const ups = await upgradesOf(b.id);
    assert.equal(ups.length, 7, 'every upgrade exists from the start');
    for (const u of ups.filter((x) => x.waveIndex > 0)) {
      assert.equal(u.state, 'scheduled');
      assert.equal(u.batchId, b.id);
      assert.match(u.pendingReason, /^waiting for wave (early|rest) \(\d of 3\): wave canary is running$/);
    }
    const baking = await env.waitBatch(b.id, ['baking']);
    assert.equal(baking.currentWave, 1);
    assert.deepEqual(baking.bake, { wave: 1, until: '2026-12-01T10:30:00.000Z', remainingSeconds: 1800 });
    assert.deepEqual(
      baking.waves.map((w: any) => w.state),
      ['succeeded', 'baking', 'scheduled'],
    );
    assert.deepEqual(baking.waves[1].counts, { succeeded: 3 });
    const rest = (await upgradesOf(b.id)).filter((u) => u.waveIndex === 2);
    assert.ok(
      rest.every(
        (u) => u.pendingReason === 'waiting for wave rest (3 of 3): wave early is baking until 2026-12-01T10:30:00.000Z',
      ),
    );
    await env.at('2026-12-01T10:29:59Z');
    assert.equal((await env.batch(b.id)).state, 'baking');
    await env.at('2026-12-01T10:30:00Z');
    const done = await env.waitBatch(b.id, ['succeeded', 'failed', 'halted']);
    assert.equal(done.state, 'succeeded');
    assert.ok(done.waves.every((w: any) => w.state === 'succeeded'));
    assert.equal(await peakConcurrency(b.id, 1), 2);
    assert.equal(await peakConcurrency(b.id, 2), 2);
    // waves in order: no upgrade of a later wave was released before every one of the earlier ended
    const log = await events(env);
    const waveOf = new Map((await upgradesOf(b.id)).map((u) => [u.id, u.waveIndex]));
    const firstRelease = (w: number) =>
      log.find((e) => e.type === 'upgrade.released' && waveOf.get(e.upgradeId ?? '') === w)?.id ?? 0;
    const lastEnd = (w: number) =>
      Math.max(...log.filter((e) => e.type === 'upgrade.succeeded' && waveOf.get(e.upgradeId ?? '') === w).map((e) => e.id));
    assert.ok(lastEnd(0) < firstRelease(1) && lastEnd(1) < firstRelease(2));
    // every batch event and every release is stamped by the injected clock, which only the test moves
    const stamped = log.filter(
      (e: any) =>
        (e.type.startsWith('batch.') && e.data?.batchId === b.id) || (e.type === 'upgrade.released' && waveOf.has(e.upgradeId)),
    ) as any[];
    assert.ok(stamped.some((e) => e.type === 'batch.wave_started'));
    const moments = new Set(['2026-12-01T10:00:00.000Z', '2026-12-01T10:29:59.000Z', '2026-12-01T10:30:00.000Z']);
    for (const e of stamped) assert.ok(moments.has(e.createdAt), `${e.type} at ${e.createdAt}`);
  });

  test('an approval gate: the wave waits in awaiting_approval until approved', async () => {
    for (let i = 1; i <= 3; i++) await env.addTarget(`ap-${i}`);
    const b = await create({
      name: 'gated',
      targetIds: ['ap-1', 'ap-2', 'ap-3'],
      waves: [
        { name: 'canary', targets: 1 },
        { name: 'rest', targets: '100%', maxConcurrency: 2, approval: true },
      ],
    });
    const waiting = await env.waitBatch(b.id, ['awaiting_approval']);
    assert.equal(waiting.pendingReason, 'awaiting approval of wave rest');
    assert.equal(waiting.waves[1].state, 'awaiting_approval');
    const held = (await upgradesOf(b.id)).filter((u) => u.waveIndex === 1);
    assert.ok(held.every((u) => u.state === 'scheduled' && u.pendingReason === 'awaiting approval of wave rest (2 of 2)'));
    await env.advance(3600_000);
    assert.equal((await env.batch(b.id)).state, 'awaiting_approval', 'time alone does not pass the gate');
    const ok = await act(b.id, 'approve');
    assert.equal(ok.status, 200, ok.body);
    const done = await env.waitBatch(b.id, ['succeeded']);
    assert.match(done.waves[1].approvedBy, /^admin/);
    const again = await act(b.id, 'approve');
    assert.deepEqual([again.status, again.json.error.code], [409, 'INVALID_STATE']);
  });

  test('a failure threshold halts the batch; retry runs the failed targets again and it finishes', async () => {
    for (let i = 1; i <= 4; i++) await env.addTarget(`th-${i}`);
    for (const t of ['th-1', 'th-2']) {
      const f = await env.call('POST', `/v1/projects/${P}/targets/${t}/faults`, {
        node: `${t}-2`,
        step: 'install',
        kind: 'fail',
      });
      assert.equal(f.status, 201);
    }
    const b = await create({
      name: 'threshold',
      targetIds: ['th-1', 'th-2', 'th-3', 'th-4'],
      waves: [{ name: 'all', targets: '100%', maxConcurrency: 1 }],
      failureThreshold: { targets: 2 },
    });
    const halted = await env.waitBatch(b.id, ['halted']);
    assert.equal(halted.pendingReason, 'halted: 2 of 2 allowed failures');
    assert.equal(halted.failures, 2);
    const ups = await upgradesOf(b.id);
    const byTarget = new Map(ups.map((u) => [u.targetId, u]));
    assert.equal(byTarget.get('th-1').state, 'failed');
    assert.equal(byTarget.get('th-2').state, 'failed');
    for (const t of ['th-3', 'th-4']) {
      assert.equal(byTarget.get(t).state, 'scheduled', `${t} never started`);
      assert.equal(byTarget.get(t).pendingReason, 'halted: 2 of 2 allowed failures (batch threshold)');
    }
    const retried = await act(b.id, 'retry');
    assert.equal(retried.status, 200, retried.body);
    const done = await env.waitBatch(b.id, ['succeeded', 'failed', 'halted']);
    assert.equal(done.state, 'succeeded');
    assert.ok((await upgradesOf(b.id)).every((u) => u.state === 'succeeded'));

    // below the threshold: the last wave ends failed, so does the batch; a retry finishes it
    for (let i = 1; i <= 2; i++) await env.addTarget(`fl-${i}`);
    const f = await env.call('POST', `/v1/projects/${P}/targets/fl-1/faults`, { node: 'fl-1-2', step: 'install', kind: 'fail' });
    assert.equal(f.status, 201);
    const below = await create({
      name: 'below the threshold',
      targetIds: ['fl-1', 'fl-2'],
      waves: [{ name: 'all', targets: '100%' }],
      failureThreshold: { targets: 2 },
    });
    const failed = await env.waitBatch(below.id, ['failed', 'succeeded', 'halted']);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.waves[0].state, 'failed');
    assert.equal((await act(below.id, 'retry')).status, 200);
    assert.equal((await env.waitBatch(below.id, ['succeeded', 'failed', 'halted'])).state, 'succeeded');
  });

  test('pause holds everything not started, resume continues; cancel cancels every unfinished upgrade', async () => {
    for (let i = 1; i <= 4; i++) await env.addTarget(`pr-${i}`);
    const b = await create({
      name: 'paused',
      targetIds: ['pr-1', 'pr-2', 'pr-3', 'pr-4'],
      waves: [
        { name: 'canary', targets: 1 },
        { name: 'rest', targets: '100%', maxConcurrency: 3, approval: true },
      ],
    });
    await env.waitBatch(b.id, ['awaiting_approval']);
    const paused = await act(b.id, 'pause');
    assert.equal(paused.json.state, 'paused');
    assert.equal(paused.json.pendingReason, 'paused by an operator (was awaiting_approval)');
    const approveWhilePaused = await act(b.id, 'approve');
    assert.equal(approveWhilePaused.status, 409);
    await env.advance(60_000);
    assert.equal((await env.batch(b.id)).state, 'paused');
    const resumed = await act(b.id, 'resume');
    assert.equal(resumed.json.state, 'awaiting_approval');
    await act(b.id, 'approve');
    await env.waitBatch(b.id, ['succeeded']);

    for (let i = 1; i <= 3; i++) await env.addTarget(`cc-${i}`);
    const c = await create({
      name: 'cancelled',
      targetIds: ['cc-1', 'cc-2', 'cc-3'],
      waves: [
        { name: 'canary', targets: 1 },
        { name: 'rest', targets: '100%', approval: true },
      ],
    });
    await env.waitBatch(c.id, ['awaiting_approval']);
    const cancelled = await act(c.id, 'cancel');
    assert.equal(cancelled.json.state, 'cancelled');
    // the cancel wakes the scheduler, which cancels the unfinished upgrades
    await until(async () => (await upgradesOf(c.id)).every((u) => ENDED.includes(u.state)), 'the batch’s upgrades to end');
    const ups = await upgradesOf(c.id);
    assert.deepEqual(ups.map((u) => u.state).sort(), ['cancelled', 'cancelled', 'succeeded']);
    assert.ok(ups.every((u) => ENDED.includes(u.state)));
    // the targets are free again
    const single = await env.call('POST', `/v1/projects/${P}/upgrades`, { targetId: 'cc-2', toVersion: '7.10.3' });
    assert.equal(single.status, 202);
  });

  test('every batch and wave transition of these paths is in the state core’s table, with its event', async () => {
    const check = await checkEventsAgainstTable(env.t.ctx.store.db);
    assert.deepEqual(check.violations, []);
    const rules = (['batch', 'wave'] as const).flatMap((e) => Object.keys(RULES[e]).map((name) => `${e}.${name}`));
    // reached elsewhere: a batch whose creation fails (its held upgrades discarded)
    const elsewhere: Record<string, string> = { 'batch.discard': 'test/families/huawei/gaussdb.test.ts' };
    assert.deepEqual(
      rules.filter((r) => !check.seen.has(r) && elsewhere[r] === undefined),
      [],
    );
  });

  test('bad batches are refused whole with a message that says what to fix', async () => {
    await env.addTarget('bad-1');
    const refused = async (body: Record<string, unknown>, code: string, words: RegExp) => {
      const res = await env.call('POST', `/v1/projects/${P}/batches`, { name: 'x', toVersion: '7.10.3', ...body });
      assert.equal(res.json?.error?.code, code, res.body);
      assert.match(res.json.error.message, words);
    };
    await refused({ targetIds: ['bad-1'], waves: [{ name: 'a', targets: 0 }] }, 'VALIDATION_FAILED', /gets no target|cover/);
    await refused({ targetIds: ['bad-1', 'nope'], waves: [{ name: 'a', targets: '100%' }] }, 'TARGET_NOT_FOUND', /nope/);
    await refused(
      { selector: { labels: { env: 'nowhere' } }, waves: [{ name: 'a', targets: '100%' }] },
      'VALIDATION_FAILED',
      /matches no target/,
    );
    await refused({ targetIds: ['bad-1'], waves: [{ name: 'a', targets: '150%' }] }, 'VALIDATION_FAILED', /./);
    await refused(
      { targetIds: ['bad-1'], schedule: { kind: 'window' }, waves: [{ name: 'a', targets: 1 }] },
      'VALIDATION_FAILED',
      /no maintenance window/,
    );
    const upgrades = (await env.call('GET', `/v1/projects/${P}/upgrades?target=bad-1`)).json.items;
    assert.deepEqual(upgrades, [], 'nothing was created');
  });
});
