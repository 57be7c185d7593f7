// Batch estimates on real stores and the injected clock: GET .../batches/{id} forecasts the end
// counting the bake and the concurrency slots, each held upgrade's estimate starts when its batch
// will release it, and once the batch ends its forecast made at the start is recorded with its
// error (GET /v1/estimates, "batches"). The sim runs at time scale 0, so on the test's clock every
// step takes no time and what remains is the scheduler's release lag and the bake.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RELEASE_LAG_SECONDS as LAG } from '../../src/estimates/batch-forecast.ts';
import { forEachDialect } from '../helpers/harness.ts';
import { P, fleetEnv, type FleetEnv } from './helpers.ts';

forEachDialect('batch estimates', (dialect) => {
  let env: FleetEnv;
  before(async () => {
    env = await fleetEnv(dialect, { start: '2026-12-01T10:00:00Z' });
  });
  after(async () => env.close());

  test('a batch forecasts its bake and its slots; its held upgrades start when it releases them; the error is recorded', async () => {
    // one upgrade first, so every step of the plan has a learned duration (0 s on this clock)
    await env.addTarget('warm');
    const single = await env.call('POST', `/v1/projects/${P}/upgrades`, { targetId: 'warm', toVersion: '7.10.3' });
    assert.equal(single.status, 202, single.body);
    await env.waitUpgrade(single.json.id, ['succeeded']);
    await env.t.ctx.estimates.settle();

    for (let i = 1; i <= 4; i++) await env.addTarget(`est-${i}`);
    const created = await env.call('POST', `/v1/projects/${P}/batches`, {
      name: 'forecast',
      toVersion: '7.10.3',
      targetIds: ['est-1', 'est-2', 'est-3', 'est-4'],
      waves: [
        { name: 'canary', targets: 1, bakeMinutes: 30 },
        { name: 'rest', targets: '100%', maxConcurrency: 2 },
      ],
    });
    assert.equal(created.status, 201, created.body);
    const id = created.json.id as string;
    const baking = await env.waitBatch(id, ['baking']);
    // from 10:00:00: the bake runs out at 10:30:00 and the scheduler sees it; the rest goes two at
    // a time, each released LAG after its slot frees; the batch ends when the scheduler sees it
    const restStarts = [1800 + LAG + LAG, 1800 + LAG + LAG, 1800 + LAG + LAG + LAG];
    assert.equal(baking.estimate.remainingSeconds, restStarts[2] + LAG);
    assert.equal(
      baking.estimate.completesAt,
      new Date(Date.parse('2026-12-01T10:00:00Z') + (restStarts[2] + LAG) * 1000).toISOString(),
    );
    assert.match(baking.estimate.basis, /^2 wave\(s\) left; includes 30m00s of bakes; counts the waits for concurrency slots; /);

    const held = ((await env.call('GET', `/v1/projects/${P}/batches/${id}/upgrades`)).json.items as any[])
      .filter((u) => u.waveIndex === 1)
      .sort((a, b) => a.targetId.localeCompare(b.targetId));
    const estimates = [];
    for (const u of held) estimates.push((await env.upgrade(u.id)).estimate);
    assert.deepEqual(
      estimates.map((e) => e.remainingSeconds),
      restStarts,
      'the third waits for a slot',
    );
    assert.match(estimates[0].basis, /released by batch forecast at about 2026-12-01T10:30:02/);

    // paused: no forecast (a person decides when it goes on)
    assert.equal((await env.call('POST', `/v1/projects/${P}/batches/${id}/actions`, { action: 'pause' })).status, 200);
    assert.equal((await env.batch(id)).estimate, null);
    assert.equal((await env.upgrade(held[0].id)).estimate, null);
    assert.equal((await env.call('POST', `/v1/projects/${P}/batches/${id}/actions`, { action: 'resume' })).status, 200);

    await env.at('2026-12-01T10:30:00Z');
    const done = await env.waitBatch(id, ['succeeded']);
    assert.equal(done.estimate, null);
    await env.t.ctx.estimates.settle();
    const rec = await env.t.ctx.store.db
      .selectFrom('estimate_records')
      .selectAll()
      .where('subject_id', '=', id)
      .executeTakeFirstOrThrow();
    assert.equal(rec.kind, 'batch');
    assert.equal(rec.engine, 'elasticsearch');
    // made at the start, from scratch: the canary released and seen done (2 LAG), the bake, the
    // rest released in two rounds (a LAG each) and seen done
    assert.equal(Number(rec.predicted_seconds), LAG + LAG + 1800 + LAG + LAG + LAG);
    assert.equal(Number(rec.actual_seconds), 1800);
    assert.equal(rec.outcome, 'succeeded');
    assert.equal(rec.abs_error_pct, null, 'an operator paused it: it measures nothing');
  });

  test('a batch that runs straight through records its error, in GET /v1/estimates', async () => {
    for (let i = 1; i <= 3; i++) await env.addTarget(`str-${i}`);
    const created = await env.call('POST', `/v1/projects/${P}/batches`, {
      name: 'straight',
      toVersion: '7.10.3',
      targetIds: ['str-1', 'str-2', 'str-3'],
      waves: [{ name: 'all', targets: '100%', maxConcurrency: 3, bakeMinutes: 10 }],
    });
    assert.equal(created.status, 201, created.body);
    const id = created.json.id as string;
    await env.waitBatch(id, ['baking']);
    await env.advance(600_000);
    await env.waitBatch(id, ['succeeded']);
    await env.t.ctx.estimates.settle();
    const rec = await env.t.ctx.store.db
      .selectFrom('estimate_records')
      .selectAll()
      .where('subject_id', '=', id)
      .executeTakeFirstOrThrow();
    const predicted = LAG + LAG + 600;
    assert.equal(Number(rec.predicted_seconds), predicted);
    assert.equal(Number(rec.actual_seconds), 600);
    assert.ok(Math.abs(Number(rec.abs_error_pct) - ((predicted - 600) / 600) * 100) < 1e-9);
    const overview = (await env.call('GET', '/v1/estimates')).json;
    const es = overview.batches.find((e: any) => e.engine === 'elasticsearch');
    assert.equal(es.measured, 1);
    assert.equal(es.medianAbsErrorPercent, Math.round(((predicted - 600) / 600) * 100 * 100) / 100);
  });
});
