// A crash in the middle of a cancel loses nothing and repeats nothing that finished. A real server
// cancels a stop-service upgrade after its stop stage (three nodes down, three restore steps) and
// is killed with SIGKILL at a named fault point of the second restore: before the driver is called,
// and after the driver started the node but before that was recorded. The restarted server must
// end the cancel `cancelled` with every node running, each restore's effect applied exactly once
// (the sim's effect log), and the restore that had finished not run again (its invocation log).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { openStore } from '../../src/store/open.ts';
import { forEachDialect, freshStore, until, type StoreConfig } from '../helpers/harness.ts';
import { killAll, simCluster, startServer, type Server } from '../helpers/servers.ts';
import { simDb } from '../../src/drivers/sim/tables.ts';

const POINTS = ['step.claimed:2@restore', 'step.driver_done:2@restore'];

forEachDialect('cancel crash', (dialect) => {
  const servers: Server[] = [];
  const stores: StoreConfig[] = [];
  after(async () => {
    killAll(servers);
    for (const s of stores) await s.cleanup();
  });

  for (const point of POINTS) {
    test(`SIGKILL at ${point}: the restarted server finishes the cancel, each restore once`, async () => {
      const store = await freshStore(dialect);
      stores.push(store);
      // PostgreSQL executors wait for a dead owner's lease to expire; keep that short here
      const env = { LIFTGATE_LEASE_MS: '1500' };
      const first = await startServer(store, { ...env, LIFTGATE_FAULT_POINT: point });
      servers.push(first);
      await first.waitUp();
      assert.equal((await first.api('POST', '/v1/projects', { id: 'p1' })).status, 201);
      for (const v of ['1.0.0', '1.1.0']) await first.api('POST', '/v1/catalog/sim/versions', { version: v, release: `r${v}` });
      assert.equal((await first.api('POST', '/v1/projects/p1/targets', simCluster('a'))).status, 201);
      const f = await first.api('POST', '/v1/projects/p1/targets/a/faults', { node: 'a1', step: 'install', kind: 'fail' });
      assert.equal(f.status, 201);
      const u = await first.api('POST', '/v1/projects/p1/upgrades', { targetId: 'a', toVersion: '1.1.0', mode: 'stop_service' });
      assert.equal(u.status, 202);
      const id = u.json.id as string;
      await until(
        async () => (await first.api('GET', `/v1/projects/p1/upgrades/${id}`)).json.state === 'failed',
        'the upgrade to fail',
      );
      // the kill may come before the answer is sent: the cancel committed first either way
      const cancel = await first.api('POST', `/v1/projects/p1/upgrades/${id}/actions`, { action: 'cancel' }).catch(() => null);
      if (cancel) assert.equal(cancel.status, 200);
      assert.equal(await first.ended(), 'SIGKILL', `the server should have been killed at ${point}:\n${first.output()}`);

      const second = await startServer(store, env);
      servers.push(second);
      await second.waitUp();
      const done = await until(async () => {
        const v = (await second.api('GET', `/v1/projects/p1/upgrades/${id}`)).json;
        return v.state === 'cancelled' && v;
      }, 'the cancel to finish');
      assert.deepEqual(
        done.restores.map((r: any) => [r.node, r.state]),
        [
          ['a1', 'succeeded'],
          ['a2', 'succeeded'],
          ['a3', 'succeeded'],
        ],
      );
      second.child.kill('SIGTERM');
      await second.ended();

      const s = await openStore(store.config);
      try {
        const nodes = await simDb(s.db).selectFrom('sim_nodes').selectAll().where('target_id', '=', 'a').execute();
        for (const n of nodes) assert.ok(n.running === 1 && n.health === 'healthy', `${n.node} is ${n.health}`);
        const restores = await s.db
          .selectFrom('steps')
          .selectAll()
          .where('upgrade_id', '=', id)
          .where('action', '=', 'restore')
          .orderBy('seq')
          .execute();
        const effects = await simDb(s.db)
          .selectFrom('sim_effects')
          .selectAll()
          .where(
            'step_id',
            'in',
            restores.map((r) => r.id),
          )
          .execute();
        for (const r of restores) {
          assert.equal(effects.filter((e) => e.step_id === r.id).length, 1, `the restore of ${r.node} applied once`);
        }
        // the restore that had finished before the crash was not called again
        const calls = await simDb(s.db).selectFrom('sim_invocations').selectAll().where('step_id', '=', restores[0].id).execute();
        assert.equal(calls.length, 1);
        // the interrupted one was taken back by recovery, and the cancel ended once
        assert.ok(restores[1].recoveries >= 1 || restores[1].attempts >= 2, JSON.stringify(restores[1]));
        const ended = await s.db
          .selectFrom('events')
          .select('type')
          .where('upgrade_id', '=', id)
          .where('type', '=', 'upgrade.cancelled')
          .execute();
        assert.equal(ended.length, 1);
      } finally {
        await s.close();
      }
    });
  }
});
