// Failure through the engine: a replica given a 16.14 build that will not start. The executor must
// stop the rollout at that node (upgrade `failed`, no switchover), and the operator's rollback must
// put the node back on 16.13, streaming, with every acknowledged write still on every node.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { missingOn, WriteLoad } from '../../src/drivers/postgres/load.ts';
import { loadTarget } from '../../src/store/targets-repo.ts';
import { forEachDialect } from '../helpers/harness.ts';
import {
  allSteps,
  closePgApp,
  createPgTarget,
  getTarget,
  PROJECT,
  replicasCaughtUp,
  settled,
  startPgApp,
  type PgApp,
} from './engine-harness.ts';
import { brokenBuild } from './fixtures.ts';

const buildDir = mkdtempSync(path.join(tmpdir(), 'liftgate-pg-broken-'));
chmodSync(buildDir, 0o755);
const broken = brokenBuild(buildDir, '16.14');
after(() => rmSync(buildDir, { recursive: true, force: true }));

forEachDialect('postgres driver through the engine: failed node and rollback', (dialect) => {
  let x: PgApp | undefined;

  before(async () => {
    x = await startPgApp(dialect, { binaries: { '16.14': broken }, verifyTimeoutMs: 10_000 });
  });
  after(() => closePgApp(x));

  test('a replica that will not start on 16.14 fails the upgrade; rollback puts it back on 16.13', async () => {
    const created = await createPgTarget(x!, 'pg-2');
    const primary = created.nodes.find((n) => n.role === 'primary')!;
    const load = new WriteLoad(() => created.nodes.map((n) => n.port!), 5);
    await load.start();
    let failed;
    let rolledBack;
    try {
      const res = await x!.t.call('POST', `/v1/projects/${PROJECT}/upgrades`, {
        targetId: 'pg-2',
        toVersion: '16.14',
        mode: 'rolling',
      });
      assert.equal(res.status, 202, res.body);
      const id = res.json.id as string;
      failed = await settled(x!, id);
      assert.equal(failed.state, 'failed', `${failed.errorCode}: ${failed.error}`);
      assert.equal(failed.errorCode, 'START_FAILED');
      const steps = allSteps(failed);
      const bad = steps.find((s) => s.state === 'failed')!;
      assert.equal(bad.action, 'start');
      assert.match(bad.error ?? '', /did not start/);
      assert.notEqual(bad.node, primary.name, 'the first node upgraded is a replica');
      // the rollout stopped there: no switchover, no other node touched
      assert.equal(steps.find((s) => s.action === 'switchover')!.state, 'pending');
      const touched = new Set(steps.filter((s) => s.node && s.state === 'succeeded').map((s) => s.node));
      assert.deepEqual([...touched], [bad.node]);
      const during = await getTarget(x!, 'pg-2');
      assert.equal(during.nodes.find((n) => n.name === bad.node)!.health, 'stopped');

      const rb = await x!.t.call('POST', `/v1/projects/${PROJECT}/upgrades/${id}/actions`, { action: 'rollback' });
      assert.equal(rb.status, 200, rb.body);
      rolledBack = await settled(x!, id);
      assert.equal(rolledBack.state, 'rolled_back', `${rolledBack.errorCode}: ${rolledBack.error}`);
      const install = allSteps(rolledBack).find((s) => s.action === 'install' && s.node === bad.node)!;
      assert.equal(install.state, 'rolled_back');
    } finally {
      await load.stop();
    }

    const t = await getTarget(x!, 'pg-2');
    assert.equal(t.version, '16.13');
    assert.equal(t.nodes.find((n) => n.role === 'primary')!.name, primary.name, 'the primary never moved');
    for (const n of t.nodes) {
      assert.equal(n.version, '16.13', `${n.name} is on 16.13 in the API`);
      assert.equal(n.health, 'healthy', `${n.name} is healthy in the API`);
      assert.equal(n.role, n.name === primary.name ? 'primary' : 'replica', `${n.name}'s role in the API`);
    }
    const real = await x!.driver.inspect((await loadTarget(x!.t.ctx.store.db, PROJECT, 'pg-2'))!);
    for (const n of real.nodes) {
      assert.equal(n.version, '16.13', `${n.name} runs 16.13`);
      assert.equal(n.health, 'healthy', `${n.name} is up (replicas: streaming)`);
      assert.equal(n.role, n.name === primary.name ? 'primary' : 'replica');
    }

    const acked = load.stats.acked;
    assert.ok(acked.length > 20, `the write load made progress (${acked.length} acknowledged)`);
    await replicasCaughtUp(t);
    for (const n of t.nodes) {
      assert.deepEqual(await missingOn(n.port!, acked), [], `no acknowledged write is missing on ${n.name}`);
    }
  });
});
