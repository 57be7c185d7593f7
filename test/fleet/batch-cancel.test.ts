// A batch cancel never leaves a node out of service. One batch runs seven rolling upgrades at
// once, each stopped at another point of its plan (a fault fails the step after each step kind on
// node -2, a crash in verify, and one step that hangs while it runs); it halts at its failure
// threshold and is cancelled. Every node of every target must then run and be healthy in the sim's
// own node table, every upgrade end cancelled, the batch end only after them, and its answer say
// what was done per node. Both stores, on the injected clock.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { forEachDialect, until } from '../helpers/harness.ts';
import { P, fleetEnv, type FleetEnv } from './helpers.ts';
import { simDb } from '../../src/drivers/sim/tables.ts';

// target -> the fault on its node -2, and what the cancel must have done there
const CASES: Record<string, { step: string; kind: string; summary: string }> = {
  'bc-drain': { step: 'drain', kind: 'fail', summary: 'in service on 7.10.2; nothing to do' },
  'bc-stop': { step: 'stop', kind: 'fail', summary: 'in service on 7.10.2; nothing to do' },
  'bc-install': { step: 'install', kind: 'fail', summary: 'started on 7.10.2; it was stopped' },
  'bc-start': { step: 'start', kind: 'fail', summary: 'started on 7.10.3; it was stopped' },
  'bc-verify': { step: 'verify', kind: 'crash', summary: 'started on 7.10.3; it was crashed' },
  'bc-rejoin': { step: 'rejoin', kind: 'fail', summary: 'in service on 7.10.3; nothing to do' },
  'bc-running': { step: 'start', kind: 'hang', summary: 'started on 7.10.3; it was stopped' },
};
const TARGETS = Object.keys(CASES);

forEachDialect('batch cancel', (dialect) => {
  let env: FleetEnv;
  before(async () => {
    env = await fleetEnv(dialect, { start: '2026-12-01T10:00:00Z' });
  });
  after(async () => env.close());

  test('a batch halted by faults is cancelled: every node of every target serves again', async () => {
    for (const t of TARGETS) {
      await env.addTarget(t);
      const f = await env.call('POST', `/v1/projects/${P}/targets/${t}/faults`, {
        node: `${t}-2`,
        step: CASES[t].step,
        kind: CASES[t].kind,
      });
      assert.equal(f.status, 201, f.body);
    }
    const res = await env.call('POST', `/v1/projects/${P}/batches`, {
      name: 'halts',
      toVersion: '7.10.3',
      targetIds: TARGETS,
      waves: [{ name: 'all', targets: '100%', maxConcurrency: TARGETS.length }],
      failureThreshold: { targets: TARGETS.length - 1 },
    });
    assert.equal(res.status, 201, res.body);
    const id = res.json.id as string;
    await env.waitBatch(id, ['halted']);
    const ups = (await env.call('GET', `/v1/projects/${P}/batches/${id}/upgrades?limit=500`)).json.items as any[];
    const running = ups.find((u) => u.targetId === 'bc-running');
    assert.equal(running.state, 'running');
    await until(async () => {
      const u = await env.upgrade(running.id);
      return u.stages.flatMap((s: any) => s.steps).some((s: any) => s.action === 'start' && s.state === 'running');
    }, 'the hung start');

    const cancelled = await env.call('POST', `/v1/projects/${P}/batches/${id}/actions`, { action: 'cancel' });
    assert.equal(cancelled.status, 200, cancelled.body);
    assert.equal(cancelled.json.state, 'cancelled');
    const ended = await until(async () => {
      const b = await env.batch(id);
      if (!b.endedAt) {
        await env.advance(0);
        return null;
      }
      return b;
    }, 'the batch to end');
    // the batch ends only after every upgrade did
    const after = (await env.call('GET', `/v1/projects/${P}/batches/${id}/upgrades?limit=500`)).json.items as any[];
    assert.deepEqual(
      after.map((u) => u.state),
      TARGETS.map(() => 'cancelled'),
    );
    for (const u of after) assert.ok(u.endedAt <= ended.endedAt, `${u.targetId} ended before its batch`);
    // the simulated systems themselves
    const nodes = await simDb(env.t.ctx.store.db).selectFrom('sim_nodes').selectAll().where('target_id', 'in', TARGETS).execute();
    assert.equal(nodes.length, TARGETS.length * 3);
    for (const n of nodes) assert.ok(n.running === 1 && n.health === 'healthy', `${n.node} is ${n.health}`);
    // what was done per node, in the batch's answer
    assert.deepEqual(
      [...ended.restores]
        .sort((a: any, b: any) => a.targetId.localeCompare(b.targetId))
        .map((r: any) => [r.node, r.state, r.summary]),
      [...TARGETS].sort().map((t) => [`${t}-2`, 'succeeded', CASES[t].summary]),
    );
    assert.equal(ended.pendingReason, null);
  });
});
