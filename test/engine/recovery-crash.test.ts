// Recovery itself can be interrupted. A real server is killed (SIGKILL) after an install step's
// effect was applied but before it was recorded; the next server is killed at each named point
// inside the recovery of that step; a third one finishes. The sim's invocation log must show that
// no non-idempotent step was executed again, and every effect is applied exactly once. Both dialects.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { RECOVERY_FAULT_POINTS } from '../../src/domain/fault-point-names.ts';
import { openStore } from '../../src/store/open.ts';
import { forEachDialect, freshStore, until, type StoreConfig } from '../helpers/harness.ts';
import { simCluster, startServer, type Server } from '../helpers/servers.ts';
import { checkEventsAgainstTable } from '../helpers/transitions.ts';
import { simDb } from '../../src/drivers/sim/tables.ts';

const NON_IDEMPOTENT = ['install', 'switchover', 'relocate'];
// a dead executor's lease runs out quickly here (PostgreSQL waits for it)
const ENV = { LIFTGATE_LEASE_MS: '1500', LIFTGATE_EXECUTOR_TIMEOUT_MS: '2000' };

forEachDialect('recovery crash', (dialect) => {
  const servers: Server[] = [];
  const stores: StoreConfig[] = [];
  after(async () => {
    for (const s of servers) if (s.alive()) s.child.kill('SIGKILL');
    for (const s of stores) await s.cleanup();
  });
  const start = async (store: StoreConfig, fault?: string) => {
    const s = await startServer(store, { ...ENV, LIFTGATE_FAULT_POINT: fault ?? '' });
    servers.push(s);
    return s;
  };

  for (const point of RECOVERY_FAULT_POINTS) {
    test(`SIGKILL at ${point}: the step is not executed again and the upgrades finish`, async () => {
      const store = await freshStore(dialect);
      stores.push(store);
      const first = await start(store, 'step.driver_done:1@install');
      await first.waitUp();
      assert.equal((await first.api('POST', '/v1/projects', { id: 'p1' })).status, 201);
      for (const v of ['1.0.0', '1.1.0']) await first.api('POST', '/v1/catalog/sim/versions', { version: v });
      for (const t of ['a', 'b']) assert.equal((await first.api('POST', '/v1/projects/p1/targets', simCluster(t))).status, 201);
      // both start together, after the last one is created: the fault point may be reached only
      // once every upgrade exists, however slow the machine (a first upgrade that starts at once
      // can reach it while the second is still being requested)
      const at = new Date(Date.now() + 3000).toISOString();
      const ids: string[] = [];
      for (const t of ['a', 'b']) {
        const u = await first.api('POST', '/v1/projects/p1/upgrades', {
          targetId: t,
          toVersion: '1.1.0',
          schedule: { kind: 'at', at },
        });
        assert.equal(u.status, 202);
        ids.push(u.json.id);
      }
      assert.equal(await first.ended(), 'SIGKILL', `killed after an install's effect; output:\n${first.output()}`);

      const second = await start(store, `${point}:1@install`);
      assert.equal(await second.ended(), 'SIGKILL', `killed at ${point}; output:\n${second.output()}`);

      const third = await start(store);
      await third.waitUp();
      for (const id of ids) {
        await until(
          async () => (await third.api('GET', `/v1/projects/p1/upgrades/${id}`)).json.state === 'succeeded',
          `upgrade ${id}`,
          2400,
          50,
        );
      }
      third.child.kill('SIGTERM');
      await third.ended();

      const s = await openStore(store.config);
      try {
        const steps = await s.db.selectFrom('steps').selectAll().where('action', '!=', 'precheck').execute();
        const calls = await simDb(s.db)
          .selectFrom('sim_invocations')
          .selectAll()
          .where('call', '=', 'execute')
          .orderBy('id')
          .execute();
        const effects = await simDb(s.db).selectFrom('sim_effects').selectAll().execute();
        for (const st of steps) {
          const mine = calls.filter((c) => c.step_id === st.id);
          const applied = effects.filter((e) => e.step_id === st.id);
          assert.equal(applied.length, 1, `${st.name} on ${st.node}: ${applied.length} effects`);
          if (NON_IDEMPOTENT.includes(st.action)) {
            // a call cut off before it acted may be followed by one more; a call that acted never is
            const acted = mine.findIndex((c) => c.outcome === 'applied');
            assert.ok(acted >= 0, `${st.name} on ${st.node} never applied`);
            assert.equal(mine.length, acted + 1, `${st.name} on ${st.node} was executed again after it took effect`);
          }
        }
        const found = await s.db
          .selectFrom('events')
          .innerJoin('steps', 'steps.id', 'events.step_id')
          .select(['steps.id', 'steps.action', 'steps.recoveries'])
          .where('events.actor', '=', 'recovery')
          .where('events.type', '=', 'step.succeeded')
          .execute();
        const install = found.find((f) => f.action === 'install');
        assert.ok(install, 'recovery recorded the install that had taken effect');
        assert.equal(calls.filter((c) => c.step_id === install.id).length, 1, 'that install was executed once');
        assert.ok(install.recoveries >= 1);
        const upgrades = await s.db.selectFrom('upgrades').select('state').execute();
        assert.ok(upgrades.every((u) => u.state === 'succeeded'));
        // the recoveries, interrupted or not, made only transitions of the table
        assert.deepEqual((await checkEventsAgainstTable(s.db)).violations, []);
      } finally {
        await s.close();
      }
    });
  }
});
