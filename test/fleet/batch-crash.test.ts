// A real server process running a batch is killed with SIGKILL mid-batch and restarted: the batch
// finishes, every upgrade was released once and started once, and the sim's invocation log shows
// no non-idempotent step applied twice. Both dialects.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { openStore } from '../../src/store/open.ts';
import { forEachDialect, freshStore, until, type StoreConfig } from '../helpers/harness.ts';
import { startServer, type Server } from '../helpers/servers.ts';
import { simDb } from '../../src/drivers/sim/tables.ts';

// each step takes a few hundred ms, so the kill lands with steps and upgrades in flight
const ENV = { LIFTGATE_SIM_TIME_SCALE: '0.003', LIFTGATE_LEASE_MS: '1500', LIFTGATE_EXECUTOR_TIMEOUT_MS: '1500' };

forEachDialect('batch crash', (dialect) => {
  const servers: Server[] = [];
  const stores: StoreConfig[] = [];
  after(async () => {
    for (const s of servers) if (s.alive()) s.child.kill('SIGKILL');
    for (const s of stores) await s.cleanup();
  });

  test('SIGKILL mid-batch: the restarted server finishes the batch and starts nothing twice', async () => {
    const store = await freshStore(dialect);
    stores.push(store);
    const first = await startServer(store, ENV);
    servers.push(first);
    await first.waitUp();
    const api = first.api;
    assert.equal((await api('POST', '/v1/projects', { id: 'p1' })).status, 201);
    for (const v of ['1.0.0', '1.1.0']) await api('POST', '/v1/catalog/sim/versions', { version: v, release: `r${v}` });
    for (let i = 1; i <= 6; i++) {
      const r = await api('POST', '/v1/projects/p1/targets', {
        id: `t${i}`,
        kind: 'cluster',
        engine: 'sim',
        version: '1.0.0',
        labels: { env: 'prod' },
        nodes: [
          { name: `t${i}a`, role: 'leader', zone: 'z1' },
          { name: `t${i}b`, role: 'follower', zone: 'z2' },
          { name: `t${i}c`, role: 'follower', zone: 'z3' },
        ],
      });
      assert.equal(r.status, 201);
    }
    const created = await api('POST', '/v1/projects/p1/batches', {
      name: 'crash',
      selector: { labels: { env: 'prod' } },
      toVersion: '1.1.0',
      waves: [
        { name: 'canary', targets: 1 },
        { name: 'rest', targets: '100%', maxConcurrency: 2 },
      ],
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const id = created.json.id;
    // kill it once the second wave is under way
    await until(
      async () => {
        const b = (await api('GET', `/v1/projects/p1/batches/${id}`)).json;
        return b.currentWave === 1 && (b.waves[1].counts.succeeded ?? 0) >= 1 && b.state === 'running';
      },
      'the second wave under way',
      2400,
      20,
    );
    first.child.kill('SIGKILL');
    assert.equal(await first.ended(), 'SIGKILL');

    const second = await startServer(store, ENV);
    servers.push(second);
    await second.waitUp();
    const done = await until(
      async () => {
        const b = (await second.api('GET', `/v1/projects/p1/batches/${id}`)).json;
        return ['succeeded', 'failed', 'halted'].includes(b.state) && b;
      },
      'the batch to finish',
      2400,
      50,
    );
    assert.equal(done.state, 'succeeded', second.output());
    second.child.kill('SIGTERM');
    await second.ended();

    const s = await openStore(store.config);
    try {
      const ups = await s.db.selectFrom('upgrades').select(['id', 'state']).where('batch_id', '=', id).execute();
      assert.equal(ups.length, 6);
      assert.ok(ups.every((u) => u.state === 'succeeded'));
      const evs = await s.db.selectFrom('events').select(['type', 'upgrade_id', 'data']).execute();
      for (const u of ups) {
        const of = (type: string) => evs.filter((e) => e.upgrade_id === u.id && e.type === type).length;
        assert.equal(of('upgrade.released'), 1, `upgrade ${u.id} released once`);
        assert.equal(of('upgrade.started'), 1, `upgrade ${u.id} started once`);
      }
      const batchEvents = evs.filter((e) => (JSON.parse(e.data) as { batchId?: string }).batchId === id);
      assert.equal(batchEvents.filter((e) => e.type === 'batch.running').length, 1, 'the batch started once');
      assert.equal(batchEvents.filter((e) => e.type === 'batch.wave_started').length, 1, 'wave 2 started once');
      // exactly-once from the invocation log (no unique key there): no non-idempotent step applied twice
      const calls = await simDb(s.db)
        .selectFrom('sim_invocations')
        .select(['step_id', 'action', 'outcome'])
        .where('call', '=', 'execute')
        .where('action', 'in', ['install', 'switchover', 'relocate'])
        .execute();
      const applied = new Map<string, number>();
      for (const c of calls) if (c.outcome === 'applied') applied.set(c.step_id, (applied.get(c.step_id) ?? 0) + 1);
      assert.ok(applied.size > 0);
      for (const [step, n] of applied) assert.equal(n, 1, `step ${step} applied ${n} times`);
      const effects = await simDb(s.db).selectFrom('sim_effects').select('step_id').execute();
      const steps = await s.db
        .selectFrom('steps')
        .innerJoin('upgrades', 'upgrades.id', 'steps.upgrade_id')
        .select('steps.id')
        .where('upgrades.batch_id', '=', id)
        .where('steps.action', '!=', 'precheck')
        .execute();
      assert.equal(effects.length, steps.length, 'every step applied exactly once');
    } finally {
      await s.close();
    }
  });
});
