// The preview of a batch (POST .../batches/preview): the waves a request would make with the
// targets each takes, refused exactly as the create refuses it, and nothing written: no batch,
// no upgrade, no event, no row in any of their tables. Also the batch's allowedActions as its state moves.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect } from '../helpers/harness.ts';
import { P, events, fleetEnv, type FleetEnv } from './helpers.ts';

forEachDialect('batch preview', (dialect) => {
  let env: FleetEnv;
  before(async () => {
    env = await fleetEnv(dialect, { start: '2026-12-01T10:00:00Z' });
    for (let i = 1; i <= 5; i++) await env.addTarget(`p-${i}`, { name: `Search ${i}`, labels: { env: 'prod' } });
    await env.addTarget('p-staging', { labels: { env: 'staging' } });
  });
  after(async () => env.close());

  const body = {
    name: 'es 7.10.3',
    toVersion: '7.10.3',
    selector: { engine: 'elasticsearch', labels: { env: 'prod' } },
    waves: [
      { name: 'canary', targets: 1, approval: false },
      { name: 'half', targets: '40%', maxConcurrency: '50%', bakeMinutes: 15 },
      { name: 'rest', targets: '100%', approval: true },
    ],
    failureThreshold: { targets: '40%' },
  };

  /** every row of every table the app writes a batch into, counted */
  async function rows(): Promise<Record<string, number>> {
    const db = env.t.ctx.store.db;
    const out: Record<string, number> = {};
    for (const table of ['batches', 'batch_waves', 'upgrades', 'events'] as const) {
      const r = await db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      out[table] = Number(r.n);
    }
    return out;
  }

  test('answers the waves with the targets each takes, and writes nothing', async () => {
    const before = await rows();
    const eventsBefore = (await events(env)).length;
    const res = await env.call('POST', `/v1/projects/${P}/batches/preview`, body);
    assert.equal(res.status, 200, res.body);
    const p = res.json;
    assert.equal(p.targets, 5);
    assert.equal(p.failureLimit, 2);
    assert.deepEqual(
      p.waves.map((w: any) => [w.name, w.targets.map((t: any) => t.id), w.maxConcurrency, w.bakeMinutes, w.approval]),
      [
        ['canary', ['p-1'], 1, 0, false],
        ['half', ['p-2', 'p-3'], 1, 15, false],
        ['rest', ['p-4', 'p-5'], 1, 0, true],
      ],
    );
    assert.equal(p.waves[0].targets[0].name, 'Search 1');
    assert.equal(p.waves[0].targets[0].version, '7.10.2');
    assert.deepEqual(await rows(), before);
    assert.equal((await events(env)).length, eventsBefore);
    assert.equal((await env.call('GET', `/v1/projects/${P}/batches`)).json.total, 0);
  });

  test('refuses what the create refuses, with the same code and message', async () => {
    const bad = [
      { ...body, waves: [{ name: 'canary', targets: 1 }] },
      { ...body, selector: { engine: 'elasticsearch', labels: { env: 'nowhere' } } },
      { ...body, toVersion: '9.9.9' },
      {
        ...body,
        waves: [
          { name: 'a', targets: '100%' },
          { name: 'b', targets: 1 },
        ],
      },
    ];
    const before = await rows();
    for (const b of bad) {
      const preview = await env.call('POST', `/v1/projects/${P}/batches/preview`, b);
      const create = await env.call('POST', `/v1/projects/${P}/batches`, b);
      assert.ok(preview.status >= 400 && preview.status < 500, preview.body);
      assert.equal(preview.status, create.status, `${preview.body} vs ${create.body}`);
      assert.equal(preview.json.error.code, create.json.error.code);
      assert.equal(preview.json.error.message, create.json.error.message);
    }
    assert.deepEqual(await rows(), before);
  });

  test('allowedActions follow the batch state: approve at a gate, resume when paused, none once cancelled', async () => {
    const created = await env.call('POST', `/v1/projects/${P}/batches`, {
      ...body,
      waves: [{ name: 'gated', targets: '100%', approval: true, maxConcurrency: 5 }],
    });
    assert.equal(created.status, 201, created.body);
    const b = await env.waitBatch(created.json.id, ['awaiting_approval']);
    assert.deepEqual([...b.allowedActions].sort(), ['approve', 'cancel', 'pause']);
    const paused = await env.call('POST', `/v1/projects/${P}/batches/${b.id}/actions`, { action: 'pause' });
    assert.deepEqual([...paused.json.allowedActions].sort(), ['cancel', 'resume']);
    const cancelled = await env.call('POST', `/v1/projects/${P}/batches/${b.id}/actions`, { action: 'cancel' });
    assert.deepEqual(cancelled.json.allowedActions, []);
  });
});
