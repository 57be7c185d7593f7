// Cancel through the engine on a real PostgreSQL cluster: a replica stopped in the middle of a
// minor upgrade (16.14 binaries linked, its start failed) must be started again by the cancel, on
// the version it has, as a streaming replica, before the upgrade ends `cancelled`; a rollback
// after that puts it back on 16.13. The failure is injected in front of the real driver (the first
// start fails before it acts), so everything the cancel does is the real driver's work. A
// stop-service upgrade cancelled after its stop stage starts the whole cluster again, the primary
// first.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DriverError, type StepContext, type StepResult } from '../../src/drivers/driver.ts';
import { PostgresDriver } from '../../src/drivers/postgres/driver.ts';
import { loadTarget } from '../../src/store/targets-repo.ts';
import { forEachDialect } from '../helpers/harness.ts';
import { allSteps, closePgApp, createPgTarget, getTarget, PROJECT, settled, startPgApp, type PgApp } from './engine-harness.ts';

/** the real driver, whose first start of each target fails before it does anything (a failed start) */
class FirstStartFails extends PostgresDriver {
  private readonly failed = new Set<string>();
  override async execute(ctx: StepContext): Promise<StepResult> {
    if (ctx.step.action === 'start' && !this.failed.has(ctx.target.id)) {
      this.failed.add(ctx.target.id);
      throw new DriverError('START_FAILED', `${ctx.step.node} did not start (injected)`);
    }
    return super.execute(ctx);
  }
}

forEachDialect('postgres driver through the engine: cancel', (dialect) => {
  let x: PgApp | undefined;

  before(async () => {
    x = await startPgApp(dialect, { driverClass: FirstStartFails });
  });
  after(() => closePgApp(x));

  test('a replica stopped mid-upgrade is started again on the version it has; a rollback after it restores 16.13', async () => {
    const created = await createPgTarget(x!, 'pgc');
    const primary = created.nodes.find((n) => n.role === 'primary')!;
    const res = await x!.t.call('POST', `/v1/projects/${PROJECT}/upgrades`, {
      targetId: 'pgc',
      toVersion: '16.14',
      mode: 'rolling',
    });
    assert.equal(res.status, 202, res.body);
    const id = res.json.id as string;
    const failed = await settled(x!, id);
    assert.equal(failed.state, 'failed', `${failed.errorCode}: ${failed.error}`);
    const bad = allSteps(failed).find((s) => s.state === 'failed')!;
    assert.equal(bad.action, 'start');
    const node = bad.node!;
    assert.equal((await getTarget(x!, 'pgc')).nodes.find((n) => n.name === node)!.health, 'stopped');

    const cancel = await x!.t.call('POST', `/v1/projects/${PROJECT}/upgrades/${id}/actions`, { action: 'cancel' });
    assert.equal(cancel.status, 200, cancel.body);
    assert.deepEqual(
      cancel.json.restores.map((r: any) => r.node),
      [node],
    );
    const cancelled = await settled(x!, id);
    assert.equal(cancelled.state, 'cancelled', `${cancelled.errorCode}: ${cancelled.error}`);
    const restores = (await x!.t.call('GET', `/v1/projects/${PROJECT}/upgrades/${id}`)).json.restores;
    assert.deepEqual(
      restores.map((r: any) => [r.node, r.state, r.summary]),
      [[node, 'succeeded', 'started on 16.14 as replica; it was stopped']],
    );
    // the real cluster: every node up, the restored one on 16.14 and streaming, the primary unmoved
    const real = await x!.driver.inspect((await loadTarget(x!.t.ctx.store.db, PROJECT, 'pgc'))!);
    for (const n of real.nodes) {
      assert.equal(n.health, 'healthy', `${n.name} is up (replicas: streaming)`);
      assert.equal(n.version, n.name === node ? '16.14' : '16.13', `${n.name}'s version`);
      assert.equal(n.role, n.name === primary.name ? 'primary' : 'replica');
    }
    const view = await getTarget(x!, 'pgc');
    assert.deepEqual(
      view.nodes.map((n) => [n.name, n.health]),
      real.nodes.map((n) => [n.name, 'healthy']),
    );

    const rb = await x!.t.call('POST', `/v1/projects/${PROJECT}/upgrades/${id}/actions`, { action: 'rollback' });
    assert.equal(rb.status, 200, rb.body);
    const rolledBack = await settled(x!, id);
    assert.equal(rolledBack.state, 'rolled_back', `${rolledBack.errorCode}: ${rolledBack.error}`);
    const back = await x!.driver.inspect((await loadTarget(x!.t.ctx.store.db, PROJECT, 'pgc'))!);
    for (const n of back.nodes) {
      assert.equal(n.version, '16.13', `${n.name} runs 16.13`);
      assert.equal(n.health, 'healthy', `${n.name} is up`);
    }
  });

  test('stop_service: a cancel after the stop stage starts every node again, the primary first', async () => {
    const created = await createPgTarget(x!, 'pgs');
    const primary = created.nodes.find((n) => n.role === 'primary')!;
    const res = await x!.t.call('POST', `/v1/projects/${PROJECT}/upgrades`, {
      targetId: 'pgs',
      toVersion: '16.14',
      mode: 'stop_service',
    });
    assert.equal(res.status, 202, res.body);
    const id = res.json.id as string;
    const failed = await settled(x!, id);
    assert.equal(failed.state, 'failed', `${failed.errorCode}: ${failed.error}`);
    const cancel = await x!.t.call('POST', `/v1/projects/${PROJECT}/upgrades/${id}/actions`, { action: 'cancel' });
    assert.equal(cancel.status, 200, cancel.body);
    const order = cancel.json.restores.map((r: any) => r.node);
    assert.equal(order.length, 3);
    assert.equal(order[0], primary.name, 'the primary is restored first');
    const cancelled = await settled(x!, id);
    assert.equal(cancelled.state, 'cancelled', `${cancelled.errorCode}: ${cancelled.error}`);
    const real = await x!.driver.inspect((await loadTarget(x!.t.ctx.store.db, PROJECT, 'pgs'))!);
    for (const n of real.nodes) {
      assert.equal(n.health, 'healthy', `${n.name} is up (replicas: streaming)`);
      assert.equal(n.version, '16.14', `${n.name} runs the version it has`);
      assert.equal(n.role, n.name === primary.name ? 'primary' : 'replica');
    }
  });
});
